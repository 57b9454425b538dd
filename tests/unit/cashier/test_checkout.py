"""Checkout: a buyer pays an order by card, by credit, or both, whatever the card answers."""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Any

import pytest

from gigmarket.cashier import OperationKind, OperationStatus, ReconcileFix
from gigmarket.errors import (
    GatewayUnavailable,
    OrderNotFound,
    OutcomeUnknown,
    PaymentInProgress,
    WrongActor,
)
from gigmarket.escrow import chart
from gigmarket.gateways import ChargeStatus, Fault, Operation
from gigmarket.gateways.results import CARD_DECLINE_CODES, Charge, DeclineCode
from gigmarket.money import Amount
from gigmarket.orders import OrderState, RefundDestination

if TYPE_CHECKING:
    from conftest import Shop, ShopFactory

S = OperationStatus
PAYMENT_WINDOW = timedelta(hours=24)


def usd(value: str) -> Amount:
    return Amount.of(value, "USD")


def escrow(order_id: str) -> str:
    return chart.order_escrow(order_id)


def credit_shop(make_shop: ShopFactory, refunded_price: str) -> Shop:
    """A shop that refunds to credit, whose buyer holds the whole charge of a
    cancelled order of ``refunded_price`` as credit."""
    shop = make_shop(refund_to=RefundDestination.CREDIT)
    first = shop.paid_order(refunded_price)
    shop.cancel(first.id)
    assert shop.balance(shop.credit_account) == first.price.total_charged
    return shop


# -- cards --------------------------------------------------------------------


def test_a_card_pays_the_order_and_funds_escrow(shop: Shop) -> None:
    order = shop.place("50.00")

    result = shop.checkout(order.id, "tok_visa")

    assert result.paid
    assert result.order.state is OrderState.AWAITING_REQUIREMENTS
    assert result.charge is not None
    assert result.order.payment_reference == result.charge.id
    assert result.order.charged == usd("55.75").units
    op = result.operation
    assert (op.id, op.kind, op.status) == (f"pay:{order.id}:1", OperationKind.PAYMENT, S.SUCCEEDED)
    assert (op.amount, op.gateway_ref) == (usd("55.75"), result.charge.id)
    assert (op.credit, op.hold_id, op.failure) == (None, None, None)
    charge = shop.gateway.get_charge(result.charge.id)
    assert (charge.status, charge.captured) == (ChargeStatus.CAPTURED, usd("55.75"))
    assert charge.idempotency_key == op.id
    assert shop.balance(escrow(order.id)) == usd("55.75")
    assert shop.balance(shop.gateway_account) == usd("-55.75")
    shop.assert_books_agree()


@pytest.mark.parametrize("code", sorted(CARD_DECLINE_CODES))
def test_a_declined_card_leaves_the_order_waiting_and_another_card_pays(
    shop: Shop, code: DeclineCode
) -> None:
    order = shop.place("50.00")

    declined = shop.checkout(order.id, f"tok_decline_{code.value}")

    assert not declined.paid
    assert declined.order.state is OrderState.PENDING_PAYMENT
    assert declined.charge is not None
    assert declined.charge.status is ChargeStatus.FAILED
    assert (declined.operation.status, declined.operation.failure) == (S.FAILED, code.value)
    assert declined.operation.gateway_ref == declined.charge.id
    assert shop.balance(escrow(order.id)) == usd("0.00")
    assert shop.balance(shop.gateway_account) == usd("0.00")
    failed = [e for e in shop.orders.pending_events() if e.type == "payment.failed"]
    assert [e.payload["reason"] for e in failed] == [code.value]

    paid = shop.checkout(order.id, "tok_mastercard")

    assert paid.paid
    assert paid.operation.id == f"pay:{order.id}:2"
    assert [op.status for op in shop.operations(order.id)] == [S.FAILED, S.SUCCEEDED]
    assert shop.balance(escrow(order.id)) == usd("55.75")
    assert [c.captured for c in shop.charges()] == [usd("0.00"), usd("55.75")]
    shop.assert_books_agree()


