"""Stripe's objects and errors, in gigmarket's terms.

Pure functions from Stripe's JSON (as plain dicts) to gigmarket's normalized
results, and from the ``stripe`` library's exceptions to gigmarket's
:class:`~gigmarket.errors.PaymentError` tree. No network here.
"""

from __future__ import annotations

import socket
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import stripe
from gigmarket.errors import (
    GatewayIdempotencyConflict,
    GatewayMisconfigured,
    GatewayUnavailable,
    InvalidPaymentRequest,
    OutcomeUnknown,
    PaymentError,
    PaymentNotFound,
    RateLimited,
)
from gigmarket.gateways import (
    Charge,
    ChargeStatus,
    Decline,
    DeclineCode,
    Payee,
    PayeeStatus,
    Payout,
    PayoutStatus,
    Refund,
    RefundStatus,
)
from gigmarket.gateways.webhooks import EventType
from gigmarket.money import Amount

from gigmarket_stripe.http import RequestNotSent

__all__ = [
    "ACTION_MARKER",
    "BANK_REFUSALS",
    "DECLINE_CODES",
    "EVENT_TYPES",
    "KEY",
    "PAYOUT_FAILURES",
    "REASON",
    "REFERENCE",
    "REJECTED",
    "charge_from",
    "error_body",
    "error_from",
    "payee_from",
    "payout_from",
    "payout_id",
    "refund_from",
]

KEY = "gigmarket_idempotency_key"
"""The metadata field that carries the idempotency key of the call that made
an object: how ``find_*`` finds it again after a lost response."""
REFERENCE = "gigmarket_reference"
REASON = "gigmarket_reason"
REJECTED = "gigmarket_bank_rejected"
"""Set on a connected account whose bank account Stripe refused: Stripe's code."""

ACTION_MARKER = "stripe-js:handleNextAction"
"""The ``action_url`` of a PaymentIntent that waits for the buyer and gave no
redirect URL (no ``return_url`` was configured): the host's page calls
``stripe.handleNextAction`` with the PaymentIntent's client secret."""

DECLINE_CODES: Mapping[str, DeclineCode] = {
    "card_declined": DeclineCode.CARD_DECLINED,
    "generic_decline": DeclineCode.CARD_DECLINED,
    "do_not_honor": DeclineCode.CARD_DECLINED,
    "call_issuer": DeclineCode.CARD_DECLINED,
    "not_permitted": DeclineCode.CARD_DECLINED,
    "transaction_not_allowed": DeclineCode.CARD_DECLINED,
    "insufficient_funds": DeclineCode.INSUFFICIENT_FUNDS,
    "expired_card": DeclineCode.EXPIRED_CARD,
    "incorrect_cvc": DeclineCode.INCORRECT_CVC,
    "invalid_cvc": DeclineCode.INCORRECT_CVC,
    "incorrect_number": DeclineCode.INCORRECT_NUMBER,
    "invalid_number": DeclineCode.INCORRECT_NUMBER,
    "fraudulent": DeclineCode.FRAUDULENT,
    "merchant_blacklist": DeclineCode.FRAUDULENT,
    "lost_card": DeclineCode.LOST_OR_STOLEN,
    "stolen_card": DeclineCode.LOST_OR_STOLEN,
    "pickup_card": DeclineCode.LOST_OR_STOLEN,
    "card_velocity_exceeded": DeclineCode.LIMIT_EXCEEDED,
    "withdrawal_count_limit_exceeded": DeclineCode.LIMIT_EXCEEDED,
    "payment_intent_authentication_failure": DeclineCode.AUTHENTICATION_FAILED,
    "authentication_required": DeclineCode.AUTHENTICATION_FAILED,
    "processing_error": DeclineCode.PROCESSING_ERROR,
    "try_again_later": DeclineCode.PROCESSING_ERROR,
    "issuer_not_available": DeclineCode.PROCESSING_ERROR,
}
"""Stripe's ``decline_code`` (or, without one, its error ``code``), normalized.
Anything else is ``DeclineCode.OTHER``, with Stripe's code kept raw."""

