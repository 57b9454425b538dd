"""Two workers run the due timers at once: every timer runs exactly once.

A host may call ``run_due`` from cron and from a worker, or from two workers
that overlap. Here two desks (as two worker processes would have, each with
its own ids) share one :class:`~gigmarket.storage.memory.store.MemoryStorage` and
call ``run_due(now)`` together over some twenty orders whose timers are all
due, one of them a timer that fails. The outcome must be the same as one
worker running alone: each timer executed (or reported failed) once, the same
orders in the same states, the same balance in every ledger account, the same
events.

Each worker pauses briefly after every transaction it ends, so that the two
runs interleave timer by timer instead of one finishing before the other has
started; the test checks that they did.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from gigmarket.escrow.audit import audit_ledger
from gigmarket.ids import sequential_ids
from gigmarket.orders import DEFAULT_PROCESS, DueRun, OrderDesk
from gigmarket.orders.audit import audit_orders
from gigmarket.orders.model import ScheduledAction
from gigmarket.storage.memory.store import MemoryStorage, MemoryUnitOfWork
from tests.unit.orders.helpers import World, WorldFactory

ROUNDS = 5
STORY = (
    "pending_payment",
    "awaiting_requirements",
    "in_progress",
    "in_progress_late",
    "delivered",
    "cancellation_requested_by_buyer",
    "cancellation_requested_by_seller",
    "disputed",
    "completed",
    "resolved",
) * 2
"""Twenty orders, each with a timer that falls due (and, once completed or
resolved, clearance and review timers behind it)."""


class YieldingUnitOfWork(MemoryUnitOfWork):
    """A memory transaction that lets the other thread in once it has ended."""

    def __exit__(self, *exc_info: Any) -> None:
        super().__exit__(*exc_info)
        time.sleep(0.0002)


def yielding(storage: MemoryStorage) -> Callable[[], MemoryUnitOfWork]:
    return lambda: YieldingUnitOfWork(storage)


def build(world: World) -> None:
    """The same twenty orders, and one clearance timer that cannot be paid."""
    orders = [world.drive(state) for state in STORY]
    with world.storage() as uow:
        uow.orders.add_timer(
            ScheduledAction(
                id="a-broken-clearance",
                order_id=orders[0].id,
                action="clear",
                due_at=world.clock.now() + timedelta(days=1),
                payload=(("currency", "USD"), ("seller_id", "nobody"), ("units", "100")),
            )
        )
        uow.commit()


def outcome_of(world: World) -> tuple[object, ...]:
    """What a run leaves behind, in terms that do not depend on which worker
    made which id: orders, ledger balances by account, events per order."""
    with world.storage() as uow:
        assert audit_orders(uow, DEFAULT_PROCESS) == []
        assert audit_ledger(uow.ledger).ok
        orders = sorted(
            (o.id, o.state, o.settlement, o.completed_at, o.closed_at) for o in uow.orders.orders()
        )
        pending = [  # a failed timer's retry is armed for later: not due in this run
            t
            for o in uow.orders.orders()
            for t in uow.orders.timers_for(o.id)
            if t.done_at is None and dict(t.payload).get("attempt") is None
        ]
        accounts = [account.code for account in uow.ledger.accounts()]
        balances = sorted(
            (code, b.posted, b.held) for code, b in uow.ledger.lock_balances(accounts).items()
        )
        events = Counter((e.order_id, e.type) for e in uow.outbox.pending(10**6))
    assert pending == [], "every timer due was run"
    return orders, balances, events


def executed(*runs: DueRun) -> Counter[tuple[str, str]]:
    return Counter((order_id, outcome) for run in runs for _, order_id, outcome in run.executed)


def race(desks: list[OrderDesk], now: datetime) -> list[DueRun]:
    """``run_due(now)`` on every desk at once, each in its own thread."""
    barrier = threading.Barrier(len(desks))
    runs: list[DueRun] = []

    def work(desk: OrderDesk) -> None:
        barrier.wait()
        runs.append(desk.run_due(now))

    threads = [threading.Thread(target=work, args=(desk,)) for desk in desks]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(runs) == len(desks), "a worker raised"
    return runs


def test_two_workers_run_each_due_timer_once(make_world: WorldFactory) -> None:
    interleaved = 0
    for _ in range(ROUNDS):
        alone, shared = make_world(), make_world()
        build(alone)
        build(shared)
        now = shared.clock.now() + timedelta(days=90)  # past every timer, and those they arm
        alone.clock.set(now)
        shared.clock.set(now)
        policy = shared.desk.policy

        single = alone.desk.run_due(now)
        assert ("o-000001", "failed: account_not_found") in executed(single)

        workers = [
            OrderDesk(yielding(shared.storage), policy=policy, clock=shared.clock, ids=ids)
            for ids in (sequential_ids("w1"), sequential_ids("w2"))
        ]
        runs = race(workers, now)

        ids = [timer_id for run in runs for timer_id, _, _ in run.executed]
        assert len(ids) == len(set(ids)), "a timer ran twice"
        assert executed(*runs) == executed(single)
        assert outcome_of(shared) == outcome_of(alone)
        interleaved += all(run.count for run in runs)
    assert interleaved, "the two workers never overlapped: the test proved nothing"
