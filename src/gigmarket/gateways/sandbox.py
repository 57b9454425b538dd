"""SandboxGateway: a deterministic, in-memory payment gateway for tests, demos and docs.

It implements both protocols (collection and disbursement), keeps its own
objects (so a status query after a lost response tells the truth), honours
idempotency keys under concurrency, sends signed webhooks, and moves only with
its injected :class:`~gigmarket.clock.Clock`: a pending charge settles, a
payout goes in transit and arrives, a delayed request is processed, when the
clock passes the moment (or at once, when a test calls
:meth:`SandboxGateway.settle_pending`).

Test tokens choose the outcome, as with a real provider's test mode:

| token | outcome |
|---|---|
| `tok_visa`, `tok_mastercard` | `captured` (`authorized` with `capture=False`) |
| `tok_decline_<code>` | `failed`, declined with that card `DeclineCode` |
| `tok_requires_action` | `requires_action`; `complete_action(id, succeed=...)` plays the buyer |
| `tok_pending` | `pending`, then as `tok_visa` after `pending_settles_after` (10 min) |
| `tok_pending_decline` | `pending`, then `failed` with `insufficient_funds` |
| bank `bank_ok` | payee `active`; payouts `pending` → `in_transit` (1 h) → `paid` (2 days) |
| bank `bank_fails` | payee `active`; payouts fail in transit with `bank_account_closed` |
| bank `bank_invalid` | payee `rejected` with `invalid_bank_account` |

The raw codes imitate a card acquirer's ISO 8583 response codes and ACH
return codes (:data:`RAW_DECLINE_CODES`: ``insufficient_funds`` is ``"51"``),
so the difference between a normalized and a raw code is there to see.

Failures are programmed with a :class:`~gigmarket.gateways.faults.FaultPlan`
(``gateway.faults``). What the sandbox made can be read back without a key:
:attr:`SandboxGateway.charges`, ``refunds``, ``payees`` and ``payouts``
(read-only snapshots, oldest first), and through the optional
:class:`~gigmarket.gateways.protocols.ListsActivity` port
(``list_charges(since=...)`` ...) that ``gigmarket audit --gateway`` uses.
API keys must start with ``sk_sandbox_``; anything else is refused at
construction with :class:`~gigmarket.errors.GatewayMisconfigured` (which does
not show the key).
"""

from __future__ import annotations

import enum
import itertools
import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, NoReturn, TypeVar

import attrs

