"""The payment service's books, checked against its own records.

Every payment operation and the journal must agree, in both directions:

* **operation → entries.** An operation that says it succeeded has its entries,
  with its amounts, on the right accounts: a charge funded its order's escrow
  from the gateway's account; a card refund set its money aside in
  ``refunds:in_flight`` and, once confirmed, sent it to the gateway; a payout's
  withdrawal hold was posted to ``payouts:in_flight`` and, once paid, left for
  the gateway. An operation that failed or is still open has none of the
  entries of a success.
* **entries → operation.** The in-flight accounts belong to the cashier: every
  entry that moves money into or out of ``refunds:in_flight`` or
  ``payouts:in_flight`` is claimed by an operation that exists (by its
  idempotency key or its hold), and so is every entry that books a charge of
  an order that was paid through the cashier. A pending withdrawal hold
  belongs to an open payout.

So deleting a payout's entries (and restoring the balances by hand) cannot
pass: the payout operation still says it was paid, and its hold still points
to an entry that is gone; the seller could otherwise withdraw the same money
twice.

And, per currency, ``refunds:in_flight`` holds exactly what the open refund
operations add up to, and every payment the cashier recorded as kept is the
charge its order says paid it.

And nothing stays open for ever without someone being told: an operation
still open past :attr:`~gigmarket.cashier.CashierPolicy.attention_after` (or
the audit's ``--open-limit``) is reported (``9-stuck``) as needing a person,
with why (:func:`needs_attention`), until the gateway's word or an operator's
decision (:meth:`~gigmarket.cashier.Cashier.resolve`) settles it.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta

import attrs

from gigmarket.cashier.model import OPEN_STATUSES, OperationKind, OperationStatus, PaymentOperation
from gigmarket.cashier.policy import CashierPolicy
from gigmarket.cashier.ports import CashierUnitOfWork
from gigmarket.escrow import chart
from gigmarket.escrow.audit import Violation
from gigmarket.escrow.model import Hold, HoldStatus, JournalEntry
from gigmarket.money import Amount

__all__ = [
    "INVARIANT",
    "STUCK",
    "Attention",
    "PaymentEntries",
    "audit_operations",
    "audit_payments",
    "needs_attention",
]

INVARIANT = "8-payments"
STUCK = "9-stuck"
"""The audit's name for an operation open past the limit: a person must look."""
ATTENTION_AFTER = CashierPolicy().attention_after
_ALL = 2**62
_REFUNDS = "refunds:in_flight:"
_PAYOUTS = "payouts:in_flight:"
_GIVEN_BACK = "unwanted:"
S = OperationStatus
K = OperationKind

# The idempotency keys of the entries the cashier writes for an operation
# (see gigmarket.cashier.outcomes and gigmarket.orders.lifecycle).
_CASHIER_KEYS = ("payment:", "credit:", "tip:", "refunded:", "refund-credit:", _GIVEN_BACK)
_HOLD_KEYS = ("payout-paid:", "payout-returned:")
_SCOPED = re.compile(r"(host|gigmarket):([^ ]+) (.*)", re.DOTALL)


def cashier_key(entry: JournalEntry) -> str | None:
    """The entry's key as the cashier derives it (``payment:ch_1``), or ``None``
    for an entry without a key or under a host's key.

    Entries carry their key scoped (``gigmarket:payment ch_1``, see
    :mod:`gigmarket.idempotency`); entries written before keys had scopes
    carry the bare form, which is read as it is.
    """
    key = entry.idempotency_key
    if key is None:
        return None
    scoped = _SCOPED.fullmatch(key)
    if scoped is None:
        return key
    caller, purpose, rest = scoped.groups()
    return f"{purpose}:{rest}" if caller == "gigmarket" else None


@attrs.define
class PaymentEntries:
    """The journal entries that payment operations can claim, indexed once.

    Fed one entry at a time (:meth:`see`), so that a store audit can build it
    during the single pass it makes over the journal.
    """

    by_key: dict[str, JournalEntry] = attrs.field(factory=dict)
    by_hold: dict[str, JournalEntry] = attrs.field(factory=dict)
    in_flight: list[JournalEntry] = attrs.field(factory=list)
    """Entries that touch ``refunds:in_flight`` or ``payouts:in_flight``."""

    @classmethod
    def of(cls, entries: Iterable[JournalEntry]) -> PaymentEntries:
        index = cls()
        for entry in entries:
            index.see(entry)
        return index

    def see(self, entry: JournalEntry) -> None:
        key = cashier_key(entry)
        touches = any(p.account.startswith((_REFUNDS, _PAYOUTS)) for p in entry.postings)
        if key is not None and (touches or key.startswith(_CASHIER_KEYS + _HOLD_KEYS)):
            self.by_key.setdefault(key, entry)
        if entry.hold_id is not None:
            self.by_hold.setdefault(entry.hold_id, entry)
        if touches:
            self.in_flight.append(entry)


