"""In-memory storage: every port, kept in dictionaries, with real transactions.

It is the adapter for unit tests, simulations and the conformance suite's
reference, so it must behave like a database, not like a dict: writes are
staged in the unit of work and become visible only on ``commit()``; an
exception or a missing commit discards them; and one lock serialises units
of work, like SQLite's ``BEGIN IMMEDIATE``, so concurrent threads cannot
interleave a read and a write.
"""

from __future__ import annotations

import threading
from collections import defaultdict
from collections.abc import Collection, Hashable, Iterator, Sequence
from types import TracebackType
from typing import Any, Self

from gigmarket.errors import IdempotencyConflict, StorageError, TransientStorageError
from gigmarket.escrow.model import AccountBalance, Hold, HoldStatus, JournalEntry, LedgerAccount
from gigmarket.idempotency import IdempotencyRecord
from gigmarket.storage.memory.catalog import MemoryCatalogRepository
from gigmarket.storage.memory.orders import MemoryOrderRepository, MemoryOutbox
from gigmarket.storage.memory.payments import MemoryPaymentRepository
from gigmarket.storage.sqlite.schema import SCHEMA_VERSION

__all__ = [
    "MemoryIdempotencyRepository",
    "MemoryLedgerRepository",
    "MemoryStorage",
    "MemoryTransaction",
    "MemoryUnitOfWork",
]


_DELETED = object()
"""A staged deletion: the key reads as absent and is removed on commit."""


class MemoryStorage:
    """The committed state of an in-memory store, and the factory of its units of work.

    ``MemoryStorage()`` is a unit-of-work factory: ``with storage() as uow: ...``.
    """

    def __init__(self) -> None:
        self.tables: dict[str, dict[Hashable, Any]] = defaultdict(dict)
        self.lists: dict[str, dict[Hashable, list[Any]]] = defaultdict(lambda: defaultdict(list))
        self.lock = threading.Lock()
        self.active = threading.local()  # whether this thread has a unit of work open

    def __call__(self) -> MemoryUnitOfWork:
        return MemoryUnitOfWork(self)

    def close(self) -> None:
        """Nothing to close: the data lives as long as this object."""

    def schema_version(self) -> int:
        """A memory store is born at this code's schema version and never outlives it."""
        return SCHEMA_VERSION

    def migrate(self) -> int:
        """Nothing to migrate (see :meth:`schema_version`)."""
        return SCHEMA_VERSION

    def __repr__(self) -> str:
        return f"MemoryStorage(tables={sorted(self.tables)})"


class MemoryTransaction:
    """Staged writes over a :class:`MemoryStorage`: keyed tables and append-only lists."""

    def __init__(self, storage: MemoryStorage) -> None:
        self._storage = storage
        self._tables: dict[str, dict[Hashable, Any]] = defaultdict(dict)
        self._lists: dict[str, dict[Hashable, list[Any]]] = defaultdict(lambda: defaultdict(list))

    def get(self, table: str, key: Hashable) -> Any:
        staged = self._tables.get(table)
        if staged is not None and key in staged:
            value = staged[key]
            return None if value is _DELETED else value
        committed = self._storage.tables.get(table)
        return None if committed is None else committed.get(key)

    def put(self, table: str, key: Hashable, value: Any) -> None:
        self._tables[table][key] = value

    def delete(self, table: str, key: Hashable) -> None:
        self._tables[table][key] = _DELETED

    def values(self, table: str) -> list[Any]:
        merged = dict(self._storage.tables.get(table, {}))
        merged.update(self._tables.get(table, {}))
        return [value for value in merged.values() if value is not _DELETED]

    def append(self, name: str, key: Hashable, item: Any) -> None:
        self._lists[name][key].append(item)

    def sequence(self, name: str, key: Hashable) -> list[Any]:
        committed = self._storage.lists.get(name, {}).get(key, [])
        staged = self._lists.get(name, {}).get(key, [])
        return [*committed, *staged]

    def commit(self) -> None:
        for table, rows in self._tables.items():
            target = self._storage.tables[table]
            for key, value in rows.items():
                if value is _DELETED:
                    target.pop(key, None)
                else:
                    target[key] = value
        for name, lists in self._lists.items():
            target = self._storage.lists[name]
            for key, items in lists.items():
                target[key].extend(items)
        self.discard()

    def discard(self) -> None:
        self._tables.clear()
        self._lists.clear()


