"""The order desk's commands one by one: their rules, their bad inputs, their timers.

A refused command raises a domain error and changes nothing stored; each
test that refuses something compares a snapshot of the whole store before
and after.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import attrs
import pytest
from moneyed import Money

from gigmarket.errors import (
    AmountOutOfRange,
    CurrencyMismatch,
    GuardFailed,
    IdempotencyConflict,
    PaymentMismatch,
    ReviewNotAllowed,
    TransitionNotAllowed,
    ValidationError,
    WrongActor,
)
from gigmarket.escrow import chart
from gigmarket.money import Amount
from gigmarket.orders import (
    Actor,
    DisputeResolution,
    Offer,
    Order,
    OrderState,
    RefundDestination,
    ScheduledAction,
    fiverr_policy,
)
from tests.unit.orders.helpers import (
    ANSWERS,
    BUYER_ID,
    SELLER_ID,
    STATES,
    STRANGER_ID,
    World,
    WorldFactory,
    make_offer,
    usd,
)

SECOND = timedelta(seconds=1)


def refused(world: World, error: type[Exception], command: Any, *args: Any, **kwargs: Any) -> Any:
    """Run a command that must be refused with ``error``; nothing may change."""
    before = world.snapshot()
    with pytest.raises(error) as caught:
        command(*args, **kwargs)
    assert world.snapshot() == before, "a refused command changed what is stored"
    return caught.value


def completed(world: World) -> Order:
    order = world.drive("completed")
    assert order.completed_at is not None
    return order


# -- reviews ----------------------------------------------------------------------


def test_the_buyer_reviews_first_and_both_stay_hidden_until_both_are_in(world: World) -> None:
    order = completed(world)
    desk = world.desk
    world.advance(timedelta(days=1))
    mine = desk.review(
        order.id,
        by=Actor.BUYER,
        account_id=BUYER_ID,
        rating=5,
        sub_ratings={"communication": 5, "quality": 4},
        text="Lovely logo.",
    )
    assert mine.published_at is None
    assert mine.subject_id == SELLER_ID
    assert mine.sub_ratings == (("communication", 5), ("quality", 4))
    assert desk.reviews(order.id) == []
    assert desk.reviews(order.id, include_hidden=True) == [mine]

    world.advance(timedelta(days=1))
    theirs = desk.review(order.id, by=Actor.SELLER, account_id=SELLER_ID, rating=4, text="Clear.")
    assert theirs.published_at == world.clock.now()
    assert theirs.subject_id == BUYER_ID
    published = desk.reviews(order.id)
    assert [(r.author, r.rating, r.published_at) for r in published] == [
        (Actor.BUYER, 5, world.clock.now()),
        (Actor.SELLER, 4, world.clock.now()),
    ]
    assert world.event_types(order.id)[-4:] == [
        "review.submitted",
        "review.submitted",
        "review.published",
        "review.published",
    ]
    # the window's end finds nothing left to publish
    world.run_due_at(order.completed_at + timedelta(days=14))
    assert world.event_types(order.id).count("review.published") == 2
    assert desk.reviews(order.id) == published


def test_the_seller_cannot_review_first(world: World) -> None:
    order = completed(world)
    error = refused(
        world,
        ReviewNotAllowed,
        world.desk.review,
        order.id,
        by=Actor.SELLER,
        account_id=SELLER_ID,
        rating=5,
    )
    assert error.order_id == order.id
    assert error.author == "seller"


def test_the_window_end_publishes_the_buyers_review_alone(world: World) -> None:
    order = completed(world)
    assert order.completed_at is not None
    world.desk.review(order.id, by=Actor.BUYER, account_id=BUYER_ID, rating=2, text="Late.")
    ends = order.completed_at + timedelta(days=14)
    assert world.run_due_at(ends - SECOND).count == 0
    assert world.desk.reviews(order.id) == []
    assert world.run_due_at(ends).executed[0][2] == "published"
    [review] = world.desk.reviews(order.id)
    assert (review.author, review.published_at) == (Actor.BUYER, ends)

    world.clock.set(ends)
    refused(
        world,
        ReviewNotAllowed,
        world.desk.review,
        order.id,
        by=Actor.SELLER,
        account_id=SELLER_ID,
        rating=5,
    )


def test_a_review_at_the_very_end_of_the_window_is_refused(world: World) -> None:
    """Regression: the window is [completed, completed + 14 days). A review
    accepted at the instant the publishing timer ran would stay hidden for good."""
    order = completed(world)
    assert order.completed_at is not None
    ends = order.completed_at + timedelta(days=14)
    world.run_due_at(ends)
    world.clock.set(ends)
    refused(
        world,
        ReviewNotAllowed,
        world.desk.review,
        order.id,
        by=Actor.BUYER,
        account_id=BUYER_ID,
        rating=5,
    )


def test_a_review_just_before_the_end_is_published_at_the_end(world: World) -> None:
    order = completed(world)
    assert order.completed_at is not None
    ends = order.completed_at + timedelta(days=14)
    world.clock.set(ends - SECOND)
    world.desk.review(order.id, by=Actor.BUYER, account_id=BUYER_ID, rating=5)
    world.run_due_at(ends)
    assert [r.published_at for r in world.desk.reviews(order.id)] == [ends]


def test_one_review_per_side(world: World) -> None:
    order = completed(world)
    world.desk.review(order.id, by=Actor.BUYER, account_id=BUYER_ID, rating=5)
    world.desk.review(order.id, by=Actor.SELLER, account_id=SELLER_ID, rating=5)
    for by, account in ((Actor.BUYER, BUYER_ID), (Actor.SELLER, SELLER_ID)):
        refused(
            world,
            ReviewNotAllowed,
            world.desk.review,
            order.id,
            by=by,
            account_id=account,
            rating=1,
        )


@pytest.mark.parametrize(
    ("by", "account"),
    [
        pytest.param(Actor.BUYER, STRANGER_ID, id="stranger-as-buyer"),
        pytest.param(Actor.SELLER, BUYER_ID, id="buyer-as-seller"),
        pytest.param(Actor.OPERATOR, "ops", id="operator"),
        pytest.param(Actor.SYSTEM, "", id="system"),
    ],
)
def test_only_the_parties_review(world: World, by: Actor, account: str) -> None:
    order = completed(world)
    refused(
        world, ReviewNotAllowed, world.desk.review, order.id, by=by, account_id=account, rating=5
    )


@pytest.mark.parametrize("state", [s for s in STATES if s != "completed"])
def test_no_review_on_an_order_that_was_not_completed(make_world: WorldFactory, state: str) -> None:
    world = make_world()
    order = world.drive(state)
    error = refused(
        world,
        ReviewNotAllowed,
        world.desk.review,
        order.id,
        by=Actor.BUYER,
        account_id=BUYER_ID,
        rating=5,
    )
    assert "not completed" in str(error)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        pytest.param({"rating": 0}, "rating", id="zero"),
        pytest.param({"rating": 6}, "rating", id="six"),
        pytest.param({"rating": True}, "rating", id="bool"),
        pytest.param({"rating": "5"}, "rating", id="string"),
        pytest.param({"rating": 4.5}, "rating", id="float"),
        pytest.param({"sub_ratings": {"quality": 0}}, "sub_ratings.quality", id="sub-zero"),
        pytest.param({"sub_ratings": {"quality": False}}, "sub_ratings.quality", id="sub-bool"),
        pytest.param(
            {"sub_ratings": {f"r{i}": 5 for i in range(6)}}, "sub_ratings", id="six-sub-ratings"
        ),
        pytest.param({"sub_ratings": {"": 5}}, "sub_ratings", id="unnamed-sub-rating"),
        pytest.param({"text": "x" * 5001}, "text", id="text-too-long"),
        pytest.param({"text": None}, "text", id="text-none"),
    ],
)
def test_bad_reviews(world: World, kwargs: dict[str, Any], field: str) -> None:
    order = completed(world)
    review = {"by": Actor.BUYER, "account_id": BUYER_ID, "rating": 5, **kwargs}
    error = refused(world, ValidationError, world.desk.review, order.id, **review)
    assert error.field == field


def test_a_review_of_exactly_5000_characters_is_fine(world: World) -> None:
    order = completed(world)
    review = world.desk.review(
        order.id, by=Actor.BUYER, account_id=BUYER_ID, rating=1, text="x" * 5000
    )
    assert len(review.text) == 5000


# -- tips ------------------------------------------------------------------------------


def tip(world: World, order: Order, amount: Amount | Money, **kwargs: Any) -> Order:
    arguments = {"buyer_id": BUYER_ID, "payment_reference": "tip_1", **kwargs}
    return world.desk.tip(order.id, amount, **arguments)


@pytest.mark.parametrize("state", [s for s in STATES if s != "completed"])
def test_no_tip_before_completion(make_world: WorldFactory, state: str) -> None:
    world = make_world()
    order = world.drive(state)
    error = refused(world, TransitionNotAllowed, tip, world, order, usd("10.00"))
    assert type(error) is TransitionNotAllowed
    assert (error.action, error.state, error.actor) == ("tip", order.state.value, "buyer")


@pytest.mark.parametrize(
    ("amount", "kwargs", "error"),
    [
        pytest.param(usd("10.00"), {"buyer_id": STRANGER_ID}, WrongActor, id="not-the-buyer"),
        pytest.param(usd("10.00"), {"buyer_id": SELLER_ID}, WrongActor, id="the-seller"),
        pytest.param(Amount.of("10.00", "EUR"), {}, CurrencyMismatch, id="other-currency"),
        pytest.param(usd("0.00"), {}, AmountOutOfRange, id="zero"),
        pytest.param(usd("-1.00"), {}, AmountOutOfRange, id="negative"),
        pytest.param(usd("10.00"), {"payment_reference": ""}, ValidationError, id="no-reference"),
    ],
)
def test_bad_tips(
    world: World, amount: Amount, kwargs: dict[str, Any], error: type[Exception]
) -> None:
    order = completed(world)
    refused(world, error, tip, world, order, amount, **kwargs)


def test_a_tip_in_py_moneyed_money_and_to_a_top_rated_seller(make_world: WorldFactory) -> None:
    world = make_world(top_rated=lambda seller_id: True)
    order = completed(world)
    at = world.clock.now()
    order = tip(world, order, Money("2.50", "USD"))
    # 20% of 2.50 is 0.50; the seller keeps 2.00, cleared 7 days later
    assert order.settlement.seller_net == 4000 + 200
    assert order.settlement.platform_fees == 1575 + 50
    assert ("clear", at + timedelta(days=7)) in world.pending_timers(order.id)
    world.assert_books_balance()


def test_a_tip_replayed_with_its_reference_is_counted_once(world: World) -> None:
    """Regression: the ledger replayed its legs, but the order counted the
    tip again and armed a second clearance, which later failed for want of
    money and blocked every timer behind it."""
    order = tip(world, completed(world), usd("10.00"))
    before = world.snapshot()
    assert tip(world, order, usd("10.00")) == order
    assert world.snapshot() == before
    world.assert_books_balance()
    refused(world, IdempotencyConflict, tip, world, order, usd("12.00"))
    world.advance(timedelta(days=15))
    assert [outcome for _, _, outcome in world.desk.run_due().executed] == [
        "published",
        "cleared",
        "cleared",
    ]
    assert world.balance(chart.seller_available(SELLER_ID, "USD")) == usd("48.00")


def test_two_tips_with_two_references(world: World) -> None:
    order = tip(world, completed(world), usd("10.00"))
    order = tip(world, order, usd("5.00"), payment_reference="tip_2")
    assert order.tips == 1500
    assert world.balance(chart.seller_pending(SELLER_ID, "USD")) == usd("52.00")
    world.assert_books_balance()


# -- paying ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "amount",
    [
        pytest.param(usd("55.74"), id="a-cent-short"),
        pytest.param(usd("50.00"), id="without-the-fee"),
        pytest.param(Amount.of("55.75", "EUR"), id="other-currency"),
        pytest.param(Money("55.75", "GBP"), id="other-currency-as-money"),
    ],
)
def test_a_payment_of_the_wrong_amount_or_currency_is_refused(
    world: World, amount: Amount | Money
) -> None:
    order = world.place()
    error = refused(
        world,
        PaymentMismatch,
        world.desk.record_payment,
        order.id,
        amount,
        reference=f"ch_{order.id}",
    )
    assert (error.order_id, error.expected) == (order.id, "55.75 USD")
    assert world.escrow_of(order) is None


def test_a_payment_needs_its_reference(world: World) -> None:
    order = world.place()
    error = refused(
        world, ValidationError, world.desk.record_payment, order.id, usd("55.75"), reference=""
    )
    assert error.field == "reference"


def test_a_payment_replayed_with_its_reference_returns_the_order(world: World) -> None:
    order = world.pay(world.place())
    before = world.snapshot()
    assert world.desk.record_payment(order.id, usd("55.75"), reference=f"ch_{order.id}") == order
    assert (
        world.desk.record_payment(order.id, Money("55.75", "USD"), reference=f"ch_{order.id}")
        == order
    )
    assert world.snapshot() == before


def test_a_payment_replayed_after_a_tip_still_returns_the_order(world: World) -> None:
    """Regression: the replay compared the amount with ``charged``, which tips raise."""
    order = tip(world, completed(world), usd("10.00"))
    before = world.snapshot()
    assert world.desk.record_payment(order.id, usd("55.75"), reference=f"ch_{order.id}") == order
    assert world.snapshot() == before


def test_a_second_payment_under_another_reference_is_refused(world: World) -> None:
    order = world.pay(world.place())
    error = refused(
        world,
        TransitionNotAllowed,
        world.desk.record_payment,
        order.id,
        usd("55.75"),
        reference="ch_2",
    )
    assert (error.action, error.state, error.actor) == ("pay", "awaiting_requirements", "system")


def test_paying_funds_escrow_and_arms_the_requirements_timer(world: World) -> None:
    order = world.pay(world.place())
    assert order.paid_at == world.clock.now()
    assert (order.charged, order.held, order.payment_reference) == (5575, 5575, f"ch_{order.id}")
    assert world.escrow_of(order) == usd("55.75")
    assert world.pending_timers(order.id) == [("abandon", world.clock.now() + timedelta(days=14))]
    assert world.event_types(order.id) == ["order.placed", "order.paid"]


# -- requirements ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("answers", "field"),
    [
        pytest.param({"style": "flat"}, "answers.brand", id="missing-required"),
        pytest.param({**ANSWERS, "colour": "red"}, "answers.colour", id="unknown-question"),
        pytest.param({"brand": "Acme", "style": "watercolour"}, "answers.style", id="not-a-choice"),
        pytest.param({"brand": "  ", "style": "flat"}, "answers.brand", id="blank"),
        pytest.param({"brand": "A\x00", "style": "flat"}, "answers.brand", id="unprintable"),
        pytest.param({"brand": 7, "style": "flat"}, "answers.brand", id="not-text"),
        pytest.param(["brand"], "answers", id="not-a-mapping"),
    ],
)
def test_bad_requirements(world: World, answers: Any, field: str) -> None:
    order = world.pay(world.place())
    error = refused(
        world,
        ValidationError,
        world.desk.submit_requirements,
        order.id,
        buyer_id=BUYER_ID,
        answers=answers,
    )
    assert error.field == field


def test_requirements_start_the_clock(world: World) -> None:
    order = world.pay(world.place())
    order = world.start(order, {"style": "3d", "brand": "Acme"})
    now = world.clock.now()
    assert order.answers == (("brand", "Acme"), ("style", "3d"))
    assert (order.started_at, order.due_at) == (now, now + timedelta(days=3))
    assert world.pending_timers(order.id) == [("abandon", now + timedelta(days=33))]


# -- placing ------------------------------------------------------------------------------


def _offer(**changes: Any) -> Offer:
    return attrs.evolve(make_offer(), **changes)


@pytest.mark.parametrize(
    ("offer", "buyer_id", "field"),
    [
        pytest.param(make_offer(), SELLER_ID, "buyer_id", id="buyer-is-seller"),
        pytest.param(make_offer(), "", "buyer_id", id="empty-buyer"),
        pytest.param(make_offer(), None, "buyer_id", id="no-buyer"),
        pytest.param({"gig": "g"}, BUYER_ID, "offer", id="not-an-offer"),
    ],
)
def test_bad_orders(world: World, offer: Any, buyer_id: Any, field: str) -> None:
    error = refused(world, ValidationError, world.desk.place, offer, buyer_id=buyer_id)
    assert error.field == field


@pytest.mark.parametrize("quantity", [0, 101, True, -1, 10**30, "2"])
def test_an_offer_refuses_a_quantity_out_of_bounds(quantity: Any) -> None:
    """An offer checks its own quantity when it is built (1 to 100), so no
    order can be placed with a quantity the desk would refuse."""
    with pytest.raises(ValidationError) as refused:
        _offer(quantity=quantity)
    assert refused.value.field == "quantity"


def test_quantity_multiplies_the_price(world: World) -> None:
    order = world.place(_offer(quantity=2))
    assert order.price.subtotal == usd("100.00")
    assert order.price.total_charged == usd("105.50")  # no small-order fee at 100.00


def test_place_is_idempotent_by_key(world: World) -> None:
    first = world.desk.place(make_offer(), buyer_id=BUYER_ID, idempotency_key="cart-1")
    before = world.snapshot()
    assert world.desk.place(make_offer(), buyer_id=BUYER_ID, idempotency_key="cart-1") == first
    assert world.snapshot() == before
    refused(
        world,
        IdempotencyConflict,
        world.desk.place,
        make_offer("60.00"),
        buyer_id=BUYER_ID,
        idempotency_key="cart-1",
    )


def test_an_unpaid_order_expires(world: World) -> None:
    order = world.place()
    assert world.pending_timers(order.id) == [("expire", world.clock.now() + timedelta(hours=24))]
    assert world.run_due_at(order.placed_at + timedelta(hours=24) - SECOND).count == 0
    world.run_due_at(order.placed_at + timedelta(hours=24))
    order = world.desk.get(order.id)
    assert order.state is OrderState.EXPIRED
    assert order.closed_at == order.placed_at + timedelta(hours=24)
    assert world.escrow_of(order) is None
    assert world.event_types(order.id) == ["order.placed", "order.expired"]
    refused(
        world,
        TransitionNotAllowed,
        world.desk.record_payment,
        order.id,
        usd("55.75"),
        reference="ch_late",
    )


# -- mutual cancellation --------------------------------------------------------------------


def test_silence_for_48_hours_accepts_a_cancellation(world: World) -> None:
    order = world.drive("cancellation_requested_by_buyer")
    asked = world.clock.now()
    assert order.cancellation is not None
    assert order.cancellation.requested_by is Actor.BUYER
    assert world.pending_timers(order.id) == [("accept_cancellation", asked + timedelta(hours=48))]
    assert world.run_due_at(asked + timedelta(hours=48) - SECOND).count == 0
    world.run_due_at(asked + timedelta(hours=48))
    order = world.desk.get(order.id)
    assert order.state is OrderState.CANCELLED
    assert order.cancellation is None
    assert order.settlement.refunded == 5575
    assert world.escrow_of(order) == usd("0")
    assert world.balance(chart.buyer_credit(BUYER_ID, "USD")) == usd("55.75")
    assert world.event_types(order.id)[-3:] == [
        "order.cancellation_requested",
        "money.refunded",
        "order.cancelled",
    ]
    world.assert_books_balance()


def test_the_other_party_accepts(world: World) -> None:
    order = world.drive("cancellation_requested_by_seller")
    order = world.desk.respond_to_cancellation(
        order.id, by=Actor.BUYER, account_id=BUYER_ID, accept=True
    )
    assert order.state is OrderState.CANCELLED
    assert world.balance(chart.buyer_credit(BUYER_ID, "USD")) == usd("55.75")
    world.assert_books_balance()


def test_refunds_can_go_back_to_the_card(make_world: WorldFactory) -> None:
    world = make_world(fiverr_policy(refund_to=RefundDestination.GATEWAY))
    order = world.drive("cancelled")
    assert world.balance(chart.buyer_credit(BUYER_ID, "USD")) is None
    assert world.balance(chart.gateway("sandbox", "USD")) == usd("0")
    assert order.settlement.refunded == 5575
    world.assert_books_balance()


@pytest.mark.parametrize("resume", ["awaiting_requirements", "in_progress", "delivered"])
@pytest.mark.parametrize("answer", ["decline", "withdraw"])
def test_a_declined_or_withdrawn_request_returns_to_where_it_was(
    make_world: WorldFactory, resume: str, answer: str
) -> None:
    world = make_world()
    order = world.drive("cancellation_requested_by_buyer", resume=resume)
    assert order.cancellation is not None
    assert order.cancellation.resume_state is OrderState(resume)
    world.advance(timedelta(hours=47))
    if answer == "decline":
        order = world.desk.respond_to_cancellation(
            order.id, by=Actor.SELLER, account_id=SELLER_ID, accept=False
        )
    else:
        order = world.desk.withdraw_cancellation(order.id, by=Actor.BUYER, account_id=BUYER_ID)
    assert order.state is OrderState(resume)
    assert order.cancellation is None
    event = "order.cancellation_declined" if answer == "decline" else "order.cancellation_withdrawn"
    assert world.event_types(order.id)[-1] == event
    # the silence timer is retired; the resumed state's own timer is armed again
    timers = world.desk.timers(order.id)
    silence = [t for t in timers if t.action == "accept_cancellation"]
    assert [t.outcome for t in silence] == [f"superseded by {answer}_cancellation"]
    pending = [action for action, _ in world.pending_timers(order.id)]
    assert (
        pending
        == {
            "awaiting_requirements": ["abandon"],
            "in_progress": ["abandon"],
            "delivered": ["auto_complete"],
        }[resume]
    )
    assert world.run_due_at(world.clock.now() + timedelta(hours=2)).count == 0
    assert world.desk.get(order.id).state is OrderState(resume)
    assert world.escrow_of(order) == usd("55.75")


def test_a_declined_request_keeps_the_late_timer_anchored_to_the_due_date(world: World) -> None:
    order = world.drive("cancellation_requested_by_seller")
    assert order.due_at is not None
    order = world.desk.respond_to_cancellation(
        order.id, by=Actor.BUYER, account_id=BUYER_ID, accept=False
    )
    assert world.pending_timers(order.id) == [("abandon", order.due_at + timedelta(days=30))]


def test_a_cancellation_reason_is_short_text(world: World) -> None:
    order = world.drive("in_progress")
    error = refused(
        world,
        ValidationError,
        world.desk.request_cancellation,
        order.id,
        by=Actor.BUYER,
        account_id=BUYER_ID,
        reason="x" * 1001,
    )
    assert error.field == "reason"


def test_a_dispute_replaces_a_pending_cancellation_request(world: World) -> None:
    order = world.drive("cancellation_requested_by_buyer")
    order = world.desk.open_dispute(order.id, by=Actor.SELLER, account_id=SELLER_ID)
    assert order.state is OrderState.DISPUTED
    assert (order.cancellation, order.dispute_opened_by) == (None, Actor.SELLER)


# -- late orders ----------------------------------------------------------------------------


def test_the_buyer_may_cancel_a_late_order_with_a_full_refund(world: World) -> None:
    order = world.drive("in_progress")
    assert order.due_at is not None
    world.clock.set(order.due_at)
    error = refused(world, GuardFailed, world.desk.cancel_late, order.id, buyer_id=BUYER_ID)
    assert "not late" in error.reason
    world.clock.set(order.due_at + SECOND)
    order = world.desk.cancel_late(order.id, buyer_id=BUYER_ID)
    assert order.state is OrderState.CANCELLED
    assert order.settlement.refunded == 5575
    assert world.balance(chart.buyer_credit(BUYER_ID, "USD")) == usd("55.75")
    assert world.event_types(order.id)[-2:] == ["money.refunded", "order.cancelled"]
    world.assert_books_balance()


def test_a_revision_moves_the_due_date(world: World) -> None:
    order = world.drive("delivered")
    order = world.desk.request_revision(order.id, buyer_id=BUYER_ID)
    assert order.state is OrderState.IN_PROGRESS
    assert order.due_at == world.clock.now() + timedelta(days=3)
    assert order.revisions_left == 0
    world.clock.set(order.due_at)
    refused(world, GuardFailed, world.desk.cancel_late, order.id, buyer_id=BUYER_ID)
    order = world.desk.deliver(order.id, seller_id=SELLER_ID)
    assert order.deliveries == 2
    error = refused(world, GuardFailed, world.desk.request_revision, order.id, buyer_id=BUYER_ID)
    assert error.reason == "no revisions are left"


# -- the abandon timers: money is never stuck --------------------------------------------------


@pytest.mark.parametrize(
    ("state", "delay", "action"),
    [
        pytest.param("awaiting_requirements", timedelta(days=14), "abandon", id="no-brief"),
        pytest.param("in_progress", timedelta(days=3 + 30), "abandon", id="never-delivered"),
        pytest.param("disputed", timedelta(days=30), "dispute_timeout", id="no-operator"),
    ],
)
def test_nobody_acting_ends_in_a_full_refund(
    make_world: WorldFactory, state: str, delay: timedelta, action: str
) -> None:
    world = make_world()
    order = world.drive(state)
    entered = order.state_entered_at
    assert entered is not None
    assert world.pending_timers(order.id) == [(action, entered + delay)]
    assert world.run_due_at(entered + delay - SECOND).count == 0
    run = world.run_due_at(entered + delay)
    assert [outcome for _, _, outcome in run.executed] == [action]
    order = world.desk.get(order.id)
    assert order.state is OrderState.CANCELLED
    assert order.closed_at == entered + delay
    assert order.held == 0
    assert world.escrow_of(order) == usd("0")
    assert world.balance(chart.buyer_credit(BUYER_ID, "USD")) == usd("55.75")
    assert world.event_types(order.id)[-2:] == ["money.refunded", "order.cancelled"]
    world.assert_books_balance()


# -- disputes -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("resolution", "error", "field"),
    [
        pytest.param(
            DisputeResolution(refund=Amount.of("10.00", "EUR")), CurrencyMismatch, None, id="eur"
        ),
        pytest.param(
            DisputeResolution(refund=usd("55.76")),
            ValidationError,
            "resolution.refund",
            id="more-than-held",
        ),
        pytest.param(
            DisputeResolution(refund=usd("-0.01")),
            ValidationError,
            "resolution.refund",
            id="negative",
        ),
        pytest.param("half", GuardFailed, None, id="not-a-resolution"),
    ],
)
def test_bad_resolutions(
    world: World, resolution: Any, error: type[Exception], field: str | None
) -> None:
    order = world.drive("disputed")
    raised = refused(world, error, world.desk.resolve_dispute, order.id, resolution)
    if field is not None:
        assert raised.field == field


def test_the_seller_may_open_a_dispute_while_working(world: World) -> None:
    order = world.drive("in_progress")
    order = world.desk.open_dispute(order.id, by=Actor.SELLER, account_id=SELLER_ID)
    assert (order.state, order.dispute_opened_by) == (OrderState.DISPUTED, Actor.SELLER)
    assert world.pending_timers(order.id) == [
        ("dispute_timeout", world.clock.now() + timedelta(days=30))
    ]


# -- run_due ---------------------------------------------------------------------------------


def test_run_due_twice_does_nothing_more(world: World) -> None:
    order = world.drive("delivered")
    later = world.clock.now() + timedelta(days=30)
    first = world.run_due_at(later)
    assert [outcome for _, _, outcome in first.executed] == [
        "auto_complete",
        "published",
        "cleared",
    ]
    before = world.snapshot()
    assert world.run_due_at(later).count == 0
    assert world.run_due_at(later + timedelta(days=365)).count == 0
    assert world.snapshot() == before
    assert world.desk.get(order.id).state is OrderState.COMPLETED


def test_timers_run_in_due_order_across_orders(world: World) -> None:
    late = world.drive("awaiting_requirements")  # abandons 14 days from now
    world.advance(timedelta(hours=1))
    unpaid = world.place()  # expires in 24 hours
    world.advance(timedelta(hours=1))
    delivered = world.drive("delivered")  # auto-completes in 3 days
    run = world.run_due_at(world.clock.now() + timedelta(days=40))
    timers = {t.id: t for o in (late, unpaid, delivered) for t in world.desk.timers(o.id)}
    dues = [timers[timer_id].due_at for timer_id, _, _ in run.executed]
    assert dues == sorted(dues)
    assert [(order_id, outcome) for _, order_id, outcome in run.executed] == [
        (unpaid.id, "expire"),
        (delivered.id, "auto_complete"),
        (late.id, "abandon"),
        (delivered.id, "published"),
        (delivered.id, "cleared"),
    ]


def test_run_due_acts_as_of_the_due_time_and_honours_its_limit(world: World) -> None:
    order = world.drive("delivered")
    assert order.delivered_at is not None
    run = world.run_due_at(order.delivered_at + timedelta(days=20), limit=1)
    assert run.count == 1
    done = world.desk.get(order.id)
    assert done.completed_at == order.delivered_at + timedelta(days=3)
    completed_event = next(e for e in world.desk.pending_events() if e.type == "order.completed")
    assert completed_event.occurred_at == order.delivered_at + timedelta(days=3)
    assert world.run_due_at(order.delivered_at + timedelta(days=20)).count == 2


def test_a_timer_of_a_state_left_behind_is_superseded(world: World) -> None:
    order = world.drive("in_progress")
    [abandon] = [t for t in world.desk.timers(order.id) if t.action == "abandon"][:1]
    assert abandon.armed_in is OrderState.AWAITING_REQUIREMENTS
    assert abandon.outcome == "superseded by submit_requirements"
    assert abandon.done_at == world.clock.now()
    before = world.desk.get(order.id)
    assert world.run_due_at(abandon.due_at).count == 0
    assert world.desk.get(order.id) == before


def test_a_stale_timer_is_retired_without_effect(world: World) -> None:
    """A timer armed for a state (or a version) the order has left, which the
    transition that moved it did not retire, is retired as stale."""
    order = world.drive("in_progress")
    stale = ScheduledAction(
        id="stale-1",
        order_id=order.id,
        action="abandon",
        due_at=world.clock.now(),
        armed_in=OrderState.AWAITING_REQUIREMENTS,
        armed_version=order.version - 1,
    )
    with world.storage() as uow:
        uow.orders.add_timer(stale)
        uow.commit()
    before = world.desk.get(order.id)
    events = world.event_types()
    run = world.desk.run_due()
    assert run.executed == (("stale-1", order.id, "stale"),)
    assert world.desk.get(order.id) == before
    assert world.event_types() == events
    [retired] = [t for t in world.desk.timers(order.id) if t.id == "stale-1"]
    assert (retired.outcome, retired.done_at) == ("stale", world.clock.now())


# -- the outbox -------------------------------------------------------------------------------


def test_acknowledged_events_leave_the_outbox(world: World) -> None:
    world.drive("in_progress")
    events = world.desk.pending_events()
    assert [e.type for e in events] == [
        "order.placed",
        "order.paid",
        "order.requirements_submitted",
    ]
    assert [e.payload["state"] for e in events] == [
        "pending_payment",
        "awaiting_requirements",
        "in_progress",
    ]
    assert len(world.desk.pending_events(limit=2)) == 2
    world.desk.acknowledge([events[0].id, "no-such-event"])
    assert world.desk.pending_events() == events[1:]
    world.desk.acknowledge([events[0].id, events[1].id])
    assert world.desk.pending_events() == events[2:]
    world.desk.acknowledge([e.id for e in events])
    assert world.desk.pending_events() == []