_WHY = {
    S.QUEUED: "a card refund not yet accepted by the gateway",
    S.STARTED: "a call interrupted before its answer was recorded",
    S.UNKNOWN: "its answer was lost and the gateway has not settled it since",
    S.PENDING: "the gateway still says pending",
}


@attrs.frozen(kw_only=True)
class Attention:
    """An open payment operation that needs a person: what, since when, and why."""

    operation_id: str
    kind: str
    status: str
    subject: str
    since: datetime
    """When it was made: it has been open since."""
    why: str

    @property
    def line(self) -> str:
        """``operation <id> (<kind>, <status>, open since <when>): <why>``."""
        return (
            f"operation {self.operation_id} ({self.kind}, {self.status}, "
            f"open since {self.since.isoformat(timespec='seconds')}): {self.why}"
        )

    @property
    def detail(self) -> str:
        """:attr:`line` without the operation's id, for a report that names it already."""
        return (
            f"{self.kind} {self.status}, open since "
            f"{self.since.isoformat(timespec='seconds')}: {self.why}"
        )


def _why(op: PaymentOperation) -> str:
    why = _WHY.get(op.status, op.status.value)
    if op.last_error is not None:
        why += f"; the last try ended in {op.last_error}"
    return why + "; decide it with 'gigmarket payments resolve'"


def needs_attention(
    operations: Iterable[PaymentOperation], *, now: datetime, after: timedelta
) -> list[Attention]:
    """The operations among ``operations`` open for longer than ``after`` at ``now``."""
    return [
        Attention(
            operation_id=op.id,
            kind=op.kind.value,
            status=op.status.value,
            subject=op.subject,
            since=op.created_at,
            why=_why(op),
        )
        for op in operations
        if op.is_open and now - op.created_at > after
    ]


def audit_payments(
    uow: CashierUnitOfWork,
    *,
    now: datetime | None = None,
    attention_after: timedelta = ATTENTION_AFTER,
) -> list[Violation]:
    """Every disagreement between payment operations and the ledger, read in one
    unit of work and, given ``now``, every operation still open
    ``attention_after`` later (``9-stuck``)."""
    operations = _every_operation(uow)
    entries = PaymentEntries.of(uow.ledger.iter_entries())
    holds = {
        hold_id: hold
        for op in operations
        if (hold_id := op.hold_id) is not None
        and (hold := uow.ledger.get_hold(hold_id)) is not None
    }
    for hold in uow.ledger.pending_holds():
        holds.setdefault(hold.id, hold)
    return audit_operations(
        uow, operations, entries, holds, now=now, attention_after=attention_after
    )


def _every_operation(uow: CashierUnitOfWork) -> list[PaymentOperation]:
    """Every operation: by ``all_operations()`` where the store has it (gigmarket's
    do), else by subject (the orders, and the sellers that have accounts)."""
    listing = getattr(uow.payments, "all_operations", None)
    if callable(listing):
        return list(listing())
    subjects = {order.id for order in uow.orders.orders()}
    for account in uow.ledger.accounts():  # sellers: seller:<id>:available:<CUR>
        parts = account.code.split(":")
        if parts[0] == "seller" and len(parts) == 4:
            subjects.add(parts[1])
    return [op for subject in sorted(subjects) for op in uow.payments.operations_for(subject)]


def audit_operations(
    uow: CashierUnitOfWork,
    operations: Sequence[PaymentOperation],
    entries: PaymentEntries,
    holds: Mapping[str, Hold],
    *,
    now: datetime | None = None,
    attention_after: timedelta = ATTENTION_AFTER,
) -> list[Violation]:
    """:func:`audit_payments` over operations, entries and holds already read
    (``holds``: at least every pending hold and every hold an operation names)."""
    violations: list[Violation] = []
    if now is not None:
        for stuck in needs_attention(operations, now=now, after=attention_after):
            violations.append(Violation(invariant=STUCK, message=stuck.line))
    violations += _refunds_in_flight(uow, operations)
    violations += _kept_payments(uow, operations)
    for op in operations:
        violations.extend(_check(op, entries, holds))
    violations += _claimed(operations, entries, holds)
    return violations


# -- refunds in flight and kept payments -----------------------------------------


