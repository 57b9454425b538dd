"""The payments audit catches books and operations that disagree."""

from __future__ import annotations

from datetime import UTC, datetime

import attrs

from gigmarket.cashier import OperationKind, OperationStatus, PaymentOperation
from gigmarket.cashier.audit import INVARIANT, audit_payments
from gigmarket.clock import ManualClock
from gigmarket.escrow import chart
from gigmarket.escrow.ledger import Ledger
from gigmarket.ids import sequential_ids
from gigmarket.money import Amount
from gigmarket.orders import Offer, OfferedPackage, OrderDesk, fiverr_policy
from gigmarket.storage.memory.store import MemoryStorage

NOW = datetime(2026, 3, 1, 9, tzinfo=UTC)
USD = "USD"


def _desk(storage: MemoryStorage) -> OrderDesk:
    return OrderDesk(storage, policy=fiverr_policy(), clock=ManualClock(NOW), ids=sequential_ids())


def _operation(
    op_id: str, kind: OperationKind, status: OperationStatus, **more: object
) -> PaymentOperation:
    return PaymentOperation(
        id=op_id,
        kind=kind,
        gateway="sandbox",
        subject=str(more.pop("subject", "o-1")),
        amount=more.pop("amount", Amount.of("10.00", USD)),  # type: ignore[arg-type]
        status=status,
        created_at=NOW,
        updated_at=NOW,
        **more,  # type: ignore[arg-type]
    )


def _add(storage: MemoryStorage, *operations: PaymentOperation) -> None:
    with storage() as uow:
        for op in operations:
            uow.payments.add_operation(op)
        uow.commit()


def _audit(storage: MemoryStorage) -> list[str]:
    with storage() as uow:
        return [f"{v.invariant} {v.message}" for v in audit_payments(uow)]


def test_an_empty_store_is_clean() -> None:
    assert _audit(MemoryStorage()) == []


def test_a_refund_operation_without_its_money_is_reported() -> None:
    storage = MemoryStorage()
    _add(storage, _operation("refund:o-1:3", OperationKind.REFUND, OperationStatus.QUEUED))
    assert _audit(storage) == [
        f"{INVARIANT} refunds in flight hold 0.00 USD, open refund operations add up to 10.00 USD",
        f"{INVARIANT} refund refund:o-1:3 (queued): the entry setting the refund aside is missing",
    ]


def test_money_in_flight_without_a_refund_operation_is_reported() -> None:
    storage = MemoryStorage()
    ledger = Ledger(storage, clock=ManualClock(NOW))
    ledger.open_account("gateway:sandbox:USD", USD, allow_negative=True)
    ledger.open_account(chart.refunds_in_flight(USD), USD)
    ledger.transfer("gateway:sandbox:USD", chart.refunds_in_flight(USD), Amount.of("4.00", USD))
    assert _audit(storage) == [
        f"{INVARIANT} refunds in flight hold 4.00 USD, open refund operations add up to 0.00 USD",
        f"{INVARIANT} moves money in flight that no payment operation claims",
    ]


def test_settled_refunds_need_nothing_in_flight_but_their_entries() -> None:
    storage = MemoryStorage()
    done = _operation("refund:o-1:3", OperationKind.REFUND, OperationStatus.SUCCEEDED)
    failed = _operation("refund:o-1:5", OperationKind.REFUND, OperationStatus.FAILED)
    _add(storage, done, failed)
    assert _audit(storage) == [
        f"{INVARIANT} refund refund:o-1:3 (succeeded): the entry setting the refund aside is "
        "missing",
        f"{INVARIANT} refund refund:o-1:3 (succeeded): the entry sending the refund is missing",
        f"{INVARIANT} refund refund:o-1:5 (failed): the entry setting the refund aside is missing",
        f"{INVARIANT} refund refund:o-1:5 (failed): the entry giving the refund as credit is "
        "missing",
    ]


def test_an_order_paid_twice_or_by_another_charge_is_reported() -> None:
    storage = MemoryStorage()
    desk = _desk(storage)
    offer = Offer(
        gig_id="logo",
        gig_version=1,
        seller_id="nadia",
        package=OfferedPackage(
            name="Basic", price=Amount.of("50.00", USD), delivery_days=3, revisions=1
        ),
    )
    order = desk.place(offer, buyer_id="rahim")
    desk.record_payment(order.id, order.price.total_charged, reference="ch_1")
    total = order.price.total_charged
    kept = _operation(
        "pay:1",
        OperationKind.PAYMENT,
        OperationStatus.SUCCEEDED,
        subject=order.id,
        amount=total,
        gateway_ref="ch_1",
    )
    assert _audit_with(storage, kept) == []
    other = attrs.evolve(kept, id="pay:2", gateway_ref="ch_2")
    assert _audit_with(storage, other) == [
        f"{INVARIANT} order {order.id} was paid by 2 payments: pay:1, pay:2",
        f"{INVARIANT} order {order.id}: payment pay:2 kept charge ch_2, the order records ch_1",
        f"{INVARIANT} payment pay:2 (succeeded): the entry booking charge ch_2 is missing",
    ]
    given_back = attrs.evolve(kept, id="pay:3", gateway_ref="ch_3", failure="refunded")
    # An unwanted charge given back is no second payment, but it needs the
    # entry that set its money aside for the refund.
    assert _audit_with(storage, given_back)[3:] == [
        f"{INVARIANT} payment pay:3 (succeeded): the entry setting the charge aside is missing"
    ]


def _audit_with(storage: MemoryStorage, op: PaymentOperation) -> list[str]:
    _add(storage, op)
    return _audit(storage)
