"""StripeGateway: gigmarket's collection and disbursement protocols over Stripe.

- **Collection** is PaymentIntents, confirmed when created: a charge is a
  PaymentIntent (its id is the charge id), 3-D Secure is ``requires_action``,
  a manual capture is ``capture_method=manual``, refunds are Refunds on the
  PaymentIntent. The idempotency key is Stripe's ``Idempotency-Key`` and is
  also written in the object's metadata, where ``find_charge`` looks for it
  (Stripe's Search API).
- **Disbursement** is Connect: a payee is a custom connected account with
  the seller's bank account as its external account; a payout is a transfer
  from the platform to that account, then a payout from the account to the
  bank. A payout's id is ``acct_.../po_...``: the account it lives on, then
  Stripe's id.
- **Webhooks** are verified with Stripe's scheme (``Stripe-Signature:
  t=...,v1=...``, HMAC-SHA256 of ``"<t>.<body>"``), against the injected clock.

Settings come as keywords, as strings when they come from the environment
(``GIGMARKET_GATEWAY_API_KEY``, ``..._WEBHOOK_SECRET``, ``..._API_BASE``,
``..._TIMEOUT``, ``..._RETURN_URL``), so ``gigmarket reconcile --gateway
stripe`` can build it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from collections.abc import Iterator, Mapping
from datetime import timedelta
from typing import Any, NoReturn

import stripe
from gigmarket.clock import Clock, SystemClock
from gigmarket.errors import (
    GatewayIdempotencyConflict,
    GatewayMisconfigured,
    InvalidPaymentRequest,
    OutcomeUnknown,
    PaymentError,
    PaymentNotFound,
    ValidationError,
    WebhookVerificationFailed,
)
from gigmarket.gateways import (
    Capabilities,
    Charge,
    Operation,
    Payee,
    PayeeStatus,
    Payout,
    Refund,
    Secret,
    WebhookEvent,
)
from gigmarket.gateways.webhooks import DEFAULT_TOLERANCE, EventType, header_value, verify
from gigmarket.idempotency import check_key
from gigmarket.money import Amount

from gigmarket_stripe._translate import (
    BANK_REFUSALS,
    EVENT_TYPES,
    KEY,
    REASON,
    REFERENCE,
    REJECTED,
    _time,
    charge_from,
    error_body,
    error_from,
    payee_from,
    payout_from,
    payout_id,
    refund_from,
)
from gigmarket_stripe.http import DEFAULT_TIMEOUT, StdlibHTTPClient

__all__ = ["CURRENCIES", "SIGNATURE_HEADER", "StripeGateway"]

SIGNATURE_HEADER = "Stripe-Signature"

CURRENCIES = frozenset(
    {
        "AUD", "BDT", "BRL", "CAD", "CHF", "CZK", "DKK", "EUR", "GBP", "HKD",
        "INR", "JPY", "MXN", "NOK", "NZD", "PLN", "SEK", "SGD", "USD",
    }
)  # fmt: skip
"""Currencies whose Stripe amounts are exactly gigmarket's minor units.

Stripe counts some currencies differently from ISO 4217 (ISK and UGX in
hundredths, three-decimal currencies rounded to tens, HUF and TWD payouts in
whole units); they are left out rather than converted with a rounding."""

_EXPAND = ["latest_charge.refunds"]
_PAGE = 100
_MAX_KEY = 255
_log = logging.getLogger("gigmarket_stripe")


_TOKEN = re.compile(r"\b(?:btok|tok)_[^\s'\"\\&]+")


class _HidePostDetails(logging.Filter):
    """The ``stripe`` library logs request bodies at DEBUG, and a body may hold
    a bank token: keep the line, drop the body. It also logs Stripe's answers
    (at DEBUG) and error messages (at INFO), and Stripe names a token it does
    not know in its message (``No such token: 'btok_...'``): tokens are hidden
    wherever they show."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        hidden = _TOKEN.sub("(token hidden by gigmarket_stripe)", message)
        if "post_data=" in hidden:
            hidden = hidden.split("post_data=", 1)[0] + "post_data=(hidden by gigmarket_stripe)"
        if hidden != message:
            record.msg, record.args = hidden, ()
        return True