def _refunds_in_flight(
    uow: CashierUnitOfWork, operations: Sequence[PaymentOperation]
) -> list[Violation]:
    violations: list[Violation] = []
    owed: dict[str, int] = defaultdict(int)
    for op in operations:
        if op.kind is K.REFUND and op.is_open:
            owed[op.amount.currency] += op.amount.units
    in_flight = {
        account.code.removeprefix(_REFUNDS): account.code
        for account in uow.ledger.accounts()
        if account.code.startswith(_REFUNDS)
    }
    for currency in sorted(set(owed) | set(in_flight)):
        code = in_flight.get(currency, f"{_REFUNDS}{currency}")
        held = uow.ledger.lock_balances([code])[code].posted if currency in in_flight else 0
        if held != owed[currency]:
            violations.append(
                Violation(
                    invariant=INVARIANT,
                    message=f"refunds in flight hold {Amount(units=held, currency=currency)}, "
                    "open refund operations add up to "
                    f"{Amount(units=owed[currency], currency=currency)}",
                    account=code,
                )
            )
    return violations


def _kept_payments(
    uow: CashierUnitOfWork, operations: Sequence[PaymentOperation]
) -> list[Violation]:
    violations: list[Violation] = []
    kept_by_order: dict[str, list[PaymentOperation]] = defaultdict(list)
    for op in operations:
        if op.kind is K.PAYMENT and op.status is S.SUCCEEDED and op.failure is None:
            kept_by_order[op.subject].append(op)
    for order in uow.orders.orders():
        kept = kept_by_order.get(order.id, [])
        if len(kept) > 1:
            violations.append(
                Violation(
                    invariant=INVARIANT,
                    message=f"order {order.id} was paid by {len(kept)} payments: "
                    + ", ".join(op.id for op in kept),
                )
            )
        for op in kept:
            reference = op.gateway_ref if op.gateway_ref is not None else op.id
            if order.payment_reference != reference:
                violations.append(
                    Violation(
                        invariant=INVARIANT,
                        message=f"order {order.id}: payment {op.id} kept charge {reference}, "
                        f"the order records {order.payment_reference}",
                    )
                )
    return violations


# -- each operation has its entries ------------------------------------------------


def _name(op: PaymentOperation) -> str:
    return f"{op.kind.value} {op.id} ({op.status.value})"


def _moves(entry: JournalEntry, amount: Amount, into: str | None, out_of: str | None) -> bool:
    """Whether ``entry`` adds ``amount`` to ``into`` and takes it from ``out_of``."""
    if into is not None and entry.amount_for(into) != amount.units:
        return False
    return out_of is None or entry.amount_for(out_of) == -amount.units


def _expect(
    found: list[Violation],
    op: PaymentOperation,
    entry: JournalEntry | None,
    what: str,
    amount: Amount,
    *,
    into: str | None = None,
    out_of: str | None = None,
) -> None:
    """``entry`` must exist and move ``amount`` into ``into`` and out of ``out_of``."""
    if entry is None:
        found.append(Violation(invariant=INVARIANT, message=f"{_name(op)}: {what} is missing"))
    elif not _moves(entry, amount, into, out_of):
        where = " ".join(
            part
            for part in (f"from {out_of}" if out_of else "", f"to {into}" if into else "")
            if part
        )
        account = into if into is not None else out_of
        moved = abs(entry.amount_for(account)) if account is not None else 0
        found.append(
            Violation(
                invariant=INVARIANT,
                message=f"{_name(op)}: {what} should move {amount} {where}; it moves "
                f"{Amount(units=moved, currency=amount.currency)}",
                entry_id=entry.id,
                account=account,
            )
        )


def _unexpected(
    found: list[Violation], op: PaymentOperation, entry: JournalEntry | None, what: str
) -> None:
    if entry is not None:
        found.append(
            Violation(
                invariant=INVARIANT,
                message=f"{_name(op)}: {what} exists, but the operation did not succeed so",
                entry_id=entry.id,
            )
        )


def _check(
    op: PaymentOperation, entries: PaymentEntries, holds: Mapping[str, Hold]
) -> list[Violation]:
    if op.kind in (K.PAYMENT, K.TIP):
        return _check_charge(op, entries)
    if op.kind is K.REFUND:
        return _check_refund(op, entries)
    if op.kind is K.PAYOUT:
        return _check_payout(op, entries, holds)
    return []


