"""Two transactions resolving one hold at once on PostgreSQL: one wins.

A barrier just before the hold is read makes both transactions ask for it at
the same moment every time. The read locks the hold, so the second waits for
the first to commit, then sees it resolved and is refused; without the lock
both would read it pending and the money would move twice.
(SQLite and the memory store serialise whole transactions, so they cannot
interleave here.)
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest

from gigmarket.errors import GigmarketError, HoldAlreadyResolved
from gigmarket.escrow.audit import audit_ledger
from gigmarket.escrow.ledger import Ledger
from gigmarket.escrow.model import Hold
from gigmarket.money import Amount
from gigmarket.storage.sql.repositories import SqlLedgerRepository

pytestmark = pytest.mark.postgres


def usd(value: str) -> Amount:
    return Amount.of(value, "USD")


@pytest.mark.parametrize("second", ["post", "void"], ids=["post-and-post", "post-and-void"])
def test_one_hold_is_resolved_once_under_a_race(
    postgres_storage_factory: Callable[[], Any], monkeypatch: pytest.MonkeyPatch, second: str
) -> None:
    storage = postgres_storage_factory()
    ledger = Ledger(storage)
    ledger.open_account("world", "USD", allow_negative=True)
    ledger.open_account("seller", "USD")
    ledger.open_account("in-flight", "USD")
    ledger.transfer("world", "seller", usd("100.00"))
    hold = ledger.reserve("seller", "in-flight", usd("40.00"))
    other = ledger.reserve("seller", "in-flight", usd("10.00"))  # must stay reserved

    barrier = threading.Barrier(2, timeout=10)
    first_reads = threading.local()
    original = SqlLedgerRepository.lock_hold

    def lock_hold_together(self: SqlLedgerRepository, hold_id: str) -> Hold | None:
        if hold_id == hold.id and not getattr(first_reads, "done", False):
            first_reads.done = True
            barrier.wait()  # both transactions now ask for the pending hold at once
        return original(self, hold_id)

    monkeypatch.setattr(SqlLedgerRepository, "lock_hold", lock_hold_together)
    outcomes: list[str] = []

    def resolve(how: str) -> None:
        try:
            if how == "post":
                ledger.post_hold(hold.id)
            else:
                ledger.void_hold(hold.id)
            outcomes.append(how)
        except HoldAlreadyResolved:
            outcomes.append("refused")
        except GigmarketError as error:  # pragma: no cover -- reported by the assert below
            outcomes.append(f"error: {error}")

    threads = [threading.Thread(target=resolve, args=(how,)) for how in ("post", second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes).count("refused") == 1, outcomes
    moved = ledger.balance("in-flight").posted
    assert moved in (usd("40.00"), usd("0.00"))  # posted once, or voided: never twice
    assert ledger.balance("seller").held == usd("10.00")
    assert ledger.hold(other.id).status.value == "pending"
    with storage() as uow:
        assert audit_ledger(uow.ledger).ok
