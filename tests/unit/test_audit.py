"""The audit finds each kind of damage it claims to detect, in a store corrupted by hand."""

from __future__ import annotations

from datetime import UTC, datetime

import attrs
import pytest

from gigmarket.escrow.audit import audit_ledger
from gigmarket.escrow.ledger import Ledger
from gigmarket.escrow.model import JournalEntry, Posting
from gigmarket.money import Amount
from gigmarket.storage.memory.store import MemoryStorage

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def usd(value: str) -> Amount:
    return Amount.of(value, "USD")


@pytest.fixture
def storage() -> MemoryStorage:
    storage = MemoryStorage()
    ledger = Ledger(storage)
    ledger.open_account("world", "USD", allow_negative=True)
    ledger.open_account("a", "USD")
    ledger.open_account("b", "USD")
    ledger.transfer("world", "a", usd("10.00"))
    ledger.reserve("a", "b", usd("3.00"))
    ledger.transfer("a", "b", usd("1.00"))
    return storage


def violations(storage: MemoryStorage) -> list[tuple[str, str | None, str | None]]:
    with storage() as uow:
        report = audit_ledger(uow.ledger)
    return [(v.invariant, v.account, v.entry_id) for v in report.violations]


def test_a_clean_store_passes(storage: MemoryStorage) -> None:
    with storage() as uow:
        report = audit_ledger(uow.ledger)
    assert report.ok
    assert (report.accounts, report.entries) == (3, 2)


def test_an_unbalanced_entry_is_reported(storage: MemoryStorage) -> None:
    with storage() as uow:
        uow.ledger.add_entry(
            JournalEntry(id="bad", postings=(Posting("a", usd("1.00")),), created_at=NOW)
        )
        uow.commit()
    found = violations(storage)
    assert ("1-balanced", None, "bad") in found
    assert ("4-stored-balance", "a", None) in found


def test_a_stored_balance_that_differs_from_its_postings_is_reported(
    storage: MemoryStorage,
) -> None:
    with storage() as uow:
        stored = uow.ledger.lock_balances(["b"])["b"]
        uow.ledger.save_balance(attrs.evolve(stored, posted=stored.posted + 1))
        uow.commit()
    assert violations(storage) == [("4-stored-balance", "b", None)]


def test_a_negative_non_negative_account_is_reported(storage: MemoryStorage) -> None:
    with storage() as uow:
        uow.ledger.add_entry(
            JournalEntry(
                id="overdraft",
                postings=(Posting("b", usd("-5.00")), Posting("world", usd("5.00"))),
                created_at=NOW,
            )
        )
        for code, delta in (("b", -500), ("world", 500)):
            stored = uow.ledger.lock_balances([code])[code]
            uow.ledger.save_balance(attrs.evolve(stored, posted=stored.posted + delta))
        uow.commit()
    assert violations(storage) == [("2-non-negative", "b", None)]


def test_held_amounts_that_differ_from_pending_holds_are_reported(
    storage: MemoryStorage,
) -> None:
    with storage() as uow:
        stored = uow.ledger.lock_balances(["a"])["a"]
        assert stored.held == 300
        uow.ledger.save_balance(attrs.evolve(stored, held=0))
        uow.commit()
    assert violations(storage) == [("4-stored-balance", "a", None)]


def test_a_false_or_double_reversal_is_reported(storage: MemoryStorage) -> None:
    with storage() as uow:
        original = next(uow.ledger.iter_entries())
        for suffix in ("1", "2"):
            uow.ledger.add_entry(
                JournalEntry(
                    id=f"rev-{suffix}",
                    postings=tuple(Posting(p.account, -p.amount) for p in original.postings),
                    created_at=NOW,
                    reverses=original.id,
                )
            )
        uow.ledger.add_entry(
            JournalEntry(
                id="rev-wrong",
                postings=(Posting("a", usd("1.00")), Posting("world", usd("-1.00"))),
                created_at=NOW,
                reverses="missing",
            )
        )
        uow.commit()
    found = {(v[0], v[2]) for v in violations(storage)}
    assert ("6-append-only", "rev-2") in found
    assert ("6-append-only", "rev-wrong") in found
    assert ("6-append-only", "rev-1") not in found