def test_a_card_that_needs_the_buyer_pays_once_they_pass_and_the_webhook_arrives(
    shop: Shop,
) -> None:
    order = shop.place("50.00")

    waiting = shop.checkout(order.id, "tok_requires_action")

    assert not waiting.paid
    assert waiting.operation.status is S.PENDING
    assert waiting.charge is not None
    assert waiting.action_url == waiting.charge.action_url is not None
    assert waiting.order.state is OrderState.PENDING_PAYMENT
    assert shop.balance(escrow(order.id)) == usd("0.00")

    shop.gateway.complete_action(waiting.charge.id)
    outcomes = shop.deliver_webhooks()

    assert [o.duplicate for o in outcomes] == [False, False]  # requires_action, captured
    assert shop.cashier.operation(waiting.operation.id).status is S.SUCCEEDED
    assert shop.orders.get(order.id).state is OrderState.AWAITING_REQUIREMENTS
    assert shop.balance(escrow(order.id)) == usd("55.75")
    shop.assert_books_agree()


def test_a_buyer_who_fails_authentication_can_pay_with_another_card(shop: Shop) -> None:
    order = shop.place("50.00")
    waiting = shop.checkout(order.id, "tok_requires_action")
    assert waiting.charge is not None

    shop.gateway.complete_action(waiting.charge.id, succeed=False)
    shop.deliver_webhooks()

    failed = shop.cashier.operation(waiting.operation.id)
    assert (failed.status, failed.failure) == (S.FAILED, "authentication_failed")
    assert shop.orders.get(order.id).state is OrderState.PENDING_PAYMENT
    assert shop.checkout(order.id, "tok_visa").paid
    shop.assert_books_agree()


def test_a_buyer_who_gives_up_on_authentication_pays_with_another_card(shop: Shop) -> None:
    """A new checkout means the buyer gave up on 3-D Secure: the waiting charge
    is cancelled at the gateway first, so it can never be captured as well."""
    order = shop.place("50.00")
    waiting = shop.checkout(order.id, "tok_requires_action")
    assert waiting.charge is not None

    again = shop.checkout(order.id, "tok_visa")

    assert again.paid
    assert again.operation.id == f"pay:{order.id}:2"
    abandoned = shop.cashier.operation(waiting.operation.id)
    assert (abandoned.status, abandoned.failure) == (S.FAILED, "cancelled")
    assert shop.gateway.get_charge(waiting.charge.id).status is ChargeStatus.CANCELLED
    assert shop.balance(escrow(order.id)) == usd("55.75")
    shop.assert_books_agree()


def test_a_charge_the_network_is_settling_still_blocks_another(shop: Shop) -> None:
    order = shop.place("50.00")
    pending = shop.checkout(order.id, "tok_pending")
    with pytest.raises(PaymentInProgress) as refused:
        shop.checkout(order.id, "tok_visa")
    assert refused.value.operation_id == pending.operation.id
    assert len(shop.charges()) == 1


def test_a_pending_charge_pays_the_order_when_reconcile_finds_it_captured(shop: Shop) -> None:
    order = shop.place("50.00")
    pending = shop.checkout(order.id, "tok_pending")
    assert pending.operation.status is S.PENDING
    assert shop.cashier.reconcile().waiting == (pending.operation.id,)  # not settled yet

    shop.gateway.settle_pending()
    report = shop.cashier.reconcile()

    assert report.fixed == (
        ReconcileFix(
            operation_id=pending.operation.id, kind="payment", before="pending", after="succeeded"
        ),
    )
    assert shop.orders.get(order.id).state is OrderState.AWAITING_REQUIREMENTS
    assert shop.balance(escrow(order.id)) == usd("55.75")
    shop.assert_books_agree()


def test_a_pending_charge_that_is_declined_later_fails_the_attempt(shop: Shop) -> None:
    order = shop.place("50.00")
    pending = shop.checkout(order.id, "tok_pending_decline")

    shop.gateway.settle_pending()
    report = shop.cashier.reconcile()

    assert [(f.before, f.after, f.note) for f in report.fixed] == [
        ("pending", "failed", "insufficient_funds")
    ]
    assert shop.cashier.operation(pending.operation.id).failure == "insufficient_funds"
    assert shop.orders.get(order.id).state is OrderState.PENDING_PAYMENT
    shop.assert_books_agree()


# -- buyer credit -------------------------------------------------------------


def test_credit_that_covers_the_order_pays_it_without_calling_the_gateway(
    make_shop: ShopFactory,
) -> None:
    shop = credit_shop(make_shop, "50.00")  # 55.75 of credit, from one charge
    order = shop.place("50.00")

    result = shop.checkout(order.id, "tok_visa")

    assert result.paid
    assert result.charge is None
    op = result.operation
    assert (op.status, op.amount, op.credit) == (S.SUCCEEDED, usd("55.75"), usd("55.75"))
    assert (op.gateway_ref, op.hold_id) == (None, None)
    assert len(shop.charges()) == 1  # the first order's charge only
    assert shop.balance(shop.credit_account) == usd("0.00")
    assert shop.balance(escrow(order.id)) == usd("55.75")
    assert shop.balance(shop.gateway_account) == usd("-55.75")
    shop.assert_books_agree()


