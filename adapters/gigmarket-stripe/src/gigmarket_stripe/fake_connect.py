"""A fake of Stripe's Connect endpoints, built from Stripe's published API
shapes (not Stripe itself), in memory, for the adapter's tests.

localstripe has no Connect, and recorded responses cannot follow a payout
from ``pending`` to ``paid``. :class:`FakeStripeConnect` keeps connected
accounts, their bank accounts and balances, transfers, payouts and events,
and answers the requests the ``stripe`` library sends with the status codes,
JSON objects and error bodies (``type``, ``code``, ``param``, ``message``)
of Stripe's API reference. It is what the reference documents, no more: where
Stripe's behaviour is not published (or differs in live mode), the fake's
choice is written down here.

| request | answers |
|---|---|
| `POST /v1/accounts` | the account, with its bank from the `external_account` token |
| `GET /v1/accounts[/{id}]` | a list (newest first, `starting_after`); an account |
| `POST /v1/accounts/{id}` | the account, `metadata` merged |
| `POST /v1/accounts/{id}/external_accounts` | a bank account from a token |
| `POST`, `GET /v1/transfers` | a transfer to an account; a list (`transfer_group`) |
| `POST`, `GET /v1/payouts[/{id}]` | with `Stripe-Account`: a payout to the account's bank |
| `POST /v1/payouts/{id}/cancel` | only while `pending` (as Stripe documents) |

Errors: 400 ``invalid_request_error`` (``resource_missing`` for a token or a
destination it does not know, ``balance_insufficient``, a bank refusal),
401 for another API key, 403 ``account_invalid`` for an account the platform
does not have, 404 ``resource_missing`` for a payout, 404 for a URL it does not
serve. Stripe's error codes page gives ``account_invalid`` for an unknown
``Stripe-Account`` header; that ``GET /v1/accounts/{id}`` answers the same
403 is what users of the API report (the reference does not say).

``Idempotency-Key`` on a ``POST`` behaves as Stripe documents: the same key
with the same parameters replays the saved answer (``Idempotent-Replayed:
true``), with other parameters it is a 400 ``idempotency_error``, while the
first request is still being processed a 409 ``idempotency_key_in_use``;
keys are kept 24 hours, scoped by account (the ``Stripe-Account`` header, as
Stripe's 409 message says). A request refused while its parameters were
validated saves no answer, so it runs again; one that ran
(``balance_insufficient``, a payout that can no longer be cancelled) does. The
fake also refuses a key reused on another endpoint.

Bank tokens are Stripe's test tokens (:data:`BANK_TOKENS`): ``btok_us_verified``
pays, the others make a payout fail with the code Stripe's testing guide
gives. Stripe's test mode refuses a bad account number when the token is
made, not when it is attached, so no Stripe token is refused on attaching;
the fake adds :data:`REFUSED_BANK_TOKENS` for that case, answered in the shape
of Stripe's ``account_number_invalid`` error.

Time moves only when told: :meth:`FakeStripeConnect.advance` moves every
payout one step (``pending`` → ``in_transit`` → ``paid`` or ``failed``, the
money back on the account) and, like Stripe's default daily schedule, pays
out the balance of each account whose payout schedule is not ``manual``.
Events are what Stripe sends to a Connect webhook endpoint (``account`` set
for events on a connected account): ``transfer.created``, ``payout.created``,
``payout.updated`` for the move to ``in_transit`` (the one status without an
event of its own), ``payout.paid``, ``payout.failed``, ``payout.canceled``.
Whether Stripe also sends ``payout.updated`` beside the last three is not
published; the fake does not. A failing test bank goes ``in_transit`` →
``failed`` (Stripe may show ``paid`` first and fail later).

Not modelled: verification requirements (Stripe keeps payouts disabled
until an account's ``requirements`` are met; the fake enables them with a
bank account), fees, pending balances, instant payouts, reversals, and
events Stripe may send besides these.
"""

from __future__ import annotations

import copy
import itertools
import json
import random
import re
import string
import threading
import urllib.parse
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from gigmarket.clock import Clock

from gigmarket_stripe._fake_shapes import (
    API_VERSION,
    BANK_TOKENS,
    REFUSED_BANK_TOKENS,
    Refusal,
    TestBank,
    account_invalid,
    account_json,
    amount_of,
    bank_json,
    currency_of,
    event_json,
    listed,
    nested,
    payout_json,
    public,
    transfer_json,
)

