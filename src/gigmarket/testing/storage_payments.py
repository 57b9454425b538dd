"""The payment-operation checks of the storage conformance suite.

They live apart from :mod:`gigmarket.testing.storage` only to keep each module
readable; :class:`~gigmarket.testing.storage.StorageConformance` inherits them,
so an adapter that subclasses it runs these too. What they pin down is what
the payment service relies on to never charge twice: an operation reads back
exactly as written, a second writer recording the same call loses with a
retryable conflict, a stale save changes nothing, and ``reconcile`` finds the
open operations oldest first.
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import attrs
import pytest

from gigmarket.cashier.model import OperationKind, OperationStatus, PaymentOperation
from gigmarket.errors import ConcurrencyConflict, TransientStorageError
from gigmarket.money import Amount
from gigmarket.ports import Storage

__all__ = ["PaymentStorageConformance"]

T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)

TIE_IDS = ("op_a", "op-a", "OP-z", "op-B", "op-10", "op-9")
"""Ids created at one instant: they must come back in code point order (as
Python sorts them), whatever collation the database would use by default."""


def _operation(
    operation_id: str,
    *,
    subject: str = "o1",
    kind: OperationKind = OperationKind.PAYMENT,
    status: OperationStatus = OperationStatus.STARTED,
    at: datetime = T0,
    **fields: Any,
) -> PaymentOperation:
    return PaymentOperation(
        id=operation_id,
        kind=kind,
        gateway="sandbox",
        subject=subject,
        amount=fields.pop("amount", Amount.of("55.75", "USD")),
        status=status,
        created_at=at,
        updated_at=fields.pop("updated_at", at),
        **fields,
    )


class PaymentStorageConformance:
    """The payment operation port (``uow.payments``) of a storage adapter."""

    def test_payment_operations_round_trip_every_field(self, storage: Storage) -> None:
        full = _operation(
            "pay-1",
            status=OperationStatus.SUCCEEDED,
            at=T0 + timedelta(microseconds=123_456),
            updated_at=T0 + timedelta(minutes=3, microseconds=7),
            version=4,
            gateway_ref="ch_1",
            charge_ref="ch_0",
            hold_id="hold-9",
            credit=Amount.of("5.25", "USD"),
            failure="settled by reconcile",
            source="tok_visa",
            last_error="invalid_payment_request",
            resolved_by="ops-ana",
            resolved_at=T0 + timedelta(days=8, microseconds=42),
            resolution="the gateway's dashboard shows the charge captured",
        )
        bare = _operation(
            "payee-1",
            subject="seller:nadia",
            kind=OperationKind.PAYEE,
            status=OperationStatus.QUEUED,
            amount=Amount(units=0, currency="BDT"),
        )
        with storage() as uow:
            uow.payments.add_operation(full)
            uow.payments.add_operation(bare)
            assert uow.payments.get_operation("pay-1") == full
            uow.commit()
        with storage() as uow:
            assert uow.payments.get_operation("pay-1") == full
            stored = uow.payments.get_operation("payee-1")
            assert stored == bare
            assert stored is not None
            assert (stored.credit, stored.gateway_ref, stored.charge_ref) == (None, None, None)
            assert (stored.hold_id, stored.failure, stored.version) == (None, None, 0)
            assert uow.payments.get_operation("missing") is None

    def test_a_second_operation_with_one_id_is_a_concurrency_conflict(
        self, storage: Storage
    ) -> None:
        """Two writers recording the same gateway call: the loser gets a
        retryable conflict, the winner's record is kept, and the loser's unit
        of work is still usable."""
        first = _operation("pay-1")
        with storage() as uow:
            uow.payments.add_operation(first)
            with pytest.raises(ConcurrencyConflict) as refused:
                uow.payments.add_operation(_operation("pay-1", subject="o2"))
            assert isinstance(refused.value, TransientStorageError)
            assert uow.payments.get_operation("pay-1") == first
            uow.payments.add_operation(_operation("pay-2"))
            uow.commit()
        with storage() as uow:
            with pytest.raises(ConcurrencyConflict):
                uow.payments.add_operation(_operation("pay-1", status=OperationStatus.QUEUED))
            assert uow.payments.get_operation("pay-1") == first
            assert [op.id for op in uow.payments.operations_for("o1")] == ["pay-1", "pay-2"]
            assert uow.payments.operations_for("o2") == []

    def test_racing_writers_record_one_operation_once(self, storage: Storage) -> None:
        """The second writer starts while the first has not committed yet, and
        still loses with a conflict once the first commits."""
        added = threading.Event()
        outcomes: dict[str, object] = {}

        def record(name: str, subject: str) -> None:
            try:
                if name == "second":
                    added.wait(10)
                with storage() as uow:
                    uow.payments.add_operation(_operation("pay-1", subject=subject))
                    if name == "first":
                        added.set()
                        time.sleep(0.2)  # let the second writer reach its INSERT
                    uow.commit()
                outcomes[name] = "committed"
            except Exception as error:  # the assertions below report it
                outcomes[name] = error
            finally:
                added.set()

        threads = [
            threading.Thread(target=record, args=(name, subject))
            for name, subject in (("first", "o1"), ("second", "o2"))
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert outcomes["first"] == "committed"
        assert isinstance(outcomes["second"], ConcurrencyConflict)
        with storage() as uow:
            stored = uow.payments.get_operation("pay-1")
            assert stored is not None
            assert stored.subject == "o1"

    def test_a_stale_save_of_an_operation_changes_nothing(self, storage: Storage) -> None:
        started = _operation("pay-1")
        with storage() as uow:
            uow.payments.add_operation(started)
            uow.commit()
        pending = started.advance(OperationStatus.PENDING, T0 + timedelta(seconds=1))
        succeeded = pending.advance(
            OperationStatus.SUCCEEDED, T0 + timedelta(seconds=2), gateway_ref="ch_1"
        )
        with storage() as uow:
            uow.payments.save_operation(pending, expected_version=0)
            with pytest.raises(ConcurrencyConflict):
                uow.payments.save_operation(succeeded, expected_version=0)
            with pytest.raises(ConcurrencyConflict):
                uow.payments.save_operation(_operation("never-added"), expected_version=0)
            assert uow.payments.get_operation("pay-1") == pending
            assert uow.payments.get_operation("never-added") is None
            uow.commit()
        with storage() as uow:
            assert uow.payments.get_operation("pay-1") == pending
            uow.payments.save_operation(succeeded, expected_version=1)
            uow.commit()
        with storage() as uow:
            assert uow.payments.get_operation("pay-1") == succeeded
            assert uow.payments.open_operations(10) == []

    def test_operations_of_a_subject_come_oldest_first_and_by_kind(self, storage: Storage) -> None:
        refund = OperationKind.REFUND
        operations = [
            _operation("late-refund", kind=refund, at=T0 + timedelta(hours=2)),
            *(_operation(tie, at=T0 + timedelta(hours=1)) for tie in TIE_IDS),
            _operation("early-refund", kind=refund, at=T0),
            _operation("other-order", subject="o2", at=T0),
            _operation("tip", kind=OperationKind.TIP, at=T0 + timedelta(microseconds=1)),
        ]
        with storage() as uow:
            for operation in operations:
                uow.payments.add_operation(operation)
            uow.commit()
        with storage() as uow:
            everything = uow.payments.operations_for("o1")
            assert [op.id for op in everything] == [
                "early-refund",
                "tip",
                *sorted(TIE_IDS),
                "late-refund",
            ]
            assert everything[0] == operations[-3]
            refunds = uow.payments.operations_for("o1", refund)
            assert [op.id for op in refunds] == ["early-refund", "late-refund"]
            assert [op.id for op in uow.payments.operations_for("o1", OperationKind.TIP)] == ["tip"]
            assert uow.payments.operations_for("o1", OperationKind.PAYOUT) == []
            assert uow.payments.operations_for("nobody") == []

    def test_open_operations_are_the_unsettled_ones_oldest_first(self, storage: Storage) -> None:
        with storage() as uow:
            for n, status in enumerate(
                [
                    OperationStatus.SUCCEEDED,
                    OperationStatus.PENDING,
                    OperationStatus.FAILED,
                    OperationStatus.UNKNOWN,
                    OperationStatus.QUEUED,
                    OperationStatus.STARTED,
                ]
            ):
                uow.payments.add_operation(
                    _operation(
                        f"op-{status.value}",
                        subject=f"o{n % 2}",
                        status=status,
                        at=T0 - timedelta(minutes=n),
                    )
                )
            for tie in TIE_IDS:
                uow.payments.add_operation(_operation(tie, at=T0 + timedelta(days=1)))
            uow.commit()
        oldest_first = ["op-started", "op-queued", "op-unknown", "op-pending", *sorted(TIE_IDS)]
        with storage() as uow:
            assert [op.id for op in uow.payments.open_operations(100)] == oldest_first
            assert [op.id for op in uow.payments.open_operations(3)] == oldest_first[:3]
            assert uow.payments.open_operations(0) == []
            waiting = uow.payments.get_operation("op-pending")
            assert waiting is not None
            uow.payments.save_operation(
                attrs.evolve(waiting, status=OperationStatus.FAILED, version=1),
                expected_version=0,
            )
            assert "op-pending" not in [op.id for op in uow.payments.open_operations(100)]

    def test_open_operations_walk_on_from_a_cursor_and_filter_by_status(
        self, storage: Storage
    ) -> None:
        statuses = [OperationStatus.PENDING, OperationStatus.QUEUED] * 3
        with storage() as uow:
            for n, status in enumerate(statuses):
                uow.payments.add_operation(
                    _operation(f"op-{n}", status=status, at=T0 + timedelta(minutes=n))
                )
            for tie in TIE_IDS:
                uow.payments.add_operation(_operation(tie, at=T0 + timedelta(days=1)))
            uow.commit()
        with storage() as uow:
            first = uow.payments.open_operations(4)
            assert [op.id for op in first] == ["op-0", "op-1", "op-2", "op-3"]
            cursor = (first[-1].created_at, first[-1].id)
            rest = uow.payments.open_operations(100, after=cursor)
            assert [op.id for op in rest] == ["op-4", "op-5", *sorted(TIE_IDS)]
            ties = sorted(TIE_IDS)
            within_a_tie = (T0 + timedelta(days=1), ties[2])
            assert [op.id for op in uow.payments.open_operations(100, after=within_a_tie)] == (
                ties[3:]
            )
            queued = uow.payments.open_operations(100, status=OperationStatus.QUEUED)
            assert [op.id for op in queued] == ["op-1", "op-3", "op-5"]
            later = uow.payments.open_operations(
                100, status=OperationStatus.QUEUED, after=(queued[0].created_at, queued[0].id)
            )
            assert [op.id for op in later] == ["op-3", "op-5"]
            assert uow.payments.open_operations(100, status=OperationStatus.SUCCEEDED) == []

    def test_rolled_back_operations_are_discarded(self, storage: Storage) -> None:
        with storage() as uow:
            uow.payments.add_operation(_operation("uncommitted"))
        with storage() as uow:
            uow.payments.add_operation(_operation("rolled-back"))
            uow.rollback()
            uow.payments.add_operation(_operation("kept"))
            uow.commit()
        with storage() as uow:
            assert uow.payments.get_operation("uncommitted") is None
            assert uow.payments.get_operation("rolled-back") is None
            assert [op.id for op in uow.payments.operations_for("o1")] == ["kept"]
            assert [op.id for op in uow.payments.open_operations(10)] == ["kept"]
