"""SQLite storage: the embedded default, one file, no server.

Why it is safe for money:

* **WAL mode** lets readers work while one writer writes.
* Every unit of work starts with ``BEGIN IMMEDIATE``: it takes the write lock
  *before* reading, so two processes cannot both read a balance of 10 and
  both spend it. Waiting writers block up to ``busy_timeout`` seconds.
* **Durability is explicit**: ``synchronous=FULL`` (the default) syncs every
  commit to disk; ``"normal"`` is faster and, in WAL mode, can lose the last
  transactions on power loss (never corrupt the file). Choose knowingly.
* The schema repeats the ledger's rules as constraints and triggers (see
  :mod:`~gigmarket.storage.sqlite.schema`), and every driver error is
  translated into a :class:`~gigmarket.errors.StorageError` chained to it.

Schema versions are recorded in the file and migrated forward on open (or by
:meth:`SQLiteStorage.migrate` with ``migrate=False``); a file written by a
newer gigmarket is refused, never guessed at.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import closing, contextmanager
from pathlib import Path
from types import TracebackType
from typing import Any, ClassVar, Literal, Self

from gigmarket.catalog.reputation import DEFAULT_LEVEL_POLICY, SellerLevelPolicy
from gigmarket.clock import Clock
from gigmarket.errors import SchemaTooNew, StorageError, TransientStorageError
from gigmarket.storage.sql.catalog import SqlCatalogRepository
from gigmarket.storage.sql.payments import SqlPaymentRepository
from gigmarket.storage.sql.repositories import (
    ReadOnlyConnection,
    SqlIdempotencyRepository,
    SqlLedgerRepository,
    SqlOrderRepository,
    SqlOutbox,
)
from gigmarket.storage.sql.search import INDEXED_SINCE
from gigmarket.storage.sqlite.schema import MIGRATIONS, SCHEMA_VERSION
from gigmarket.storage.sqlite.search import SQLiteGigSearch
from gigmarket.storage.urls import StoreLocation

__all__ = [
    "SQLiteStorage",
    "SQLiteUnitOfWork",
]

Durability = Literal["full", "normal"]


class _Cursor:
    """A SQLite connection as a :class:`~gigmarket.storage.sql.repositories.SqlConnection`:
    every call translates driver errors. BEGIN IMMEDIATE locks the whole
    database, so no row-locking clauses are needed."""

    for_update = ""
    skip_locked = ""

    def __init__(self, connection: sqlite3.Connection) -> None:
        self.connection = connection
        self.in_unit_of_work = False
        self.begin_on_next = False
        """Set by a commit inside an open unit of work: the next statement
        starts the unit of work's next transaction."""

    def insert_returning_seq(self, sql: str, parameters: Sequence[Any]) -> int:
        row = self.one(sql, parameters)
        return int(row[0])

    def execute(self, sql: str, parameters: Sequence[Any] = ()) -> sqlite3.Cursor:
        try:
            if self.begin_on_next and not self.connection.in_transaction:
                self.begin_on_next = False
                self.connection.execute("BEGIN IMMEDIATE")
            return self.connection.execute(sql, parameters)
        except sqlite3.OperationalError as error:
            if _is_busy(error):
                # Still locked after busy_timeout: nothing of this unit of work
                # is committed, so running it again later is safe.
                raise TransientStorageError(f"SQLite: {error}") from error
            raise StorageError(f"SQLite: {error}") from error
        except sqlite3.Error as error:
            raise StorageError(f"SQLite: {error}") from error

    def one(self, sql: str, parameters: Sequence[Any] = ()) -> Any:
        return self.execute(sql, parameters).fetchone()

    def all(self, sql: str, parameters: Sequence[Any] = ()) -> list[Any]:
        return self.execute(sql, parameters).fetchall()


def _is_busy(error: sqlite3.OperationalError) -> bool:
    """Whether SQLite refused because another connection holds the lock."""
    return error.sqlite_errorcode & 0xFF in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)