PAYOUT_FAILURES: Mapping[str, DeclineCode] = {
    "account_closed": DeclineCode.BANK_ACCOUNT_CLOSED,
    "no_account": DeclineCode.INVALID_BANK_ACCOUNT,
    "invalid_account_number": DeclineCode.INVALID_BANK_ACCOUNT,
    "bank_account_restricted": DeclineCode.INVALID_BANK_ACCOUNT,
    "account_frozen": DeclineCode.BANK_ACCOUNT_CLOSED,
}
"""A failed payout's ``failure_code``, normalized."""

BANK_REFUSALS = frozenset(
    {
        "account_number_invalid",
        "routing_number_invalid",
        "bank_account_unusable",
        "bank_account_declined",
        "bank_account_unverified",
        "bank_account_exists",
    }
)
"""Error codes by which Stripe refuses a bank account (a result, not an error)."""

EVENT_TYPES: Mapping[str, EventType] = {
    "payment_intent.requires_action": EventType.CHARGE_REQUIRES_ACTION,
    "payment_intent.processing": EventType.CHARGE_PENDING,
    "payment_intent.amount_capturable_updated": EventType.CHARGE_AUTHORIZED,
    "payment_intent.succeeded": EventType.CHARGE_CAPTURED,
    "payment_intent.canceled": EventType.CHARGE_CANCELLED,
    "payment_intent.payment_failed": EventType.CHARGE_FAILED,
    "charge.refunded": EventType.CHARGE_REFUNDED,
    "refund.created": EventType.CHARGE_REFUNDED,
    "payout.created": EventType.PAYOUT_PENDING,
    # payout.updated is PAYOUT_IN_TRANSIT when its payout is in transit (see parse_webhook)
    "payout.paid": EventType.PAYOUT_PAID,
    "payout.failed": EventType.PAYOUT_FAILED,
    "payout.canceled": EventType.PAYOUT_CANCELLED,
}
"""Stripe's event types, normalized; others keep Stripe's name."""

_INTENT_STATUS = {
    "succeeded": ChargeStatus.CAPTURED,
    "requires_capture": ChargeStatus.AUTHORIZED,
    "requires_action": ChargeStatus.REQUIRES_ACTION,
    "requires_source_action": ChargeStatus.REQUIRES_ACTION,
    "processing": ChargeStatus.PENDING,
    "requires_confirmation": ChargeStatus.PENDING,
    "canceled": ChargeStatus.CANCELLED,
    "requires_payment_method": ChargeStatus.FAILED,
}

_REFUND_STATUS = {
    "pending": RefundStatus.PENDING,
    "requires_action": RefundStatus.PENDING,
    "succeeded": RefundStatus.SUCCEEDED,
    "failed": RefundStatus.FAILED,
    "canceled": RefundStatus.FAILED,
}

_PAYOUT_STATUS = {
    "pending": PayoutStatus.PENDING,
    "in_transit": PayoutStatus.IN_TRANSIT,
    "paid": PayoutStatus.PAID,
    "failed": PayoutStatus.FAILED,
    "canceled": PayoutStatus.CANCELLED,
}


def _time(unix: int) -> datetime:
    return datetime.fromtimestamp(int(unix), UTC)


def _money(units: int, currency: str) -> Amount:
    return Amount(units=int(units), currency=currency.upper())


def _metadata(obj: Mapping[str, Any]) -> Mapping[str, str]:
    metadata = obj.get("metadata")
    return metadata if isinstance(metadata, Mapping) else {}


def decline_from(error: Mapping[str, Any] | None, fallback: str) -> Decline:
    """A :class:`Decline` from Stripe's ``last_payment_error`` (or an error body)."""
    error = error or {}
    raw = str(error.get("decline_code") or error.get("code") or fallback)
    return Decline(
        code=DECLINE_CODES.get(raw, DeclineCode.OTHER),
        raw_code=raw,
        message=str(error.get("message") or ""),
    )


