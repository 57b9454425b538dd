"""The ledger's storage port.

The ledger talks to storage only through these protocols; adapters (memory,
SQLite, PostgreSQL) implement them in :mod:`gigmarket.storage`. A unit of work
is one atomic transaction: everything written through it becomes visible on
``commit()`` or not at all.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Sequence
from typing import Protocol

from gigmarket.escrow.model import AccountBalance, Hold, JournalEntry, LedgerAccount
from gigmarket.idempotency import IdempotencyRepository
from gigmarket.unit_of_work import UnitOfWork

__all__ = ["LedgerRepository", "LedgerUnitOfWork", "UnitOfWorkFactory"]


class LedgerRepository(Protocol):
    """Accounts, balances, entries and holds, read and written in one transaction."""

    def get_account(self, code: str) -> LedgerAccount | None:
        """The account ``code``, or ``None`` if no account has this code."""
        ...

    def add_account(self, account: LedgerAccount, balance: AccountBalance) -> None:
        """Store a new account with its (zero) balance."""
        ...

    def lock_balances(self, codes: Collection[str]) -> dict[str, AccountBalance]:
        """Read balances for update.

        SQL adapters lock the rows in one canonical (sorted) order, so two
        transactions touching the same accounts cannot deadlock and neither
        can overdraw on a stale read. Unknown codes are absent from the result.
        """
        ...

    def save_balance(self, balance: AccountBalance) -> None:
        """Replace the balance of ``balance.account``, read before with
        [lock_balances][gigmarket.escrow.ports.LedgerRepository.lock_balances]."""
        ...

    def add_entry(self, entry: JournalEntry) -> None:
        """Append an entry and index it by account and by reference."""
        ...

    def get_entry(self, entry_id: str) -> JournalEntry | None:
        """The entry ``entry_id`` with its postings and references, or ``None``
        if there is none."""
        ...

    def entries_for_account(self, code: str) -> Sequence[JournalEntry]:
        """The account's entries, oldest first."""
        ...

    def entries_with_reference(self, reference: str) -> Sequence[JournalEntry]:
        """Entries carrying ``reference``, oldest first."""
        ...

    def find_reversal(self, entry_id: str) -> JournalEntry | None:
        """The entry that reverses ``entry_id``, if any."""
        ...

    def add_hold(self, hold: Hold) -> None:
        """Store a new (pending) hold; it changes afterwards only through
        [save_hold][gigmarket.escrow.ports.LedgerRepository.save_hold]."""
        ...

    def get_hold(self, hold_id: str) -> Hold | None:
        """The hold ``hold_id`` in whatever status it is, or ``None`` if there is
        none (a read without a lock: see
        [lock_hold][gigmarket.escrow.ports.LedgerRepository.lock_hold])."""
        ...

    def lock_hold(self, hold_id: str) -> Hold | None:
        """Read a hold about to be resolved, locking it where the engine locks
        rows, so that a second resolution waits and then sees the first."""
        ...

    def save_hold(self, hold: Hold) -> None:
        """Replace a stored hold that is still pending (its resolution).

        Raises :class:`~gigmarket.errors.TransientStorageError` if the stored
        hold is no longer pending: another transaction resolved it first.
        """
        ...

    def accounts(self) -> Sequence[LedgerAccount]:
        """Every account, ordered by code."""
        ...

    def iter_entries(self) -> Iterator[JournalEntry]:
        """Every entry, oldest first (for audits)."""
        ...

    def pending_holds(self) -> Sequence[Hold]:
        """Holds not yet posted or voided (for audits)."""
        ...


class LedgerUnitOfWork(UnitOfWork, Protocol):
    """One atomic transaction over the ledger's repositories.

    Leaving the ``with`` block without ``commit()`` (or by an exception)
    rolls everything back.
    """

    @property
    def ledger(self) -> LedgerRepository:
        """The ledger's tables, inside this transaction."""
        ...

    @property
    def idempotency(self) -> IdempotencyRepository:
        """The idempotency records, inside this transaction."""
        ...


class UnitOfWorkFactory(Protocol):
    """Opens a fresh unit of work; a storage adapter is one of these."""

    def __call__(self) -> LedgerUnitOfWork: ...
