"""Shared machinery of the integration tests: stores that cross process
boundaries, a way to run workers in fresh processes, and the invariant checks.

A worker process must not inherit an open database connection (a forked
SQLite or libpq connection shared by two processes corrupts both), so
workers are started from a *forkserver*: a clean interpreter, started once,
that has imported gigmarket but never opened a database; each worker is a
fork of it (as cheap as a fork, as clean as a spawn). Where the platform has
no forkserver, plain spawn is used. Workers receive a picklable
:class:`StoreSpec` and open their own connections.
"""

from __future__ import annotations

import dataclasses
import multiprocessing
import queue
import traceback
from collections import defaultdict
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from multiprocessing.context import ForkServerContext, SpawnContext
from typing import Any, Literal

from gigmarket.escrow import chart
from gigmarket.escrow.audit import audit_ledger
from gigmarket.money import Amount
from gigmarket.orders import DEFAULT_PROCESS, Offer, OfferedPackage
from gigmarket.orders.audit import audit_orders
from gigmarket.storage.sqlite.store import SQLiteStorage

START = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
SELLER_ID = "nadia"
BUYER_ID = "rahim"
WORKER_TIMEOUT = 60.0
"""Seconds a group of workers may take before the test gives up on them."""

Engine = Literal["sqlite", "postgres"]


@dataclasses.dataclass(frozen=True)
class StoreSpec:
    """Where a store lives, in a form a worker process can receive."""

    engine: Engine
    location: str
    """The SQLite file, or the PostgreSQL URL."""
    schema: str = "public"

    def open(self, *, migrate: bool = False) -> Any:
        """A new storage object on this store (the caller closes it)."""
        if self.engine == "sqlite":
            return SQLiteStorage(self.location, migrate=migrate)
        from gigmarket.storage.postgres.store import PostgresStorage  # noqa: PLC0415 -- optional extra

        return PostgresStorage(self.location, schema=self.schema, migrate=migrate)


def spec_of(storage: Any) -> StoreSpec:
    """The spec of an open SQLite or PostgreSQL storage."""
    if isinstance(storage, SQLiteStorage):
        return StoreSpec("sqlite", storage.path)
    return StoreSpec("postgres", storage.url, storage.schema)


Context = ForkServerContext | SpawnContext


def mp_context() -> Context:
    """A forkserver context whose server has imported the workers, or spawn."""
    if "forkserver" not in multiprocessing.get_all_start_methods():  # pragma: no cover
        return multiprocessing.get_context("spawn")
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["tests.integration.workers"])
    return context


def _report(results: Any, index: int, target: Callable[..., Any], args: Sequence[Any]) -> None:
    try:
        results.put((index, True, target(*args)))
    except BaseException:  # the parent shows every failure, whatever it is
        results.put((index, False, traceback.format_exc()))


def run_processes(
    context: Context,
    target: Callable[..., Any],
    arguments: Sequence[Sequence[Any]],
    *,
    timeout: float = WORKER_TIMEOUT,
) -> list[Any]:
    """Run ``target(*args)`` once per ``args`` in its own process; return the
    results in order, or fail with every worker's traceback."""
    results: Any = context.Queue()
    processes = [
        context.Process(target=_report, args=(results, index, target, args))
        for index, args in enumerate(arguments)
    ]
    collected: dict[int, tuple[bool, Any]] = {}
    try:
        for process in processes:
            process.start()
        for _ in processes:
            try:
                index, ok, value = results.get(timeout=timeout)
            except queue.Empty:
                raise AssertionError(
                    f"workers still running after {timeout} s: "
                    f"{[i for i in range(len(processes)) if i not in collected]}"
                ) from None
            collected[index] = (ok, value)
    finally:
        for process in processes:
            if process.pid is not None:
                process.join(timeout=5)
                if process.exitcode is None:
                    process.kill()
                    process.join()
            process.close()
        results.close()
        results.join_thread()
    failures = [f"worker {i}:\n{value}" for i, (ok, value) in sorted(collected.items()) if not ok]
    if failures:
        raise AssertionError("\n".join(failures))
    return [collected[index][1] for index in range(len(processes))]


# -- the world the scenarios start from -------------------------------------


def usd(units: int) -> Amount:
    return Amount(units=units, currency="USD")


