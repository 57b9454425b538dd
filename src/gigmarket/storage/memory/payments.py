"""The payment service's port (payment operations) in memory."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING

from gigmarket.cashier.model import OPEN_STATUSES, OperationKind, OperationStatus, PaymentOperation
from gigmarket.errors import ConcurrencyConflict

if TYPE_CHECKING:
    from gigmarket.storage.memory.store import MemoryTransaction

__all__ = ["MemoryPaymentRepository"]


def _order(operation: PaymentOperation) -> tuple[datetime, str]:
    return (operation.created_at, operation.id)


class MemoryPaymentRepository:
    """Payment operations over a memory transaction."""

    def __init__(self, tx: MemoryTransaction) -> None:
        self._tx = tx

    def add_operation(self, operation: PaymentOperation) -> None:
        if self.get_operation(operation.id) is not None:
            raise ConcurrencyConflict(f"payment operation {operation.id!r} already exists")
        self._tx.put("payments", operation.id, operation)
        self._tx.append("payments_by_subject", operation.subject, operation.id)

    def get_operation(self, operation_id: str) -> PaymentOperation | None:
        operation: PaymentOperation | None = self._tx.get("payments", operation_id)
        return operation

    def save_operation(self, operation: PaymentOperation, *, expected_version: int) -> None:
        stored = self.get_operation(operation.id)
        if stored is None or stored.version != expected_version:
            raise ConcurrencyConflict(
                f"payment operation {operation.id!r} changed since version "
                f"{expected_version} was read"
            )
        self._tx.put("payments", operation.id, operation)

    def operations_for(
        self, subject: str, kind: OperationKind | None = None
    ) -> Sequence[PaymentOperation]:
        found = [
            self._tx.get("payments", operation_id)
            for operation_id in self._tx.sequence("payments_by_subject", subject)
        ]
        return sorted(
            (operation for operation in found if kind is None or operation.kind is kind),
            key=_order,
        )

    def open_operations(
        self,
        limit: int,
        *,
        after: tuple[datetime, str] | None = None,
        status: OperationStatus | None = None,
    ) -> Sequence[PaymentOperation]:
        everything: list[PaymentOperation] = self._tx.values("payments")
        waiting = sorted(
            (
                op
                for op in everything
                if op.status in OPEN_STATUSES
                and (status is None or op.status is status)
                and (after is None or _order(op) > after)
            ),
            key=_order,
        )
        return waiting[: max(limit, 0)]

    def all_operations(self) -> Sequence[PaymentOperation]:
        """Every operation, oldest first: what an audit reads (not part of the port)."""
        everything: list[PaymentOperation] = self._tx.values("payments")
        return sorted(everything, key=_order)
