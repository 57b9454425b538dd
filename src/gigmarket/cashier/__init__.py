"""The payment service: checkout, refunds, withdrawals, webhooks, reconciliation.

:mod:`gigmarket.gateways` defines what a gateway is; this package puts one to
work for a marketplace. It is the only part of gigmarket that both calls a
gateway and writes the books, and it does so in a fixed order (record, call,
apply; see :mod:`gigmarket.cashier.service`) that survives a crash or a lost
answer at any point.
"""

from gigmarket.cashier.model import (
    OPEN_STATUSES,
    OperationKind,
    OperationStatus,
    PaymentOperation,
)
from gigmarket.cashier.outcomes import Books, QueuedCardRefunds
from gigmarket.cashier.policy import CashierPolicy, WithdrawalLimits, fiverr_withdrawals
from gigmarket.cashier.ports import (
    CashierUnitOfWork,
    CashierUnitOfWorkFactory,
    PaymentOperationRepository,
)
from gigmarket.cashier.reconcile import ReconcileFix, ReconcileReport, WebhookOutcome
from gigmarket.cashier.service import Cashier, CheckoutResult, Withdrawal

__all__ = [
    "OPEN_STATUSES",
    "Books",
    "Cashier",
    "CashierPolicy",
    "CashierUnitOfWork",
    "CashierUnitOfWorkFactory",
    "CheckoutResult",
    "OperationKind",
    "OperationStatus",
    "PaymentOperation",
    "PaymentOperationRepository",
    "QueuedCardRefunds",
    "ReconcileFix",
    "ReconcileReport",
    "WebhookOutcome",
    "Withdrawal",
    "WithdrawalLimits",
    "fiverr_withdrawals",
]