from gigmarket.clock import Clock, SystemClock
from gigmarket.errors import (
    GatewayMisconfigured,
    InvalidPaymentRequest,
    PaymentNotFound,
    ValidationError,
)
from gigmarket.gateways._simulation import CallDesk, Timeline, WebhookOutbox
from gigmarket.gateways.faults import FaultPlan
from gigmarket.gateways.protocols import Capabilities, Capability, Operation
from gigmarket.gateways.results import (
    CARD_DECLINE_CODES,
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
from gigmarket.gateways.secret import Secret
from gigmarket.gateways.webhooks import (
    DEFAULT_TOLERANCE,
    SIGNATURE_HEADER,
    EventType,
    WebhookDelivery,
    WebhookEvent,
    header_value,
    parse_event,
    verify,
)
from gigmarket.money import Amount

__all__ = [
    "API_KEY_PREFIX",
    "BANK_TOKENS",
    "CARD_TOKENS",
    "RAW_DECLINE_CODES",
    "SANDBOX_CURRENCIES",
    "BankBehaviour",
    "CardBehaviour",
    "SandboxGateway",
]

_log = logging.getLogger(__name__)

API_KEY_PREFIX = "sk_sandbox_"

SANDBOX_CURRENCIES = frozenset({"AUD", "BDT", "CAD", "EUR", "GBP", "INR", "JPY", "KWD", "USD"})
"""What the sandbox takes unless told otherwise: two-, zero- and three-decimal currencies."""

RAW_DECLINE_CODES: Mapping[DeclineCode, str] = {
    DeclineCode.CARD_DECLINED: "05",
    DeclineCode.INSUFFICIENT_FUNDS: "51",
    DeclineCode.EXPIRED_CARD: "54",
    DeclineCode.INCORRECT_CVC: "N7",
    DeclineCode.INCORRECT_NUMBER: "14",
    DeclineCode.FRAUDULENT: "59",
    DeclineCode.LOST_OR_STOLEN: "43",
    DeclineCode.LIMIT_EXCEEDED: "61",
    DeclineCode.AUTHENTICATION_FAILED: "1A",
    DeclineCode.PROCESSING_ERROR: "96",
    DeclineCode.OTHER: "ZZ",
    DeclineCode.INVALID_BANK_ACCOUNT: "R03",
    DeclineCode.BANK_ACCOUNT_CLOSED: "R02",
}
"""The sandbox's raw code for each normalized code (ISO 8583 and ACH style)."""


class CardBehaviour(enum.StrEnum):
    """What a sandbox card token makes a charge do."""

    SUCCEED = "succeed"
    DECLINE = "decline"
    REQUIRE_ACTION = "require_action"
    PEND_THEN_SUCCEED = "pend_then_succeed"
    PEND_THEN_DECLINE = "pend_then_decline"


class BankBehaviour(enum.StrEnum):
    """What a sandbox bank token makes onboarding and payouts do."""

    PAYS = "pays"
    FAILS_IN_TRANSIT = "fails_in_transit"
    REJECTED = "rejected"


CARD_TOKENS: Mapping[str, tuple[CardBehaviour, DeclineCode | None]] = {
    "tok_visa": (CardBehaviour.SUCCEED, None),
    "tok_mastercard": (CardBehaviour.SUCCEED, None),
    "tok_requires_action": (CardBehaviour.REQUIRE_ACTION, None),
    "tok_pending": (CardBehaviour.PEND_THEN_SUCCEED, None),
    "tok_pending_decline": (CardBehaviour.PEND_THEN_DECLINE, DeclineCode.INSUFFICIENT_FUNDS),
    **{f"tok_decline_{c.value}": (CardBehaviour.DECLINE, c) for c in sorted(CARD_DECLINE_CODES)},
}
"""Every sandbox payment token and what it does."""

BANK_TOKENS: Mapping[str, BankBehaviour] = {
    "bank_ok": BankBehaviour.PAYS,
    "bank_fails": BankBehaviour.FAILS_IN_TRANSIT,
    "bank_invalid": BankBehaviour.REJECTED,
}
"""Every sandbox bank token and what it does."""

_Result = TypeVar("_Result", Charge, Refund, Payee, Payout)
_Listed = TypeVar("_Listed", Charge, Refund, Payout)
_T = TypeVar("_T")


def _decline(code: DeclineCode, message: str) -> Decline:
    return Decline(code=code, raw_code=RAW_DECLINE_CODES[code], message=message)


def _amount_data(amount: Amount | None) -> dict[str, Any] | None:
    return None if amount is None else {"units": amount.units, "currency": amount.currency}


def _snapshot(obj: Charge | Payee | Payout) -> dict[str, Any]:
    """The JSON snapshot a webhook carries; never a token or a secret."""
    data: dict[str, Any] = {"id": obj.id, "status": obj.status.value}
    failure = obj.failure if isinstance(obj, Payout) else obj.decline
    if isinstance(obj, Charge):
        data.update(amount=_amount_data(obj.amount), captured=_amount_data(obj.captured))
        data.update(refunded=_amount_data(obj.refunded), refunds=[r.id for r in obj.refunds])
    elif isinstance(obj, Payout):
        data.update(amount=_amount_data(obj.amount), payee_id=obj.payee_id)
    else:
        data.update(reference=obj.reference, currency=obj.currency)
    if failure is not None:
        data["failure"] = {"code": failure.code.value, "raw_code": failure.raw_code}
    return data


class SandboxGateway:
    """An in-memory gateway with both protocols, test tokens and a fault plan.

    ``clock`` drives every delay; pass a :class:`~gigmarket.clock.ManualClock`
    to control it. ``capabilities`` may narrow what the sandbox declares (to
    test a host against a less able provider). Thread-safe: every call holds
    one lock, so two concurrent calls with one idempotency key make one object.

    A replayed key answers with the object the first call made *as it is
    now* (a replayed charge that was refunded since shows the refund): the
    caller asked "what became of my request", and the current state is the
    true answer.
    """

    def __init__(
        self,
        *,
        api_key: Secret | str,
        webhook_secret: Secret | str,
        clock: Clock | None = None,
        name: str = "sandbox",
        capabilities: Capabilities | None = None,
        faults: FaultPlan | None = None,
        pending_settles_after: timedelta = timedelta(minutes=10),
        payout_in_transit_after: timedelta = timedelta(hours=1),
        payout_arrives_after: timedelta = timedelta(days=2),
        webhook_tolerance: timedelta = DEFAULT_TOLERANCE,
    ) -> None:
        self._name = name
        self._api_key = Secret(api_key)
        if not self._api_key.reveal().startswith(API_KEY_PREFIX):
            raise GatewayMisconfigured(
                f"the sandbox takes only API keys that start with {API_KEY_PREFIX!r}; "
                "the key given does not (it is not shown here)",
                gateway=name,
                operation="configure",
            )
        self._webhook_secret = Secret(webhook_secret)
        self._clock: Clock = clock if clock is not None else SystemClock()
        self._capabilities = capabilities or Capabilities(
            currencies=SANDBOX_CURRENCIES,
            manual_capture=True,
            partial_capture=True,
            partial_refund=True,
            payouts=True,
            payout_cancellation=True,
            webhooks=True,
            list_activity=True,
        )
        self.faults = faults if faults is not None else FaultPlan()
        """The fault plan: arm it to make the next calls (or webhooks) fail."""
        self._settles_after = pending_settles_after
        self._in_transit_after = payout_in_transit_after
        self._arrives_after = payout_arrives_after
        self._tolerance = webhook_tolerance
        self._counters: dict[str, itertools.count[int]] = {}
        self._timeline = Timeline()
        self._outbox = WebhookOutbox(self._webhook_secret, self.faults)
        self._desk = CallDesk(
            gateway=name, clock=self._clock, faults=self.faults, timeline=self._timeline
        )
        self._lock = self._desk.lock
        self._charges: dict[str, Charge] = {}
        self._refunds: dict[str, str] = {}  # refund id -> charge id
        self._payees: dict[str, Payee] = {}
        self._failing_payees: set[str] = set()
        self._payouts: dict[str, Payout] = {}

    @property
    def name(self) -> str:
        return self._name

    @property
    def capabilities(self) -> Capabilities:
        return self._capabilities

    def __repr__(self) -> str:
        return (
            f"SandboxGateway(name={self._name!r}, api_key={self._api_key!r}, "
            f"webhook_secret={self._webhook_secret!r}, clock={self._clock!r})"
        )

    # -- collection ---------------------------------------------------------

    def charge(
        self,
        *,
        amount: Amount,
        source: str,
        idempotency_key: str,
        capture: bool = True,
        description: str = "",
    ) -> Charge:
        """Charge ``amount`` to a sandbox card token (see ``CARD_TOKENS``): the token
        decides whether the charge succeeds, is declined, requires action or stays
        pending for ``pending_settles_after``. ``capture=False`` only authorizes.

        :raises InvalidPaymentRequest: the token is unknown or the amount is not valid.
        """
        op, key = Operation.CHARGE, idempotency_key
        self._check_amount(amount, op, key)
        if not capture:
            self._capabilities.require(Capability.MANUAL_CAPTURE, gateway=self._name, operation=op)

        def run(at: datetime) -> Charge:
            card = CARD_TOKENS.get(source)
            if card is None:  # the token is not echoed: a real one would be sensitive
                self._refuse(op, key, "unknown sandbox payment token (see CARD_TOKENS)", "source")
            charge = Charge(
                id=self._new_id("ch"),
                gateway=self._name,
                status=ChargeStatus.PENDING,
                amount=amount,
                captured=Amount.zero(amount.currency),
                manual_capture=not capture,
                idempotency_key=key,
                created_at=at,
                description=description,
            )
            return self._start(charge, *card, at)

        params = {
            "amount": _amount_data(amount),
            "source": source,
            "capture": capture,
            "description": description,
        }
        return self._desk.mutate(op, key, params, run, self._charges.__getitem__)

    def capture(
        self, charge_id: str, *, idempotency_key: str, amount: Amount | None = None
    ) -> Charge:
        """Capture an authorized charge: all of it, or ``amount`` of it.

        :raises PaymentNotFound: the sandbox has no such charge.
        :raises InvalidPaymentRequest: the charge is not authorized, or ``amount``
            exceeds it.
        """
        op, key = Operation.CAPTURE, idempotency_key
        if amount is not None:
            self._check_amount(amount, op, key)

        def run(at: datetime) -> Charge:
            charge = self._charge(charge_id, op)
            if charge.status is not ChargeStatus.AUTHORIZED:
                self._refuse(op, key, f"charge {charge_id} is {charge.status}, not authorized")
            take = self._in_currency_of(charge.amount, amount, op, key)
            if take > charge.amount:
                self._refuse(op, key, f"cannot capture {take} of {charge.amount}", "amount")
            if take < charge.amount:
                self._capabilities.require(
                    Capability.PARTIAL_CAPTURE, gateway=self._name, operation=op
                )
            captured = attrs.evolve(charge, status=ChargeStatus.CAPTURED, captured=take)
            return self._store_charge(captured, at)

        params = {"charge_id": charge_id, "amount": _amount_data(amount)}
        return self._desk.mutate(op, key, params, run, self._charges.__getitem__)

    def cancel(self, charge_id: str, *, idempotency_key: str) -> Charge:
        """Cancel an authorized charge, or one that requires action.

        :raises PaymentNotFound: the sandbox has no such charge.
        :raises InvalidPaymentRequest: the charge is in any other status (a captured
            one is refunded instead).
        """
        op, key = Operation.CANCEL, idempotency_key

        def run(at: datetime) -> Charge:
            charge = self._charge(charge_id, op)
            if charge.status not in (ChargeStatus.AUTHORIZED, ChargeStatus.REQUIRES_ACTION):
                hint = "; refund it instead" if charge.status is ChargeStatus.CAPTURED else ""
                self._refuse(op, key, f"charge {charge_id} is {charge.status}{hint}")
            return self._store_charge(attrs.evolve(charge, status=ChargeStatus.CANCELLED), at)

        return self._desk.mutate(op, key, {"charge_id": charge_id}, run, self._charges.__getitem__)

    def refund(
        self,
        charge_id: str,
        *,
        idempotency_key: str,
        amount: Amount | None = None,
        reason: str = "",
    ) -> Refund:
        """Refund a captured charge at once: all that is left, or ``amount`` of it.

        :raises PaymentNotFound: the sandbox has no such charge.
        :raises InvalidPaymentRequest: the charge is not captured, is refunded in
            full, or has less than ``amount`` left.
        """
        op, key = Operation.REFUND, idempotency_key
        if amount is not None:
            self._check_amount(amount, op, key)

        def run(at: datetime) -> Refund:
            charge = self._charge(charge_id, op)
            if charge.status is not ChargeStatus.CAPTURED:
                self._refuse(op, key, f"charge {charge_id} is {charge.status}, not captured")
            left = charge.refundable
            if not left.units:
                self._refuse(op, key, f"charge {charge_id} is refunded in full")
            give = self._in_currency_of(left, amount, op, key)
            if give > left:
                self._refuse(op, key, f"cannot refund {give}: {left} is left", "amount")
            if give < charge.captured:  # a part, or a second refund
                self._capabilities.require(
                    Capability.PARTIAL_REFUND, gateway=self._name, operation=op
                )
            refund = Refund(
                id=self._new_id("re"),
                charge_id=charge_id,
                amount=give,
                status=RefundStatus.SUCCEEDED,
                idempotency_key=key,
                created_at=at,
                reason=reason,
            )
            self._refunds[refund.id] = charge_id
            refunded = attrs.evolve(charge, refunds=(*charge.refunds, refund))
            self._store_charge(refunded, at, EventType.CHARGE_REFUNDED)
            return refund

        params = {"charge_id": charge_id, "amount": _amount_data(amount), "reason": reason}
        return self._desk.mutate(op, key, params, run, self._refund_by_id)

    def get_charge(self, charge_id: str) -> Charge:
        """The charge as it is now in the sandbox.

        :raises PaymentNotFound: the sandbox has no such charge.
        """
        op = Operation.GET_CHARGE
        return self._desk.read(op, lambda: self._charge(charge_id, op))

    def find_charge(self, idempotency_key: str) -> Charge | None:
        """The charge made with ``idempotency_key`` as it is now, or ``None`` if
        none was made (as after a charge call the fault plan failed before it ran)."""
        found = self._desk.read(
            Operation.FIND_CHARGE, lambda: self._desk.made(idempotency_key, Operation.CHARGE)
        )
        return None if found is None else self._charges[found]

    def parse_webhook(self, payload: bytes, headers: Mapping[str, str]) -> WebhookEvent:
        """Verify a delivery the sandbox signed with its ``webhook_secret`` (within
        ``webhook_tolerance`` of the clock's time) and read its event.

        :raises WebhookVerificationFailed: the signature or its timestamp does not verify.
        """
        header = header_value(headers, SIGNATURE_HEADER)
        now = self._clock.now()
        verify(
            self._webhook_secret,
            header,
            payload,
            now=now,
            tolerance=self._tolerance,
            gateway=self._name,
        )
        return parse_event(payload, gateway=self._name)

    # -- disbursement -------------------------------------------------------

    def onboard_payee(
        self,
        *,
        reference: str,
        currency: str,
        bank_token: Secret | str,
        idempotency_key: str,
    ) -> Payee:
        """Onboard a payee with a sandbox bank token (see ``BANK_TOKENS``):
        ``bank_ok`` is paid, ``bank_fails`` is accepted but its payouts fail in
        transit, ``bank_invalid`` makes a ``rejected`` payee.

        :raises InvalidPaymentRequest: the token is unknown or ``reference`` empty.
        """
        op, key = Operation.ONBOARD_PAYEE, idempotency_key
        self._capabilities.require(Capability.PAYOUTS, gateway=self._name, operation=op)
        self._capabilities.require_currency(currency, gateway=self._name, operation=op)
        if not reference:
            self._refuse(op, key, "a payee needs a reference", "reference")
        token = Secret(bank_token)

        def run(at: datetime) -> Payee:
            bank = BANK_TOKENS.get(token.reveal())
            if bank is None:  # not echoed: bank tokens are secrets
                self._refuse(op, key, "unknown sandbox bank token (see BANK_TOKENS)", "bank_token")
            rejected = bank is BankBehaviour.REJECTED
            payee = Payee(
                id=self._new_id("pe"),
                gateway=self._name,
                reference=reference,
                currency=currency,
                status=PayeeStatus.REJECTED if rejected else PayeeStatus.ACTIVE,
                idempotency_key=key,
                created_at=at,
                decline=_decline(DeclineCode.INVALID_BANK_ACCOUNT, "no account")
                if rejected
                else None,
            )
            if bank is BankBehaviour.FAILS_IN_TRANSIT:
                self._failing_payees.add(payee.id)
            self._payees[payee.id] = payee
            self._emit(f"payee.{payee.status}", payee, at)
            return payee

        # Only the fingerprint (a SHA-256 digest) of the token is kept.
        params = {"reference": reference, "currency": currency, "bank_token": token.reveal()}
        return self._desk.mutate(op, key, params, run, self._payees.__getitem__)

    def get_payee(self, payee_id: str) -> Payee:
        """The payee as it is in the sandbox.

        :raises PaymentNotFound: the sandbox has no such payee.
        """
        op = Operation.GET_PAYEE
        return self._desk.read(op, lambda: self._lookup(self._payees, payee_id, op))

    def find_payee(self, idempotency_key: str) -> Payee | None:
        """The payee onboarded with ``idempotency_key``, or ``None`` if none was."""
        found = self._desk.read(
            Operation.FIND_PAYEE, lambda: self._desk.made(idempotency_key, Operation.ONBOARD_PAYEE)
        )
        return None if found is None else self._payees[found]

    def payout(
        self, *, payee_id: str, amount: Amount, idempotency_key: str, description: str = ""
    ) -> Payout:
        """Start a payout to an active payee; it stays pending for
        ``payout_in_transit_after``, then is in transit until it arrives (or fails,
        for a ``bank_fails`` payee) as the clock moves on.

        :raises PaymentNotFound: the sandbox has no such payee.
        :raises InvalidPaymentRequest: the payee is not active, or ``amount`` is not
            in its currency.
        """
        op, key = Operation.PAYOUT, idempotency_key
        self._capabilities.require(Capability.PAYOUTS, gateway=self._name, operation=op)
        self._check_amount(amount, op, key)

        def run(at: datetime) -> Payout:
            payee = self._lookup(self._payees, payee_id, op)
            if payee.status is not PayeeStatus.ACTIVE:
                self._refuse(op, key, f"payee {payee_id} is {payee.status}", "payee_id")
            self._in_currency_of(Amount.zero(payee.currency), amount, op, key)
            payout = Payout(
                id=self._new_id("po"),
                gateway=self._name,
                payee_id=payee_id,
                amount=amount,
                status=PayoutStatus.PENDING,
                idempotency_key=key,
                created_at=at,
                description=description,
            )
            self._timeline.schedule(at + self._in_transit_after, self._moves(payout.id))
            return self._store_payout(payout, at)

        params = {"payee_id": payee_id, "amount": _amount_data(amount), "description": description}
        return self._desk.mutate(op, key, params, run, self._payouts.__getitem__)

    def cancel_payout(self, payout_id: str, *, idempotency_key: str) -> Payout:
        """Cancel a payout that is still pending.

        :raises PaymentNotFound: the sandbox has no such payout.
        :raises InvalidPaymentRequest: the payout is no longer pending.
        """
        op, key = Operation.CANCEL_PAYOUT, idempotency_key
        self._capabilities.require(Capability.PAYOUT_CANCELLATION, gateway=self._name, operation=op)

        def run(at: datetime) -> Payout:
            payout = self._lookup(self._payouts, payout_id, op)
            if payout.status is not PayoutStatus.PENDING:
                self._refuse(op, key, f"payout {payout_id} is {payout.status}, not pending")
            return self._store_payout(attrs.evolve(payout, status=PayoutStatus.CANCELLED), at)

        return self._desk.mutate(op, key, {"payout_id": payout_id}, run, self._payouts.__getitem__)

    def get_payout(self, payout_id: str) -> Payout:
        """The payout as it is now in the sandbox.

        :raises PaymentNotFound: the sandbox has no such payout.
        """
        op = Operation.GET_PAYOUT
        return self._desk.read(op, lambda: self._lookup(self._payouts, payout_id, op))

    def find_payout(self, idempotency_key: str) -> Payout | None:
        """The payout made with ``idempotency_key`` as it is now, or ``None`` if none was."""
        found = self._desk.read(
            Operation.FIND_PAYOUT, lambda: self._desk.made(idempotency_key, Operation.PAYOUT)
        )
        return None if found is None else self._payouts[found]

    # -- listing: the optional ListsActivity port ---------------------------

    def list_charges(self, *, since: datetime | None = None) -> Sequence[Charge]:
        """Charges created at or after ``since`` (all when ``None``), oldest first."""
        return self._desk.read(
            Operation.LIST_CHARGES, lambda: self._since(self._charges.values(), since)
        )

    def list_refunds(self, *, since: datetime | None = None) -> Sequence[Refund]:
        """Refunds created at or after ``since`` (all when ``None``), oldest first."""
        return self._desk.read(
            Operation.LIST_REFUNDS,
            lambda: self._since((self._refund_by_id(r) for r in self._refunds), since),
        )

    def list_payouts(self, *, since: datetime | None = None) -> Sequence[Payout]:
        """Payouts created at or after ``since`` (all when ``None``), oldest first."""
        return self._desk.read(
            Operation.LIST_PAYOUTS, lambda: self._since(self._payouts.values(), since)
        )

    @staticmethod
    def _since(objects: Iterable[_Listed], since: datetime | None) -> tuple[_Listed, ...]:
        return tuple(o for o in objects if since is None or o.created_at >= since)

    # -- reading back: what a test (or a teacher) looks at ------------------

    @property
    def charges(self) -> tuple[Charge, ...]:
        """Every charge made, as it stands now, oldest first (a snapshot: no fault applies)."""
        with self._lock:
            return tuple(self._charges.values())

    @property
    def refunds(self) -> tuple[Refund, ...]:
        """Every refund made, oldest first."""
        with self._lock:
            return tuple(self._refund_by_id(refund_id) for refund_id in self._refunds)

    @property
    def payees(self) -> tuple[Payee, ...]:
        """Every payee registered (active or rejected), oldest first."""
        with self._lock:
            return tuple(self._payees.values())

    @property
    def payouts(self) -> tuple[Payout, ...]:
        """Every payout made, as it stands now, oldest first."""
        with self._lock:
            return tuple(self._payouts.values())

    # -- the test side: what a provider's test mode does for you ------------

    def complete_action(self, charge_id: str, *, succeed: bool = True) -> Charge:
        """Play the buyer of a ``requires_action`` charge: pass (the charge
        goes on as ``tok_visa`` would) or fail the authentication."""
        with self._lock:
            now = self._desk.now()
            charge = self._charge(charge_id, Operation.GET_CHARGE)
            if charge.status is not ChargeStatus.REQUIRES_ACTION:
                raise ValidationError(f"charge {charge_id} is {charge.status}", field="charge_id")
            return self._conclude(charge, succeed, DeclineCode.AUTHENTICATION_FAILED, now)

    def settle_pending(self) -> None:
        """Move everything that waits on the clock one step now, whatever the
        clock says: pending charges settle, delayed requests are processed,
        pending payouts go in transit and payouts in transit arrive (or fail).
        Steps they schedule wait for the next call (or for the clock)."""
        with self._lock:
            self._timeline.run_waiting(self._desk.now())

    def deliver_webhooks(self) -> list[WebhookDelivery]:
        """The webhooks due by now, in delivery order, each signed at delivery
        time (as a real gateway signs every attempt) and with the webhook
        faults of the plan applied."""
        with self._lock:
            return self._outbox.deliver(self._desk.now())

    # -- machinery ----------------------------------------------------------

    def _new_id(self, prefix: str) -> str:
        counter = self._counters.setdefault(prefix, itertools.count(1))
        return f"{prefix}_{next(counter):06d}"

    def _start(
        self, charge: Charge, card: CardBehaviour, code: DeclineCode | None, at: datetime
    ) -> Charge:
        if card in (CardBehaviour.SUCCEED, CardBehaviour.DECLINE):
            return self._conclude(charge, card is CardBehaviour.SUCCEED, code, at)
        if card is CardBehaviour.REQUIRE_ACTION:
            url = f"https://sandbox.gigmarket.invalid/authenticate/{charge.id}"
            waiting = attrs.evolve(charge, status=ChargeStatus.REQUIRES_ACTION, action_url=url)
            return self._store_charge(waiting, at)

        def settle(when: datetime) -> None:
            current = self._charges[charge.id]
            if current.status is ChargeStatus.PENDING:
                self._conclude(current, card is CardBehaviour.PEND_THEN_SUCCEED, code, when)

        self._timeline.schedule(at + self._settles_after, settle)
        return self._store_charge(charge, at)

    def _conclude(
        self, charge: Charge, succeed: bool, code: DeclineCode | None, at: datetime
    ) -> Charge:
        if not succeed:
            decline = _decline(code or DeclineCode.CARD_DECLINED, "declined by the sandbox")
            done = attrs.evolve(
                charge, status=ChargeStatus.FAILED, decline=decline, action_url=None
            )
        elif charge.manual_capture:
            done = attrs.evolve(charge, status=ChargeStatus.AUTHORIZED, action_url=None)
        else:
            done = attrs.evolve(
                charge, status=ChargeStatus.CAPTURED, captured=charge.amount, action_url=None
            )
        return self._store_charge(done, at)

    def _store_charge(self, charge: Charge, at: datetime, event: str | None = None) -> Charge:
        self._charges[charge.id] = charge
        self._emit(event or f"charge.{charge.status}", charge, at)
        return charge

    def _store_payout(self, payout: Payout, at: datetime) -> Payout:
        self._payouts[payout.id] = payout
        self._emit(f"payout.{payout.status}", payout, at)
        return payout

    def _moves(self, payout_id: str) -> Callable[[datetime], None]:
        """The clock's part in a payout: pending → in transit → paid or failed."""

        def move(at: datetime) -> None:
            payout = self._payouts[payout_id]
            if payout.status is PayoutStatus.PENDING:
                self._store_payout(attrs.evolve(payout, status=PayoutStatus.IN_TRANSIT), at)
                self._timeline.schedule(at + self._arrives_after, move)
            elif payout.status is PayoutStatus.IN_TRANSIT:
                if payout.payee_id in self._failing_payees:
                    failure = _decline(DeclineCode.BANK_ACCOUNT_CLOSED, "account closed")
                    done = attrs.evolve(payout, status=PayoutStatus.FAILED, failure=failure)
                else:
                    done = attrs.evolve(payout, status=PayoutStatus.PAID)
                self._store_payout(done, at)

        return move

    def _emit(self, event_type: str, obj: Charge | Payee | Payout, at: datetime) -> None:
        if self._capabilities.webhooks:
            event_id = self._new_id("evt")
            event = WebhookEvent(
                id=event_id,
                type=event_type,
                gateway=self._name,
                object_id=obj.id,
                created_at=at,
                data=_snapshot(obj),
            )
            self._outbox.emit(event)

    def _charge(self, charge_id: str, operation: Operation) -> Charge:
        return self._lookup(self._charges, charge_id, operation)

    def _lookup(self, store: Mapping[str, _T], object_id: str, operation: Operation) -> _T:
        found = store.get(object_id)
        if found is None:
            raise PaymentNotFound(gateway=self._name, operation=operation, object_id=object_id)
        return found

    def _refund_by_id(self, refund_id: str) -> Refund:
        charge = self._charges[self._refunds[refund_id]]
        return next(r for r in charge.refunds if r.id == refund_id)

    def _refuse(
        self,
        operation: Operation,
        key: str | None,
        message: str,
        field: str = "charge_id",
        cause: Exception | None = None,
    ) -> NoReturn:
        raise InvalidPaymentRequest(
            message, gateway=self._name, operation=operation, idempotency_key=key, field=field
        ) from cause

    def _check_amount(self, amount: object, operation: Operation, key: str) -> None:
        if not isinstance(amount, Amount):
            kind = type(amount).__name__
            self._refuse(operation, key, f"an amount must be an Amount, not {kind}", "amount")
        if amount.units <= 0:
            self._refuse(operation, key, f"the amount must be positive, not {amount}", "amount")
        self._capabilities.require_currency(
            amount.currency, gateway=self._name, operation=operation
        )

    def _in_currency_of(
        self, reference: Amount, amount: Amount | None, operation: Operation, key: str
    ) -> Amount:
        """``amount`` (or all of ``reference`` when ``None``), refused in another currency."""
        if amount is None:
            return reference
        if amount.currency != reference.currency:
            message = f"the amount is in {amount.currency}, not {reference.currency}"
            self._refuse(operation, key, message, "amount")
        return amount