def test_credit_that_covers_part_is_held_while_the_card_is_charged_the_rest(
    make_shop: ShopFactory,
) -> None:
    shop = credit_shop(make_shop, "20.00")  # 24.10 of credit
    order = shop.place("50.00")  # 55.75: 24.10 of credit and 31.65 by card

    pending = shop.checkout(order.id, "tok_pending")

    op = pending.operation
    assert (op.status, op.amount, op.credit) == (S.PENDING, usd("31.65"), usd("24.10"))
    assert op.hold_id is not None
    assert [c.amount for c in shop.charges()[1:]] == [usd("31.65")]
    assert shop.balance(shop.credit_account) == usd("24.10")
    assert shop.held(shop.credit_account) == usd("24.10")  # set aside, not spent

    shop.gateway.settle_pending()
    shop.cashier.reconcile()

    assert shop.orders.get(order.id).state is OrderState.AWAITING_REQUIREMENTS
    assert shop.balance(shop.credit_account) == usd("0.00")
    assert shop.held(shop.credit_account) == usd("0.00")
    assert shop.balance(escrow(order.id)) == usd("55.75")
    assert shop.balance(shop.gateway_account) == usd("-55.75")  # 24.10 earlier, 31.65 now
    shop.assert_books_agree()


@pytest.mark.parametrize(
    ("source", "fault"),
    [("tok_decline_insufficient_funds", None), ("tok_visa", Fault.unavailable())],
    ids=["declined", "gateway-unavailable"],
)
def test_credit_held_for_a_failed_attempt_is_released_and_spendable_again(
    make_shop: ShopFactory, source: str, fault: Fault | None
) -> None:
    shop = credit_shop(make_shop, "20.00")
    order = shop.place("50.00")
    if fault is not None:
        shop.gateway.faults.on(Operation.CHARGE, fault)
        with pytest.raises(GatewayUnavailable):
            shop.checkout(order.id, source)
    else:
        assert not shop.checkout(order.id, source).paid

    first = shop.operations(order.id)[0]
    assert first.status is S.FAILED
    assert shop.balance(shop.credit_account) == usd("24.10")
    assert shop.held(shop.credit_account) == usd("0.00")

    second = shop.checkout(order.id, "tok_visa")

    assert second.paid
    assert (second.operation.credit, second.operation.amount) == (usd("24.10"), usd("31.65"))
    assert shop.balance(shop.credit_account) == usd("0.00")
    assert shop.balance(escrow(order.id)) == usd("55.75")
    shop.assert_books_agree()


# -- refusals -----------------------------------------------------------------


def test_only_the_orders_buyer_checks_out(shop: Shop) -> None:
    order = shop.place("50.00")

    with pytest.raises(WrongActor):
        shop.cashier.checkout(order.id, buyer_id=shop.other_buyer, source="tok_visa")

    assert shop.operations(order.id) == []
    assert shop.charges() == []


def test_an_unknown_order_cannot_be_checked_out(shop: Shop) -> None:
    with pytest.raises(OrderNotFound):
        shop.cashier.checkout("no-such-order", buyer_id=shop.buyer, source="tok_visa")


def test_a_paid_order_is_not_charged_again(shop: Shop) -> None:
    order = shop.paid_order("50.00")

    with pytest.raises(PaymentInProgress) as refused:
        shop.checkout(order.id, "tok_visa")

    assert (refused.value.operation_id, refused.value.status) == (f"pay:{order.id}:1", "succeeded")
    assert len(shop.charges()) == 1
    shop.assert_books_agree()


# -- lost answers and outages -------------------------------------------------


