"""Every actor × every action × every state: exactly the allowed ones succeed.

The expected outcomes are written out by hand below: they are the product's
rules, stated independently of the process object the code runs. A
refusal must be a :class:`TransitionNotAllowed` of the right kind, naming the
order, the action, the state and the actor, and must change nothing that is
stored, not a timestamp, not a timer, not an event.

The kinds of refusal, from the coarsest:

* ``TransitionNotAllowed``: nobody takes this action in this state;
* ``WrongActor``: somebody does, but not this actor (or this account is not
  the order's buyer or seller);
* ``GuardFailed``: this actor does, but a condition does not hold here (not
  late yet, no revisions left, answering one's own cancellation request...).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from gigmarket.errors import GuardFailed, TransitionNotAllowed, WrongActor
from gigmarket.orders import (
    DEFAULT_PROCESS,
    EVENT_TYPES,
    Actor,
    DisputeResolution,
    Order,
    OrderState,
)
from tests.unit.orders.helpers import (
    ANSWERS,
    BUYER_ID,
    SELLER_ID,
    STATES,
    STRANGER_ID,
    WorldFactory,
    usd,
)

B, S, OP, Y = "buyer", "seller", "operator", "system"
CR = "cancellation_requested"

# -- the rules, by hand -------------------------------------------------------

ALLOWED: dict[tuple[str, str], dict[str, str]] = {
    # (state, action): {actor: the state it lands in}
    ("pending_payment", "pay"): {Y: "awaiting_requirements"},
    ("awaiting_requirements", "submit_requirements"): {B: "in_progress"},
    ("awaiting_requirements", "request_cancellation"): {B: CR, S: CR},
    ("in_progress", "deliver"): {S: "delivered"},
    ("in_progress", "request_cancellation"): {B: CR, S: CR},
    ("in_progress", "open_dispute"): {B: "disputed", S: "disputed"},
    ("in_progress_late", "deliver"): {S: "delivered"},
    ("in_progress_late", "cancel_late"): {B: "cancelled"},
    ("in_progress_late", "request_cancellation"): {B: CR, S: CR},
    ("in_progress_late", "open_dispute"): {B: "disputed", S: "disputed"},
    ("delivered", "request_revision"): {B: "in_progress"},
    ("delivered", "accept"): {B: "completed"},
    ("delivered", "request_cancellation"): {B: CR, S: CR},
    ("delivered", "open_dispute"): {B: "disputed", S: "disputed"},
    # the other party (or the system, when the 48 hours are up) accepts; the
    # other party declines; the requester withdraws; either escalates.
    ("cancellation_requested_by_buyer", "accept_cancellation"): {S: "cancelled"},
    ("cancellation_requested_by_buyer", "decline_cancellation"): {S: "in_progress"},
    ("cancellation_requested_by_buyer", "withdraw_cancellation"): {B: "in_progress"},
    ("cancellation_requested_by_buyer", "open_dispute"): {B: "disputed", S: "disputed"},
    ("cancellation_requested_by_seller", "accept_cancellation"): {B: "cancelled"},
    ("cancellation_requested_by_seller", "decline_cancellation"): {B: "in_progress"},
    ("cancellation_requested_by_seller", "withdraw_cancellation"): {S: "in_progress"},
    ("cancellation_requested_by_seller", "open_dispute"): {B: "disputed", S: "disputed"},
    ("disputed", "resolve_dispute"): {OP: "resolved"},  # a 10.00 refund: a split
    ("completed", "tip"): {B: "completed"},
}
"""Who may take which action where, and where it leads (cancellation requests
are made from in_progress here; test_commands covers the other two states)."""

GUARDED: dict[tuple[str, str], set[str]] = {
    # (state, action): actors who take this action here, but not in this situation
    ("in_progress", "cancel_late"): {B},  # not late yet
    ("in_progress", "abandon"): {Y},  # not late yet
    # the system takes a timer's action only when the timer is due; driven
    # here the order has just entered its state (test_timer_actions_wait_for_their_timer)
    ("pending_payment", "expire"): {Y},
    ("awaiting_requirements", "abandon"): {Y},
    ("in_progress_late", "abandon"): {Y},
    ("delivered", "auto_complete"): {Y},
    ("disputed", "dispute_timeout"): {Y},
    ("cancellation_requested_by_buyer", "accept_cancellation"): {B, Y},  # own request; not due
    ("cancellation_requested_by_buyer", "decline_cancellation"): {B},
    ("cancellation_requested_by_buyer", "withdraw_cancellation"): {S},  # not their request
    ("cancellation_requested_by_seller", "accept_cancellation"): {S, Y},
    ("cancellation_requested_by_seller", "decline_cancellation"): {S},
    ("cancellation_requested_by_seller", "withdraw_cancellation"): {B},
}

ACTIONS = (*DEFAULT_PROCESS.actions(), "tip")

ACTORS: dict[str, tuple[Actor, str | None]] = {
    # id: (the actor claimed, the account acting)
    "buyer": (Actor.BUYER, BUYER_ID),
    "seller": (Actor.SELLER, SELLER_ID),
    "operator": (Actor.OPERATOR, None),
    "system": (Actor.SYSTEM, None),
    "stranger-as-buyer": (Actor.BUYER, STRANGER_ID),
    "stranger-as-seller": (Actor.SELLER, STRANGER_ID),
}

TIPPERS: dict[str, str] = {
    # A tip names only the paying account: the buyer, a stranger, or the
    # seller trying to tip their own order. Operators and the system do not tip.
    "buyer": BUYER_ID,
    "stranger-as-buyer": STRANGER_ID,
    "seller": SELLER_ID,
}


def _state_of(key: str) -> OrderState:
    for suffix in ("_late", "_by_buyer", "_by_seller"):
        key = key.removesuffix(suffix)
    return OrderState(key)


def expected(state: str, action: str, who: str) -> str | type[TransitionNotAllowed]:
    """The state an action lands in, or the exact error class that refuses it."""
    role = who.removeprefix("stranger-as-")
    stranger = role != who
    allowed = ALLOWED.get((state, action), {})
    guarded = GUARDED.get((state, action), set())
    if action == "tip":
        role = {BUYER_ID: B}.get(TIPPERS[who], "other")
    if role in allowed and not stranger:
        return allowed[role]
    if not allowed and not guarded:
        return TransitionNotAllowed
    if role in guarded and not stranger:
        return GuardFailed
    return WrongActor


CASES = [
    pytest.param(state, action, who, id=f"{state}-{action}-{who}")
    for state in STATES
    for action in ACTIONS
    for who in (TIPPERS if action == "tip" else ACTORS)
]


def _params(action: str, order: Order) -> dict[str, Any]:
    if action == "pay":
        return {"amount": order.price.total_charged, "reference": "ch_matrix"}
    if action == "submit_requirements":
        return {"answers": ANSWERS}
    if action == "resolve_dispute":
        return {"resolution": DisputeResolution(refund=usd("10.00"), note="matrix")}
    if action == "request_cancellation":
        return {"reason": "the matrix asks"}
    return {}


@pytest.mark.parametrize(("state", "action", "who"), CASES)
def test_exactly_the_allowed_actions_succeed(
    make_world: WorldFactory, state: str, action: str, who: str
) -> None:
    world = make_world()
    order = world.drive(state)
    assert order.state is _state_of(state)
    before = world.snapshot()
    events_before = len(world.event_types())
    outcome = expected(state, action, who)

    def attempt() -> Order:
        if action == "tip":
            return world.desk.tip(
                order.id, usd("10.00"), buyer_id=TIPPERS[who], payment_reference="tip_matrix"
            )
        actor, account = ACTORS[who]
        return world.desk.act(
            order.id, action, actor=actor, account_id=account, **_params(action, order)
        )

    if isinstance(outcome, str):
        after = attempt()
        assert after.state is OrderState(outcome)
        assert after.version == order.version + 1
        assert world.desk.get(order.id) == after
        new_events = world.event_types()[events_before:]
        assert new_events, "every transition leaves an event in the outbox"
        assert set(new_events) <= set(EVENT_TYPES)
        world.assert_books_balance()
        return

    with pytest.raises(TransitionNotAllowed) as caught:
        attempt()
    error = caught.value
    assert type(error) is outcome, error
    assert error.order_id == order.id
    assert error.action == action
    assert error.state == order.state.value
    claimed = Actor.BUYER if action == "tip" else ACTORS[who][0]
    assert error.actor == claimed.value
    assert order.id in str(error)
    assert action in str(error)
    assert world.snapshot() == before, "a refused command changed what is stored"


# -- the table itself is checked against the process --------------------------


def test_the_table_names_every_transition_of_the_process() -> None:
    """Adding, removing or re-assigning a transition in DEFAULT_PROCESS must
    come with a change of the rules above (and of the docs)."""
    from_process = {
        (t.source.value, t.action, actor.value)
        for t in DEFAULT_PROCESS.transitions
        for actor in t.actors
    }
    from_table = {
        (_state_of(state).value, action, actor)
        for (state, action), actors in [
            *ALLOWED.items(),
            *((key, dict.fromkeys(who, "")) for key, who in GUARDED.items()),
        ]
        if action != "tip"
        for actor in actors
    }
    assert from_table == from_process


TIMER_ACTIONS = [
    pytest.param(state, timer.action, id=f"{state}-{timer.action}")
    for state in STATES
    for timer in DEFAULT_PROCESS.timers_for(_state_of(state))
    if state != "in_progress"  # its timer counts from the due date: the _late variant
]


@pytest.mark.parametrize(("state", "action"), TIMER_ACTIONS)
def test_timer_actions_wait_for_their_timer(
    make_world: WorldFactory, state: str, action: str
) -> None:
    """The system takes a timer's action at its due time, and not a second earlier."""
    world = make_world()
    order = world.drive(state)
    (timer,) = [t for t in world.desk.timers(order.id) if t.action == action and t.done_at is None]
    params = _params(action, order)
    world.clock.set(timer.due_at - timedelta(seconds=1))
    with pytest.raises(GuardFailed):
        world.desk.act(order.id, action, actor=Actor.SYSTEM, **params)
    world.clock.set(timer.due_at)
    done = world.desk.act(order.id, action, actor=Actor.SYSTEM, **params)
    assert done.state is not order.state


def test_the_matrix_covers_every_state_and_action() -> None:
    assert {_state_of(state) for state in STATES} == set(OrderState)
    assert set(DEFAULT_PROCESS.actions()) == {action for _, action in [*ALLOWED, *GUARDED]} - {
        "tip"
    }
    assert len(CASES) == len(STATES) * (len(DEFAULT_PROCESS.actions()) * len(ACTORS) + 3)