def refund_from(refund: Mapping[str, Any], charge_id: str) -> Refund:
    metadata = _metadata(refund)
    status = _REFUND_STATUS.get(str(refund.get("status")), RefundStatus.PENDING)
    failure = None
    if status is RefundStatus.FAILED:
        failure = decline_from({"code": refund.get("failure_reason")}, "refund_failed")
    return Refund(
        id=str(refund["id"]),
        charge_id=charge_id,
        amount=_money(refund["amount"], refund["currency"]),
        status=status,
        # A refund made outside gigmarket (the dashboard) carries no key of ours.
        idempotency_key=str(metadata.get(KEY) or f"stripe:{refund['id']}"),
        created_at=_time(refund["created"]),
        reason=str(metadata.get(REASON) or ""),
        failure=failure,
    )


def _captured(intent: Mapping[str, Any], status: ChargeStatus) -> int:
    if status is not ChargeStatus.CAPTURED:
        return 0
    received = intent.get("amount_received")
    if isinstance(received, int):
        return received
    charge = intent.get("latest_charge")  # an API version without amount_received
    if isinstance(charge, Mapping):
        captured = charge.get("amount_captured")
        return int(captured) if isinstance(captured, int) else int(charge["amount"])
    return int(intent["amount"])


def charge_from(
    intent: Mapping[str, Any], *, gateway: str, refunds: list[Mapping[str, Any]] | None = None
) -> Charge:
    """A :class:`Charge` from a PaymentIntent (with ``latest_charge.refunds``
    expanded, or ``refunds`` given)."""
    status = _INTENT_STATUS.get(str(intent["status"]), ChargeStatus.PENDING)
    currency = str(intent["currency"])
    decline = None
    if status is ChargeStatus.FAILED:
        decline = decline_from(intent.get("last_payment_error"), str(intent["status"]))
    if refunds is None:
        refunds = []
        charge = intent.get("latest_charge")
        listed = charge.get("refunds") if isinstance(charge, Mapping) else None
        if isinstance(listed, Mapping):
            refunds = list(listed.get("data") or [])
    action_url = None
    if status is ChargeStatus.REQUIRES_ACTION:
        action = intent.get("next_action") or {}
        redirect = action.get("redirect_to_url") or {}
        action_url = redirect.get("url") or f"{ACTION_MARKER}?payment_intent={intent['id']}"
    return Charge(
        id=str(intent["id"]),
        gateway=gateway,
        status=status,
        amount=_money(intent["amount"], currency),
        captured=_money(_captured(intent, status), currency),
        manual_capture=intent.get("capture_method") == "manual",
        idempotency_key=str(_metadata(intent).get(KEY) or ""),
        created_at=_time(intent["created"]),
        description=str(intent.get("description") or ""),
        decline=decline,
        refunds=[refund_from(refund, str(intent["id"])) for refund in refunds],
        action_url=action_url,
    )


def payee_from(account: Mapping[str, Any], *, gateway: str) -> Payee:
    """A :class:`Payee` from a connected account: rejected when Stripe refused
    its bank account (or it has none), else active."""
    metadata = _metadata(account)
    banks = account.get("external_accounts") or {}
    decline = None
    if metadata.get(REJECTED):
        code = str(metadata[REJECTED])
        decline = Decline(code=DeclineCode.INVALID_BANK_ACCOUNT, raw_code=code)
    elif isinstance(banks, Mapping) and not banks.get("data"):
        decline = Decline(code=DeclineCode.INVALID_BANK_ACCOUNT, raw_code="no_external_account")
    return Payee(
        id=str(account["id"]),
        gateway=gateway,
        reference=str(metadata.get(REFERENCE) or ""),
        currency=str(account.get("default_currency") or "").upper(),
        status=PayeeStatus.ACTIVE if decline is None else PayeeStatus.REJECTED,
        idempotency_key=str(metadata.get(KEY) or ""),
        created_at=_time(account["created"]),
        decline=decline,
    )


def payout_id(account: str, payout: str) -> str:
    """gigmarket's id of a payout: Stripe's, with the connected account it lives on."""
    return f"{account}/{payout}"


