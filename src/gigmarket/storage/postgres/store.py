"""PostgreSQL storage, for marketplaces that outgrow one file (``pip install gigmarket[postgres]``).

How it keeps money safe under many concurrent writers:

* balances are read ``FOR NO KEY UPDATE`` in one canonical (sorted) order, so
  two transactions spending the same balance queue up instead of both reading
  the old value; an order is locked by the unit of work that reads it, and
  saved with an optimistic version check besides;
* serialization failures, deadlocks and racing inserts of one idempotency
  key or one new account surface as :class:`~gigmarket.errors.TransientStorageError`, and the
  services run the whole unit of work again a bounded number of times;
* timers are claimed, with their order, ``FOR UPDATE SKIP LOCKED``, so
  several ``run_due`` workers share the work instead of colliding;
* the schema rejects, even for hand-written SQL, an unbalanced journal entry
  (a deferred constraint trigger checked at commit), an UPDATE or DELETE of
  the journal, and a negative non-negative account.

Each thread uses its own connection. ``schema`` selects the PostgreSQL schema
(namespace) gigmarket's tables live in, created if missing.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from types import TracebackType
from typing import Any, ClassVar, Self

from gigmarket.catalog.reputation import DEFAULT_LEVEL_POLICY, SellerLevelPolicy
from gigmarket.clock import Clock
from gigmarket.errors import SchemaTooNew, StorageError, TransientStorageError
from gigmarket.storage.postgres.schema import MIGRATIONS, SCHEMA_VERSION
from gigmarket.storage.postgres.search import PostgresGigSearch
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
from gigmarket.storage.urls import StoreLocation, scrub, url_secrets

try:
    import psycopg
    from psycopg import errors as pg_errors
except ImportError as missing:  # pragma: no cover -- exercised only without the extra
    raise ImportError(
        "PostgresStorage needs psycopg 3: pip install 'gigmarket[postgres]'"
    ) from missing

__all__ = ["PostgresStorage", "PostgresUnitOfWork"]

_IDENTIFIER = re.compile(r"[a-z_][a-z0-9_]{0,62}")
# Racing inserts of one key: the loser's retry finds the winner's row (an
# account opened by two first payments at once, a replayed key, a reversal).
_TRANSIENT_UNIQUE = {"idempotency_keys_pkey", "ledger_accounts_pkey", "ledger_entries_reverses_key"}


def _translate(error: psycopg.Error) -> StorageError:
    """A driver error as a gigmarket error; the caller chains it with ``from``."""
    message = f"PostgreSQL: {str(error).strip()}"
    if isinstance(error, pg_errors.SerializationFailure | pg_errors.DeadlockDetected):
        return TransientStorageError(message)
    if isinstance(error, pg_errors.LockNotAvailable):
        return TransientStorageError(message)
    if (
        isinstance(error, pg_errors.UniqueViolation)
        and error.diag.constraint_name in _TRANSIENT_UNIQUE
    ):
        return TransientStorageError(message)
    return StorageError(message)


class _Connection:
    """A psycopg connection as a :class:`~gigmarket.storage.sql.repositories.SqlConnection`."""

    # NO KEY UPDATE, not UPDATE: a plain FOR UPDATE also blocks the KEY SHARE
    # locks that foreign-key checks take, so a writer inserting a hold or a
    # posting that *references* an account another writer has locked waits on
    # it outside the canonical order, and the two deadlock.
    for_update = " FOR NO KEY UPDATE"
    skip_locked = " FOR UPDATE SKIP LOCKED"

    def __init__(self, connection: psycopg.Connection[Any]) -> None:
        self.connection = connection
        self.in_unit_of_work = False
        self._sql: dict[str, str] = {}

    def _rewrite(self, sql: str) -> str:
        rewritten = self._sql.get(sql)
        if rewritten is None:
            rewritten = self._sql[sql] = sql.replace("?", "%s")
        return rewritten

    def execute(self, sql: str, parameters: Sequence[Any] = ()) -> Any:
        try:
            return self.connection.execute(self._rewrite(sql), tuple(parameters))
        except psycopg.Error as error:
            raise _translate(error) from error

    def one(self, sql: str, parameters: Sequence[Any] = ()) -> Any:
        return self.execute(sql, parameters).fetchone()

    def all(self, sql: str, parameters: Sequence[Any] = ()) -> list[Any]:
        result: list[Any] = self.execute(sql, parameters).fetchall()
        return result

    def insert_returning_seq(self, sql: str, parameters: Sequence[Any]) -> int:
        return int(self.one(sql, parameters)[0])

    def script(self, script: str) -> None:
        try:
            self.connection.execute(script)
        except psycopg.Error as error:
            raise _translate(error) from error

    def commit(self) -> None:
        try:
            self.connection.commit()
        except psycopg.Error as error:
            raise _translate(error) from error

    def rollback(self) -> None:
        try:
            self.connection.rollback()
        except psycopg.Error as error:  # pragma: no cover -- a dying connection
            raise _translate(error) from error


class PostgresStorage:
    """A unit-of-work factory over one PostgreSQL database (and schema).

    It serves :class:`gigmarket.ports.Storage`; :meth:`from_location` opens one
    from a store URL (``postgresql://...?schema=eu``), and :meth:`stored_version`
    reads a schema's version without opening it as a store.
    """

    SCHEMA_VERSION: ClassVar[int] = SCHEMA_VERSION
    """The schema version this code writes and reads."""

    def __init__(
        self,
        url: str,
        *,
        schema: str = "public",
        migrate: bool = True,
        connect_timeout: int = 10,
        pool_size: int = 10,
        pool_timeout: float = 30.0,
    ) -> None:
        if not _IDENTIFIER.fullmatch(schema):
            raise StorageError(f"{schema!r} is not a plain lower-case schema name")
        if isinstance(pool_size, bool) or not isinstance(pool_size, int) or pool_size < 1:
            raise StorageError(f"pool_size must be a positive whole number, not {pool_size!r}")
        self.url = url
        self.schema = schema
        self.connect_timeout = connect_timeout
        self.pool_size = pool_size
        self.pool_timeout = pool_timeout
        self._local = threading.local()
        self._connections: list[_Connection] = []
        self._idle: list[_Connection] = []
        self._slots = threading.BoundedSemaphore(pool_size)
        self._lock = threading.Lock()
        try:
            if migrate:
                self.migrate()
            elif (found := self.schema_version()) != SCHEMA_VERSION:
                if found > SCHEMA_VERSION:
                    raise SchemaTooNew(found=found, supported=SCHEMA_VERSION)
                raise StorageError(
                    f"the database has schema version {found}, this code needs "
                    f"{SCHEMA_VERSION}: run `gigmarket migrate`, or open it with migrate=True"
                )
        except BaseException:
            self.close()  # nobody else can: the caller never gets this object
            raise
        self.release()  # the constructing thread keeps no connection it does not use

    def __repr__(self) -> str:
        return f"PostgresStorage(schema={self.schema!r})"  # the URL may hold a password

    @classmethod
    def from_location(cls, location: StoreLocation, *, migrate: bool = True) -> PostgresStorage:
        """The store at a parsed ``postgresql:`` URL
        (:func:`~gigmarket.storage.urls.parse_location`), in its schema."""
        if location.engine != "postgres":
            raise StorageError(f"{location.display} is not a PostgreSQL store")
        return cls(location.target, schema=location.schema, migrate=migrate)

    @staticmethod
    def stored_version(location: StoreLocation) -> int:
        """The schema version recorded in the location's schema, read on a
        connection of its own without creating or changing anything. ``0``: the
        schema holds no gigmarket store (or does not exist)."""
        if not _IDENTIFIER.fullmatch(location.schema):
            raise StorageError(f"{location.schema!r} is not a plain lower-case schema name")
        try:
            with psycopg.connect(
                location.target, connect_timeout=10, autocommit=True
            ) as connection:
                table = f'"{location.schema}".gigmarket_schema'
                found = connection.execute("SELECT to_regclass(%s)", (table,)).fetchone()
                if found is None or found[0] is None:
                    return 0
                # parse_location checked the schema name: a plain identifier
                row = connection.execute(f"SELECT version FROM {table}").fetchone()  # noqa: S608
        except psycopg.Error as error:
            # The driver's message may quote the URL (a malformed password, say):
            # then it is scrubbed, and not chained, so no traceback shows it either.
            said = str(error).strip()
            shown = location.scrub(said)
            failure = StorageError(f"cannot read the PostgreSQL store: {shown}")
            if shown != said:
                raise failure from None
            raise failure from error
        return int(row[0]) if row else 0

    def connection(self) -> _Connection:
        """This thread's connection: the one it holds, or one taken from the pool.

        The pool holds at most ``pool_size`` connections. A unit of work takes
        one when it is created and gives it back when it ends, so threads
        share a few connections instead of each keeping its own; a thread that
        waits longer than ``pool_timeout`` seconds for one gets a
        :class:`~gigmarket.errors.TransientStorageError`.
        """
        held: _Connection | None = getattr(self._local, "connection", None)
        if held is not None and not held.connection.closed:
            return held
        if held is not None:  # closed under us (a server restart): give back its slot
            self._local.connection = None
            self._slots.release()
        if not self._slots.acquire(timeout=self.pool_timeout):
            raise TransientStorageError(
                f"all {self.pool_size} PostgreSQL connections stayed busy for "
                f"{self.pool_timeout:g} s"
            )
        try:
            connection = self._take_idle() or self._open()
        except BaseException:
            self._slots.release()
            raise
        self._local.connection = connection
        return connection

    def release(self) -> None:
        """Give this thread's connection back to the pool, rolled back and clean."""
        held: _Connection | None = getattr(self._local, "connection", None)
        if held is None:
            return
        self._local.connection = None
        try:
            if not held.connection.closed:
                held.rollback()
                with self._lock:
                    self._idle.append(held)
        except StorageError:
            held.connection.close()
        finally:
            self._slots.release()

    def _take_idle(self) -> _Connection | None:
        with self._lock:
            while self._idle:
                connection = self._idle.pop()
                if not connection.connection.closed:
                    return connection
        return None

    def _open(self) -> _Connection:
        try:
            raw = psycopg.connect(self.url, connect_timeout=self.connect_timeout)
        except psycopg.Error as error:
            # libpq quotes what it cannot parse, a password included: then the
            # message is scrubbed and the driver's error (which quotes it) not chained.
            said = str(error).strip()
            shown = scrub(said, url_secrets(self.url))
            failure = StorageError(f"cannot connect to PostgreSQL: {shown}")
            if shown != said:
                raise failure from None
            raise failure from error
        connection = _Connection(raw)
        try:
            exists = connection.one("SELECT 1 FROM pg_namespace WHERE nspname = ?", (self.schema,))
            if exists is None:
                # CREATE SCHEMA IF NOT EXISTS is not safe against itself: of two
                # connections creating one schema at once, one fails.
                connection.execute(
                    "SELECT pg_advisory_xact_lock(hashtext(?))", (f"gigmarket:{self.schema}",)
                )
                connection.script(f'CREATE SCHEMA IF NOT EXISTS "{self.schema}"')
            connection.script(f'SET search_path TO "{self.schema}"')
            connection.commit()
        except BaseException:
            raw.close()
            raise
        with self._lock:
            self._connections.append(connection)
        return connection

    def close(self) -> None:
        """Close every connection this storage opened; it may be used again after."""
        with self._lock:
            for connection in self._connections:
                connection.connection.close()
            self._connections.clear()
            self._idle.clear()
        self._local = threading.local()
        self._slots = threading.BoundedSemaphore(self.pool_size)

    def __call__(self) -> PostgresUnitOfWork:
        return PostgresUnitOfWork(self.connection(), release=self.release)

    @contextmanager
    def read_only(self) -> Iterator[ReadOnlyConnection]:
        """A snapshot of the schema: a ``REPEATABLE READ, READ ONLY`` transaction
        that takes no row locks, rolled back at the end."""
        db = self.connection()
        if db.in_unit_of_work:
            # Reading on it would roll that transaction back (or be rolled into it).
            raise StorageError("audit outside of a unit of work: one is open on this thread")
        try:
            db.rollback()
            db.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            yield ReadOnlyConnection(db)
        finally:
            db.rollback()

    def gig_search(
        self, *, clock: Clock | None = None, level_policy: SellerLevelPolicy = DEFAULT_LEVEL_POLICY
    ) -> PostgresGigSearch:
        """This database's full-text gig search (what ``Catalog(storage)`` uses by default)."""
        return PostgresGigSearch(self, clock=clock, level_policy=level_policy)

    def schema_version(self) -> int:
        """The version recorded in the store's schema (0 for a new, empty one)."""
        db = self.connection()
        row = db.one(
            "SELECT 1 FROM information_schema.tables WHERE table_schema = ? "
            "AND table_name = 'gigmarket_schema'",
            (self.schema,),
        )
        version = 0
        if row is not None:
            found = db.one("SELECT version FROM gigmarket_schema")
            version = int(found[0]) if found else 0
        db.rollback()
        return version

    def migrate(self, target: int = SCHEMA_VERSION) -> int:
        """Apply missing migrations up to ``target`` in one transaction, under an
        advisory lock so that two processes starting together migrate once."""
        if target > SCHEMA_VERSION:
            raise SchemaTooNew(found=target, supported=SCHEMA_VERSION)
        db = self.connection()
        try:
            db.execute("SELECT pg_advisory_xact_lock(hashtext(?))", (f"gigmarket:{self.schema}",))
            db.script("CREATE TABLE IF NOT EXISTS gigmarket_schema (version INTEGER NOT NULL)")
            row = db.one("SELECT version FROM gigmarket_schema")
            current = int(row[0]) if row else 0
            if row is None:
                db.execute("INSERT INTO gigmarket_schema (version) VALUES (0)")
            if current > SCHEMA_VERSION:
                raise SchemaTooNew(found=current, supported=SCHEMA_VERSION)
            for version in range(current + 1, target + 1):
                db.script(MIGRATIONS[version - 1])
                db.execute("UPDATE gigmarket_schema SET version = ?", (version,))
            if current < INDEXED_SINCE <= target:
                SqlCatalogRepository(db).rebuild_search_index()
            db.commit()
        except BaseException:
            db.rollback()
            raise
        return max(current, target)

    def drop_schema(self) -> None:
        """Drop the whole schema and everything in it (for tests and tear-downs)."""
        db = self.connection()
        db.script(f'DROP SCHEMA IF EXISTS "{self.schema}" CASCADE')
        db.commit()
        self.close()


class PostgresUnitOfWork:
    """One transaction on a pooled connection (READ COMMITTED, row locks); the
    connection goes back to the pool when the ``with`` block ends."""

    def __init__(self, db: _Connection, *, release: Callable[[], None] = lambda: None) -> None:
        self._db = db
        self._release = release
        self.ledger = SqlLedgerRepository(db)
        self.idempotency = SqlIdempotencyRepository(db)
        self.orders = SqlOrderRepository(db)
        self.outbox = SqlOutbox(db)
        self.catalog = SqlCatalogRepository(db)
        self.payments = SqlPaymentRepository(db)
        self._open = False

    def __enter__(self) -> Self:
        if self._open or self._db.in_unit_of_work:
            # The thread's connection carries the open unit of work's writes: a
            # second one would share (and its rollback discard) them. Refuse, as
            # SQLite does.
            raise StorageError("a unit of work is already open on this thread")
        self._db.rollback()  # start clean: nothing left over from an earlier failure
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
        try:
            self._db.rollback()
        finally:
            self._release()

    def commit(self) -> None:
        if not self._open:
            raise StorageError("commit() outside of a 'with' block")
        self._db.commit()

    def rollback(self) -> None:
        self._db.rollback()