def _hide_post_details() -> None:
    stripe_log = logging.getLogger("stripe")
    if not any(isinstance(f, _HidePostDetails) for f in stripe_log.filters):
        stripe_log.addFilter(_HidePostDetails())


def _derived(key: str, step: str) -> str:
    """The idempotency key of one step of a call made under ``key``."""
    derived = f"{key}/{step}"
    if len(derived) <= _MAX_KEY:
        return derived
    return f"sha256:{hashlib.sha256(key.encode()).hexdigest()}/{step}"


def _account_of(payout: str) -> tuple[str, str] | None:
    account, sep, stripe_id = payout.partition("/")
    if sep and account.startswith("acct_") and stripe_id.startswith("po_"):
        return account, stripe_id
    return None


class StripeGateway:
    """Stripe as a gigmarket :class:`~gigmarket.gateways.CollectionGateway`
    and :class:`~gigmarket.gateways.DisbursementGateway`."""

    name = "stripe"
    capabilities = Capabilities(
        currencies=CURRENCIES,
        manual_capture=True,
        partial_capture=True,
        partial_refund=True,
        payouts=True,
        payout_cancellation=True,
        webhooks=True,
    )

    def __init__(
        self,
        *,
        api_key: Secret | str,
        webhook_secret: Secret | str,
        api_base: str | None = None,
        timeout: float | str = DEFAULT_TIMEOUT,
        return_url: str | None = None,
        clock: Clock | None = None,
        http_client: stripe.HTTPClient | None = None,
        webhook_tolerance: timedelta = DEFAULT_TOLERANCE,
    ) -> None:
        self._api_key = Secret(api_key)
        self._webhook_secret = Secret(webhook_secret)
        if not self._api_key.reveal().startswith(("sk_", "rk_")):
            raise GatewayMisconfigured(
                "the API key is not a Stripe secret or restricted key (sk_... or rk_...)",
                gateway=self.name,
                operation="configure",
            )
        try:
            seconds = float(timeout)
        except ValueError:
            seconds = 0.0
        if not 0 < seconds <= 600:
            raise GatewayMisconfigured(
                "timeout must be a number of seconds, above 0 and at most 600",
                gateway=self.name,
                operation="configure",
            )
        self.api_base = api_base
        self._return_url = return_url
        self._clock: Clock = clock or SystemClock()
        self._tolerance = webhook_tolerance
        self.http_client = http_client or StdlibHTTPClient(timeout=seconds)
        self._client = stripe.StripeClient(
            self._api_key.reveal(),
            base_addresses={"api": api_base} if api_base else None,
            http_client=self.http_client,
            # gigmarket retries with the same key when it is safe, and
            # reconciles when it is not: no hidden retries underneath.
            max_network_retries=0,
        )
        _hide_post_details()

    def __repr__(self) -> str:
        return f"StripeGateway(api_key={self._api_key!r}, api_base={self.api_base!r})"

    # -- collection ----------------------------------------------------------

    def charge(
        self,
        *,
        amount: Amount,
        source: str,
        idempotency_key: str,
        capture: bool = True,
        description: str = "",
    ) -> Charge:
        op = Operation.CHARGE
        self._check_amount(amount, op, idempotency_key)
        params: dict[str, Any] = {
            "amount": amount.units,
            "currency": amount.currency.lower(),
            "payment_method": source,
            "payment_method_types": ["card"],
            "confirm": True,
            "capture_method": "automatic" if capture else "manual",
            "metadata": {KEY: idempotency_key},
            "expand": _EXPAND,
        }
        if description:
            params["description"] = description
        if self._return_url:
            params["return_url"] = self._return_url
        try:
            intent = self._send(op, "post", "/v1/payment_intents", params, idempotency_key)
        except stripe.CardError as error:  # a decline: an answer, not a failure
            return self._declined(error, idempotency_key)
        except stripe.StripeError as error:
            raise self._error(error, op, idempotency_key) from error
        return charge_from(intent, gateway=self.name)

    def capture(
        self, charge_id: str, *, idempotency_key: str, amount: Amount | None = None
    ) -> Charge:
        op = Operation.CAPTURE
        params: dict[str, Any] = {"expand": _EXPAND}
        if amount is not None:
            self._check_amount(amount, op, idempotency_key)
            params["amount_to_capture"] = amount.units
        path = f"{self._intent_path(charge_id, op)}/capture"
        return charge_from(
            self._call(op, "post", path, params, idempotency_key, object_id=charge_id),
            gateway=self.name,
        )

    def cancel(self, charge_id: str, *, idempotency_key: str) -> Charge:
        op = Operation.CANCEL
        path = f"{self._intent_path(charge_id, op)}/cancel"
        intent = self._call(
            op, "post", path, {"expand": _EXPAND}, idempotency_key, object_id=charge_id
        )
        return charge_from(intent, gateway=self.name)

    def refund(
        self,
        charge_id: str,
        *,
        idempotency_key: str,
        amount: Amount | None = None,
        reason: str = "",
    ) -> Refund:
        op = Operation.REFUND
        self._intent_path(charge_id, op)
        params: dict[str, Any] = {
            "payment_intent": charge_id,
            "metadata": {KEY: idempotency_key, REASON: reason},
        }
        if amount is not None:
            self._check_amount(amount, op, idempotency_key)
            params["amount"] = amount.units
        refund = self._call(op, "post", "/v1/refunds", params, idempotency_key, object_id=charge_id)
        return refund_from(refund, charge_id)

    def get_charge(self, charge_id: str) -> Charge:
        op = Operation.GET_CHARGE
        path = self._intent_path(charge_id, op)
        intent = self._call(op, "get", path, {"expand": _EXPAND}, None, object_id=charge_id)
        charge = intent.get("latest_charge")
        listed = charge.get("refunds") if isinstance(charge, Mapping) else None
        if isinstance(listed, Mapping) and listed.get("has_more"):
            refunds = list(self._pages(op, "/v1/refunds", {"payment_intent": charge_id}))
            return charge_from(intent, gateway=self.name, refunds=refunds)
        return charge_from(intent, gateway=self.name)

    def find_charge(self, idempotency_key: str) -> Charge | None:
        """The PaymentIntent whose metadata holds ``idempotency_key``, through
        Stripe's Search API. Stripe indexes new objects for search within
        about a minute; ``reconcile`` waits five before it asks."""
        op = Operation.FIND_CHARGE
        self._checked_key(idempotency_key, op)
        quoted = idempotency_key.replace("\\", "\\\\").replace("'", "\\'")
        params = {"query": f"metadata['{KEY}']:'{quoted}'", "limit": 1}
        found = self._call(op, "get", "/v1/payment_intents/search", params, None)
        data = found.get("data") or []
        return self.get_charge(str(data[0]["id"])) if data else None

    # -- disbursement ----------------------------------------------------------

    def onboard_payee(
        self,
        *,
        reference: str,
        currency: str,
        bank_token: Secret | str,
        idempotency_key: str,
    ) -> Payee:
        """One request makes the connected account with its bank account, so
        that an account found after a lost answer is whole. The account pays out
        only when told (a manual schedule): Stripe's default daily schedule
        would pay out a transfer whose payout gigmarket has not made."""
        op = Operation.ONBOARD_PAYEE
        token = Secret(bank_token)
        self.capabilities.require_currency(currency, gateway=self.name, operation=op)
        params: dict[str, Any] = {
            "type": "custom",
            "default_currency": currency.lower(),
            "capabilities": {"transfers": {"requested": True}},
            "settings": {"payouts": {"schedule": {"interval": "manual"}}},
            "metadata": {KEY: idempotency_key, REFERENCE: reference},
        }
        failure: PaymentError | None = None
        refused = ""
        account: dict[str, Any] = {}
        try:
            with_bank = {**params, "external_account": token.reveal()}
            account = self._send(op, "post", "/v1/accounts", with_bank, idempotency_key)
        except stripe.StripeError as error:
            detail = error_body(error)
            refused = str(detail.get("code") or "")
            if refused == "resource_missing" and detail.get("param") == "external_account":
                failure = InvalidPaymentRequest(  # the token, not a payee, is missing
                    "Stripe does not know the bank token", gateway=self.name, operation=op,
                    idempotency_key=idempotency_key, field="bank_token", raw_code=refused,
                )  # fmt: skip
            elif refused not in BANK_REFUSALS:
                failure = self._error(error, op, idempotency_key, hide=(token.reveal(),))
        if failure is not None:
            raise failure  # outside the chain: the library's error may hold the token
        if refused:  # Stripe made no account: keep the refusal as a payee, marked rejected
            params["metadata"][REJECTED] = refused
            reject_key = _derived(idempotency_key, "rejected")
            account = self._call(op, "post", "/v1/accounts", params, reject_key)
        return payee_from(account, gateway=self.name)

    def get_payee(self, payee_id: str) -> Payee:
        op = Operation.GET_PAYEE
        if not payee_id.startswith("acct_"):
            raise PaymentNotFound(gateway=self.name, operation=op, object_id=payee_id)
        account = self._call(op, "get", f"/v1/accounts/{payee_id}", {}, None, object_id=payee_id)
        return payee_from(account, gateway=self.name)

    def find_payee(self, idempotency_key: str) -> Payee | None:
        """The connected account made with ``idempotency_key``: accounts cannot
        be searched, so this pages through them (rarely needed: only after a
        lost onboarding answer)."""
        op = Operation.FIND_PAYEE
        self._checked_key(idempotency_key, op)
        for account in self._pages(op, "/v1/accounts", {}):
            if (account.get("metadata") or {}).get(KEY) == idempotency_key:
                return self.get_payee(str(account["id"]))
        return None

    def payout(
        self, *, payee_id: str, amount: Amount, idempotency_key: str, description: str = ""
    ) -> Payout:
        op = Operation.PAYOUT
        self._check_amount(amount, op, idempotency_key)
        payee = self.get_payee(payee_id)
        if payee.status is PayeeStatus.REJECTED:
            self._invalid(op, idempotency_key, "the payee's bank account was refused", "payee_id")
        if amount.currency != payee.currency:
            self._invalid(op, idempotency_key, f"the payee is paid in {payee.currency}", "amount")
        transfer = self._transfer(payee_id, amount, idempotency_key, description)
        params: dict[str, Any] = {
            "amount": amount.units,
            "currency": amount.currency.lower(),
            "metadata": {KEY: idempotency_key, "gigmarket_transfer": str(transfer["id"])},
        }
        if description:
            params["description"] = description
        made = self._call(op, "post", "/v1/payouts", params, idempotency_key, account=payee_id)
        return payout_from(made, account=payee_id, gateway=self.name)

    def _transfer(
        self, payee_id: str, amount: Amount, key: str, description: str
    ) -> Mapping[str, Any]:
        """The transfer to the payee's account for the payout ``key``: the one
        already made (found by its transfer group), or a new one."""
        op = Operation.PAYOUT
        group = _derived(key, "payout")
        found = self._call(op, "get", "/v1/transfers", {"transfer_group": group, "limit": 1}, None)
        for made in found.get("data") or []:
            same = (made.get("amount"), str(made.get("currency")).upper(), made.get("destination"))
            if same != (amount.units, amount.currency, payee_id):
                raise GatewayIdempotencyConflict(
                    gateway=self.name, operation=op, idempotency_key=key
                )
            return dict(made)
        params: dict[str, Any] = {
            "amount": amount.units,
            "currency": amount.currency.lower(),
            "destination": payee_id,
            "transfer_group": group,
            "metadata": {KEY: key},
        }
        if description:
            params["description"] = description
        return self._call(op, "post", "/v1/transfers", params, _derived(key, "transfer"))

    def cancel_payout(self, payout_id: str, *, idempotency_key: str) -> Payout:
        op = Operation.CANCEL_PAYOUT
        account, stripe_id = self._payout_path(payout_id, op)
        path = f"/v1/payouts/{stripe_id}/cancel"
        made = self._call(
            op, "post", path, {}, idempotency_key, object_id=payout_id, account=account
        )
        return payout_from(made, account=account, gateway=self.name)

    def get_payout(self, payout_id: str) -> Payout:
        op = Operation.GET_PAYOUT
        account, stripe_id = self._payout_path(payout_id, op)
        path = f"/v1/payouts/{stripe_id}"
        made = self._call(op, "get", path, {}, None, object_id=payout_id, account=account)
        return payout_from(made, account=account, gateway=self.name)

    def find_payout(self, idempotency_key: str) -> Payout | None:
        """The payout made with ``idempotency_key``: its transfer is found by its
        transfer group (exact, at once), then the payout on that account."""
        op = Operation.FIND_PAYOUT
        self._checked_key(idempotency_key, op)
        group = _derived(idempotency_key, "payout")
        found = self._call(op, "get", "/v1/transfers", {"transfer_group": group, "limit": 1}, None)
        for transfer in found.get("data") or []:
            account = str(transfer["destination"])
            for made in self._pages(op, "/v1/payouts", {}, account=account):
                if (made.get("metadata") or {}).get(KEY) == idempotency_key:
                    return payout_from(made, account=account, gateway=self.name)
        return None

    # -- webhooks ----------------------------------------------------------------

    def parse_webhook(self, payload: bytes, headers: Mapping[str, str]) -> WebhookEvent:
        """Verify Stripe's signature (``Stripe-Signature``), then read the event."""
        header = header_value(headers, SIGNATURE_HEADER)
        if not header:
            raise WebhookVerificationFailed(
                f"the {SIGNATURE_HEADER} header is missing",
                gateway=self.name,
                reason="missing_signature",
            )
        verify(
            self._webhook_secret,
            header,
            payload,
            now=self._clock.now(),
            tolerance=self._tolerance,
            gateway=self.name,
        )
        try:
            event = json.loads(payload)
            obj = event["data"]["object"]
            kind = str(event["type"])
            object_id = str(obj["id"])
            if kind.startswith(("charge.", "refund.")):
                object_id = str(obj["payment_intent"])
            elif kind.startswith("payout.") and event.get("account"):
                object_id = payout_id(str(event["account"]), object_id)
            normalized = EVENT_TYPES.get(kind, kind)
            if kind == "payout.updated" and obj.get("status") == "in_transit":
                # No event of its own: Stripe says so with payout.updated.
                normalized = EventType.PAYOUT_IN_TRANSIT
            return WebhookEvent(
                id=str(event["id"]),
                type=normalized,
                gateway=self.name,
                object_id=object_id,
                created_at=_time(event["created"]),
                data=obj,
            )
        except (KeyError, TypeError, ValueError) as error:
            raise WebhookVerificationFailed(
                "the payload is not a Stripe event", gateway=self.name, reason="malformed_payload"
            ) from error

    # -- calls and translation ---------------------------------------------------

    def _send(
        self,
        operation: Operation,
        method: str,
        path: str,
        params: Mapping[str, Any],
        key: str | None,
        *,
        account: str | None = None,
    ) -> dict[str, Any]:
        """One request; Stripe's errors are raised as the library raises them."""
        options: dict[str, Any] = {}
        if key is not None:
            options["idempotency_key"] = self._checked_key(key, operation)
        if account is not None:
            options["stripe_account"] = account
        response = self._client.raw_request(method, path, **params, **options)
        _log.debug("stripe %s %s -> %s", method.upper(), path, response.code)
        body: dict[str, Any] = json.loads(response.body)
        return body

    def _call(
        self,
        operation: Operation,
        method: str,
        path: str,
        params: Mapping[str, Any],
        key: str | None,
        *,
        object_id: str = "?",
        account: str | None = None,
    ) -> dict[str, Any]:
        """One request, with Stripe's errors translated."""
        try:
            return self._send(operation, method, path, params, key, account=account)
        except stripe.StripeError as error:
            raise self._error(error, operation, key, object_id) from error

    def _error(
        self,
        error: stripe.StripeError,
        operation: Operation,
        key: str | None,
        object_id: str = "?",
        hide: tuple[str, ...] = (),
    ) -> PaymentError:
        return error_from(
            error,
            gateway=self.name,
            operation=operation,
            key=key,
            object_id=object_id,
            hide=hide,
        )

    def _declined(self, error: stripe.CardError, key: str) -> Charge:
        """The failed charge behind a 402: Stripe puts the PaymentIntent in the
        error; without it, the charge named there leads to it."""
        op = Operation.CHARGE
        detail = error_body(error)
        intent = detail.get("payment_intent")
        if isinstance(intent, Mapping) and intent.get("id"):
            return self.get_charge(str(intent["id"]))
        if detail.get("charge"):
            made = self._call(op, "get", f"/v1/charges/{detail['charge']}", {}, key)
            if made.get("payment_intent"):
                return self.get_charge(str(made["payment_intent"]))
        raise OutcomeUnknown(
            "Stripe declined without naming the payment", gateway=self.name, operation=op,
            idempotency_key=key, raw_code=str(detail.get("code") or "card_error"),
        ) from error  # fmt: skip

    def _pages(
        self,
        operation: Operation,
        path: str,
        params: Mapping[str, Any],
        *,
        account: str | None = None,
    ) -> Iterator[Mapping[str, Any]]:
        after: str | None = None
        while True:
            page_params = {**params, "limit": _PAGE}
            if after is not None:
                page_params["starting_after"] = after
            page = self._call(operation, "get", path, page_params, None, account=account)
            data = page.get("data") or []
            yield from data
            if not page.get("has_more") or not data:
                return
            after = str(data[-1]["id"])

    def _intent_path(self, charge_id: str, operation: Operation) -> str:
        """A PaymentIntent's path; any other id cannot be one of this adapter's charges."""
        if not charge_id.startswith("pi_") or "/" in charge_id:
            raise PaymentNotFound(gateway=self.name, operation=operation, object_id=charge_id)
        return f"/v1/payment_intents/{charge_id}"

    def _payout_path(self, payout: str, operation: Operation) -> tuple[str, str]:
        found = _account_of(payout)
        if found is None:
            raise PaymentNotFound(gateway=self.name, operation=operation, object_id=payout)
        return found

    def _checked_key(self, key: str, operation: Operation) -> str:
        try:
            return check_key(key)
        except ValidationError as error:
            self._invalid(operation, None, error.message, "idempotency_key", error)

    def _check_amount(self, amount: Amount, operation: Operation, key: str) -> None:
        if amount.units <= 0:
            self._invalid(operation, key, f"the amount must be positive, not {amount}", "amount")
        self.capabilities.require_currency(amount.currency, gateway=self.name, operation=operation)

    def _invalid(
        self,
        operation: Operation,
        key: str | None,
        message: str,
        field: str | None,
        cause: Exception | None = None,
    ) -> NoReturn:
        raise InvalidPaymentRequest(
            message, gateway=self.name, operation=operation, idempotency_key=key, field=field
        ) from cause
