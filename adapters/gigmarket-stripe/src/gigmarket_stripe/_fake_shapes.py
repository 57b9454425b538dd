"""Stripe's published shapes, for :mod:`gigmarket_stripe.fake_connect`: the
objects (account, bank account, transfer, payout, event), lists, error
bodies, and the test bank tokens of Stripe's Connect testing guide.

Every field here is one Stripe's API reference documents for the API version
:data:`API_VERSION`; the values are a fake's (ids, fingerprints), not Stripe's.
A field starting with ``_`` is the fake's own bookkeeping and never shown.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = [
    "API_VERSION",
    "BANK_TOKENS",
    "REFUSED_BANK_TOKENS",
    "Refusal",
    "TestBank",
    "account_invalid",
    "account_json",
    "amount_of",
    "bank_json",
    "currency_of",
    "event_json",
    "listed",
    "nested",
    "payout_json",
    "public",
    "transfer_json",
]

API_VERSION = "2026-10-28.endive"
"""The API version the fake's objects follow (that of the recorded responses)."""


@dataclass(frozen=True)
class TestBank:
    """What one of Stripe's test bank tokens stands for."""

    __test__ = False  # not a pytest class

    last4: str
    failure_code: str | None = None
    failure_message: str | None = None


BANK_TOKENS: Mapping[str, TestBank] = {
    "btok_us_verified": TestBank(last4="6789"),
    "btok_us_verified_noAccount": TestBank(
        last4="1116",
        failure_code="no_account",
        failure_message="The bank account details on file are probably incorrect. "
        "No bank account could be located with those details.",
    ),
    "btok_us_verified_accountClosed": TestBank(
        last4="1113",
        failure_code="account_closed",
        failure_message="The bank account has been closed.",
    ),
    "btok_us_verified_insufficientFunds": TestBank(
        last4="2227",
        failure_code="insufficient_funds",
        failure_message="Your Stripe account has insufficient funds to cover the payout.",
    ),
    "btok_us_verified_debitNotAuthorized": TestBank(
        last4="3335",
        failure_code="debit_not_authorized",
        failure_message="Debit transactions are not approved on the bank account.",
    ),
    "btok_us_verified_invalidCurrency": TestBank(
        last4="4440",
        failure_code="invalid_currency",
        failure_message="The bank was unable to process this payout because of its currency.",
    ),
}
"""Stripe's US test bank tokens (its Connect testing guide), and what a payout
to each does."""

REFUSED_BANK_TOKENS: Mapping[str, tuple[str, str]] = {
    "btok_fake_refused_account_number_invalid": (
        "account_number_invalid",
        "The account number provided is invalid.",
    ),
}
"""The fake's own tokens that attaching refuses (see the module docs): the code
and message of Stripe's error."""


class Refusal(Exception):
    """An error answer in Stripe's shape."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        code: str | None = None,
        param: str | None = None,
        kind: str = "invalid_request_error",
        saved: bool = False,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        error: dict[str, Any] = {"type": kind, "message": message}
        if code:
            error["code"] = code
            error["doc_url"] = f"https://stripe.com/docs/error-codes/{code.replace('_', '-')}"
        if param:
            error["param"] = param
        self.status, self.body, self.saved = status, {"error": error}, saved
        self.headers = dict(headers or {})


def nested(pairs: tuple[tuple[str, str], ...]) -> dict[str, Any]:
    """Stripe's form encoding (``metadata[key]=value``) as nested dicts."""
    params: dict[str, Any] = {}
    for name, value in pairs:
        head, *rest = re.split(r"\[", name.replace("]", ""))
        target = params
        for part in [head, *rest][:-1]:
            target = target.setdefault(part, {})
        target[[head, *rest][-1]] = value
    return params


def listed(items: list[dict[str, Any]], url: str, params: Mapping[str, Any]) -> dict[str, Any]:
    """A page of a Stripe list, newest first."""
    newest = sorted(items, key=lambda item: item["_seq"], reverse=True)
    after = params.get("starting_after")
    if after:
        ids = [item["id"] for item in newest]
        newest = newest[ids.index(after) + 1 :] if after in ids else []
    try:
        limit = min(max(int(params.get("limit", 10)), 1), 100)
    except ValueError:
        raise Refusal(
            400,
            f"Invalid integer: {params['limit']}",
            code="parameter_invalid_integer",
            param="limit",
        ) from None
    page = newest[:limit]
    return {
        "object": "list",
        "data": [public(item) for item in page],
        "has_more": len(newest) > limit,
        "url": url,
    }


def public(obj: Mapping[str, Any]) -> dict[str, Any]:
    """An object as the API shows it (without the fake's own bookkeeping)."""
    return {k: copy.deepcopy(v) for k, v in obj.items() if not k.startswith("_")}


def amount_of(params: Mapping[str, Any]) -> int:
    raw = params.get("amount")
    if raw is None:
        raise Refusal(
            400, "Missing required param: amount.", code="parameter_missing", param="amount"
        )
    try:
        amount = int(raw)
    except ValueError:
        raise Refusal(
            400, f"Invalid integer: {raw}", code="parameter_invalid_integer", param="amount"
        ) from None
    if amount < 1:
        raise Refusal(
            400,
            "This value must be greater than or equal to 1.",
            code="parameter_invalid_integer",
            param="amount",
        )
    return amount


