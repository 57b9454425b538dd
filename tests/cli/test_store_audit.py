"""The audit's parts that the corrupted stores do not reach: money formatting,
read-only access, and messages it does not know how to put in money."""

from __future__ import annotations

import pytest

from gigmarket.admin import audit as store_audit
from gigmarket.admin.audit import audit_store, format_money
from gigmarket.errors import StorageError
from gigmarket.escrow.audit import audit_ledger
from gigmarket.storage.memory.store import MemoryStorage
from gigmarket.storage.sqlite.store import SQLiteStorage
from tests.cli.conftest import StoredStory
from tests.cli.hands import SQLiteHands, forge_entry


@pytest.mark.parametrize(
    ("units", "currency", "shown"),
    [
        (5575, "USD", "55.75 USD"),
        (-5, "USD", "-0.05 USD"),
        (0, "EUR", "0.00 EUR"),
        (500, "JPY", "500 JPY"),
        (1234, "KWD", "1.234 KWD"),
        (12, "ZZZ", "12 minor units of ZZZ"),
    ],
)
def test_amounts_are_shown_as_money(units: int, currency: str, shown: str) -> None:
    assert format_money(units, currency) == shown


def test_a_message_without_known_amounts_is_kept_as_it_is() -> None:
    assert store_audit._with_money("no stored balance", "USD") == "no stored balance"
    assert store_audit._with_money("available balance is -5", None) == "available balance is -5"


def test_the_audit_refuses_to_write(sqlite_story: StoredStory) -> None:
    storage = SQLiteStorage(sqlite_story.location, migrate=False)
    try:
        with store_audit._read_snapshot(storage) as snapshot:
            with pytest.raises(StorageError, match="only reads; refused: DELETE"):
                snapshot.db.execute("DELETE FROM ledger_entries")
            with pytest.raises(StorageError, match="only reads; refused: INSERT"):
                snapshot.db.insert_returning_seq("INSERT INTO outbox DEFAULT VALUES", ())
        # the connection is usable for writing again afterwards
        with storage() as uow:
            uow.commit()
    finally:
        storage.close()


def test_the_entry_checks_run_even_if_the_ledger_audit_reads_entries_otherwise(
    sqlite_story: StoredStory, monkeypatch: pytest.MonkeyPatch
) -> None:
    story = sqlite_story.story
    forge_entry(
        SQLiteHands(sqlite_story.location),
        "forged-replay",
        [(story.gateway, -5575), (f"escrow:order:{story.open_order}", 5575)],
        key=story.payment_key,
    )
    monkeypatch.setattr(store_audit, "audit_ledger", lambda tee: audit_ledger(tee._inner))
    storage = SQLiteStorage(sqlite_story.location, migrate=False)
    try:
        report = audit_store(storage)
    finally:
        storage.close()
    assert report.entries == 4
    assert ("5-idempotent", story.payment_key) in {(f.invariant, f.key) for f in report.findings}


def test_only_sql_stores_are_audited_here() -> None:
    with pytest.raises(StorageError, match="MemoryStorage is not a SQL store"):
        audit_store(MemoryStorage())