class MemoryLedgerRepository:
    """The ledger port over a :class:`MemoryTransaction`."""

    def __init__(self, tx: MemoryTransaction) -> None:
        self._tx = tx

    def get_account(self, code: str) -> LedgerAccount | None:
        account: LedgerAccount | None = self._tx.get("ledger_accounts", code)
        return account

    def add_account(self, account: LedgerAccount, balance: AccountBalance) -> None:
        self._tx.put("ledger_accounts", account.code, account)
        self._tx.put("ledger_balances", account.code, balance)

    def lock_balances(self, codes: Collection[str]) -> dict[str, AccountBalance]:
        found = {code: self._tx.get("ledger_balances", code) for code in sorted(codes)}
        return {code: balance for code, balance in found.items() if balance is not None}

    def save_balance(self, balance: AccountBalance) -> None:
        self._tx.put("ledger_balances", balance.account, balance)

    def add_entry(self, entry: JournalEntry) -> None:
        self._tx.put("ledger_entries", entry.id, entry)
        self._tx.append("ledger_log", None, entry.id)
        for account in entry.accounts:
            self._tx.append("ledger_entries_by_account", account, entry.id)
        for reference in dict.fromkeys(entry.references):
            self._tx.append("ledger_entries_by_reference", reference, entry.id)
        if entry.reverses is not None:
            self._tx.put("ledger_reversals", entry.reverses, entry.id)

    def get_entry(self, entry_id: str) -> JournalEntry | None:
        entry: JournalEntry | None = self._tx.get("ledger_entries", entry_id)
        return entry

    def _entries(self, name: str, key: Hashable) -> list[JournalEntry]:
        return [self._tx.get("ledger_entries", i) for i in self._tx.sequence(name, key)]

    def entries_for_account(self, code: str) -> Sequence[JournalEntry]:
        return self._entries("ledger_entries_by_account", code)

    def entries_with_reference(self, reference: str) -> Sequence[JournalEntry]:
        return self._entries("ledger_entries_by_reference", reference)

    def find_reversal(self, entry_id: str) -> JournalEntry | None:
        reversal_id = self._tx.get("ledger_reversals", entry_id)
        return None if reversal_id is None else self.get_entry(reversal_id)

    def add_hold(self, hold: Hold) -> None:
        self._tx.put("ledger_holds", hold.id, hold)

    def get_hold(self, hold_id: str) -> Hold | None:
        hold: Hold | None = self._tx.get("ledger_holds", hold_id)
        return hold

    def lock_hold(self, hold_id: str) -> Hold | None:
        return self.get_hold(hold_id)  # units of work are serialised already

    def save_hold(self, hold: Hold) -> None:
        stored = self.get_hold(hold.id)
        if stored is None:
            raise StorageError(f"hold {hold.id!r} was never added")
        if stored.status is not HoldStatus.PENDING:
            raise TransientStorageError(f"hold {hold.id!r} was resolved by another transaction")
        self._tx.put("ledger_holds", hold.id, hold)

    def accounts(self) -> Sequence[LedgerAccount]:
        accounts: list[LedgerAccount] = self._tx.values("ledger_accounts")
        return sorted(accounts, key=lambda account: account.code)

    def iter_entries(self) -> Iterator[JournalEntry]:
        return iter(self._entries("ledger_log", None))

    def pending_holds(self) -> Sequence[Hold]:
        holds: list[Hold] = self._tx.values("ledger_holds")
        return [hold for hold in holds if hold.status is HoldStatus.PENDING]


class MemoryIdempotencyRepository:
    """The idempotency port over a :class:`MemoryTransaction`."""

    def __init__(self, tx: MemoryTransaction) -> None:
        self._tx = tx

    def get_idempotency(self, scope: str, key: str) -> IdempotencyRecord | None:
        record: IdempotencyRecord | None = self._tx.get("idempotency", (scope, key))
        return record

    def add_idempotency(self, record: IdempotencyRecord) -> None:
        # Like the SQL stores' primary key: a pair is recorded once, never overwritten.
        if self._tx.get("idempotency", (record.scope, record.key)) is not None:
            raise IdempotencyConflict(
                key=record.key, operation=record.operation, scope=record.scope
            )
        self._tx.put("idempotency", (record.scope, record.key), record)


class MemoryUnitOfWork:
    """One transaction on a :class:`MemoryStorage`; holds its lock while open."""

    def __init__(self, storage: MemoryStorage) -> None:
        self._storage = storage
        self.transaction = MemoryTransaction(storage)
        self.ledger = MemoryLedgerRepository(self.transaction)
        self.idempotency = MemoryIdempotencyRepository(self.transaction)
        self.catalog = MemoryCatalogRepository(self.transaction)
        self.orders = MemoryOrderRepository(self.transaction)
        self.outbox = MemoryOutbox(self.transaction)
        self.payments = MemoryPaymentRepository(self.transaction)
        self._open = False

    def __enter__(self) -> Self:
        if self._open:
            raise StorageError("this unit of work is already open")
        if getattr(self._storage.active, "open", False):
            # Like the SQL stores: one transaction per thread at a time. A nested
            # unit of work would stage apart from the open one and could commit
            # what the outer one then rolls back.
            raise StorageError("a unit of work is already open on this thread")
        self._storage.lock.acquire()
        self._storage.active.open = True
        self._open = True
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            self.rollback()
        finally:
            self._open = False
            self._storage.active.open = False
            self._storage.lock.release()

    def commit(self) -> None:
        if not self._open:
            raise StorageError("commit() outside of a 'with' block")
        self.transaction.commit()

    def rollback(self) -> None:
        self.transaction.discard()