def currency_of(params: Mapping[str, Any]) -> str:
    currency = str(params.get("currency") or "").lower()
    if not re.fullmatch(r"[a-z]{3}", currency):
        raise Refusal(400, f"Invalid currency: {currency}.", param="currency")
    return currency


def account_invalid(api_key: str, account: str) -> Refusal:
    """Stripe's 403 for an account the platform does not have (the key masked)."""
    masked = f"{api_key[:8]}{'*' * 20}{api_key[-4:]}"
    return Refusal(
        403,
        f"The provided key '{masked}' does not have access to account '{account}' "
        "(or that account does not exist). Application access may have been revoked.",
        code="account_invalid",
    )


def account_json(account_id: str, params: Mapping[str, Any], *, created: int) -> dict[str, Any]:
    """A custom connected account as ``POST /v1/accounts`` made it, without banks."""
    requested = params.get("capabilities") or {}
    schedule = params.get("settings", {}).get("payouts", {}).get("schedule", {})
    return {
        "id": account_id,
        "object": "account",
        "type": params["type"],
        "country": str(params.get("country") or "US"),
        "created": created,
        "default_currency": str(params.get("default_currency") or "usd").lower(),
        "business_type": None,
        "email": params.get("email"),
        "capabilities": {
            name: "active" for name, wanted in requested.items() if wanted.get("requested")
        },
        "charges_enabled": False,
        "details_submitted": False,
        "payouts_enabled": False,
        "metadata": dict(params.get("metadata") or {}),
        "settings": {
            "payouts": {
                "debit_negative_balances": True,
                # Stripe's default for a new account: paid out daily, by itself.
                "schedule": {"delay_days": 2, "interval": schedule.get("interval") or "daily"},
                "statement_descriptor": None,
            }
        },
        "external_accounts": {
            "object": "list",
            "data": [],
            "has_more": False,
            "total_count": 0,
            "url": f"/v1/accounts/{account_id}/external_accounts",
        },
    }


def bank_json(
    bank_id: str, account_id: str, *, currency: str, bank: TestBank, fingerprint: str
) -> dict[str, Any]:
    """A bank account, as an account's external account (the token never shows)."""
    return {
        "id": bank_id,
        "object": "bank_account",
        "account": account_id,
        "account_holder_name": None,
        "account_holder_type": None,
        "bank_name": "STRIPE TEST BANK",
        "country": "US",
        "currency": currency,
        "default_for_currency": True,
        "fingerprint": fingerprint,
        "last4": bank.last4,
        "metadata": {},
        "routing_number": "110000000",
        "status": "new",
    }


def transfer_json(
    ids: Mapping[str, str], params: Mapping[str, Any], *, amount: int, currency: str, created: int
) -> dict[str, Any]:
    """A transfer from the platform to ``params["destination"]``; ``ids`` are
    its own (``tr``), its balance transaction's (``txn``) and the payment it
    makes on the destination (``py``)."""
    return {
        "id": ids["tr"],
        "object": "transfer",
        "amount": amount,
        "amount_reversed": 0,
        "balance_transaction": ids["txn"],
        "created": created,
        "currency": currency,
        "description": params.get("description"),
        "destination": params["destination"],
        "destination_payment": ids["py"],
        "livemode": False,
        "metadata": dict(params.get("metadata") or {}),
        "reversals": {"object": "list", "data": [], "has_more": False, "total_count": 0},
        "reversed": False,
        "source_transaction": None,
        "source_type": "card",
        "transfer_group": params.get("transfer_group"),
    }


def payout_json(
    ids: Mapping[str, str],
    params: Mapping[str, Any],
    *,
    amount: int,
    currency: str,
    created: int,
    automatic: bool,
) -> dict[str, Any]:
    """A pending payout of a connected account's balance to its bank account
    (``ids``: ``po``, ``txn``, and ``ba``, the bank account)."""
    return {
        "id": ids["po"],
        "object": "payout",
        "amount": amount,
        "arrival_date": created + 2 * 86400,
        "automatic": automatic,
        "balance_transaction": ids["txn"],
        "created": created,
        "currency": currency,
        "description": params.get("description"),
        "destination": ids["ba"],
        "failure_balance_transaction": None,
        "failure_code": None,
        "failure_message": None,
        "livemode": False,
        "metadata": dict(params.get("metadata") or {}),
        "method": "standard",
        "original_payout": None,
        "reconciliation_status": "not_applicable",
        "reversed_by": None,
        "source_type": "card",
        "statement_descriptor": None,
        "status": "pending",
        "type": "bank_account",
    }


def event_json(
    event_id: str,
    kind: str,
    obj: Mapping[str, Any],
    *,
    created: int,
    account: str | None,
    previous: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """An event as a Connect webhook endpoint receives it (``account`` set for
    an event on a connected account)."""
    data: dict[str, Any] = {"object": public(obj)}
    if previous:
        data["previous_attributes"] = dict(previous)
    event: dict[str, Any] = {
        "id": event_id,
        "object": "event",
        "api_version": API_VERSION,
        "created": created,
        "data": data,
        "livemode": False,
        "pending_webhooks": 1,
        "request": {"id": None, "idempotency_key": None},
        "type": kind,
    }
    if account is not None:
        event["account"] = account
    return event
