"""The payment service's port (payment operations) on any SQL engine gigmarket supports.

Unlike orders, an operation is stored as plain columns, not as a JSON
document: it is small and flat, and its columns are exactly what an operator
queries when a gateway and the books disagree (which operations of this order
are still open, which charge a refund came from, which hold a payout spends).
Timestamps are fixed-width UTC text like every other instant in the schema
(:func:`~gigmarket.storage.codec.format_instant`), so text order is time order.

The SQL is the subset SQLite and PostgreSQL share, with ``?`` placeholders
that the PostgreSQL connection rewrites.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from gigmarket.cashier.model import OPEN_STATUSES, OperationKind, OperationStatus, PaymentOperation
from gigmarket.errors import ConcurrencyConflict, StorageError
from gigmarket.money import Amount
from gigmarket.storage.codec import format_instant, parse_instant
from gigmarket.storage.sql.repositories import SqlConnection

__all__ = ["SqlPaymentRepository"]

_COLUMNS = (
    "id, kind, gateway, subject, currency, units, status, created_at, updated_at, version, "
    "gateway_ref, charge_ref, hold_id, credit_units, failure, source, "
    "last_error, resolved_by, resolved_at, resolution"
)
_PLACEHOLDERS = ", ".join("?" for _ in _COLUMNS.split(","))

_OPEN = ", ".join(f"'{status.value}'" for status in sorted(OPEN_STATUSES))
"""The open statuses as SQL literals, in the order migration 5 lists them in
the ``payment_operations_open`` partial index. They are literals, not
parameters, on purpose: SQLite uses a partial index only when the query
repeats the index's condition term for term, constants included."""


def _row(operation: PaymentOperation) -> tuple[Any, ...]:
    """The operation's column values, in :data:`_COLUMNS` order."""
    credit = operation.credit
    if credit is not None and credit.currency != operation.amount.currency:
        # The schema keeps one currency per operation: a credit in another one
        # would come back silently relabelled, so it is refused instead.
        raise StorageError(
            f"payment operation {operation.id!r}: a credit in {credit.currency} "
            f"cannot be stored with an amount in {operation.amount.currency}"
        )
    return (
        operation.id,
        operation.kind.value,
        operation.gateway,
        operation.subject,
        operation.amount.currency,
        operation.amount.units,
        operation.status.value,
        format_instant(operation.created_at),
        format_instant(operation.updated_at),
        operation.version,
        operation.gateway_ref,
        operation.charge_ref,
        operation.hold_id,
        None if credit is None else credit.units,
        operation.failure,
        operation.source,
        operation.last_error,
        operation.resolved_by,
        None if operation.resolved_at is None else format_instant(operation.resolved_at),
        operation.resolution,
    )


def _operation(row: Sequence[Any]) -> PaymentOperation:
    (
        operation_id,
        kind,
        gateway,
        subject,
        currency,
        units,
        status,
        created_at,
        updated_at,
        version,
        gateway_ref,
        charge_ref,
        hold_id,
        credit_units,
        failure,
        source,
        last_error,
        resolved_by,
        resolved_at,
        resolution,
    ) = row
    return PaymentOperation(
        id=operation_id,
        kind=kind,
        gateway=gateway,
        subject=subject,
        amount=Amount(units=units, currency=currency),
        status=status,
        created_at=parse_instant(created_at),
        updated_at=parse_instant(updated_at),
        version=version,
        gateway_ref=gateway_ref,
        charge_ref=charge_ref,
        hold_id=hold_id,
        credit=None if credit_units is None else Amount(units=credit_units, currency=currency),
        failure=failure,
        source=source,
        last_error=last_error,
        resolved_by=resolved_by,
        resolved_at=None if resolved_at is None else parse_instant(resolved_at),
        resolution=resolution,
    )


