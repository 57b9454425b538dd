"""Many writers, one store: the races of DESIGN §4 invariant 2, on real engines.

Each scenario runs on a SQLite file (several processes on one file) and on a
PostgreSQL schema (processes, and threads for the withdrawal race). The
workers wait at a barrier before every attempt, so they really do race
rather than queue politely. Afterwards the same checks hold every time: no
overdraft, no double release, no lost update, the ledger sums to zero.

The negative control runs the withdrawal race again with the guard removed
(the balance read in an earlier transaction, without a lock, and no balance
check) and shows that the very same check reports the overdraft and the lost
updates: a race test that cannot fail proves nothing.
"""

from __future__ import annotations

import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

import pytest

from gigmarket.clock import ManualClock
from gigmarket.escrow import chart
from gigmarket.escrow.ledger import Ledger
from gigmarket.orders import OrderDesk, OrderState, fiverr_policy
from tests.integration.helpers import (
    BUYER_ID,
    SELLER_ID,
    START,
    make_offer,
    mp_context,
    run_processes,
    spec_of,
    store_violations,
    usd,
    withdrawal_violations,
)
from tests.integration.workers import (
    complete_worker,
    pay_worker,
    withdraw_attempts,
    withdraw_worker,
)

DEPOSIT = 100
"""The seller's available balance before the race: 1.00 USD."""
AMOUNT = 7
"""Each withdrawal: 0.07 USD, so exactly 14 fit."""
WORKERS = 6
ATTEMPTS = 4
"""Attempts per worker: 24 in all, far more than fit."""
ROUNDS = 3
"""Orders raced over, one after the other, in the order scenarios."""


def _fund_seller(storage: Any, units: int) -> None:
    ledger = Ledger(storage)
    gateway = ledger.open_account(chart.gateway("sandbox", "USD"), "USD", allow_negative=True)
    available = ledger.open_account(chart.seller_available(SELLER_ID, "USD"), "USD")
    ledger.open_account(chart.payouts_in_flight("USD"), "USD")
    ledger.transfer(gateway.code, available.code, usd(units), memo="cleared earnings")


def _race_withdrawals(storage: Any, *, guarded: bool) -> list[str]:
    """Scenario (a) in processes; what :func:`withdrawal_violations` finds afterwards."""
    _fund_seller(storage, DEPOSIT)
    context = mp_context()
    barrier = context.Barrier(WORKERS)
    spec = spec_of(storage)
    successes = run_processes(
        context,
        withdraw_worker,
        [
            (spec, worker, SELLER_ID, AMOUNT, ATTEMPTS, barrier, guarded)
            for worker in range(WORKERS)
        ],
    )
    return withdrawal_violations(
        storage,
        seller_id=SELLER_ID,
        deposited=DEPOSIT,
        amount=AMOUNT,
        attempts=WORKERS * ATTEMPTS,
        successes=sum(successes),
    )


def test_racing_withdrawals_never_overdraw(store: Any) -> None:
    assert _race_withdrawals(store, guarded=True) == []


def test_negative_control_without_the_guard_the_same_check_sees_the_race(store: Any) -> None:
    found = _race_withdrawals(store, guarded=False)
    assert any(finding.startswith("overdraft") for finding in found), found
    assert any("4-stored-balance" in finding for finding in found), found  # lost updates


@pytest.mark.postgres
def test_racing_withdrawals_from_threads_never_overdraw(postgres_storage_factory: Any) -> None:
    threads, attempts = 8, 3
    storage = postgres_storage_factory()
    _fund_seller(storage, DEPOSIT)
    barrier = threading.Barrier(threads)
    with ThreadPoolExecutor(threads) as pool:
        futures = [
            pool.submit(
                withdraw_attempts,
                storage,
                worker=worker,
                seller_id=SELLER_ID,
                amount=AMOUNT,
                attempts=attempts,
                barrier=barrier,
            )
            for worker in range(threads)
        ]
        successes = sum(future.result() for future in futures)
    found = withdrawal_violations(
        storage,
        seller_id=SELLER_ID,
        deposited=DEPOSIT,
        amount=AMOUNT,
        attempts=threads * attempts,
        successes=successes,
    )
    assert found == []


def _desk(storage: Any) -> tuple[OrderDesk, ManualClock]:
    clock = ManualClock(START)
    return OrderDesk(storage, policy=fiverr_policy(), clock=clock), clock


