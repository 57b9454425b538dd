"""Nothing stuck for ever, timers never early, refusals without side effects.

- A charge whose first attempt timed out and whose resend the gateway refuses
  outright stays ``unknown`` (the first attempt may still land) and says why;
  what ends it: the gateway's word (a later reconcile), the order's expiry
  (its attempt fails, its buyer credit is released, a charge that turns up
  later is refunded), or an operator's recorded decision (``resolve``). What
  stays open past the policy's limit is listed by reconcile and the audit.
- ``run_due`` refuses an instant later than the clock's now.
- A checkout that is refused changes nothing, at the gateway or in the books.
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING

import pytest

from gigmarket.admin.operations import run_due
from gigmarket.cashier import OperationKind, OperationStatus, PaymentOperation
from gigmarket.cashier.audit import STUCK, Attention
from gigmarket.errors import (
    FutureInstant,
    InvalidPaymentRequest,
    OperationSettled,
    OutcomeUnknown,
    PaymentInProgress,
    TransitionNotAllowed,
    ValidationError,
)
from gigmarket.escrow import chart
from gigmarket.gateways import ChargeStatus, Fault, Operation
from gigmarket.money import Amount
from gigmarket.orders import OrderState, RefundDestination

if TYPE_CHECKING:
    from conftest import Shop, ShopFactory

S = OperationStatus
PAYMENT_WINDOW = timedelta(hours=24)
HELD = timedelta(days=2)
"""How long the gateway holds the first attempt: past the payment window."""
WEEK = timedelta(days=7)


def usd(value: str) -> Amount:
    return Amount.of(value, "USD")


def snapshot(shop: Shop) -> tuple[object, ...]:
    """Everything a refused call must leave as it was, here and at the gateway."""
    with shop.storage() as uow:
        accounts = [account.code for account in uow.ledger.accounts()]
        orders = tuple(sorted(uow.orders.orders(), key=lambda order: order.id))
        subjects = [*(order.id for order in orders), shop.seller]
        return (
            orders,
            tuple(op for subject in subjects for op in uow.payments.operations_for(subject)),
            tuple(sorted(uow.ledger.lock_balances(accounts).items())),
            tuple(entry.id for entry in uow.ledger.iter_entries()),
            tuple(hold.id for hold in uow.ledger.pending_holds()),
            len(uow.outbox.pending(10_000)),
            tuple(shop.charges()),
        )


@pytest.fixture
def credit_shop(make_shop: ShopFactory) -> Shop:
    """A shop refunding as credit, whose buyer holds 24.10 of credit (a
    cancelled 20.00 order)."""
    shop = make_shop(refund_to=RefundDestination.CREDIT)
    first = shop.paid_order("20.00")
    shop.cancel(first.id)
    shop.gateway.settle_pending()
    assert shop.balance(shop.credit_account) == usd("24.10")
    return shop


def stuck_charge(shop: Shop) -> tuple[str, PaymentOperation]:
    """An order of 50.00 paid with 24.10 of credit and 31.65 by card, whose card
    charge timed out (held at the gateway for two days) and whose resend by
    reconcile the gateway refused outright."""
    order = shop.place("50.00")
    shop.gateway.faults.on(Operation.CHARGE, Fault.delay(HELD))
    with pytest.raises(OutcomeUnknown):
        shop.checkout(order.id)
    shop.clock.advance(timedelta(minutes=10))
    shop.gateway.faults.on(Operation.CHARGE, Fault.refuse())
    report = shop.cashier.reconcile()
    (op,) = shop.operations(order.id, OperationKind.PAYMENT)
    assert report.skipped == ((op.id, "invalid_payment_request"),)
    assert (op.status, op.last_error) == (S.UNKNOWN, "invalid_payment_request")
    assert op.credit == usd("24.10")
    assert shop.held(shop.credit_account) == usd("24.10")
    return order.id, op


# -- the sandbox can refuse a call outright -------------------------------------------


def test_the_sandbox_can_refuse_a_call_outright_without_processing_it(shop: Shop) -> None:
    order = shop.place()
    shop.gateway.faults.on(Operation.CHARGE, Fault.refuse())
    with pytest.raises(InvalidPaymentRequest):
        shop.checkout(order.id)
    (op,) = shop.operations(order.id)
    assert op.status is S.FAILED
    assert shop.gateway.find_charge(op.id) is None


# -- what ends a stuck charge ------------------------------------------------------------


def test_a_refused_resend_leaves_the_charge_open_and_the_next_checkout_refused(
    credit_shop: Shop,
) -> None:
    order_id, _op = stuck_charge(credit_shop)
    before = snapshot(credit_shop)
    with pytest.raises(PaymentInProgress):
        credit_shop.checkout(order_id)
    assert snapshot(credit_shop) == before
    credit_shop.assert_books_agree()


def test_the_gateways_word_ends_it_when_it_takes_the_resend(credit_shop: Shop) -> None:
    order_id, op = stuck_charge(credit_shop)
    report = credit_shop.cashier.reconcile()  # the gateway is willing again
    done = credit_shop.cashier.operation(op.id)
    assert (done.status, done.failure) == (S.SUCCEEDED, None)
    assert [(f.before, f.after) for f in report.fixed] == [("unknown", "succeeded")]
    assert credit_shop.orders.get(order_id).state is OrderState.AWAITING_REQUIREMENTS
    assert credit_shop.held(credit_shop.credit_account) == usd("0.00")
    credit_shop.clock.advance(HELD)  # the held first attempt collapses into the resend
    credit_shop.gateway.settle_pending()
    assert len([c for c in credit_shop.charges() if c.idempotency_key == op.id]) == 1
    credit_shop.assert_books_agree()


def test_the_orders_expiry_ends_it_and_a_charge_that_lands_later_is_refunded(
    credit_shop: Shop,
) -> None:
    shop = credit_shop
    order_id, op = stuck_charge(shop)
    shop.clock.advance(PAYMENT_WINDOW)
    shop.market.run_due()  # the order expires, and its open attempt is settled
    assert shop.orders.get(order_id).state is OrderState.EXPIRED
    failed = shop.cashier.operation(op.id)
    assert failed.status is S.FAILED
    assert failed.failure == f"order {order_id} is expired: not charged again"
    assert shop.held(shop.credit_account) == usd("0.00")
    assert shop.balance(shop.credit_account) == usd("24.10")  # the credit is the buyer's again
    assert shop.balance(chart.order_escrow(order_id)) == usd("0.00")

    shop.clock.advance(HELD)  # the first attempt lands at the gateway after all
    shop.gateway.settle_pending()
    shop.deliver_webhooks()
    (charge,) = [c for c in shop.charges() if c.idempotency_key == op.id]
    assert charge.status is ChargeStatus.CAPTURED
    give_back = shop.cashier.operation(f"refund:{op.id}")
    assert (give_back.status, give_back.amount) == (S.QUEUED, usd("31.65"))
    shop.cashier.reconcile()
    assert shop.cashier.operation(give_back.id).status is S.SUCCEEDED
    assert shop.gateway.get_charge(charge.id).refunded == usd("31.65")
    assert not shop.open_operations()
    shop.assert_books_agree()


def test_the_run_due_job_settles_the_charges_of_the_orders_it_expires(credit_shop: Shop) -> None:
    """``gigmarket run-due --gateway ...`` does what ``Marketplace.run_due`` does."""
    order_id, op = stuck_charge(credit_shop)
    credit_shop.clock.advance(PAYMENT_WINDOW)
    summary = run_due(
        credit_shop.storage,
        policy=credit_shop.market.policy,
        gateway=credit_shop.gateway,
        clock=credit_shop.clock,
    )
    assert summary.outcomes()["expire"] == 1
    assert credit_shop.cashier.operation(op.id).status is S.FAILED
    assert credit_shop.held(credit_shop.credit_account) == usd("0.00")
    assert credit_shop.orders.get(order_id).state is OrderState.EXPIRED
    credit_shop.assert_books_agree()


def test_reconcile_does_not_charge_again_for_an_order_that_expired(credit_shop: Shop) -> None:
    """Without ``run_due``'s help (another worker expired the order), reconcile
    ends the attempt the same way rather than charging an expired order."""
    _order_id, op = stuck_charge(credit_shop)
    credit_shop.clock.advance(PAYMENT_WINDOW)
    credit_shop.orders.run_due()
    report = credit_shop.cashier.reconcile()
    assert [(f.operation_id, f.after) for f in report.fixed] == [(op.id, "failed")]
    assert credit_shop.gateway.find_charge(op.id) is None  # nothing sent again
    assert credit_shop.held(credit_shop.credit_account) == usd("0.00")
    credit_shop.assert_books_agree()


def test_an_expired_orders_charge_waiting_for_3ds_is_cancelled_when_it_expires(
    shop: Shop,
) -> None:
    order = shop.place()
    waiting = shop.checkout(order.id, "tok_requires_action")
    assert waiting.charge is not None
    shop.clock.advance(PAYMENT_WINDOW)
    shop.market.run_due()
    assert shop.gateway.get_charge(waiting.charge.id).status is ChargeStatus.CANCELLED
    assert shop.cashier.operation(waiting.operation.id).status is S.FAILED
    assert not shop.open_operations()
    shop.assert_books_agree()


# -- an operator's decision ----------------------------------------------------------------


def test_an_operator_decides_a_stuck_charge_failed(credit_shop: Shop) -> None:
    shop = credit_shop
    order_id, op = stuck_charge(shop)
    decided = shop.cashier.resolve(
        op.id, outcome="failed", reason="no such charge in the dashboard", operator="ana"
    )
    assert decided.status is S.FAILED
    assert (decided.resolved_by, decided.resolved_at) == ("ana", shop.clock.now())
    assert decided.resolution == "no such charge in the dashboard"
    assert decided.failure == "decided by ana"
    assert shop.cashier.operation(op.id) == decided
    assert shop.held(shop.credit_account) == usd("0.00")
    resolved = [e for e in shop.market.events(1000) if e.type == "payment.resolved"]
    assert [(e.order_id, e.payload["operator"], e.payload["outcome"]) for e in resolved] == [
        (order_id, "ana", "failed")
    ]
    # the order can be paid again, by another attempt
    assert shop.checkout(order_id).paid
    shop.assert_books_agree()


def test_a_decision_on_a_settled_operation_is_refused_and_changes_nothing(
    credit_shop: Shop,
) -> None:
    _, op = stuck_charge(credit_shop)
    credit_shop.cashier.resolve(op.id, outcome="failed", reason="gone", operator="ana")
    before = snapshot(credit_shop)
    with pytest.raises(OperationSettled) as refused:
        credit_shop.cashier.resolve(op.id, outcome="succeeded", reason="x", operator="bo")
    assert (refused.value.operation_id, refused.value.status) == (op.id, "failed")
    assert snapshot(credit_shop) == before


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"outcome": "maybe"}, "outcome"),
        ({"reason": "  "}, "reason"),
        ({"operator": ""}, "operator"),
        ({"outcome": "succeeded"}, "reference"),  # a charge made has an id at the gateway
    ],
)
def test_an_incomplete_decision_is_refused_and_changes_nothing(
    credit_shop: Shop, changes: dict[str, str], field: str
) -> None:
    _, op = stuck_charge(credit_shop)
    before = snapshot(credit_shop)
    decision = {"outcome": "failed", "reason": "seen", "operator": "ana", **changes}
    with pytest.raises(ValidationError) as refused:
        credit_shop.cashier.resolve(op.id, **decision)
    assert refused.value.field == field
    assert snapshot(credit_shop) == before


def test_an_operator_decides_a_charge_succeeded_and_the_order_is_paid(
    credit_shop: Shop,
) -> None:
    shop = credit_shop
    order_id, op = stuck_charge(shop)
    shop.clock.advance(HELD)  # the operator finds the first attempt captured
    (charge,) = [c for c in shop.charges() if c.idempotency_key == op.id]
    assert charge.status is ChargeStatus.CAPTURED
    decided = shop.cashier.resolve(
        op.id,
        outcome="succeeded",
        reason="captured in the dashboard",
        operator="ana",
        reference=charge.id,
    )
    assert (decided.status, decided.gateway_ref, decided.failure) == (S.SUCCEEDED, charge.id, None)
    assert shop.orders.get(order_id).state is OrderState.AWAITING_REQUIREMENTS
    assert shop.orders.get(order_id).payment_reference == charge.id
    assert shop.held(shop.credit_account) == usd("0.00")
    shop.deliver_webhooks()  # the gateway's own word, later, changes nothing more
    assert shop.cashier.operation(op.id) == decided
    shop.assert_books_agree()


def test_an_operator_decides_a_lost_payout_failed_and_the_seller_has_the_money_again(
    shop: Shop,
) -> None:
    shop.earn("50.00")
    shop.onboard()
    shop.gateway.faults.on(Operation.PAYOUT, Fault.refuse())
    with pytest.raises(InvalidPaymentRequest):
        shop.cashier.withdraw(shop.seller, usd("40.00"))
    # refused outright at once: the withdrawal failed and the money is back
    assert shop.available() == usd("40.00")
    shop.gateway.faults.on(Operation.PAYOUT, Fault.delay(HELD))
    with pytest.raises(OutcomeUnknown):
        shop.cashier.withdraw(shop.seller, usd("40.00"))
    (op,) = [o for o in shop.operations(shop.seller, OperationKind.PAYOUT) if o.is_open]
    assert shop.available() == usd("0.00")
    decided = shop.cashier.resolve(
        op.id, outcome="failed", reason="the bank returned it", operator="ana"
    )
    assert decided.status is S.FAILED
    assert shop.available() == usd("40.00")


# -- what needs a person is reported ----------------------------------------------------------


def test_reconcile_and_the_audit_list_what_stays_open_past_the_limit(credit_shop: Shop) -> None:
    shop = credit_shop
    completed = shop.paid_order("20.00")
    shop.complete(completed.id)
    shop.gateway.faults.on(Operation.CHARGE, Fault.delay(timedelta(days=30)))
    with pytest.raises(OutcomeUnknown):
        shop.cashier.tip(completed.id, usd("5.00"), buyer_id=shop.buyer, source="tok_visa")
    (tip,) = shop.operations(completed.id, OperationKind.TIP)

    def refused_reconcile() -> list[Attention]:
        shop.gateway.faults.on(Operation.CHARGE, Fault.refuse())
        return list(shop.cashier.reconcile().attention)

    def stuck() -> list[str]:
        return [v.message for v in shop.market.audit() if v.invariant == STUCK]

    shop.clock.advance(timedelta(days=6))
    assert refused_reconcile() == []
    assert stuck() == []
    shop.clock.advance(timedelta(days=2))
    (attention,) = refused_reconcile()
    assert (attention.operation_id, attention.status) == (tip.id, "unknown")
    assert "invalid_payment_request" in attention.why
    assert "gigmarket payments resolve" in attention.why
    assert stuck() == [attention.line]
    shop.cashier.resolve(tip.id, outcome="failed", reason="not in the dashboard", operator="ana")
    assert stuck() == []
    shop.assert_books_agree()


# -- timers never early ---------------------------------------------------------------------


def test_the_marketplace_refuses_to_run_timers_as_of_a_future_instant(shop: Shop) -> None:
    order = shop.place()
    later = shop.clock.now() + PAYMENT_WINDOW
    with pytest.raises(FutureInstant) as refused:
        shop.market.run_due(later)
    assert (refused.value.instant, refused.value.now, refused.value.field) == (
        later,
        shop.clock.now(),
        "now",
    )
    assert shop.orders.get(order.id).state is OrderState.PENDING_PAYMENT
    assert shop.market.run_due(shop.clock.now()).count == 0  # now itself is fine
    shop.clock.set(later)
    assert [outcome for _, _, outcome in shop.market.run_due().executed] == ["expire"]


def test_the_order_desk_refuses_a_future_instant_and_takes_a_past_one(shop: Shop) -> None:
    order = shop.paid_order()
    shop.start_work(order.id)
    shop.orders.deliver(order.id, seller_id=shop.seller)
    delivered = shop.clock.now()
    with pytest.raises(FutureInstant):
        shop.orders.run_due(delivered + timedelta(days=3))  # would auto-complete early
    assert shop.orders.get(order.id).state is OrderState.DELIVERED
    shop.clock.advance(timedelta(days=30))
    # a worker catching up to an earlier moment runs only what was due by then
    assert shop.orders.run_due(delivered + timedelta(days=1)).count == 0
    run = shop.orders.run_due(delivered + timedelta(days=3))
    assert [outcome for _, _, outcome in run.executed] == ["auto_complete"]
    # earnings clear 14 days after completion, not before, whatever is asked
    cleared = [o for _, _, o in shop.orders.run_due(delivered + timedelta(days=16)).executed]
    assert "cleared" not in cleared


# -- a refused checkout changes nothing --------------------------------------------------------


def test_paying_an_expired_order_refuses_before_cancelling_its_waiting_charge(
    shop: Shop,
) -> None:
    order = shop.place()
    waiting = shop.checkout(order.id, "tok_requires_action")
    assert waiting.charge is not None
    shop.clock.advance(PAYMENT_WINDOW)
    shop.orders.run_due()  # expired; nobody reconciled yet
    before = snapshot(shop)
    with pytest.raises(TransitionNotAllowed):
        shop.checkout(order.id)
    assert snapshot(shop) == before
    assert shop.gateway.get_charge(waiting.charge.id).status is ChargeStatus.REQUIRES_ACTION
    assert shop.cashier.operation(waiting.operation.id).status is S.PENDING


def test_a_checkout_blocked_by_an_attempt_under_way_cancels_no_waiting_charge(
    shop: Shop,
) -> None:
    order = shop.place()
    waiting = shop.checkout(order.id, "tok_requires_action")
    assert waiting.charge is not None
    # the buyer passes 3-D Secure; the webhook has not arrived yet
    shop.gateway.complete_action(waiting.charge.id, succeed=True)
    before = snapshot(shop)
    with pytest.raises(PaymentInProgress) as refused:
        shop.checkout(order.id, "tok_visa")
    assert refused.value.operation_id == waiting.operation.id
    assert snapshot(shop) == before
    assert shop.gateway.get_charge(waiting.charge.id).status is ChargeStatus.CAPTURED


def test_a_checkout_of_another_buyer_cancels_nothing(shop: Shop) -> None:
    order = shop.place()
    waiting = shop.checkout(order.id, "tok_requires_action")
    assert waiting.charge is not None
    before = snapshot(shop)
    with pytest.raises(TransitionNotAllowed):
        shop.cashier.checkout(order.id, buyer_id=shop.other_buyer, source="tok_visa")
    assert snapshot(shop) == before