class SQLiteStorage:
    """A unit-of-work factory over one SQLite file (``":memory:"`` is not allowed:
    each thread has its own connection, and they must share one database).

    It serves :class:`gigmarket.ports.Storage`; :meth:`from_location` opens one
    from a store URL (``sqlite:///market.db``), and :meth:`stored_version` reads
    a file's schema version without opening it as a store.
    """

    SCHEMA_VERSION: ClassVar[int] = SCHEMA_VERSION
    """The schema version this code writes and reads."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        durability: Durability = "full",
        busy_timeout: float = 30.0,
        migrate: bool = True,
    ) -> None:
        if str(path) in ("", ":memory:"):
            raise StorageError("SQLiteStorage needs a file path")
        if durability not in ("full", "normal"):
            raise StorageError(f"durability is 'full' or 'normal', not {durability!r}")
        self.path = os.fspath(path)
        self.durability = durability
        self.busy_timeout = busy_timeout
        self._local = threading.local()
        try:
            if migrate:
                self.migrate()
            else:
                self._check_version(self.schema_version())
        except BaseException:
            self.close()  # nobody else can: the caller never gets this object
            raise

    def __repr__(self) -> str:
        return f"SQLiteStorage({self.path!r}, durability={self.durability!r})"

    @classmethod
    def from_location(cls, location: StoreLocation, *, migrate: bool = True) -> SQLiteStorage:
        """The store at a parsed ``sqlite:`` URL
        (:func:`~gigmarket.storage.urls.parse_location`)."""
        if location.engine != "sqlite":
            raise StorageError(f"{location.display} is not a SQLite store")
        return cls(location.target, migrate=migrate)

    @staticmethod
    def stored_version(location: StoreLocation) -> int | None:
        """The schema version recorded in the file, read without changing anything
        (no WAL switch, no migration). ``None``: there is no such file; ``0``: the
        file holds no gigmarket store."""
        path = Path(location.target)
        if not path.exists():
            return None
        if not path.is_file():
            raise StorageError(f"{path} is not a file")
        try:
            with closing(sqlite3.connect(path)) as connection:
                table = connection.execute(
                    "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'gigmarket_schema'"
                ).fetchone()
                if table is None:
                    return 0
                row = connection.execute("SELECT version FROM gigmarket_schema").fetchone()
        except sqlite3.Error as error:
            raise StorageError(f"cannot read {path} as a SQLite database: {error}") from error
        return int(row[0]) if row else 0

    def connection(self) -> _Cursor:
        """This thread's connection, opened and configured on first use."""
        cursor: _Cursor | None = getattr(self._local, "cursor", None)
        if cursor is None:
            try:
                connection = sqlite3.connect(
                    self.path, timeout=self.busy_timeout, isolation_level=None
                )
            except sqlite3.Error as error:
                raise StorageError(f"cannot open {self.path!r}: {error}") from error
            cursor = _Cursor(connection)
            try:
                self._enter_wal(connection)
                cursor.execute(f"PRAGMA synchronous={self.durability.upper()}")
                cursor.execute("PRAGMA foreign_keys=ON")
                cursor.execute(f"PRAGMA busy_timeout={int(self.busy_timeout * 1000)}")
            except BaseException:
                connection.close()  # not a database, say: do not leak the handle
                raise
            self._local.cursor = cursor
        return cursor

    def _enter_wal(self, connection: sqlite3.Connection) -> None:
        """Switch the file to WAL, waiting up to ``busy_timeout`` for other openers.

        Turning WAL on needs an exclusive lock, and SQLite answers "database is
        locked" at once, without its busy handler, when another connection is
        switching at the same moment (it would otherwise risk a deadlock). Several
        processes opening one new file together hit exactly that, so the switch is
        retried here with a bounded backoff. The mode is stored in the file: only
        the first opener really changes it.
        """
        deadline = time.monotonic() + self.busy_timeout
        delay = 0.002
        while True:
            try:
                connection.execute("PRAGMA journal_mode=WAL").fetchall()
                return
            except sqlite3.OperationalError as error:
                if not _is_busy(error):
                    raise StorageError(f"SQLite: {error}") from error
                if time.monotonic() + delay > deadline:
                    raise TransientStorageError(f"SQLite: {error}") from error
            except sqlite3.Error as error:
                raise StorageError(f"SQLite: {error}") from error
            time.sleep(delay)
            delay = min(delay * 2, 0.1)

    def close(self) -> None:
        """Close this thread's connection (others close when their thread ends)."""
        cursor: _Cursor | None = getattr(self._local, "cursor", None)
        if cursor is not None:
            cursor.connection.close()
            self._local.cursor = None

    def __call__(self) -> SQLiteUnitOfWork:
        return SQLiteUnitOfWork(self.connection())

    @contextmanager
    def read_only(self) -> Iterator[ReadOnlyConnection]:
        """A snapshot of the file: a deferred read transaction (WAL readers never
        wait for the writer) with ``query_only`` set, rolled back at the end."""
        db = self.connection()
        busy = db.in_unit_of_work or db.connection.in_transaction
        if busy:
            # Reading on it would roll that transaction back (or be rolled into it).
            raise StorageError("audit outside of a unit of work: one is open on this thread")
        try:
            db.execute("PRAGMA query_only = ON")
            db.execute("BEGIN")  # deferred: the snapshot is taken at the first read
            yield ReadOnlyConnection(db)
        finally:
            if db.connection.in_transaction:
                db.execute("ROLLBACK")
            db.execute("PRAGMA query_only = OFF")

    def gig_search(
        self, *, clock: Clock | None = None, level_policy: SellerLevelPolicy = DEFAULT_LEVEL_POLICY
    ) -> SQLiteGigSearch:
        """This file's full-text gig search (what ``Catalog(storage)`` uses by default)."""
        return SQLiteGigSearch(self, clock=clock, level_policy=level_policy)

    # -- schema -----------------------------------------------------------

    def schema_version(self) -> int:
        """The version recorded in the file (0 for a new, empty file)."""
        db = self.connection()
        exists = db.one(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'gigmarket_schema'"
        )
        if not exists:
            return 0
        row = db.one("SELECT version FROM gigmarket_schema")
        return int(row[0]) if row else 0

    @staticmethod
    def _check_version(found: int) -> None:
        if found > SCHEMA_VERSION:
            raise SchemaTooNew(found=found, supported=SCHEMA_VERSION)
        if found < SCHEMA_VERSION:
            raise StorageError(
                f"the database has schema version {found}, this code needs {SCHEMA_VERSION}: "
                "run `gigmarket migrate`, or open it with migrate=True"
            )

    def migrate(self, target: int = SCHEMA_VERSION) -> int:
        """Apply the missing migrations up to ``target``, each in one transaction."""
        db = self.connection()
        if target > SCHEMA_VERSION:
            raise SchemaTooNew(found=target, supported=SCHEMA_VERSION)
        db.execute("BEGIN IMMEDIATE")
        try:
            db.execute("CREATE TABLE IF NOT EXISTS gigmarket_schema (version INTEGER NOT NULL)")
            row = db.one("SELECT version FROM gigmarket_schema")
            current = int(row[0]) if row else 0
            if row is None:
                db.execute("INSERT INTO gigmarket_schema (version) VALUES (0)")
            if current > SCHEMA_VERSION:
                raise SchemaTooNew(found=current, supported=SCHEMA_VERSION)
            for version in range(current + 1, target + 1):
                for statement in _statements(MIGRATIONS[version - 1]):
                    db.execute(statement)
                db.execute("UPDATE gigmarket_schema SET version = ?", (version,))
            if current < INDEXED_SINCE <= target:
                SqlCatalogRepository(db).rebuild_search_index()
            db.execute("COMMIT")
        except BaseException:
            db.connection.rollback()
            raise
        return max(current, target)