def _check_charge(op: PaymentOperation, entries: PaymentEntries) -> list[Violation]:
    found: list[Violation] = []
    currency = op.amount.currency
    escrow = chart.order_escrow(op.subject)
    world = chart.gateway(op.gateway, currency)
    booked = entries.by_key.get(f"payment:{op.gateway_ref}") if op.gateway_ref else None
    given_back = entries.by_key.get(f"{_GIVEN_BACK}{op.id}")
    if op.status is S.SUCCEEDED and op.failure is None:
        if op.gateway_ref is None:  # paid with buyer credit alone: no card, no charge
            credit = entries.by_key.get(f"credit:{op.subject}:{op.id}")
            _expect(found, op, credit, "the entry spending buyer credit", op.amount, into=escrow)
            return found
        _expect(
            found, op, booked, f"the entry booking charge {op.gateway_ref}", op.amount, into=escrow
        )
        if op.credit is not None and op.credit.units:
            credit = entries.by_key.get(f"credit:{op.subject}:{op.gateway_ref}")
            _expect(found, op, credit, "the entry spending buyer credit", op.credit, into=escrow)
        if op.kind is K.TIP and f"tip:{op.gateway_ref}" not in entries.by_key:
            found.append(
                Violation(
                    invariant=INVARIANT,
                    message=f"{_name(op)}: the entry releasing the tip to the seller is missing",
                )
            )
        if booked is not None and booked.amount_for(world) != -op.amount.units:
            found.append(
                Violation(
                    invariant=INVARIANT,
                    message=f"{_name(op)}: the charge should come from {world}",
                    entry_id=booked.id,
                )
            )
        return found
    if op.status is S.SUCCEEDED:  # captured, but not the order's to keep: given back
        refunds = chart.refunds_in_flight(currency)
        _expect(
            found, op, given_back, "the entry setting the charge aside", op.amount, into=refunds
        )
    elif op.status is not S.FAILED or given_back is None:
        _unexpected(found, op, booked, f"an entry booking charge {op.gateway_ref}")
    return found


def _check_refund(op: PaymentOperation, entries: PaymentEntries) -> list[Violation]:
    found: list[Violation] = []
    currency = op.amount.currency
    refunds = chart.refunds_in_flight(currency)
    booking = entries.by_key.get(op.id)
    if booking is None and op.id.startswith("refund:"):
        booking = entries.by_key.get(f"{_GIVEN_BACK}{op.id.removeprefix('refund:')}")
    _expect(found, op, booking, "the entry setting the refund aside", op.amount, into=refunds)
    sent = entries.by_key.get(f"refunded:{op.id}")
    credited = entries.by_key.get(f"refund-credit:{op.id}")
    if op.status is S.SUCCEEDED:
        world = chart.gateway(op.gateway, currency)
        _expect(
            found, op, sent, "the entry sending the refund", op.amount, into=world, out_of=refunds
        )
    else:
        _unexpected(found, op, sent, "an entry sending the refund to the card")
    if op.status is S.FAILED:
        _expect(
            found, op, credited, "the entry giving the refund as credit", op.amount, out_of=refunds
        )
    else:
        _unexpected(found, op, credited, "an entry giving the refund as credit")
    return found


def _check_payout(
    op: PaymentOperation, entries: PaymentEntries, holds: Mapping[str, Hold]
) -> list[Violation]:
    found: list[Violation] = []
    hold = holds.get(op.hold_id) if op.hold_id is not None else None
    if hold is None:
        message = f"{_name(op)}: its withdrawal hold {op.hold_id} is missing"
        return [Violation(invariant=INVARIANT, message=message)]
    currency = op.amount.currency
    available = chart.seller_available(op.subject, currency)
    in_flight = chart.payouts_in_flight(currency)
    if (hold.source, hold.destination, hold.amount) != (available, in_flight, op.amount):
        found.append(
            Violation(
                invariant=INVARIANT,
                message=f"{_name(op)}: its hold {hold.id} reserves {hold.amount} of "
                f"{hold.source} for {hold.destination}, not {op.amount} of {available}",
                account=hold.source,
            )
        )
    sent = entries.by_hold.get(hold.id)
    paid = entries.by_key.get(f"payout-paid:{hold.id}")
    returned = entries.by_key.get(f"payout-returned:{hold.id}")
    if hold.status is HoldStatus.POSTED or op.status in (S.SUCCEEDED, S.PENDING):
        if hold.status is not HoldStatus.POSTED:
            found.append(
                Violation(
                    invariant=INVARIANT,
                    message=f"{_name(op)}: its hold {hold.id} is {hold.status.value}, not posted",
                )
            )
        _expect(
            found,
            op,
            sent,
            "the entry sending the payout",
            op.amount,
            into=in_flight,
            out_of=available,
        )
        if sent is not None and hold.entry_id not in (None, sent.id):
            found.append(
                Violation(
                    invariant=INVARIANT,
                    message=f"{_name(op)}: its hold was posted by entry {hold.entry_id}, "
                    "which is missing",
                )
            )
    elif sent is not None:
        _unexpected(found, op, sent, "an entry sending the payout")
    if op.status is S.SUCCEEDED:
        world = chart.gateway(op.gateway, currency)
        _expect(
            found,
            op,
            paid,
            "the entry paying the payout out",
            op.amount,
            into=world,
            out_of=in_flight,
        )
    else:
        _unexpected(found, op, paid, "an entry paying the payout out")
    if op.status is S.FAILED and hold.status is HoldStatus.POSTED:
        _expect(found, op, returned, "the entry returning the payout", op.amount, out_of=in_flight)
    elif returned is not None:
        _unexpected(found, op, returned, "an entry returning the payout")
    if op.status in OPEN_STATUSES - {S.PENDING} and hold.status is not HoldStatus.PENDING:
        found.append(
            Violation(
                invariant=INVARIANT,
                message=f"{_name(op)}: its hold {hold.id} is {hold.status.value}, not pending",
            )
        )
    return found


