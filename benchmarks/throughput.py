"""Throughput of the ledger and of the order lifecycle on each storage adapter.

A benchmark measures and prints; it asserts nothing (machines are shared and
noisy, so a speed limit in a test would flake). Run it as::

    python benchmarks/throughput.py [--transfers 2000] [--orders 200]

and set GIGMARKET_POSTGRES_URL to include PostgreSQL. Figures are operations
per second, and the ratio to the in-memory adapter.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

from gigmarket.clock import ManualClock
from gigmarket.escrow.ledger import Ledger
from gigmarket.marketplace import Marketplace
from gigmarket.money import Amount
from gigmarket.orders import (
    Actor,
    Offer,
    OfferedPackage,
    OrderDesk,
    RefundDestination,
    fiverr_policy,
)
from gigmarket.storage.memory.store import MemoryStorage
from gigmarket.storage.sqlite.store import SQLiteStorage

START = datetime(2026, 1, 1, tzinfo=UTC)


@contextmanager
def adapters() -> Iterator[dict[str, Callable[[], Any]]]:
    with tempfile.TemporaryDirectory() as directory:
        made: list[Any] = []

        def sqlite(durability: Literal["full", "normal"]) -> Callable[[], Any]:
            def make() -> Any:
                path = Path(directory) / f"{uuid.uuid4().hex}.db"
                store = SQLiteStorage(path, durability=durability)
                made.append(store)
                return store

            return make

        found: dict[str, Callable[[], Any]] = {
            "memory": MemoryStorage,
            "sqlite (synchronous=FULL)": sqlite("full"),
            "sqlite (synchronous=NORMAL)": sqlite("normal"),
        }
        url = os.environ.get("GIGMARKET_POSTGRES_URL")
        if url:
            from gigmarket.storage.postgres.store import PostgresStorage  # noqa: PLC0415 -- optional

            def postgres() -> Any:
                store = PostgresStorage(url, schema=f"gm_bench_{uuid.uuid4().hex[:10]}")
                made.append(store)
                return store

            found["postgresql"] = postgres
        try:
            yield found
        finally:
            for store in made:
                if hasattr(store, "drop_schema"):
                    store.drop_schema()
                else:
                    store.close()


def transfers(make: Callable[[], Any], count: int) -> float:
    ledger = Ledger(make(), clock=ManualClock(START))
    ledger.open_account("world", "USD", allow_negative=True)
    ledger.open_account("a", "USD")
    ledger.open_account("b", "USD")
    one = Amount.of("1.00", "USD")
    started = time.perf_counter()
    for n in range(count):
        ledger.transfer("world", "a" if n % 2 else "b", one, idempotency_key=f"t{n}")
    return count / (time.perf_counter() - started)


def orders(make: Callable[[], Any], count: int) -> float:
    clock = ManualClock(START)
    desk = OrderDesk(make(), policy=fiverr_policy(), clock=clock)
    offer = Offer(
        gig_id="g",
        gig_version=1,
        seller_id="s",
        package=OfferedPackage(
            name="Basic", price=Amount.of("50.00", "USD"), delivery_days=3, revisions=1
        ),
    )
    started = time.perf_counter()
    for n in range(count):
        order = desk.place(offer, buyer_id=f"b{n}")
        desk.record_payment(order.id, order.price.total_charged, reference=f"ch{n}")
        desk.submit_requirements(order.id, buyer_id=f"b{n}", answers={})
        desk.deliver(order.id, seller_id="s")
    clock.advance(timedelta(days=40))
    desk.run_due()  # auto-complete, publish, clear
    return count / (time.perf_counter() - started)


def checkouts(make: Callable[[], Any], count: int) -> float:
    """Orders paid through the cashier and the sandbox, then cancelled and
    refunded to the card: two gateway calls and four transactions each."""
    clock = ManualClock(START)
    policy = fiverr_policy(refund_to=RefundDestination.GATEWAY)
    market = Marketplace(make(), policy=policy, clock=clock)
    desk, cashier = market.orders, market.cashier
    offer = Offer(
        gig_id="g",
        gig_version=1,
        seller_id="s",
        package=OfferedPackage(
            name="Basic", price=Amount.of("50.00", "USD"), delivery_days=3, revisions=1
        ),
    )
    started = time.perf_counter()
    for n in range(count):
        order = desk.place(offer, buyer_id=f"b{n}")
        cashier.checkout(order.id, buyer_id=f"b{n}", source="tok_visa")
        desk.request_cancellation(order.id, by=Actor.BUYER, account_id=f"b{n}")
        desk.respond_to_cancellation(order.id, by=Actor.SELLER, account_id="s", accept=True)
        cashier.send_refunds()
    return count / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--transfers", type=int, default=2000)
    parser.add_argument("--orders", type=int, default=200)
    parser.add_argument("--checkouts", type=int, default=200)
    args = parser.parse_args()
    with adapters() as found:
        rows = [
            (
                name,
                transfers(make, args.transfers),
                orders(make, args.orders),
                checkouts(make, args.checkouts),
            )
            for name, make in found.items()
        ]
    base = rows[0][1:]
    print(
        f"{'adapter':<28} {'transfers/s':>12} {'ratio':>6} {'orders/s':>10} {'ratio':>6} "
        f"{'refunded/s':>10} {'ratio':>6}"
    )
    for name, *figures in rows:
        cells = " ".join(
            f"{per:>{width}.{places}f} {per / first:>6.2f}"
            for per, first, width, places in zip(
                figures, base, (12, 10, 10), (0, 1, 1), strict=True
            )
        )
        print(f"{name:<28} {cells}")
    print("(orders/s: each order is placed, paid, started, delivered, auto-completed and cleared)")
    print("(refunded/s: each order is placed, charged through the cashier, cancelled by both")
    print(" parties and refunded to the card: two sandbox calls and four transactions)")


if __name__ == "__main__":
    main()