def payout_from(payout: Mapping[str, Any], *, account: str, gateway: str) -> Payout:
    status = _PAYOUT_STATUS.get(str(payout["status"]), PayoutStatus.PENDING)
    failure = None
    if status is PayoutStatus.FAILED:
        raw = str(payout.get("failure_code") or "payout_failed")
        failure = Decline(
            code=PAYOUT_FAILURES.get(raw, DeclineCode.OTHER),
            raw_code=raw,
            message=str(payout.get("failure_message") or ""),
        )
    return Payout(
        id=payout_id(account, str(payout["id"])),
        gateway=gateway,
        payee_id=account,
        amount=_money(payout["amount"], payout["currency"]),
        status=status,
        idempotency_key=str(_metadata(payout).get(KEY) or ""),
        created_at=_time(payout["created"]),
        description=str(payout.get("description") or ""),
        failure=failure,
    )


def _refused_connection(error: BaseException) -> bool:
    """Whether a chain of causes shows the connection was never made."""
    seen: set[int] = set()
    link: BaseException | None = error
    while link is not None and id(link) not in seen:
        seen.add(id(link))
        if isinstance(link, ConnectionRefusedError | socket.gaierror):
            return True
        link = link.__cause__ or link.__context__
    return False


def error_body(error: stripe.StripeError) -> Mapping[str, Any]:
    body = error.json_body if isinstance(error.json_body, Mapping) else {}
    found = body.get("error")
    return found if isinstance(found, Mapping) else {}


def error_from(  # noqa: PLR0911 -- one return per kind of failure, as a table reads
    error: stripe.StripeError,
    *,
    gateway: str,
    operation: str,
    key: str | None,
    object_id: str = "?",
    hide: tuple[str, ...] = (),
) -> PaymentError:
    """The :class:`~gigmarket.errors.PaymentError` for a failed Stripe call.

    ``hide`` are values (a bank token) that must not show in the message.
    """
    common: dict[str, Any] = {"gateway": gateway, "operation": operation, "idempotency_key": key}
    status = error.http_status
    detail = error_body(error)
    raw = str(detail.get("code") or detail.get("type") or status or "")
    message = str(detail.get("message") or "no message")
    for value in hide:
        message = message.replace(value, "**********")
    if isinstance(error, RequestNotSent):
        return GatewayUnavailable("could not connect to Stripe; nothing was sent", **common)
    if isinstance(error, stripe.APIConnectionError):
        if _refused_connection(error):
            return GatewayUnavailable("could not connect to Stripe; nothing was sent", **common)
        return OutcomeUnknown("Stripe's answer did not arrive", **common)
    if detail.get("code") == "account_invalid":
        # Stripe's 403 for a connected account it does not know (or the
        # platform may not reach): in a path or in the Stripe-Account header.
        return PaymentNotFound(gateway=gateway, operation=operation, object_id=object_id)
    if isinstance(error, stripe.AuthenticationError | stripe.PermissionError):
        return GatewayMisconfigured("Stripe refused the API key", raw_code=raw, **common)
    if status == 409:  # the same key is being processed right now: this request was not
        return GatewayUnavailable(
            "Stripe is processing a request with the same key", raw_code=raw, **common
        )
    if isinstance(error, stripe.IdempotencyError):
        return GatewayIdempotencyConflict(
            gateway=gateway, operation=operation, idempotency_key=key or ""
        )
    if isinstance(error, stripe.RateLimitError):
        after = (error.headers or {}).get("retry-after", "")
        return RateLimited(
            "Stripe asked to slow down",
            raw_code=raw,
            retry_after=timedelta(seconds=int(after)) if after.isdigit() else None,
            **common,
        )
    if status == 404 or detail.get("code") == "resource_missing":
        return PaymentNotFound(gateway=gateway, operation=operation, object_id=object_id)
    if isinstance(error, stripe.InvalidRequestError | stripe.CardError):
        param = detail.get("param")
        return InvalidPaymentRequest(
            f"Stripe refused the request: {message}",
            raw_code=raw,
            field=str(param) if param else None,
            **common,
        )
    return OutcomeUnknown(f"Stripe answered {status}", raw_code=raw, **common)
