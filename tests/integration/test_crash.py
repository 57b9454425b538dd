"""A crash at any moment leaves every entry wholly written or not at all (DESIGN §4.7).

A child process runs an endless stream of random valid operations (orders
placed, paid, started, delivered, accepted, cancelled and tipped; timers run;
withdrawals requested, paid out or cancelled, several entries in one
transaction) against a SQLite file or a PostgreSQL schema. The parent
SIGKILLs it at a random moment, reopens the store as a restarted host would,
and checks every invariant of DESIGN §4 that can be read off the store, then
starts a new child on the same store. SIGKILL gives the child no chance to
clean up: whatever it had not committed must simply not be there.

The randomness is seeded (the kill moments, and each child's operations);
a failure names the seed and the round.
"""

from __future__ import annotations

import random
import signal
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

from gigmarket.escrow.ledger import Ledger
from gigmarket.storage.sqlite.store import SQLiteStorage
from tests.integration.helpers import START, mp_context, spec_of, store_violations, usd
from tests.integration.workers import stream_worker

SEED = 20260105
ROUNDS = 5
WARM_UP = 5
"""Operations the child must have finished before the parent starts its clock."""
STARTUP_TIMEOUT = 30.0


def test_sigkill_at_random_moments_leaves_a_consistent_store(store: Any, tmp_path: Path) -> None:
    spec = spec_of(store)
    rng = random.Random(SEED)
    context = mp_context()
    failure_file = tmp_path / "stream-failure.txt"
    finished = 0
    for round_number in range(ROUNDS):
        seed = SEED * 100 + round_number
        progress = context.RawValue("q", 0)
        child = context.Process(
            target=stream_worker,
            args=(
                spec,
                seed,
                START + timedelta(days=1000 * round_number),
                progress,
                str(failure_file),
            ),
        )
        child.start()
        try:
            deadline = time.monotonic() + STARTUP_TIMEOUT
            while progress.value < WARM_UP and child.is_alive() and time.monotonic() < deadline:
                time.sleep(0.01)
            before = progress.value
            time.sleep(rng.uniform(0.05, 0.5))
            child.kill()
            child.join()
        finally:
            if child.exitcode is None:
                child.kill()
                child.join()
            exitcode = child.exitcode
            child.close()
        where = f"seed {seed}, round {round_number}"
        failure = failure_file.read_text(encoding="utf-8") if failure_file.exists() else ""
        assert exitcode == -signal.SIGKILL, f"{where}: the stream stopped by itself\n{failure}"
        assert before >= WARM_UP, f"{where}: the child never got going"
        finished += progress.value

        reopened = spec.open(migrate=True)
        try:
            assert store_violations(reopened) == [], where
        finally:
            reopened.close()
    assert finished >= ROUNDS * WARM_UP


def test_the_check_sees_a_half_written_entry(tmp_path: Path) -> None:
    """The negative control: an entry torn after its first posting (written by
    hand, one autocommitted statement at a time) is reported, although the
    ledger audit alone would read it as an entry that sums to zero."""
    storage = SQLiteStorage(tmp_path / "torn.db")
    try:
        ledger = Ledger(storage)
        ledger.open_account("gateway:sandbox:USD", "USD", allow_negative=True)
        ledger.open_account("escrow:order:1", "USD")
        ledger.transfer("gateway:sandbox:USD", "escrow:order:1", usd(5575))
        assert store_violations(storage) == []
        db = storage.connection()
        seq = db.insert_returning_seq(
            "INSERT INTO ledger_entries (id, created_at, memo) VALUES (?, ?, ?) RETURNING seq",
            ("torn", "2026-01-05T09:00:00.000000+00:00", "the first half of a transfer"),
        )
        db.execute(
            "INSERT INTO ledger_postings (entry_seq, line, account, units, currency) "
            "VALUES (?, 0, 'gateway:sandbox:USD', -100, 'USD')",
            (seq,),
        )
        found = store_violations(storage)
    finally:
        storage.close()
    assert any(finding.startswith("entry torn is half-written") for finding in found), found
    assert f"entry row {seq} has 1 postings summing to -100" in found
    assert "the ledger sums to -100 USD" in found
