"""A timer whose action is refused is retired as failed, reported, and does
not stop the timers due after it."""

from __future__ import annotations

from datetime import timedelta

from gigmarket.escrow import chart
from gigmarket.escrow.ledger import Ledger
from gigmarket.orders.model import ScheduledAction
from gigmarket.orders.service import TIMER_ATTEMPTS
from tests.unit.orders.helpers import WorldFactory


def test_a_failing_timer_is_reported_and_the_rest_still_run(make_world: WorldFactory) -> None:
    world = make_world()
    broken = world.drive("delivered")
    healthy = world.drive("delivered")
    now = world.clock.now()
    with world.storage() as uow:
        uow.orders.add_timer(
            ScheduledAction(
                id="a-broken-clearance",
                order_id=broken.id,
                action="clear",
                due_at=now + timedelta(days=3, hours=1),  # after the release: too little pending
                payload=(("currency", "USD"), ("seller_id", broken.seller_id), ("units", "999999")),
            )
        )
        uow.commit()
    run = world.run_due_at(now + timedelta(days=4))
    outcomes = {timer_id: outcome for timer_id, _, outcome in run.executed}
    assert outcomes["a-broken-clearance"] == "failed: insufficient_funds"
    assert world.desk.get(healthy.id).state.value == "completed"
    assert world.desk.get(broken.id).state.value == "completed"
    failed = [e for e in world.desk.pending_events(1000) if e.type == "timer.failed"]
    assert [(e.order_id, e.payload["action"], e.payload["error"]) for e in failed] == [
        (broken.id, "clear", "insufficient_funds")
    ]
    assert Ledger(world.storage).balance(chart.platform_revenue("USD")).posted.units > 0
    assert world.run_due_at(now + timedelta(days=4)).count == 0
    assert failed[0].payload["attempt"] == 1
    assert failed[0].payload["retry_at"] is not None


def test_a_failing_timer_is_retried_with_backoff_then_given_up(make_world: WorldFactory) -> None:
    """A timer is often the only thing that moves an order's money: a failure
    is retried later (1 h, 2 h, 4 h ...) and only given up after the last try."""
    world = make_world()
    order = world.drive("delivered")
    now = world.clock.now()
    with world.storage() as uow:
        uow.orders.add_timer(
            ScheduledAction(
                id="a-broken-clearance",
                order_id=order.id,
                action="clear",
                due_at=now,
                payload=(("currency", "USD"), ("seller_id", order.seller_id), ("units", "999999")),
            )
        )
        uow.commit()
    moment = now
    retries: list[object] = []
    for _ in range(TIMER_ATTEMPTS):
        world.run_due_at(moment)
        failures = [e for e in world.desk.pending_events(1000) if e.type == "timer.failed"]
        retries.append(failures[-1].payload["retry_at"])
        moment += timedelta(days=1)
    attempts = [
        e.payload["attempt"] for e in world.desk.pending_events(1000) if e.type == "timer.failed"
    ]
    assert attempts == list(range(1, TIMER_ATTEMPTS + 1))
    assert retries[-1] is None  # given up after the last attempt
    assert all(retry is not None for retry in retries[:-1])
    with world.storage() as uow:
        still_armed = [
            t
            for t in uow.orders.timers_for(order.id)
            if t.done_at is None and dict(t.payload).get("units") == "999999"
        ]
    assert still_armed == []  # given up: nothing left to retry