def make_offer(price: str = "50.00", *, seller_id: str = SELLER_ID) -> Offer:
    """A one-package offer without requirement questions (50.00 USD charges 55.75)."""
    return Offer(
        gig_id="gig-logo",
        gig_version=1,
        seller_id=seller_id,
        package=OfferedPackage(
            name="Basic", price=Amount.of(price, "USD"), delivery_days=3, revisions=1
        ),
        title="A flat logo",
    )


# -- checks -----------------------------------------------------------------


def withdrawal_violations(
    storage: Any,
    *,
    seller_id: str,
    deposited: int,
    amount: int,
    attempts: int,
    successes: int,
) -> list[str]:
    """What is wrong after racing withdrawals of ``amount`` out of a seller's
    ``deposited`` available balance, as readable findings (empty: all is well).

    The same check serves the real race and the negative control, which is
    how the negative control proves that this check can see a race.
    """
    available = chart.seller_available(seller_id, "USD")
    with storage() as uow:
        report = audit_ledger(uow.ledger)
        stored = uow.ledger.lock_balances([available])[available]
        entries = uow.ledger.entries_for_account(available)
        holds = [hold for hold in uow.ledger.pending_holds() if hold.source == available]
    outgoing = [e.amount_for(available) for e in entries if e.amount_for(available) < 0]
    taken = -sum(outgoing) + sum(hold.amount.units for hold in holds)
    recorded = len(outgoing) + len(holds)
    expected = min(attempts, deposited // amount)
    found: list[str] = []
    if taken > deposited:
        found.append(f"overdraft: {taken} withdrawn from a balance of {deposited}")
    if stored.posted - stored.held < 0:
        found.append(f"negative available balance: {stored.posted - stored.held}")
    if recorded != successes:
        found.append(f"workers saw {successes} withdrawals succeed, the ledger records {recorded}")
    if successes != expected:
        found.append(f"{successes} of {attempts} withdrawals succeeded, exactly {expected} should")
    found.extend(
        f"audit {v.invariant}: {v.account or v.entry_id}: {v.message}" for v in report.violations
    )
    return found


def store_violations(storage: Any) -> list[str]:
    """Every invariant of DESIGN §4 that can be read off a store, with the
    checks the audits cannot make: an entry row with fewer than two posting
    rows (an audit reading entries through the repository would see an empty
    entry, which sums to zero), and each order's events matching its state."""
    found: list[str] = []
    with storage() as uow:
        report = audit_ledger(uow.ledger)
        found.extend(
            f"audit {v.invariant}: {v.account or v.entry_id}: {v.message}"
            for v in report.violations
        )
        found.extend(f"orders: {v.message}" for v in audit_orders(uow, DEFAULT_PROCESS))
        totals: dict[str, int] = defaultdict(int)
        for entry in uow.ledger.iter_entries():
            sums: dict[str, int] = defaultdict(int)
            for posting in entry.postings:
                sums[posting.amount.currency] += posting.amount.units
                totals[posting.amount.currency] += posting.amount.units
            if len(entry.postings) < 2 or any(sums.values()):
                found.append(f"entry {entry.id} is half-written: {entry.postings}")
        found.extend(f"the ledger sums to {t} {c}" for c, t in sorted(totals.items()) if t)
        db = storage.connection()
        for seq, lines, total in db.all(
            "SELECT e.seq, COUNT(p.line), COALESCE(SUM(p.units), 0) FROM ledger_entries e "
            "LEFT JOIN ledger_postings p ON p.entry_seq = e.seq GROUP BY e.seq "
            "HAVING COUNT(p.line) < 2 OR COALESCE(SUM(p.units), 0) <> 0"
        ):
            found.append(f"entry row {seq} has {lines} postings summing to {total}")
        events: dict[tuple[str, str], int] = defaultdict(int)
        for event in uow.outbox.pending(10**9):
            events[event.order_id, event.type] += 1
        for order in uow.orders.orders():
            if events[order.id, "order.placed"] != 1:
                found.append(
                    f"order {order.id} has {events[order.id, 'order.placed']} placed events"
                )
            paid = 1 if order.paid_at is not None else 0
            if events[order.id, "order.paid"] != paid:
                found.append(
                    f"order {order.id} ({order.state.value}) has "
                    f"{events[order.id, 'order.paid']} paid events"
                )
    return found
