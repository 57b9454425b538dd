"""The payment service's books, checked against its own records.

Money the cashier has promised back to cards sits in ``refunds:in_flight``
until the gateway confirms each refund; so, per currency, that account must
hold exactly what the refund operations still open add up to. A difference
means a refund booked without its operation (it would never be sent) or an
operation whose money was never set aside (it would be paid from someone
else's). And every payment the cashier recorded as kept must be the charge
its order says paid it.
"""

from __future__ import annotations

from collections import defaultdict

from gigmarket.cashier.model import OperationKind, OperationStatus
from gigmarket.cashier.ports import CashierUnitOfWork
from gigmarket.escrow.audit import Violation
from gigmarket.money import Amount

__all__ = ["INVARIANT", "audit_payments"]

INVARIANT = "8-payments"
_ALL = 2**62
_REFUNDS = "refunds:in_flight:"


def audit_payments(uow: CashierUnitOfWork) -> list[Violation]:
    """Every disagreement between payment operations and the ledger."""
    violations: list[Violation] = []
    owed: dict[str, int] = defaultdict(int)
    for op in uow.payments.open_operations(_ALL):
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
