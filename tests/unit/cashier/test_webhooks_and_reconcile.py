"""Late answers: webhooks (verified, deduplicated, only ever moving forward) and
``reconcile`` (interrupted calls, lost answers, pending work, and its report)."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import TYPE_CHECKING, Any, NoReturn

import pytest

from gigmarket.cashier import (
    CashierPolicy,
    OperationKind,
    OperationStatus,
    PaymentOperation,
    ReconcileFix,
)
from gigmarket.errors import GatewayUnavailable, OutcomeUnknown, WebhookVerificationFailed
from gigmarket.escrow import chart
from gigmarket.gateways import Fault, Operation, PayoutStatus
from gigmarket.gateways.results import Charge
from gigmarket.money import Amount
from gigmarket.orders import OrderState, RefundDestination

if TYPE_CHECKING:
    from conftest import Shop, ShopFactory

S = OperationStatus
GRACE = CashierPolicy().reconcile_grace  # five minutes


def usd(value: str) -> Amount:
    return Amount.of(value, "USD")


class ProcessKilled(Exception):
    """The worker died in the middle of a gateway call."""


def crash(*_: Any, **__: Any) -> NoReturn:
    raise ProcessKilled


def money(shop: Shop, order_id: str) -> tuple[Amount, ...]:
    """The balances a payment for ``order_id`` moves."""
    return (
        shop.balance(shop.gateway_account),
        shop.balance(chart.order_escrow(order_id)),
        shop.balance(shop.credit_account),
        shop.held(shop.credit_account),
    )


# -- webhooks -----------------------------------------------------------------


def test_a_webhook_delivered_twice_is_applied_once(shop: Shop) -> None:
    order = shop.place("50.00")
    waiting = shop.checkout(order.id, "tok_requires_action")
    assert waiting.charge is not None
    shop.deliver_webhooks()  # requires_action: nothing new
    shop.gateway.faults.on_webhook(Fault.duplicate())
    shop.gateway.complete_action(waiting.charge.id)

    first, second = shop.deliver_webhooks()

    assert first.event == second.event
    assert (first.duplicate, [op.status for op in first.operations]) == (False, [S.SUCCEEDED])
    assert (second.duplicate, second.operations) == (True, ())
    assert shop.cashier.operation(waiting.operation.id).version == waiting.operation.version + 1
    assert money(shop, order.id) == (usd("-55.75"), usd("55.75"), usd("0.00"), usd("0.00"))
    shop.assert_books_agree()


def test_an_event_delivered_out_of_order_cannot_move_an_operation_back(shop: Shop) -> None:
    order = shop.place("50.00")
    shop.gateway.faults.on_webhook(Fault.out_of_order())  # requires_action comes last
    waiting = shop.checkout(order.id, "tok_requires_action")
    assert waiting.charge is not None
    shop.gateway.complete_action(waiting.charge.id)

    outcomes = shop.deliver_webhooks()

    assert [o.event.type for o in outcomes] == ["charge.captured", "charge.requires_action"]
    assert [[op.status for op in o.operations] for o in outcomes] == [[S.SUCCEEDED]] * 2
    assert shop.orders.get(order.id).state is OrderState.AWAITING_REQUIREMENTS
    assert money(shop, order.id) == (usd("-55.75"), usd("55.75"), usd("0.00"), usd("0.00"))
    shop.assert_books_agree()


def test_a_late_webhook_about_an_old_state_changes_nothing(shop: Shop) -> None:
    order = shop.place("50.00")
    shop.gateway.faults.on_webhook(Fault.delay(timedelta(hours=2)))  # charge.pending, late
    pending = shop.checkout(order.id, "tok_pending")
    shop.gateway.settle_pending()
    [captured] = shop.deliver_webhooks()
    assert captured.event.type == "charge.captured"
    paid = shop.cashier.operation(pending.operation.id)
    assert paid.status is S.SUCCEEDED

    shop.clock.advance(timedelta(hours=2))
    [late] = shop.deliver_webhooks()

    assert late.event.type == "charge.pending"
    assert late.operations == (paid,)  # as it was: a pending event cannot unpay it
    assert money(shop, order.id) == (usd("-55.75"), usd("55.75"), usd("0.00"), usd("0.00"))
    shop.assert_books_agree()


def test_a_tampered_webhook_is_refused_and_leaves_no_trace(shop: Shop) -> None:
    order = shop.place("50.00")
    waiting = shop.checkout(order.id, "tok_requires_action")
    assert waiting.charge is not None
    shop.deliver_webhooks()
    shop.gateway.faults.on_webhook(Fault.tamper())
    shop.gateway.complete_action(waiting.charge.id)
    [delivery] = shop.gateway.deliver_webhooks()

    with pytest.raises(WebhookVerificationFailed):
        shop.cashier.handle_webhook(delivery.payload, delivery.headers)

    event_id = json.loads(delivery.payload)["id"]
    with shop.storage() as uow:
        assert uow.idempotency.get_idempotency("gigmarket:webhook", f"sandbox:{event_id}") is None
    assert shop.cashier.operation(waiting.operation.id).status is S.PENDING
    assert shop.orders.get(order.id).state is OrderState.PENDING_PAYMENT
    assert shop.balance(chart.order_escrow(order.id)) == usd("0.00")
    # The gateway's word still arrives, by a status query.
    assert [f.after for f in shop.cashier.reconcile().fixed] == ["succeeded"]
    shop.assert_books_agree()


def test_a_refund_whose_lost_answer_is_completed_by_its_webhook(shop: Shop) -> None:
    order = shop.paid_order("50.00")
    shop.cancel(order.id)
    shop.deliver_webhooks()
    shop.gateway.faults.on(Operation.REFUND, Fault.lose_response())
    [lost] = shop.cashier.send_refunds()
    assert lost.status is S.UNKNOWN

    [refunded] = shop.deliver_webhooks()

    assert refunded.event.type == "charge.refunded"
    assert [(op.id, op.status) for op in refunded.operations] == [
        (f"pay:{order.id}:1", S.SUCCEEDED),
        (lost.id, S.SUCCEEDED),
    ]
    assert shop.balance(chart.refunds_in_flight("USD")) == usd("0.00")
    assert shop.cashier.reconcile().checked == 0
    shop.assert_books_agree()


def test_a_held_charge_is_sent_again_under_its_key_and_made_once(shop: Shop) -> None:
    """The gateway holds the request and answers nothing: reconcile cannot find
    the charge, so it sends it again under the same key. The gateway collapses
    the two: one charge, and the order is paid."""
    order = shop.place("50.00")
    shop.gateway.faults.on(Operation.CHARGE, Fault.delay(timedelta(minutes=30)))
    with pytest.raises(OutcomeUnknown):
        shop.checkout(order.id, "tok_visa")
    report = shop.cashier.reconcile()
    assert [(f.before, f.after, f.note) for f in report.fixed] == [("unknown", "succeeded", "")]
    assert shop.orders.get(order.id).state is OrderState.AWAITING_REQUIREMENTS

    shop.clock.advance(timedelta(minutes=30))  # the held first attempt never lands twice
    shop.deliver_webhooks()
    assert shop.cashier.reconcile().clean

    [charge] = shop.charges()
    assert (charge.idempotency_key, charge.captured) == (f"pay:{order.id}:1", usd("55.75"))
    assert shop.balance(chart.order_escrow(order.id)) == usd("55.75")
    assert shop.balance(shop.gateway_account) == usd("-55.75")
    shop.assert_books_agree()


def test_a_held_payout_is_sent_again_under_its_key_and_paid_once(shop: Shop) -> None:
    """A payout reconcile could not find is sent again under its key, never
    written off: written off, it could land later and pay the seller twice."""
    shop.earn("50.00")
    shop.onboard("bank_ok")
    shop.gateway.faults.on(Operation.PAYOUT, Fault.delay(timedelta(minutes=30)))
    with pytest.raises(OutcomeUnknown):
        shop.cashier.withdraw(shop.seller, usd("40.00"))
    report = shop.cashier.reconcile()
    assert [(f.before, f.after) for f in report.fixed] == [("unknown", "pending")]
    assert shop.available() == usd("0.00")

    shop.clock.advance(timedelta(days=3))  # the payout arrives
    shop.deliver_webhooks()
    shop.cashier.reconcile()

    assert [p.status for p in shop.payouts()] == [PayoutStatus.PAID]
    shop.assert_books_agree()
    assert shop.available() == usd("0.00")
    assert shop.balance(chart.payouts_in_flight("USD")) == usd("0.00")


# -- reconcile ----------------------------------------------------------------


def test_an_interrupted_payment_waits_out_the_grace_then_is_sent_again(
    make_shop: ShopFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    shop = make_shop(refund_to=RefundDestination.CREDIT)
    first = shop.paid_order("20.00")
    shop.cancel(first.id)  # 24.10 of credit
    order = shop.place("50.00")
    monkeypatch.setattr(shop.gateway, "charge", crash)
    with pytest.raises(ProcessKilled):
        shop.checkout(order.id, "tok_visa")
    monkeypatch.undo()
    [started] = shop.operations(order.id)
    assert (started.status, started.credit) == (S.STARTED, usd("24.10"))
    assert shop.held(shop.credit_account) == usd("24.10")

    shop.clock.advance(GRACE - timedelta(seconds=1))
    young = shop.cashier.reconcile()

    assert (young.checked, young.fixed, young.waiting) == (1, (), (started.id,))
    assert shop.cashier.operation(started.id).status is S.STARTED
    assert shop.gateway.find_charge(started.id) is None

    shop.clock.advance(timedelta(seconds=1))
    old = shop.cashier.reconcile()

    assert old.fixed == (
        ReconcileFix(operation_id=started.id, kind="payment", before="started", after="succeeded"),
    )
    assert old.waiting == ()
    charge = shop.gateway.find_charge(started.id)
    assert charge is not None
    assert charge.captured == usd("31.65")  # 55.75 less the 24.10 of credit
    assert shop.held(shop.credit_account) == usd("0.00")
    assert shop.balance(shop.credit_account) == usd("0.00")
    assert shop.orders.get(order.id).state is OrderState.AWAITING_REQUIREMENTS
    shop.assert_books_agree()


def test_a_payment_interrupted_after_the_gateway_charged_is_paid_by_reconcile(
    shop: Shop, monkeypatch: pytest.MonkeyPatch
) -> None:
    order = shop.place("50.00")
    charge_card = shop.gateway.charge

    def charge_then_crash(**call: Any) -> Charge:
        charge_card(**call)
        raise ProcessKilled

    monkeypatch.setattr(shop.gateway, "charge", charge_then_crash)
    with pytest.raises(ProcessKilled):
        shop.checkout(order.id, "tok_visa")
    shop.clock.advance(GRACE)

    report = shop.cashier.reconcile()

    assert [(f.before, f.after) for f in report.fixed] == [("started", "succeeded")]
    assert shop.orders.get(order.id).state is OrderState.AWAITING_REQUIREMENTS
    assert money(shop, order.id) == (usd("-55.75"), usd("55.75"), usd("0.00"), usd("0.00"))
    shop.assert_books_agree()


def test_an_interrupted_payout_is_sent_again_after_the_grace(
    shop: Shop, monkeypatch: pytest.MonkeyPatch
) -> None:
    shop.earn("50.00")
    shop.onboard("bank_ok")
    monkeypatch.setattr(shop.gateway, "payout", crash)
    with pytest.raises(ProcessKilled):
        shop.cashier.withdraw(shop.seller, usd("40.00"))
    monkeypatch.undo()
    assert shop.held(shop.available_account) == usd("40.00")
    shop.clock.advance(GRACE)

    report = shop.cashier.reconcile()

    assert [(f.kind, f.before, f.after) for f in report.fixed] == [("payout", "started", "pending")]
    assert [(p.amount, p.status) for p in shop.payouts()] == [(usd("40.00"), PayoutStatus.PENDING)]
    assert shop.balance(chart.payouts_in_flight("USD")) == usd("40.00")
    assert shop.available() == usd("0.00")
    shop.assert_books_agree()


def test_a_payee_whose_answer_was_lost_and_is_unknown_to_the_gateway_fails(
    shop: Shop,
) -> None:
    """A bank token is never kept, so a payee cannot be sent again: it fails,
    and the seller adds the account again."""
    shop.gateway.faults.on(Operation.ONBOARD_PAYEE, Fault.unavailable())
    with pytest.raises(GatewayUnavailable):
        shop.onboard("bank_ok")
    [failed] = shop.operations(shop.seller, OperationKind.PAYEE)
    assert (failed.status, failed.failure) == (S.FAILED, "gateway_unavailable")
    assert shop.cashier.payee_of(shop.seller, "USD") is None
    assert shop.onboard("bank_ok").status is S.SUCCEEDED


def test_an_interrupted_refund_is_sent_again(shop: Shop, monkeypatch: pytest.MonkeyPatch) -> None:
    order = shop.paid_order("50.00")
    shop.cancel(order.id)
    monkeypatch.setattr(shop.gateway, "refund", crash)
    with pytest.raises(ProcessKilled):
        shop.cashier.send_refunds()
    monkeypatch.undo()
    assert shop.cashier.reconcile().waiting != ()  # still within its grace
    shop.clock.advance(GRACE)

    report = shop.cashier.reconcile()

    assert [(f.kind, f.before, f.after) for f in report.fixed] == [
        ("refund", "started", "succeeded")
    ]
    assert [c.refunded for c in shop.charges()] == [usd("55.75")]
    shop.assert_books_agree()


def test_the_report_says_what_moved_what_waits_and_what_could_not_be_asked(shop: Shop) -> None:
    minute = timedelta(minutes=1)  # one operation a minute: reconcile takes the oldest first
    unasked = shop.checkout(shop.place("50.00").id, "tok_pending").operation
    shop.clock.advance(minute)
    needs_buyer = shop.checkout(shop.place("20.00").id, "tok_requires_action").operation
    shop.clock.advance(minute)
    settles = shop.checkout(shop.place("100.00").id, "tok_pending").operation
    shop.clock.advance(minute)
    cancelled = shop.paid_order("20.00")
    shop.cancel(cancelled.id)
    [refund] = shop.operations(cancelled.id, OperationKind.REFUND)
    shop.gateway.settle_pending()  # both pending charges are captured now
    shop.gateway.faults.on(Operation.GET_CHARGE, Fault.unavailable())  # the first query fails

    report = shop.cashier.reconcile()

    assert report.checked == 4
    assert report.skipped == ((unasked.id, "gateway_unavailable"),)
    assert report.fixed == (
        ReconcileFix(operation_id=settles.id, kind="payment", before="pending", after="succeeded"),
        ReconcileFix(operation_id=refund.id, kind="refund", before="queued", after="succeeded"),
    )
    assert report.waiting == (needs_buyer.id,)
    assert not report.clean

    again = shop.cashier.reconcile()

    assert [(f.operation_id, f.after) for f in again.fixed] == [(unasked.id, "succeeded")]
    assert (again.checked, again.waiting, again.skipped) == (2, (needs_buyer.id,), ())
    assert shop.cashier.reconcile().clean  # only the buyer's 3-D Secure is left
    shop.assert_books_agree()


def test_reconcile_reaches_new_operations_past_ones_that_stay_open(shop: Shop) -> None:
    """Checkouts abandoned at 3-D Secure stay pending until their orders expire;
    a charge whose answer was lost behind them is still reached and settled."""
    for _ in range(2):
        shop.checkout(shop.place("20.00").id, "tok_requires_action")
    shop.clock.advance(timedelta(minutes=1))
    order = shop.place("50.00")
    shop.gateway.faults.on(Operation.CHARGE, Fault.lose_response())
    with pytest.raises(OutcomeUnknown):
        shop.checkout(order.id, "tok_visa")

    shop.cashier.reconcile()  # walks past the two that stay open

    assert shop.orders.get(order.id).state is OrderState.AWAITING_REQUIREMENTS
    shop.assert_books_agree()


def test_a_resend_the_gateway_refuses_leaves_the_payout_unknown_not_failed(shop: Shop) -> None:
    """The resend was refused, not the first attempt, which the gateway still
    holds: writing the payout off would hand the seller money the bank pays too."""
    shop.earn("50.00")
    shop.onboard("bank_ok")
    shop.gateway.faults.on(Operation.PAYOUT, Fault.delay(timedelta(minutes=30)))
    with pytest.raises(OutcomeUnknown):
        shop.cashier.withdraw(shop.seller, usd("40.00"))
    [op] = shop.operations(shop.seller, OperationKind.PAYOUT)
    shop.gateway.faults.on(Operation.PAYOUT, Fault.unavailable())

    report = shop.cashier.reconcile()

    assert report.skipped == ((op.id, "gateway_unavailable"),)
    assert shop.cashier.operation(op.id).status is S.UNKNOWN
    assert shop.held(shop.available_account) == usd("40.00")  # still set aside

    shop.clock.advance(timedelta(days=3))  # the held first attempt goes out and arrives
    shop.cashier.reconcile()
    shop.cashier.reconcile()

    assert [p.status for p in shop.payouts()] == [PayoutStatus.PAID]
    assert shop.cashier.operation(op.id).status is S.SUCCEEDED
    assert shop.available() == usd("0.00")
    shop.assert_books_agree()


def test_operations_of_another_gateway_are_left_alone(shop: Shop) -> None:
    """This marketplace's gateway has no trace of another gateway's calls and
    would send them again: reconcile leaves them to a marketplace on theirs."""
    now = shop.clock.now() - GRACE * 2
    foreign = PaymentOperation(
        id="pay:elsewhere:1",
        kind=OperationKind.PAYMENT,
        gateway="acmepay",
        subject="elsewhere",
        amount=usd("10.00"),
        status=S.UNKNOWN,
        created_at=now,
        updated_at=now,
        source="tok_acme",
    )
    with shop.storage() as uow:
        uow.payments.add_operation(foreign)
        uow.commit()

    report = shop.cashier.reconcile()

    assert (report.checked, report.fixed, report.skipped) == (0, (), ())
    assert shop.cashier.operation(foreign.id) == foreign
    assert shop.charges() == []