def test_a_lost_answer_blocks_a_second_charge_until_reconcile_pays_the_order_once(
    shop: Shop,
) -> None:
    order = shop.place("50.00")
    shop.gateway.faults.on(Operation.CHARGE, Fault.lose_response())

    with pytest.raises(OutcomeUnknown):
        shop.checkout(order.id, "tok_visa")

    [lost] = shop.operations(order.id)
    assert (lost.status, lost.gateway_ref) == (S.UNKNOWN, None)
    assert [c.captured for c in shop.charges()] == [usd("55.75")]  # the gateway did charge
    assert shop.orders.get(order.id).state is OrderState.PENDING_PAYMENT
    with pytest.raises(PaymentInProgress) as refused:
        shop.checkout(order.id, "tok_visa")
    assert (refused.value.operation_id, refused.value.status) == (lost.id, "unknown")

    report = shop.cashier.reconcile()

    assert [(f.operation_id, f.before, f.after) for f in report.fixed] == [
        (lost.id, "unknown", "succeeded")
    ]
    found = shop.cashier.operation(lost.id)
    assert found.gateway_ref == shop.charges()[0].id
    assert shop.orders.get(order.id).state is OrderState.AWAITING_REQUIREMENTS
    assert shop.balance(escrow(order.id)) == usd("55.75")
    assert shop.cashier.reconcile().clean  # nothing left to do, nothing booked twice
    assert len(shop.charges()) == 1
    shop.assert_books_agree()


def test_an_unavailable_gateway_fails_the_attempt_and_a_retry_pays(shop: Shop) -> None:
    order = shop.place("50.00")
    shop.gateway.faults.on(Operation.CHARGE, Fault.unavailable())

    with pytest.raises(GatewayUnavailable):
        shop.checkout(order.id, "tok_visa")

    [failed] = shop.operations(order.id)
    assert (failed.status, failed.failure) == (S.FAILED, "gateway_unavailable")
    assert shop.charges() == []
    assert shop.orders.get(order.id).state is OrderState.PENDING_PAYMENT

    retry = shop.checkout(order.id, "tok_visa")

    assert retry.paid
    assert retry.operation.id == f"pay:{order.id}:2"
    assert [c.captured for c in shop.charges()] == [usd("55.75")]
    shop.assert_books_agree()


def test_a_charge_that_completes_after_the_order_expired_goes_back_to_the_card(
    shop: Shop,
) -> None:
    order = shop.place("50.00")
    pending = shop.checkout(order.id, "tok_pending")
    shop.clock.advance(PAYMENT_WINDOW + timedelta(minutes=1))
    shop.orders.run_due()
    assert shop.orders.get(order.id).state is OrderState.EXPIRED

    shop.gateway.settle_pending()
    report = shop.cashier.reconcile()

    assert [(f.operation_id, f.before, f.after, f.note) for f in report.fixed] == [
        (pending.operation.id, "pending", "succeeded", "the order could not take it: refunded")
    ]
    refund_id = f"refund:{pending.operation.id}"
    queued = shop.cashier.operation(refund_id)
    assert pending.charge is not None
    assert (queued.kind, queued.status, queued.amount, queued.charge_ref) == (
        OperationKind.REFUND,
        S.QUEUED,
        usd("55.75"),
        pending.charge.id,
    )
    assert shop.balance(chart.refunds_in_flight("USD")) == usd("55.75")
    shop.assert_books_agree()

    sent = shop.cashier.reconcile()

    assert [(f.operation_id, f.before, f.after) for f in sent.fixed] == [
        (refund_id, "queued", "succeeded")
    ]
    assert shop.gateway.get_charge(pending.charge.id).refunded == usd("55.75")
    assert shop.orders.get(order.id).state is OrderState.EXPIRED
    assert shop.balance(escrow(order.id)) == usd("0.00")
    assert shop.balance(chart.refunds_in_flight("USD")) == usd("0.00")
    assert shop.balance(shop.gateway_account) == usd("0.00")
    shop.assert_books_agree()


def test_a_checkout_that_loses_the_race_with_the_payment_window_is_not_reported_paid(
    shop: Shop, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The expiry timer fires on another worker while the card is being charged:
    the charge cannot be kept, so the buyer must not be told the order is paid."""
    order = shop.place("50.00")
    charge_card = shop.gateway.charge

    def slow_charge(**call: Any) -> Charge:
        charge = charge_card(**call)
        shop.clock.advance(PAYMENT_WINDOW)
        shop.orders.run_due()  # meanwhile: the order expires
        return charge

    monkeypatch.setattr(shop.gateway, "charge", slow_charge)

    result = shop.checkout(order.id, "tok_visa")

    assert result.order.state is OrderState.EXPIRED
    assert result.operation.failure == "the order could not take it: refunded"
    assert shop.cashier.operation(f"refund:{result.operation.id}").status is S.QUEUED
    shop.assert_books_agree()
    assert not result.paid
