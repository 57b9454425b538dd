"""Per-order conservation (DESIGN §4, invariant 3), checked against the ledger.

For every order: what was charged equals the seller's net, plus the
platform's fees, plus refunds, plus what escrow still holds; what the order
believes escrow holds is what the ledger's escrow account holds; and an order
in a terminal state holds nothing.
"""

from __future__ import annotations

from typing import Any

from gigmarket.escrow import chart
from gigmarket.escrow.audit import Violation
from gigmarket.orders.ports import OrdersUnitOfWork
from gigmarket.orders.process import Process

__all__ = ["audit_orders"]


def audit_orders(uow: OrdersUnitOfWork, process: Process[Any]) -> list[Violation]:
    """Every order whose money does not add up, as :class:`Violation`\\ s."""
    violations: list[Violation] = []
    for order in uow.orders.orders():
        code = chart.order_escrow(order.id)
        account = uow.ledger.get_account(code)
        in_ledger = uow.ledger.lock_balances([code])[code].posted if account else 0
        s = order.settlement
        accounted = s.seller_net + s.platform_fees + s.refunded + order.held
        if accounted != order.charged:
            violations.append(
                Violation(
                    invariant="3-conservation",
                    message=f"order {order.id}: charged {order.charged} != accounted {accounted}",
                    account=code,
                )
            )
        if in_ledger != order.held:
            violations.append(
                Violation(
                    invariant="3-conservation",
                    message=f"order {order.id}: holds {order.held}, escrow account {in_ledger}",
                    account=code,
                )
            )
        if process.spec(order.state).terminal and order.held != 0:
            violations.append(
                Violation(
                    invariant="3-conservation",
                    message=f"order {order.id} is {order.state.value} but holds {order.held}",
                    account=code,
                )
            )
    return violations
