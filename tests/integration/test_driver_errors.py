"""Driver exceptions never leak: each adapter raises gigmarket errors, chained.

Every failure of ``sqlite3`` or ``psycopg`` reaches the caller as a
:class:`~gigmarket.errors.StorageError` whose ``__cause__`` is the driver's
own exception, and the conflicts a retry resolves (serialization failures,
deadlocks, lock timeouts, racing inserts of one key) as a
:class:`~gigmarket.errors.TransientStorageError`. The failures are real ones
from a real engine: the schema's own triggers and constraints, a file that is
not a database, an unreachable server, two connections in conflict. Messages
are checked only for the fragments gigmarket itself writes (the triggers'
text), never for a driver's wording.
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from gigmarket.errors import (
    IdempotencyConflict,
    SchemaTooNew,
    StorageError,
    TransientStorageError,
)
from gigmarket.escrow.ledger import Ledger
from gigmarket.escrow.model import AccountBalance, LedgerAccount
from gigmarket.idempotency import IdempotencyRecord
from gigmarket.storage.sqlite.store import SQLiteStorage
from tests.integration.helpers import usd

GATEWAY, ESCROW = "gateway:sandbox:USD", "escrow:order:1"
_CONNECT = sqlite3.connect
"""The driver's own connect, for the tests' plain connections (``opened`` patches it)."""

APPEND_ONLY = [
    "UPDATE ledger_entries SET memo = 'edited'",
    "DELETE FROM ledger_entries",
    "UPDATE ledger_postings SET units = units * 2",
    "DELETE FROM ledger_postings",
    "UPDATE ledger_references SET reference = 'edited'",
    "DELETE FROM ledger_references",
]


def _translated(
    error: BaseException, cause: type[BaseException], *, transient: bool = False
) -> None:
    """``error`` is a gigmarket storage error (transient or not, as expected)
    raised ``from`` a driver exception of type ``cause``."""
    assert isinstance(error, StorageError)
    assert isinstance(error, TransientStorageError) is transient, repr(error)
    assert isinstance(error.__cause__, cause), repr(error.__cause__)


def _with_a_payment(storage: Any) -> Any:
    ledger = Ledger(storage)
    ledger.open_account(GATEWAY, "USD", allow_negative=True)
    ledger.open_account(ESCROW, "USD")
    ledger.transfer(GATEWAY, ESCROW, usd(5575), memo="payment", references=["order:1"])
    return storage


def _unchanged(storage: Any) -> None:
    ledger = Ledger(storage)
    assert ledger.balance(ESCROW).posted == usd(5575)
    assert [entry.memo for entry in ledger.entries(ESCROW)] == ["payment"]
    assert len(ledger.entries(ESCROW)[0].postings) == 2


@pytest.fixture
def opened(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[Any]]:
    """Every driver connection an adapter opens during the test, to check that
    an adapter that fails half-way closes what it opened."""
    found: list[Any] = []

    def connect(*args: Any, **kwargs: Any) -> Any:
        found.append(_CONNECT(*args, **kwargs))
        return found[-1]

    monkeypatch.setattr(sqlite3, "connect", connect)
    yield found
    for connection in found:
        connection.close()


def _closed(connection: sqlite3.Connection) -> bool:
    try:
        connection.execute("SELECT 1")
    except sqlite3.ProgrammingError:
        return True
    return False


# -- SQLite --------------------------------------------------------------------


@pytest.fixture
def sqlite_store(tmp_path: Path) -> Iterator[SQLiteStorage]:
    storage = SQLiteStorage(tmp_path / "market.db")
    yield _with_a_payment(storage)
    storage.close()


def test_sqlite_a_file_in_a_missing_directory(tmp_path: Path) -> None:
    with pytest.raises(StorageError) as raised:
        SQLiteStorage(tmp_path / "missing" / "market.db")
    _translated(raised.value, sqlite3.OperationalError)


def test_sqlite_a_file_that_is_not_a_database(tmp_path: Path, opened: list[Any]) -> None:
    path = tmp_path / "notes.db"
    path.write_bytes(b"these are my notes, not a database " * 200)
    with pytest.raises(StorageError) as raised:
        SQLiteStorage(path)
    _translated(raised.value, sqlite3.DatabaseError)
    assert opened
    assert all(_closed(connection) for connection in opened)


def test_sqlite_a_refused_file_leaves_no_connection_open(tmp_path: Path, opened: list[Any]) -> None:
    path = tmp_path / "newer.db"
    SQLiteStorage(path).close()
    with contextlib.closing(_CONNECT(path, isolation_level=None)) as db:
        db.execute("UPDATE gigmarket_schema SET version = version + 1")
    for migrate in (True, False):
        with pytest.raises(SchemaTooNew):
            SQLiteStorage(path, migrate=migrate)
    assert len(opened) == 3
    assert all(_closed(connection) for connection in opened)


@pytest.mark.parametrize("statement", APPEND_ONLY)
def test_sqlite_the_journal_is_append_only(sqlite_store: SQLiteStorage, statement: str) -> None:
    with pytest.raises(StorageError, match="append-only") as raised:
        sqlite_store.connection().execute(statement)
    _translated(raised.value, sqlite3.IntegrityError)
    _unchanged(sqlite_store)


def test_sqlite_a_non_negative_account_cannot_be_written_below_zero(
    sqlite_store: SQLiteStorage,
) -> None:
    with sqlite_store() as uow, pytest.raises(StorageError) as raised:
        uow.ledger.save_balance(AccountBalance(account=ESCROW, currency="USD", posted=-1))
    _translated(raised.value, sqlite3.IntegrityError)
    with pytest.raises(StorageError) as raised:
        sqlite_store.connection().execute(
            "UPDATE ledger_accounts SET held = posted + 1 WHERE code = ?", (ESCROW,)
        )
    _translated(raised.value, sqlite3.IntegrityError)
    _unchanged(sqlite_store)


def test_sqlite_constraint_violations(sqlite_store: SQLiteStorage) -> None:
    record = IdempotencyRecord(
        scope="host:post", key="k", operation="post", fingerprint="f", result_id="e"
    )
    with sqlite_store() as uow:
        uow.idempotency.add_idempotency(record)
        # A key recorded twice is the same error on every adapter.
        with pytest.raises(IdempotencyConflict) as conflict:
            uow.idempotency.add_idempotency(record)
        assert (conflict.value.key, conflict.value.scope) == ("k", "host:post")
        assert isinstance(conflict.value.__cause__, StorageError)
        _translated(conflict.value.__cause__, sqlite3.IntegrityError)
        with pytest.raises(StorageError) as raised:
            uow.ledger.add_account(
                LedgerAccount(code=ESCROW, currency="USD", allow_negative=False),
                AccountBalance(account=ESCROW, currency="USD"),
            )
        _translated(raised.value, sqlite3.IntegrityError)


def test_sqlite_a_locked_database(sqlite_store: SQLiteStorage, tmp_path: Path) -> None:
    impatient = SQLiteStorage(sqlite_store.path, busy_timeout=0.05)
    with contextlib.closing(_CONNECT(sqlite_store.path, isolation_level=None)) as other:
        other.execute("BEGIN IMMEDIATE")
        try:
            with pytest.raises(StorageError) as raised, impatient():
                pass
        finally:
            other.execute("ROLLBACK")
            impatient.close()
    # Nothing was written and the lock is another's: running it again is safe.
    _translated(raised.value, sqlite3.OperationalError, transient=True)


def _journal_mode(path: Path) -> str:
    with contextlib.closing(_CONNECT(path)) as plain:
        return str(plain.execute("PRAGMA journal_mode").fetchone()[0])


def test_sqlite_opening_waits_for_a_lock_on_a_new_file(tmp_path: Path) -> None:
    """Switching a new file to WAL needs an exclusive lock, which SQLite refuses
    at once (without its busy handler) while another connection holds one; the
    opener waits, within ``busy_timeout``, instead of failing."""
    path = tmp_path / "new.db"
    other = _CONNECT(path, isolation_level=None, check_same_thread=False)
    with contextlib.closing(other):
        other.execute("BEGIN EXCLUSIVE")
        other.execute("CREATE TABLE squatter (x)")
        threading.Timer(0.2, other.execute, ("COMMIT",)).start()
        storage = SQLiteStorage(path, busy_timeout=10)
    storage.close()
    assert _journal_mode(path) == "wal"


def test_sqlite_opening_gives_up_after_busy_timeout(tmp_path: Path) -> None:
    path = tmp_path / "new.db"
    with contextlib.closing(_CONNECT(path, isolation_level=None)) as other:
        other.execute("BEGIN EXCLUSIVE")
        other.execute("CREATE TABLE squatter (x)")
        try:
            with pytest.raises(StorageError) as raised:
                SQLiteStorage(path, busy_timeout=0.1)
        finally:
            other.execute("ROLLBACK")
    _translated(raised.value, sqlite3.OperationalError, transient=True)
    assert _journal_mode(path) != "wal"


@pytest.mark.parametrize(
    "arguments",
    [
        {"path": ":memory:"},
        {"path": ""},
        {"path": "market.db", "durability": "fast"},
    ],
    ids=["memory", "empty", "bad-durability"],
)
def test_sqlite_settings_it_refuses(tmp_path: Path, arguments: dict[str, Any]) -> None:
    path = arguments.pop("path")
    target = tmp_path / path if path.endswith(".db") else path
    with pytest.raises(StorageError) as raised:
        SQLiteStorage(target, **arguments)
    assert raised.value.__cause__ is None
    assert not (tmp_path / "market.db").exists()


# -- PostgreSQL ------------------------------------------------------------------


@pytest.fixture
def pg_store(postgres_storage_factory: Callable[[], Any]) -> Any:
    return _with_a_payment(postgres_storage_factory())


@pytest.fixture
def other_connection(postgres_url: str) -> Iterator[Any]:
    """A second, plain psycopg connection (autocommit) to the same server."""
    import psycopg  # noqa: PLC0415 -- optional extra

    with psycopg.connect(postgres_url, autocommit=True) as connection:
        yield connection


def _pg_errors() -> Any:
    from psycopg import errors  # noqa: PLC0415 -- optional extra

    return errors


@pytest.mark.postgres
@pytest.mark.parametrize("statement", APPEND_ONLY)
def test_postgres_the_journal_is_append_only(pg_store: Any, statement: str) -> None:
    with pg_store(), pytest.raises(StorageError, match="append-only") as raised:
        pg_store.connection().execute(statement)  # in the unit of work's transaction
    _translated(raised.value, _pg_errors().RestrictViolation)
    _unchanged(pg_store)


@pytest.mark.postgres
def test_postgres_a_non_negative_account_cannot_be_written_below_zero(pg_store: Any) -> None:
    with pg_store() as uow, pytest.raises(StorageError) as raised:
        uow.ledger.save_balance(AccountBalance(account=ESCROW, currency="USD", posted=-1))
    _translated(raised.value, _pg_errors().CheckViolation)
    _unchanged(pg_store)


@pytest.mark.postgres
def test_postgres_an_unbalanced_entry_fails_at_commit(pg_store: Any) -> None:
    with pg_store() as uow:
        db = pg_store.connection()
        seq = db.insert_returning_seq(
            "INSERT INTO ledger_entries (id, created_at, memo) VALUES (?, ?, ?) RETURNING seq",
            ("torn", "2026-01-05T09:00:00.000000+00:00", "half a transfer"),
        )
        db.execute(
            "INSERT INTO ledger_postings (entry_seq, line, account, units, currency) "
            "VALUES (?, 0, ?, -100, 'USD')",
            (seq, GATEWAY),
        )
        with pytest.raises(StorageError, match="unbalanced") as raised:
            uow.commit()  # each statement was fine; the deferred trigger refuses the whole
    _translated(raised.value, _pg_errors().CheckViolation)
    with pytest.raises(LookupError):
        Ledger(pg_store).entry("torn")
    _unchanged(pg_store)


@pytest.mark.postgres
def test_postgres_unreachable_or_malformed_urls(postgres_url: str) -> None:
    import psycopg  # noqa: PLC0415 -- optional extra

    from gigmarket.storage.postgres.store import PostgresStorage  # noqa: PLC0415 -- optional extra

    for url, cause in (
        ("postgresql://postgres@127.0.0.1:1/test", psycopg.OperationalError),
        ("definitely not a url", psycopg.ProgrammingError),
    ):
        with pytest.raises(StorageError) as raised:
            PostgresStorage(url, connect_timeout=2)
        _translated(raised.value, cause)
    with pytest.raises(StorageError) as raised:
        PostgresStorage(postgres_url, schema="Robert'); DROP TABLE students;--")
    assert raised.value.__cause__ is None


@pytest.mark.postgres
def test_postgres_a_serialization_failure_is_transient(
    pg_store: Any, other_connection: Any
) -> None:
    with pg_store():
        db = pg_store.connection()
        db.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        db.one("SELECT posted FROM ledger_accounts WHERE code = ?", (ESCROW,))  # the snapshot
        other_connection.execute(
            f'UPDATE "{pg_store.schema}".ledger_accounts SET posted = posted WHERE code = %s',
            (ESCROW,),
        )
        with pytest.raises(StorageError) as raised:
            db.execute("UPDATE ledger_accounts SET posted = posted WHERE code = ?", (ESCROW,))
    _translated(raised.value, _pg_errors().SerializationFailure, transient=True)


@pytest.mark.postgres
def test_postgres_a_lock_not_available_is_transient(pg_store: Any, other_connection: Any) -> None:
    with other_connection.transaction():
        other_connection.execute(
            f'SELECT 1 FROM "{pg_store.schema}".ledger_accounts WHERE code = %s FOR UPDATE',
            (ESCROW,),
        )
        with pg_store(), pytest.raises(StorageError) as raised:
            pg_store.connection().execute(
                "SELECT 1 FROM ledger_accounts WHERE code = ? FOR UPDATE NOWAIT", (ESCROW,)
            )
    _translated(raised.value, _pg_errors().LockNotAvailable, transient=True)


@pytest.mark.postgres
def test_postgres_a_deadlock_is_transient(pg_store: Any) -> None:
    # The server's own error for a deadlock (SQLSTATE 40P01), raised on purpose:
    # psycopg picks the exception class by SQLSTATE, so this is the very
    # exception a real deadlock raises, without waiting out deadlock_timeout.
    # (The concurrency tests met real ones before the lock order was fixed.)
    with pg_store(), pytest.raises(StorageError) as raised:
        pg_store.connection().execute(
            "DO $$ BEGIN RAISE EXCEPTION 'deadlock' USING ERRCODE = 'deadlock_detected'; END $$"
        )
    _translated(raised.value, _pg_errors().DeadlockDetected, transient=True)


@pytest.mark.postgres
def test_postgres_racing_inserts_of_one_key_are_transient_other_duplicates_are_not(
    pg_store: Any,
) -> None:
    errors = _pg_errors()
    record = IdempotencyRecord(
        scope="host:post", key="k", operation="post", fingerprint="f", result_id="e"
    )
    with pg_store() as uow:
        uow.idempotency.add_idempotency(record)
        with pytest.raises(StorageError) as raised:
            uow.idempotency.add_idempotency(record)
    _translated(raised.value, errors.UniqueViolation, transient=True)
    cause = raised.value.__cause__
    assert isinstance(cause, errors.UniqueViolation)
    assert cause.diag.constraint_name == "idempotency_keys_pkey"

    with pg_store() as uow, pytest.raises(StorageError) as raised:
        uow.ledger.add_account(
            LedgerAccount(code=ESCROW, currency="USD", allow_negative=False),
            AccountBalance(account=ESCROW, currency="USD"),
        )
    _translated(raised.value, errors.UniqueViolation, transient=True)

    with pg_store() as uow, pytest.raises(StorageError) as raised:
        pg_store.connection().execute(
            "INSERT INTO ledger_entries (id, created_at, memo) "
            "SELECT id, created_at, memo FROM ledger_entries"
        )
    _translated(raised.value, errors.UniqueViolation)  # a duplicate entry id is a bug


@pytest.mark.postgres
def test_postgres_a_posting_to_an_unknown_account(pg_store: Any) -> None:
    with pg_store(), pytest.raises(StorageError) as raised:
        pg_store.connection().execute(
            "INSERT INTO ledger_postings (entry_seq, line, account, units, currency) "
            "SELECT seq, 9, 'nobody:USD', 1, 'USD' FROM ledger_entries"
        )
    _translated(raised.value, _pg_errors().ForeignKeyViolation)


@pytest.mark.postgres
def test_postgres_a_unit_of_work_is_usable_after_a_translated_error(pg_store: Any) -> None:
    with pg_store(), pytest.raises(StorageError):
        pg_store.connection().execute("DELETE FROM ledger_entries")
    ledger = Ledger(pg_store)
    ledger.transfer(ESCROW, GATEWAY, usd(75), memo="partial refund")
    assert ledger.balance(ESCROW).posted == usd(5500)