def _statements(script: str) -> list[str]:
    """Split a migration into statements (triggers keep their inner semicolons)."""
    statements: list[str] = []
    buffer = ""
    for line in script.strip().splitlines():
        buffer += line + "\n"
        if sqlite3.complete_statement(buffer):
            statements.append(buffer.strip())
            buffer = ""
    if buffer.strip():
        statements.append(buffer.strip())
    return statements


class SQLiteUnitOfWork:
    """One ``BEGIN IMMEDIATE`` transaction on this thread's connection."""

    def __init__(self, db: _Cursor) -> None:
        self._db = db
        self.ledger = SqlLedgerRepository(db)
        self.idempotency = SqlIdempotencyRepository(db)
        self.orders = SqlOrderRepository(db)
        self.outbox = SqlOutbox(db)
        self.catalog = SqlCatalogRepository(db)
        self.payments = SqlPaymentRepository(db)
        self._open = False

    def __enter__(self) -> Self:
        if self._open or self._db.in_unit_of_work or self._db.connection.in_transaction:
            raise StorageError("a unit of work is already open on this thread")
        self._db.execute("BEGIN IMMEDIATE")
        self._db.in_unit_of_work = True
        self._open = True
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._open = False
        self._db.in_unit_of_work = False
        self._db.begin_on_next = False
        if self._db.connection.in_transaction:
            try:
                self._db.connection.rollback()
            except sqlite3.Error as error:  # pragma: no cover -- a dying connection
                raise StorageError(f"SQLite: rollback failed: {error}") from error

    def commit(self) -> None:
        """Commit what was written so far; the unit of work stays usable.

        The next transaction begins with the next statement, not here: if
        beginning it failed inside ``commit()``, a caller would take a durable
        commit for a failed one and might pay twice.
        """
        if not self._open:
            raise StorageError("commit() outside of a 'with' block")
        self._db.execute("COMMIT")
        self._db.begin_on_next = True

    def rollback(self) -> None:
        if self._db.connection.in_transaction:
            self._db.execute("ROLLBACK")
        self._db.begin_on_next = self._open