class SqlPaymentRepository:
    """Payment operations in SQL, with optimistic concurrency like orders."""

    def __init__(self, db: SqlConnection) -> None:
        self._db = db

    def add_operation(self, operation: PaymentOperation) -> None:
        # ON CONFLICT DO NOTHING rather than a unique violation: two writers
        # racing to record the same call is an expected conflict, and the
        # loser must get ConcurrencyConflict (retry, then find the winner's
        # row). A violation would surface as a plain StorageError and, on
        # PostgreSQL, also poison the rest of the transaction; this way the
        # second INSERT waits for the first's commit and then inserts nothing.
        cursor = self._db.execute(
            f"INSERT INTO payment_operations ({_COLUMNS}) "  # noqa: S608 -- fixed column list
            f"VALUES ({_PLACEHOLDERS}) ON CONFLICT (id) DO NOTHING",
            _row(operation),
        )
        if cursor.rowcount != 1:
            raise ConcurrencyConflict(f"payment operation {operation.id!r} already exists")

    def get_operation(self, operation_id: str) -> PaymentOperation | None:
        # Locked (on engines that lock rows) until the unit of work ends, as an
        # order is: whoever settles an operation moves money before saving it,
        # so a webhook and a reconcile settling one charge at once must queue,
        # the second reading the first's outcome, not both acting on the old one.
        row = self._db.one(
            f"SELECT {_COLUMNS} FROM payment_operations WHERE id = ?{self._db.for_update}",  # noqa: S608
            (operation_id,),
        )
        return None if row is None else _operation(row)

    def save_operation(self, operation: PaymentOperation, *, expected_version: int) -> None:
        values = _row(operation)
        cursor = self._db.execute(
            "UPDATE payment_operations SET kind = ?, gateway = ?, subject = ?, currency = ?, "
            "units = ?, status = ?, created_at = ?, updated_at = ?, version = ?, "
            "gateway_ref = ?, charge_ref = ?, hold_id = ?, credit_units = ?, failure = ?, "
            "source = ?, last_error = ?, resolved_by = ?, resolved_at = ?, resolution = ? "
            "WHERE id = ? AND version = ?",
            (*values[1:], operation.id, expected_version),
        )
        if cursor.rowcount != 1:
            raise ConcurrencyConflict(
                f"payment operation {operation.id!r} changed since version "
                f"{expected_version} was read"
            )

    def operations_for(
        self, subject: str, kind: OperationKind | None = None
    ) -> Sequence[PaymentOperation]:
        if kind is None:
            rows = self._db.all(
                f"SELECT {_COLUMNS} FROM payment_operations WHERE subject = ? "  # noqa: S608
                "ORDER BY created_at, id",
                (subject,),
            )
        else:
            rows = self._db.all(
                f"SELECT {_COLUMNS} FROM payment_operations WHERE subject = ? AND kind = ? "  # noqa: S608
                "ORDER BY created_at, id",
                (subject, OperationKind(kind).value),
            )
        return [_operation(row) for row in rows]

    def open_operations(
        self,
        limit: int,
        *,
        after: tuple[datetime, str] | None = None,
        status: OperationStatus | None = None,
    ) -> Sequence[PaymentOperation]:
        where = [f"status IN ({_OPEN})"]  # first, word for word: the partial index
        parameters: list[Any] = []
        if status is not None:
            where.append("status = ?")
            parameters.append(OperationStatus(status).value)
        if after is not None:
            moment = format_instant(after[0])
            where.append("(created_at > ? OR (created_at = ? AND id > ?))")
            parameters += [moment, moment, after[1]]
        return [
            _operation(row)
            for row in self._db.all(
                f"SELECT {_COLUMNS} FROM payment_operations "  # noqa: S608 -- fixed literals
                f"WHERE {' AND '.join(where)} ORDER BY created_at, id LIMIT ?",
                (*parameters, max(limit, 0)),
            )
        ]

    def all_operations(self) -> Sequence[PaymentOperation]:
        """Every operation, oldest first: what an audit reads (not part of the port)."""
        return [
            _operation(row)
            for row in self._db.all(
                f"SELECT {_COLUMNS} FROM payment_operations ORDER BY created_at, id"  # noqa: S608
            )
        ]
