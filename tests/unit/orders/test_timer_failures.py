"""A timer whose action is refused is retired as failed, reported, and does
not stop the timers due after it."""

from __future__ import annotations

from datetime import timedelta

from gigmarket.escrow import chart
from gigmarket.escrow.ledger import Ledger
from gigmarket.orders.model import ScheduledAction
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
    run = world.desk.run_due(now + timedelta(days=4))
    outcomes = {timer_id: outcome for timer_id, _, outcome in run.executed}
    assert outcomes["a-broken-clearance"] == "failed: insufficient_funds"
    assert world.desk.get(healthy.id).state.value == "completed"
    assert world.desk.get(broken.id).state.value == "completed"
    failed = [e for e in world.desk.pending_events(1000) if e.type == "timer.failed"]
    assert [(e.order_id, e.payload["action"], e.payload["error"]) for e in failed] == [
        (broken.id, "clear", "insufficient_funds")
    ]
    assert Ledger(world.storage).balance(chart.platform_revenue("USD")).posted.units > 0
    assert world.desk.run_due(now + timedelta(days=4)).count == 0
