"""The payment service's storage port.

Payment operations live in the same unit of work as the orders and the
ledger, so that a confirmed charge, the order it pays and the journal entry
that funds escrow are committed together, or not at all.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol, TypeGuard

from gigmarket.cashier.model import OperationKind, OperationStatus, PaymentOperation
from gigmarket.orders.ports import OrdersUnitOfWork

__all__ = [
    "CashierUnitOfWork",
    "CashierUnitOfWorkFactory",
    "PaymentOperationRepository",
    "serves_payments",
]


class PaymentOperationRepository(Protocol):
    """Payment operations, with optimistic concurrency like orders."""

    def add_operation(self, operation: PaymentOperation) -> None:
        """Store a new operation; raise
        :class:`~gigmarket.errors.ConcurrencyConflict` if its id exists (two
        writers raced to make the same call: the loser retries and finds it)."""
        ...

    def get_operation(self, operation_id: str) -> PaymentOperation | None:
        """The operation ``operation_id``, or ``None`` if there is none.

        An engine with row locks locks it until the unit of work ends, like an
        order, so that two workers applying one gateway answer take turns.
        """
        ...

    def save_operation(self, operation: PaymentOperation, *, expected_version: int) -> None:
        """Replace an operation; raise :class:`~gigmarket.errors.ConcurrencyConflict`
        unless the stored version is ``expected_version``."""
        ...

    def operations_for(
        self, subject: str, kind: OperationKind | None = None
    ) -> Sequence[PaymentOperation]:
        """An order's or a seller's operations (of one ``kind``, when given),
        oldest first (by creation time, then id)."""
        ...

    def open_operations(
        self,
        limit: int,
        *,
        after: tuple[datetime, str] | None = None,
        status: OperationStatus | None = None,
    ) -> Sequence[PaymentOperation]:
        """Up to ``limit`` operations still waiting for an outcome, oldest first
        (by creation time, then id): only those with ``status`` when given, and
        only those after the ``(created_at, id)`` cursor ``after``, so that a
        caller can walk past operations that stay open for long."""
        ...


class CashierUnitOfWork(OrdersUnitOfWork, Protocol):
    """One transaction over the ledger, the orders, the outbox and the payment operations."""

    @property
    def payments(self) -> PaymentOperationRepository: ...


class CashierUnitOfWorkFactory(Protocol):
    """Opens a fresh [CashierUnitOfWork][gigmarket.cashier.ports.CashierUnitOfWork];
    a storage adapter is one of these."""

    def __call__(self) -> CashierUnitOfWork: ...


def serves_payments(uow: OrdersUnitOfWork) -> TypeGuard[CashierUnitOfWork]:
    """Whether an order's unit of work also holds the payment operations, as
    every gigmarket store's does (:class:`gigmarket.ports.UnitOfWork`), so that
    a refund queued inside an order's transition is recorded in its transaction."""
    return getattr(uow, "payments", None) is not None