__all__ = [
    "API_VERSION",
    "BANK_TOKENS",
    "KEY_LIFETIME",
    "REFUSED_BANK_TOKENS",
    "FakeStripeConnect",
    "TestBank",
]

KEY_LIFETIME = timedelta(hours=24)
"""How long Stripe keeps an idempotency key."""


_PLATFORM = "platform"
_ID_CHARS = string.ascii_letters + string.digits


@dataclass
class _Account:
    json: dict[str, Any]
    available: dict[str, int] = field(default_factory=dict)
    banks: dict[str, TestBank] = field(default_factory=dict)  # by bank account id


@dataclass
class _Saved:
    fingerprint: tuple[str, str, tuple[tuple[str, str], ...]]
    created: float
    answer: tuple[int, dict[str, Any]] | None = None  # None while in flight


Answer = tuple[str, int, Mapping[str, str]]
_Handler = Callable[[str, "_Request"], dict[str, Any]]


@dataclass(frozen=True)
class _Request:
    method: str
    path: str
    pairs: tuple[tuple[str, str], ...]
    account: str | None
    params: dict[str, Any]


class FakeStripeConnect:
    """Stripe's Connect endpoints, in memory, thread-safe, moving with ``clock``
    (see the module docs). :meth:`handle` is what an HTTP client calls."""

    def __init__(
        self,
        *,
        api_key: str,
        clock: Clock,
        platform_balance: int = 10_000_000,
        seed: int = 0,
    ) -> None:
        self._api_key = api_key
        self._clock = clock
        self._lock = threading.Lock()
        self._random = random.Random(seed)  # noqa: S311 -- ids, not secrets
        self._seq = itertools.count(1)
        self._platform_balance = platform_balance  # in every currency, for transfers
        self._accounts: dict[str, _Account] = {}
        self._transfers: dict[str, dict[str, Any]] = {}
        self._payouts: dict[str, dict[str, Any]] = {}  # each with "_account"
        self._keys: dict[tuple[str, str], _Saved] = {}
        self._events: list[dict[str, Any]] = []
        self._delivered = 0
        self._routes: list[tuple[str, re.Pattern[str], _Handler]] = [
            ("POST", re.compile(r"/v1/accounts"), self._create_account),
            ("GET", re.compile(r"/v1/accounts"), self._list_accounts),
            ("GET", re.compile(r"/v1/accounts/(?P<id>[^/]+)"), self._get_account),
            ("POST", re.compile(r"/v1/accounts/(?P<id>[^/]+)"), self._update_account),
            ("POST", re.compile(r"/v1/accounts/(?P<id>[^/]+)/external_accounts"), self._add_bank),
            ("POST", re.compile(r"/v1/transfers"), self._create_transfer),
            ("GET", re.compile(r"/v1/transfers"), self._list_transfers),
            ("POST", re.compile(r"/v1/payouts"), self._create_payout),
            ("GET", re.compile(r"/v1/payouts"), self._list_payouts),
            ("GET", re.compile(r"/v1/payouts/(?P<id>[^/]+)"), self._get_payout),
            ("POST", re.compile(r"/v1/payouts/(?P<id>[^/]+)/cancel"), self._cancel_payout),
        ]

    def __repr__(self) -> str:
        return f"FakeStripeConnect(accounts={len(self._accounts)}, payouts={len(self._payouts)})"

    # -- the HTTP side ---------------------------------------------------------

    def handle(
        self, method: str, url: str, headers: Mapping[str, str], body: str | bytes | None
    ) -> Answer:
        """Answer one request as Stripe would: ``(body, status, headers)``."""
        parts = urllib.parse.urlsplit(url)
        raw = body.decode() if isinstance(body, bytes) else (body or parts.query)
        pairs = tuple(urllib.parse.parse_qsl(raw, keep_blank_values=True))
        lowered = {k.lower(): v for k, v in headers.items()}
        request = _Request(
            method=method.upper(),
            path=parts.path,
            pairs=pairs,
            account=lowered.get("stripe-account"),
            params=nested(pairs),
        )
        request_id = f"req_{self._id(14)}"
        answer_headers = {"request-id": request_id, "stripe-version": API_VERSION}
        key = lowered.get("idempotency-key") if request.method == "POST" else None
        try:
            self._authenticate(lowered.get("authorization", ""), request.account)
            if key is None:
                status, payload = 200, self._route(request)
            else:
                answer_headers["idempotency-key"] = key
                status, payload, replayed = self._idempotent(key, request)
                if replayed:
                    answer_headers["idempotent-replayed"] = "true"
        except Refusal as refusal:
            status, payload = refusal.status, refusal.body
            answer_headers.update(refusal.headers)
        return json.dumps(payload), status, answer_headers

    def _authenticate(self, authorization: str, account: str | None) -> None:
        given = authorization.removeprefix("Bearer ").strip()
        if given != self._api_key:
            masked = f"{given[:8]}{'*' * max(len(given) - 12, 0)}{given[-4:]}"
            raise Refusal(401, f"Invalid API Key provided: {masked}")
        if account is not None:
            with self._lock:
                known = account in self._accounts
            if not known:
                raise self._account_invalid(account)

    def _account_invalid(self, account: str) -> Refusal:
        return account_invalid(self._api_key, account)

    def _idempotent(self, key: str, request: _Request) -> tuple[int, dict[str, Any], bool]:
        scope = (request.account or _PLATFORM, key)
        fingerprint = (request.method, request.path, tuple(sorted(request.pairs)))
        now = self._clock.now().timestamp()
        with self._lock:
            saved = self._keys.get(scope)
            if saved is not None and now - saved.created > KEY_LIFETIME.total_seconds():
                saved = None
            if saved is not None:
                if saved.answer is None:
                    raise Refusal(
                        409,
                        "There is currently another in-progress request using this "
                        "Stripe-Account and Idempotency-Key.",
                        code="idempotency_key_in_use",
                        kind="idempotency_error",
                    )
                if saved.fingerprint[:2] != fingerprint[:2]:
                    raise Refusal(
                        400,
                        "Keys for idempotent requests can only be used for the same endpoint "
                        f"they were first used for ('{saved.fingerprint[1]}' vs "
                        f"'{request.path}'). Try using a key other than '{key}' if you meant "
                        "to execute a different request.",
                        kind="idempotency_error",
                    )
                if saved.fingerprint != fingerprint:
                    raise Refusal(
                        400,
                        "Keys for idempotent requests can only be used with the same "
                        "parameters they were first used with. Try using a key other than "
                        f"'{key}' if you meant to execute a different request.",
                        kind="idempotency_error",
                    )
                return *saved.answer, True
            self._keys[scope] = _Saved(fingerprint=fingerprint, created=now)
        try:
            status, payload = 200, self._route(request)
        except Refusal as refusal:
            with self._lock:
                if refusal.saved:
                    self._keys[scope].answer = (refusal.status, refusal.body)
                else:
                    del self._keys[scope]
            raise
        except BaseException:
            with self._lock:
                del self._keys[scope]
            raise
        with self._lock:
            self._keys[scope].answer = (status, payload)
        return status, payload, False

    def _route(self, request: _Request) -> dict[str, Any]:
        for verb, pattern, handler in self._routes:
            matched = pattern.fullmatch(request.path)
            if matched and verb == request.method:
                with self._lock:
                    return handler(matched.groupdict().get("id") or "", request)
        raise Refusal(
            404,
            f"Unrecognized request URL ({request.method}: {request.path}). Please see "
            "https://stripe.com/docs or we can help at https://support.stripe.com/.",
        )

    # -- accounts --------------------------------------------------------------

    def _create_account(self, _: str, request: _Request) -> dict[str, Any]:
        params = request.params
        if params.get("type") not in ("custom", "express", "standard"):
            raise Refusal(
                400, "Missing required param: type.", code="parameter_missing", param="type"
            )
        token = params.get("external_account")
        bank = self._bank_of(token) if isinstance(token, str) else None
        account_id = f"acct_{self._id(16)}"
        made = _Account(
            json={**account_json(account_id, params, created=self._now()), "_seq": next(self._seq)}
        )
        if bank is not None:
            self._attach(made, bank)
        self._accounts[account_id] = made
        return public(made.json)

    def _bank_of(self, token: str) -> TestBank:
        if token in REFUSED_BANK_TOKENS:
            code, message = REFUSED_BANK_TOKENS[token]
            raise Refusal(400, message, code=code, param="external_account")
        if token not in BANK_TOKENS:
            raise Refusal(
                400, f"No such token: '{token}'", code="resource_missing", param="external_account"
            )
        return BANK_TOKENS[token]

    def _attach(self, account: _Account, bank: TestBank) -> dict[str, Any]:
        bank_id, account_id = f"ba_{self._id(24)}", str(account.json["id"])
        currency = str(account.json["default_currency"])
        made = bank_json(
            bank_id, account_id, currency=currency, bank=bank, fingerprint=self._id(16)
        )
        listed_banks = account.json["external_accounts"]
        listed_banks["data"].append(made)
        listed_banks["total_count"] = len(listed_banks["data"])
        account.banks[bank_id] = bank
        account.json["payouts_enabled"] = True
        return dict(made)

    def _account(self, account_id: str) -> _Account:
        found = self._accounts.get(account_id)
        if found is None:
            raise self._account_invalid(account_id)
        return found

    def _get_account(self, account_id: str, _: _Request) -> dict[str, Any]:
        return public(self._account(account_id).json)

    def _update_account(self, account_id: str, request: _Request) -> dict[str, Any]:
        account = self._account(account_id).json
        for name, value in (request.params.get("metadata") or {}).items():
            if value == "":
                account["metadata"].pop(name, None)  # Stripe unsets a key set to ""
            else:
                account["metadata"][name] = value
        return public(account)

    def _add_bank(self, account_id: str, request: _Request) -> dict[str, Any]:
        account = self._account(account_id)
        token = request.params.get("external_account")
        if not isinstance(token, str):
            raise Refusal(
                400,
                "Missing required param: external_account.",
                code="parameter_missing",
                param="external_account",
            )
        return public(self._attach(account, self._bank_of(token)))

    def _list_accounts(self, _: str, request: _Request) -> dict[str, Any]:
        accounts = [account.json for account in self._accounts.values()]
        return listed(accounts, "/v1/accounts", request.params)

    # -- transfers -------------------------------------------------------------

    def _create_transfer(self, _: str, request: _Request) -> dict[str, Any]:
        params = request.params
        amount, currency = amount_of(params), currency_of(params)
        destination = str(params.get("destination") or "")
        if destination not in self._accounts:
            raise Refusal(
                400,
                f"No such destination: '{destination}'",
                code="resource_missing",
                param="destination",
            )
        if amount > self._platform_balance:
            raise Refusal(
                400,
                "You have insufficient available funds in your Stripe account. Try adding "
                "funds directly to your available balance by creating Charges using the "
                "4000000000000077 test card.",
                code="balance_insufficient",
                saved=True,
            )
        self._platform_balance -= amount
        account = self._accounts[destination]
        account.available[currency] = account.available.get(currency, 0) + amount
        ids = {"tr": f"tr_{self._id(24)}", "txn": f"txn_{self._id(24)}", "py": f"py_{self._id(24)}"}
        made = transfer_json(ids, params, amount=amount, currency=currency, created=self._now())
        transfer = {**made, "_seq": next(self._seq)}
        self._transfers[transfer["id"]] = transfer
        self._event("transfer.created", transfer, account=None)
        return public(transfer)

    def _list_transfers(self, _: str, request: _Request) -> dict[str, Any]:
        params = request.params
        transfers = [
            transfer
            for transfer in self._transfers.values()
            if params.get("transfer_group") in (None, transfer["transfer_group"])
            and params.get("destination") in (None, transfer["destination"])
        ]
        return listed(transfers, "/v1/transfers", params)

    # -- payouts ---------------------------------------------------------------

    def _create_payout(self, _: str, request: _Request) -> dict[str, Any]:
        params = request.params
        amount, currency = amount_of(params), currency_of(params)
        account = self._accounts.get(request.account or "")
        banks = [] if account is None else account.json["external_accounts"]["data"]
        bank = next((bank for bank in banks if bank["currency"] == currency), None)
        if account is None or bank is None:
            raise Refusal(
                400,
                f"You don't have any external accounts in that currency ({currency}).",
                param="currency",
            )
        return public(self._pay_out(account, bank, amount, currency, params, automatic=False))

    def _pay_out(
        self,
        account: _Account,
        bank: Mapping[str, Any],
        amount: int,
        currency: str,
        params: Mapping[str, Any],
        *,
        automatic: bool,
    ) -> dict[str, Any]:
        if amount > account.available.get(currency, 0):
            raise Refusal(
                400,
                "You have insufficient funds in your Stripe account for this transfer. "
                "Your card balance is too low.",
                code="balance_insufficient",
                param="amount",
                saved=True,
            )
        account.available[currency] -= amount
        ids = {"po": f"po_{self._id(24)}", "txn": f"txn_{self._id(24)}", "ba": str(bank["id"])}
        made = payout_json(
            ids, params, amount=amount, currency=currency, created=self._now(), automatic=automatic
        )
        payout = {**made, "_seq": next(self._seq), "_account": account.json["id"]}
        self._payouts[payout["id"]] = payout
        self._event("payout.created", payout, account=account.json["id"])
        return payout

    def _payout(self, payout_id: str, request: _Request) -> dict[str, Any]:
        payout = self._payouts.get(payout_id)
        if payout is None or payout["_account"] != request.account:
            raise Refusal(
                404, f"No such payout: '{payout_id}'", code="resource_missing", param="id"
            )
        return payout

    def _get_payout(self, payout_id: str, request: _Request) -> dict[str, Any]:
        return public(self._payout(payout_id, request))

    def _list_payouts(self, _: str, request: _Request) -> dict[str, Any]:
        payouts = [p for p in self._payouts.values() if p["_account"] == request.account]
        return listed(payouts, "/v1/payouts", request.params)

    def _cancel_payout(self, payout_id: str, request: _Request) -> dict[str, Any]:
        payout = self._payout(payout_id, request)
        if payout["status"] != "pending":
            raise Refusal(
                400,
                f"Payouts can only be canceled while they are pending; this one is "
                f"{payout['status']}.",
                saved=True,
            )
        self._settle(payout, "canceled")
        return public(payout)

    def _settle(self, payout: dict[str, Any], status: str) -> None:
        """End a payout that did not reach the bank: the money goes back."""
        account = self._accounts[payout["_account"]]
        account.available[payout["currency"]] += payout["amount"]
        payout["status"] = status
        payout["failure_balance_transaction"] = f"txn_{self._id(24)}"
        self._event(f"payout.{status}", payout, account=account.json["id"])

    # -- the driver's side -----------------------------------------------------

    def advance(self) -> None:
        """One step of the outside world (see the module docs)."""
        with self._lock:
            for payout in sorted(self._payouts.values(), key=lambda p: p["_seq"]):
                account = self._accounts[payout["_account"]]
                if payout["status"] == "pending":
                    payout["status"] = "in_transit"
                    self._event(
                        "payout.updated",
                        payout,
                        account=account.json["id"],
                        previous={"status": "pending"},
                    )
                elif payout["status"] == "in_transit":
                    bank = account.banks[payout["destination"]]
                    if bank.failure_code is None:
                        payout["status"] = "paid"
                        self._event("payout.paid", payout, account=account.json["id"])
                    else:
                        payout["failure_code"] = bank.failure_code
                        payout["failure_message"] = bank.failure_message
                        self._settle(payout, "failed")
            for account in list(self._accounts.values()):
                self._automatic_payouts(account)

    def _automatic_payouts(self, account: _Account) -> None:
        schedule = account.json["settings"]["payouts"]["schedule"]
        if schedule["interval"] == "manual":
            return
        for bank in account.json["external_accounts"]["data"]:
            amount = account.available.get(bank["currency"], 0)
            if amount > 0:
                self._pay_out(account, bank, amount, bank["currency"], {}, automatic=True)

    def new_events(self) -> list[dict[str, Any]]:
        """The events made since the last call, oldest first."""
        with self._lock:
            events = self._events[self._delivered :]
            self._delivered = len(self._events)
        return copy.deepcopy(events)

    def balance(self, account: str, currency: str) -> int:
        """A connected account's available balance, in minor units."""
        with self._lock:
            return self._account(account).available.get(currency.lower(), 0)

    # -- helpers ---------------------------------------------------------------

    def _event(
        self,
        kind: str,
        obj: Mapping[str, Any],
        *,
        account: str | None,
        previous: Mapping[str, Any] | None = None,
    ) -> None:
        made = event_json(
            f"evt_{self._id(24)}",
            kind,
            obj,
            created=self._now(),
            account=account,
            previous=previous,
        )
        self._events.append(made)

    def _now(self) -> int:
        return int(self._clock.now().timestamp())

    def _id(self, length: int) -> str:
        return "".join(self._random.choice(_ID_CHARS) for _ in range(length))
