"""Refunds: what the card paid goes back to the card, the rest to buyer credit.

With ``refund_to=GATEWAY`` an order's transition books the refund on
``refunds:in_flight`` and queues a refund operation; ``send_refunds`` (or
``reconcile``) sends it. A gateway that refuses the refund outright turns it
into buyer credit; one that cannot be reached leaves it queued.
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING

from gigmarket.cashier import OperationKind, OperationStatus, PaymentOperation
from gigmarket.escrow import chart
from gigmarket.gateways import Capabilities, Fault, Operation
from gigmarket.gateways.sandbox import SANDBOX_CURRENCIES
from gigmarket.money import Amount
from gigmarket.orders import Actor, DisputeResolution, OrderState, RefundDestination

if TYPE_CHECKING:
    from conftest import Shop, ShopFactory

S = OperationStatus
REFUNDS_IN_FLIGHT = chart.refunds_in_flight("USD")

NO_PARTIAL_REFUNDS = Capabilities(
    currencies=SANDBOX_CURRENCIES,
    manual_capture=True,
    partial_capture=True,
    partial_refund=False,
    payouts=True,
    payout_cancellation=True,
    webhooks=True,
)
"""A sandbox that refunds a charge in full only, as some acquirers do."""


def usd(value: str) -> Amount:
    return Amount.of(value, "USD")


def refunds(shop: Shop, order_id: str) -> list[PaymentOperation]:
    return shop.operations(order_id, OperationKind.REFUND)


def resolve_with_refund(shop: Shop, order_id: str, refund: str) -> None:
    """The buyer disputes the order in progress; an operator refunds ``refund``."""
    order = shop.start_work(order_id)
    shop.orders.open_dispute(order_id, by=Actor.BUYER, account_id=order.buyer_id)
    shop.orders.resolve_dispute(order_id, DisputeResolution(refund=usd(refund)))


def test_a_cancelled_order_is_refunded_to_the_card(shop: Shop) -> None:
    order = shop.paid_order("50.00")
    charge_id = shop.orders.get(order.id).payment_reference

    cancelled = shop.cancel(order.id)

    assert cancelled.state is OrderState.CANCELLED
    [queued] = refunds(shop, order.id)
    assert (queued.status, queued.amount, queued.charge_ref) == (S.QUEUED, usd("55.75"), charge_id)
    assert shop.balance(chart.order_escrow(order.id)) == usd("0.00")
    assert shop.balance(REFUNDS_IN_FLIGHT) == usd("55.75")
    shop.assert_books_agree()  # owed to the card, not yet sent

    [sent] = shop.cashier.send_refunds()

    assert (sent.id, sent.status) == (queued.id, S.SUCCEEDED)
    assert charge_id is not None
    charge = shop.gateway.get_charge(charge_id)
    assert charge.refunded == usd("55.75")
    assert [(r.id, r.idempotency_key) for r in charge.refunds] == [(sent.gateway_ref, queued.id)]
    assert shop.balance(REFUNDS_IN_FLIGHT) == usd("0.00")
    assert shop.balance(shop.gateway_account) == usd("0.00")
    assert [
        e.payload["amount"] for e in shop.orders.pending_events() if e.type == "refund.sent"
    ] == ["55.75 USD"]
    assert shop.cashier.send_refunds() == []  # nothing left to send
    shop.assert_books_agree()


def test_an_order_abandoned_by_its_timer_is_refunded_to_the_card(shop: Shop) -> None:
    order = shop.paid_order("20.00")
    shop.clock.advance(timedelta(days=14, minutes=1))  # no requirements in time

    shop.orders.run_due()

    assert shop.orders.get(order.id).state is OrderState.CANCELLED
    [sent] = shop.cashier.send_refunds()
    assert (sent.status, sent.amount) == (S.SUCCEEDED, usd("24.10"))
    assert shop.balance(shop.gateway_account) == usd("0.00")
    shop.assert_books_agree()


def test_a_partial_refund_the_gateway_cannot_make_becomes_buyer_credit(
    make_shop: ShopFactory,
) -> None:
    shop = make_shop(capabilities=NO_PARTIAL_REFUNDS)
    order = shop.paid_order("20.00")  # 24.10

    resolve_with_refund(shop, order.id, "12.05")
    [refused] = shop.cashier.send_refunds()

    assert (refused.status, refused.amount, refused.failure) == (
        S.FAILED,
        usd("12.05"),
        "unsupported_operation",
    )
    assert shop.orders.get(order.id).state is OrderState.RESOLVED
    assert shop.balance(shop.credit_account) == usd("12.05")
    assert shop.balance(REFUNDS_IN_FLIGHT) == usd("0.00")
    assert shop.gateway.get_charge(refused.charge_ref or "").refunded == usd("0.00")
    # The other half is released: 16.00 : 8.10 of 12.05 is 8.00 : 4.05.
    assert shop.balance(chart.seller_pending(shop.seller, "USD")) == usd("8.00")
    assert shop.balance(chart.platform_revenue("USD")) == usd("4.05")
    assert shop.balance(shop.gateway_account) == usd("-24.10")  # the card kept paying it all
    failed = [e for e in shop.orders.pending_events() if e.type == "refund.failed"]
    assert [e.payload["reason"] for e in failed] == ["unsupported_operation"]
    shop.assert_books_agree()


def test_a_partial_refund_goes_back_to_the_card_when_the_gateway_can(shop: Shop) -> None:
    order = shop.paid_order("50.00")  # 55.75

    resolve_with_refund(shop, order.id, "27.88")
    [sent] = shop.cashier.send_refunds()

    assert (sent.status, sent.amount) == (S.SUCCEEDED, usd("27.88"))
    charge = shop.gateway.get_charge(sent.charge_ref or "")
    assert (charge.refunded, charge.refundable) == (usd("27.88"), usd("27.87"))
    assert shop.balance(chart.seller_pending(shop.seller, "USD")) == usd("20.00")
    assert shop.balance(chart.platform_revenue("USD")) == usd("7.87")
    assert shop.balance(shop.gateway_account) == usd("-27.87")
    shop.assert_books_agree()


def test_an_order_paid_partly_by_credit_refunds_the_card_part_to_the_card(
    make_shop: ShopFactory,
) -> None:
    shop = make_shop(capabilities=NO_PARTIAL_REFUNDS)
    first = shop.paid_order("20.00")
    resolve_with_refund(shop, first.id, "12.05")
    shop.cashier.send_refunds()  # refused: 12.05 of credit
    assert shop.balance(shop.credit_account) == usd("12.05")
    order = shop.paid_order("50.00")  # 55.75: 12.05 of credit, 43.70 by card
    payment = shop.operations(order.id, OperationKind.PAYMENT)[-1]
    assert (payment.credit, payment.amount) == (usd("12.05"), usd("43.70"))

    shop.cancel(order.id)

    [queued] = refunds(shop, order.id)
    assert (queued.amount, queued.charge_ref) == (usd("43.70"), payment.gateway_ref)
    assert shop.balance(shop.credit_account) == usd("12.05")  # the credit part, at once
    assert shop.balance(REFUNDS_IN_FLIGHT) == usd("43.70")
    [sent] = shop.cashier.send_refunds()
    assert sent.status is S.SUCCEEDED  # the card's whole charge: no partial refund needed
    assert shop.gateway.get_charge(payment.gateway_ref or "").refunded == usd("43.70")
    assert shop.balance(shop.credit_account) == usd("12.05")
    assert shop.balance(chart.order_escrow(order.id)) == usd("0.00")
    shop.assert_books_agree()


def test_an_order_paid_entirely_by_credit_is_refunded_to_credit(make_shop: ShopFactory) -> None:
    shop = make_shop(capabilities=NO_PARTIAL_REFUNDS)
    first = shop.paid_order("100.00")  # 105.50
    resolve_with_refund(shop, first.id, "55.75")
    shop.cashier.send_refunds()  # refused: 55.75 of credit
    order = shop.paid_order("50.00")  # 55.75, all of it credit
    assert shop.balance(shop.credit_account) == usd("0.00")

    shop.cancel(order.id)

    assert refunds(shop, order.id) == []
    assert shop.balance(shop.credit_account) == usd("55.75")
    assert shop.balance(REFUNDS_IN_FLIGHT) == usd("0.00")
    assert len(shop.charges()) == 1
    shop.assert_books_agree()


def test_a_refund_the_gateway_cannot_take_now_stays_queued(shop: Shop) -> None:
    order = shop.paid_order("50.00")
    shop.cancel(order.id)
    shop.gateway.faults.on(Operation.REFUND, Fault.unavailable(), Fault.rate_limit())

    assert [op.status for op in shop.cashier.send_refunds()] == [S.QUEUED]
    report = shop.cashier.reconcile()  # tries again: rate limited this time

    [queued] = refunds(shop, order.id)
    assert queued.status is S.QUEUED
    assert report.waiting == (queued.id,)
    assert report.fixed == ()
    assert shop.gateway.get_charge(queued.charge_ref or "").refunded == usd("0.00")
    assert shop.balance(REFUNDS_IN_FLIGHT) == usd("55.75")
    shop.assert_books_agree()

    [sent] = shop.cashier.send_refunds()

    assert sent.status is S.SUCCEEDED
    assert shop.balance(REFUNDS_IN_FLIGHT) == usd("0.00")
    assert shop.balance(shop.gateway_account) == usd("0.00")
    shop.assert_books_agree()


def test_a_refund_whose_answer_was_lost_is_completed_by_reconcile_once(shop: Shop) -> None:
    order = shop.paid_order("50.00")
    shop.cancel(order.id)
    shop.gateway.faults.on(Operation.REFUND, Fault.lose_response())

    [lost] = shop.cashier.send_refunds()

    assert lost.status is S.UNKNOWN
    charge_id = lost.charge_ref or ""
    assert shop.gateway.get_charge(charge_id).refunded == usd("55.75")  # it did happen
    assert shop.balance(REFUNDS_IN_FLIGHT) == usd("55.75")  # not booked yet

    report = shop.cashier.reconcile()

    assert [(f.operation_id, f.before, f.after) for f in report.fixed] == [
        (lost.id, "unknown", "succeeded")
    ]
    charge = shop.gateway.get_charge(charge_id)
    assert len(charge.refunds) == 1
    assert charge.refunded == usd("55.75")
    assert shop.cashier.operation(lost.id).gateway_ref == charge.refunds[0].id
    assert shop.balance(REFUNDS_IN_FLIGHT) == usd("0.00")
    assert shop.balance(shop.gateway_account) == usd("0.00")
    assert shop.cashier.reconcile().clean
    shop.assert_books_agree()


def test_with_refunds_to_credit_the_buyer_keeps_the_money_and_no_refund_is_sent(
    make_shop: ShopFactory,
) -> None:
    shop = make_shop(refund_to=RefundDestination.CREDIT)
    order = shop.paid_order("50.00")

    shop.cancel(order.id)

    assert refunds(shop, order.id) == []
    assert shop.cashier.send_refunds() == []
    assert shop.balance(shop.credit_account) == usd("55.75")
    assert shop.balance(REFUNDS_IN_FLIGHT) == usd("0.00")
    assert [c.refunded for c in shop.charges()] == [usd("0.00")]
    assert shop.balance(shop.gateway_account) == usd("-55.75")
    shop.assert_books_agree()


def test_queued_refunds_are_not_starved_by_payments_left_waiting_for_their_buyers(
    shop: Shop,
) -> None:
    """``send_refunds(limit=100)`` sends up to 100 refunds; a hundred older
    checkouts whose buyers never finished 3-D Secure (their operations stay
    open for good) must not keep every refund queued."""
    for _ in range(100):
        shop.checkout(shop.place("20.00").id, "tok_requires_action")
    shop.clock.advance(timedelta(minutes=1))
    order = shop.paid_order("50.00")
    shop.cancel(order.id)

    sent = shop.cashier.send_refunds()

    assert [(op.subject, op.status, op.amount) for op in sent] == [
        (order.id, S.SUCCEEDED, usd("55.75"))
    ]
    shop.assert_books_agree()