# -- each cashier entry has its operation ------------------------------------------


def _claimed(
    operations: Sequence[PaymentOperation], entries: PaymentEntries, holds: Mapping[str, Hold]
) -> list[Violation]:
    found: list[Violation] = []
    by_id = {op.id: op for op in operations}
    payout_holds = {op.hold_id: op for op in operations if op.kind is K.PAYOUT and op.hold_id}
    refs: dict[str, set[str]] = defaultdict(set)  # order → charges its operations kept
    charged: set[str] = set()  # orders paid through the cashier
    for op in operations:
        if op.kind in (K.PAYMENT, K.TIP):
            charged.add(op.subject)
            if op.status is S.SUCCEEDED and op.failure is None:
                refs[op.subject].add(op.gateway_ref or op.id)

    for key, entry in entries.by_key.items():
        why = _claim(key, entry, by_id=by_id, payout_holds=payout_holds, charged=charged, refs=refs)
        if why is not None:
            found.append(
                Violation(invariant=INVARIANT, message=why[0], entry_id=entry.id, account=why[1])
            )
    for entry in entries.in_flight:
        key = cashier_key(entry) or ""
        if entry.hold_id is not None and entry.hold_id in payout_holds:
            continue
        if key in by_id or key.startswith(_CASHIER_KEYS + _HOLD_KEYS):
            continue  # claimed above, or an operation's own booking
        account = next(
            p.account for p in entry.postings if p.account.startswith((_REFUNDS, _PAYOUTS))
        )
        found.append(
            Violation(
                invariant=INVARIANT,
                message="moves money in flight that no payment operation claims",
                entry_id=entry.id,
                account=account,
            )
        )
    for hold_id, hold in holds.items():
        if (
            hold.status is HoldStatus.PENDING
            and hold.destination.startswith(_PAYOUTS)
            and hold_id not in payout_holds
        ):
            found.append(
                Violation(
                    invariant=INVARIANT,
                    message=f"hold {hold_id} reserves {hold.amount} for a payout that no "
                    "payout operation makes",
                    account=hold.source,
                )
            )
    return found


def _claim(
    key: str,
    entry: JournalEntry,
    *,
    by_id: Mapping[str, PaymentOperation],
    payout_holds: Mapping[str, PaymentOperation],
    charged: set[str],
    refs: Mapping[str, set[str]],
) -> tuple[str, str | None] | None:
    """Why the entry keyed ``key`` is not claimed by the operation it names
    (and the account concerned), or ``None``."""
    prefix, _, rest = key.partition(":")
    if key.startswith(("refunded:", "refund-credit:")):
        claimant = by_id.get(rest)
        if claimant is None or claimant.kind is not K.REFUND:
            return f"claims refund operation {rest}, which does not exist", None
    elif key.startswith(_GIVEN_BACK):
        if rest not in by_id:
            return f"sets aside a charge of payment operation {rest}, which does not exist", None
        if f"refund:{rest}" not in by_id:
            return f"sets aside a charge of {rest}, but no operation refund:{rest} sends it", None
    elif key.startswith(_HOLD_KEYS):
        if rest not in payout_holds:
            return f"claims the payout of hold {rest}, which no payout operation has", None
    elif prefix == "payment":
        escrow = next(
            (p.account for p in entry.postings if p.account.startswith("escrow:order:")), None
        )
        order_id = escrow.removeprefix("escrow:order:") if escrow else ""
        if order_id in charged and rest not in refs.get(order_id, set()):
            return (
                f"books charge {rest} for order {order_id}, which none of its payment "
                "operations kept",
                escrow,
            )
    return None
