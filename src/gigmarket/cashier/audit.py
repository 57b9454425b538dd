"""The payment service's books, checked against its own records.

Money the cashier has promised back to cards sits in ``refunds:in_flight``
until the gateway confirms each refund; so, per currency, that account must
hold exactly what the refund operations still open add up to. A difference
means a refund booked without its operation (it would never be sent) or an
operation whose money was never set aside (it would be paid from someone
else's). And every payment the cashier recorded as kept must be the charge
its order says paid it.

And nothing stays open for ever without someone being told: an operation
still open past :attr:`~gigmarket.cashier.CashierPolicy.attention_after` is
reported (``9-stuck``) as needing a person, with why (:func:`needs_attention`),
until the gateway's word or an operator's decision
(:meth:`~gigmarket.cashier.Cashier.resolve`) settles it.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime, timedelta

import attrs

from gigmarket.cashier.model import OperationKind, OperationStatus, PaymentOperation
from gigmarket.cashier.policy import CashierPolicy
from gigmarket.cashier.ports import CashierUnitOfWork
from gigmarket.escrow.audit import Violation
from gigmarket.money import Amount

__all__ = ["INVARIANT", "STUCK", "Attention", "audit_payments", "needs_attention"]

INVARIANT = "8-payments"
STUCK = "9-stuck"
"""The audit's name for an operation open past the limit: a person must look."""
_ALL = 2**62
_REFUNDS = "refunds:in_flight:"


S = OperationStatus
ATTENTION_AFTER = CashierPolicy().attention_after

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
        return (
            f"operation {self.operation_id} ({self.kind}, {self.status}, "
            f"open since {self.since.isoformat(timespec='seconds')}): {self.why}"
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
    """Every disagreement between payment operations and the ledger and, given
    ``now``, every operation still open ``attention_after`` later (``9-stuck``)."""
    violations: list[Violation] = []
    owed: dict[str, int] = defaultdict(int)
    still_open = list(uow.payments.open_operations(_ALL))
    if now is not None:
        for stuck in needs_attention(still_open, now=now, after=attention_after):
            violations.append(Violation(invariant=STUCK, message=stuck.line))
    for op in still_open:
        if op.kind is OperationKind.REFUND:
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
    for order in uow.orders.orders():
        kept = [
            op
            for op in uow.payments.operations_for(order.id, OperationKind.PAYMENT)
            if op.status is OperationStatus.SUCCEEDED and op.failure is None
        ]
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
