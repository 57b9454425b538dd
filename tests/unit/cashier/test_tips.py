"""Tips: a buyer tips a completed order; the commission applies, then clearance."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from gigmarket.cashier import OperationKind, OperationStatus
from gigmarket.errors import OutcomeUnknown, TransitionNotAllowed, WrongActor
from gigmarket.escrow import chart
from gigmarket.gateways import Fault, Operation
from gigmarket.money import Amount

if TYPE_CHECKING:
    from conftest import Shop

S = OperationStatus


def usd(value: str) -> Amount:
    return Amount.of(value, "USD")


def earnings(shop: Shop) -> tuple[Amount, Amount, Amount]:
    """The seller's pending earnings, the platform's revenue, the gateway account."""
    return (
        shop.balance(chart.seller_pending(shop.seller, "USD")),
        shop.balance(chart.platform_revenue("USD")),
        shop.balance(shop.gateway_account),
    )


def test_a_tip_goes_to_the_seller_less_the_commission(shop: Shop) -> None:
    order = shop.complete(shop.paid_order("50.00").id)
    assert earnings(shop) == (usd("40.00"), usd("15.75"), usd("-55.75"))

    result = shop.cashier.tip(order.id, usd("10.00"), buyer_id=shop.buyer, source="tok_visa")

    op = result.operation
    assert (op.id, op.kind, op.status, op.amount) == (
        f"tip:{order.id}:1",
        OperationKind.TIP,
        S.SUCCEEDED,
        usd("10.00"),
    )
    assert result.charge is not None
    assert op.gateway_ref == result.charge.id
    assert result.order.tips == usd("10.00").units
    assert earnings(shop) == (usd("48.00"), usd("17.75"), usd("-65.75"))
    shop.assert_books_agree()


def test_a_declined_tip_changes_nothing(shop: Shop) -> None:
    order = shop.complete(shop.paid_order("50.00").id)

    result = shop.cashier.tip(
        order.id, usd("10.00"), buyer_id=shop.buyer, source="tok_decline_expired_card"
    )

    assert (result.operation.status, result.operation.failure) == (S.FAILED, "expired_card")
    assert result.order.tips == 0
    assert earnings(shop) == (usd("40.00"), usd("15.75"), usd("-55.75"))
    shop.assert_books_agree()


def test_only_the_buyer_of_a_completed_order_tips(shop: Shop) -> None:
    order = shop.start_work(shop.paid_order("50.00").id)

    with pytest.raises(TransitionNotAllowed):
        shop.cashier.tip(order.id, usd("10.00"), buyer_id=shop.buyer, source="tok_visa")
    shop.orders.deliver(order.id, seller_id=shop.seller)
    shop.orders.accept(order.id, buyer_id=shop.buyer)
    with pytest.raises(WrongActor):
        shop.cashier.tip(order.id, usd("10.00"), buyer_id=shop.other_buyer, source="tok_visa")

    assert shop.operations(order.id, OperationKind.TIP) == []
    assert len(shop.charges()) == 1


def test_a_tip_whose_answer_was_lost_is_booked_once_by_reconcile(shop: Shop) -> None:
    order = shop.complete(shop.paid_order("50.00").id)
    shop.gateway.faults.on(Operation.CHARGE, Fault.lose_response())

    with pytest.raises(OutcomeUnknown):
        shop.cashier.tip(order.id, usd("10.00"), buyer_id=shop.buyer, source="tok_visa")

    report = shop.cashier.reconcile()

    assert [(f.kind, f.before, f.after) for f in report.fixed] == [("tip", "unknown", "succeeded")]
    assert shop.orders.get(order.id).tips == usd("10.00").units
    assert earnings(shop) == (usd("48.00"), usd("17.75"), usd("-65.75"))
    assert shop.cashier.reconcile().clean
    shop.assert_books_agree()