def test_accept_racing_auto_complete_releases_the_money_once(store: Any) -> None:
    desk, clock = _desk(store)
    rounds: list[tuple[str, Any]] = []
    for _ in range(ROUNDS):
        order = desk.place(make_offer(), buyer_id=BUYER_ID)
        desk.record_payment(order.id, order.price.total_charged, reference=f"ch_{order.id}")
        desk.submit_requirements(order.id, buyer_id=BUYER_ID, answers={})
        clock.advance(timedelta(days=1))
        order = desk.deliver(order.id, seller_id=SELLER_ID)
        assert order.delivered_at is not None
        # Past this order's auto-complete time, before the next order's.
        rounds.append(
            (order.id, order.delivered_at + desk.policy.auto_complete_after + timedelta(minutes=1))
        )
    context = mp_context()
    barrier = context.Barrier(WORKERS)
    spec = spec_of(store)
    hows = ["accept", "run_due"] * (WORKERS // 2)
    outcomes = run_processes(
        context, complete_worker, [(spec, how, rounds, barrier) for how in hows]
    )

    for number, (order_id, _) in enumerate(rounds):
        seen = Counter(outcome[number] for outcome in outcomes)
        assert seen["completed"] == 1, seen
        assert set(seen) <= {"completed", "refused: completed", "ran []"}, seen
        assert desk.get(order_id).state is OrderState.COMPLETED
        events = Counter(e.type for e in desk.pending_events(10_000) if e.order_id == order_id)
        assert events["order.completed"] == 1
        assert events["money.released"] == 1
    pending = Ledger(store).balance(chart.seller_pending(SELLER_ID, "USD"))
    assert pending.posted == usd(ROUNDS * 4000)  # the seller's 40.00 net, once per order
    assert store_violations(store) == []


def test_a_payment_applied_twice_funds_escrow_once(store: Any) -> None:
    desk, _ = _desk(store)
    orders = [desk.place(make_offer(), buyer_id=BUYER_ID) for _ in range(ROUNDS)]
    same, other = WORKERS - 2, 2
    references = {order.id: (f"ch_{order.id}", f"ch_{order.id}_other") for order in orders}
    context = mp_context()
    barrier = context.Barrier(WORKERS)
    spec = spec_of(store)
    outcomes = run_processes(
        context,
        pay_worker,
        [
            (
                spec,
                [
                    (o.id, o.price.total_charged.units, references[o.id][worker >= same])
                    for o in orders
                ],
                barrier,
            )
            for worker in range(same + other)
        ],
    )

    ledger = Ledger(store)
    for number, order in enumerate(orders):
        paid = desk.get(order.id)
        assert paid.state is OrderState.AWAITING_REQUIREMENTS
        assert paid.payment_reference in references[order.id]
        winners = [
            w for w in range(WORKERS) if references[order.id][w >= same] == paid.payment_reference
        ]
        for worker, outcome in enumerate(outcomes):
            expected = "paid" if worker in winners else "refused: awaiting_requirements"
            assert outcome[number] == expected, (worker, outcomes)
        assert ledger.balance(chart.order_escrow(order.id)).posted == order.price.total_charged
        events = Counter(e.type for e in desk.pending_events(10_000) if e.order_id == order.id)
        assert events["order.paid"] == 1
    world = ledger.balance(chart.gateway("sandbox", "USD")).posted
    assert world == -usd(sum(o.price.total_charged.units for o in orders))
    assert store_violations(store) == []


def test_first_payments_of_many_orders_open_the_shared_accounts_once(store: Any) -> None:
    """The first payments ever, for different orders, all at once: each must open
    the gateway's account or find it open, never fail because another did."""
    desk, _ = _desk(store)
    orders = [desk.place(make_offer(), buyer_id=BUYER_ID) for _ in range(WORKERS)]
    context = mp_context()
    barrier = context.Barrier(WORKERS)
    spec = spec_of(store)
    outcomes = run_processes(
        context,
        pay_worker,
        [
            (spec, [(order.id, order.price.total_charged.units, f"ch_{order.id}")], barrier)
            for order in orders
        ],
    )
    assert outcomes == [["paid"]] * WORKERS
    world = Ledger(store).balance(chart.gateway("sandbox", "USD")).posted
    assert world == -usd(sum(o.price.total_charged.units for o in orders))
    assert store_violations(store) == []
