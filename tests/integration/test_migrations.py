"""Schema versions: an old store is migrated forward on open, a newer one is refused.

The "previous schema version" fixtures are built the way the old code built
them: a ``gigmarket_schema`` table and the migration scripts ``1..n`` run in
order, by the plain driver. Released migrations are never edited (a change is
always a new migration), so ``MIGRATIONS[:n]`` *is* the schema gigmarket
version *n* wrote; using the adapter to build it is impossible (it migrates to
the current version on open, and refuses an old file with ``migrate=False``)
and would not be honest anyway. Data is written into the old file with plain
SQL, as the old code's repositories wrote it; the fingerprint of its
idempotency record and the JSON document of its hold are frozen literals, so
a codec or fingerprint change that cannot read old data fails here.

Everything is written against ``MIGRATIONS`` and ``SCHEMA_VERSION``: every
older version is migrated to whatever the current one is, and the migrated
schema must be exactly the schema a fresh store gets.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from gigmarket.cashier.model import OperationKind, OperationStatus, PaymentOperation
from gigmarket.clock import ManualClock
from gigmarket.errors import SchemaTooNew, StorageError
from gigmarket.escrow.ledger import Ledger
from gigmarket.escrow.model import HoldStatus
from gigmarket.idempotency import internal_key
from gigmarket.orders import OrderDesk, fiverr_policy
from gigmarket.storage.postgres.schema import MIGRATIONS as PG_MIGRATIONS
from gigmarket.storage.postgres.schema import SCHEMA_VERSION as PG_VERSION
from gigmarket.storage.sqlite.schema import MIGRATIONS as SQLITE_MIGRATIONS
from gigmarket.storage.sqlite.schema import SCHEMA_VERSION as SQLITE_VERSION
from gigmarket.storage.sqlite.store import SQLiteStorage
from tests.integration.helpers import (
    BUYER_ID,
    START,
    StoreSpec,
    make_offer,
    mp_context,
    run_processes,
    store_violations,
    usd,
)
from tests.integration.workers import open_worker

Execute = Callable[[str, tuple[Any, ...]], Any]

# -- the ledger as gigmarket schema version 1 stored it ----------------------

GATEWAY, ESCROW = "gateway:sandbox:USD", "escrow:order:o1"
PENDING, AVAILABLE = "seller:nadia:pending:USD", "seller:nadia:available:USD"
REVENUE, IN_FLIGHT = "platform:revenue:USD", "payouts:in_flight:USD"

V1_ACCOUNTS = (  # code, currency, allow_negative, posted, held
    (GATEWAY, "USD", 1, -5575, 0),
    (ESCROW, "USD", 0, 0, 0),
    (PENDING, "USD", 0, 0, 0),
    (REVENUE, "USD", 0, 1575, 0),
    (AVAILABLE, "USD", 0, 4000, 1000),
    (IN_FLIGHT, "USD", 0, 0, 0),
)
V1_ENTRIES = (  # id, created_at, memo, idempotency key, postings, references
    (
        "e1",
        "2026-01-05T09:00:00.000000+00:00",
        "payment for order o1",
        "payment:ch_1",
        ((GATEWAY, -5575), (ESCROW, 5575)),
        ("order:o1",),
    ),
    (
        "e2",
        "2026-01-06T09:00:00.000000+00:00",
        "release of order o1 to seller nadia",
        None,
        ((ESCROW, -5575), (PENDING, 4000), (REVENUE, 1575)),
        ("order:o1",),
    ),
    (
        "e3",
        "2026-01-20T09:00:00.000000+00:00",
        "clearance for seller nadia",
        None,
        ((PENDING, -4000), (AVAILABLE, 4000)),
        ("seller:nadia",),
    ),
)
V1_IDEMPOTENCY = (
    "payment:ch_1",
    "post",
    "6a7bb0022703efc78cfcce9dea15e53b978010fe430605ba7ab0c34f0c4353e6",
    "e1",
)
V1_HOLD = (
    "hold-1",
    AVAILABLE,
    IN_FLIGHT,
    "pending",
    '{"id": "hold-1", "source": "seller:nadia:available:USD", "destination": '
    '"payouts:in_flight:USD", "amount": {"units": 1000, "currency": "USD"}, '
    '"created_at": "2026-01-20T09:00:00.000000+00:00", "status": "pending", '
    '"memo": "withdrawal by seller nadia", "references": ["seller:nadia"], '
    '"resolved_at": null, "posted_amount": null, "entry_id": null}',
)


SCOPED_SINCE = 6
"""The schema version from which idempotency keys are stored with their scope."""


def _write_v1_ledger(execute: Execute, version: int = 1) -> None:
    """A payment, its release and clearance, and a pending withdrawal, as the
    code of schema ``version`` wrote them (the same data in every version)."""
    for row in V1_ACCOUNTS:
        execute(
            "INSERT INTO ledger_accounts (code, currency, allow_negative, posted, held) "
            "VALUES (?, ?, ?, ?, ?)",
            row,
        )
    for entry_id, created_at, memo, key, postings, references in V1_ENTRIES:
        (seq,) = execute(
            "INSERT INTO ledger_entries (id, created_at, memo, idempotency_key) "
            "VALUES (?, ?, ?, ?) RETURNING seq",
            (entry_id, created_at, memo, key),
        ).fetchone()
        for line, (account, units) in enumerate(postings):
            execute(
                "INSERT INTO ledger_postings (entry_seq, line, account, units, currency) "
                "VALUES (?, ?, ?, ?, 'USD')",
                (seq, line, account, units),
            )
        for line, reference in enumerate(references):
            execute(
                "INSERT INTO ledger_references (entry_seq, line, reference) VALUES (?, ?, ?)",
                (seq, line, reference),
            )
    if version < SCOPED_SINCE:
        execute(
            "INSERT INTO idempotency_keys (key, operation, fingerprint, result_id) "
            "VALUES (?, ?, ?, ?)",
            V1_IDEMPOTENCY,
        )
    else:  # the library's key for charge ch_1, in its scope
        key, operation, fingerprint, result_id = V1_IDEMPOTENCY
        execute(
            "INSERT INTO idempotency_keys (scope, key, operation, fingerprint, result_id) "
            "VALUES (?, ?, ?, ?, ?)",
            ("gigmarket:payment", key.removeprefix("payment:"), operation, fingerprint, result_id),
        )
    execute(
        "INSERT INTO ledger_holds (id, source, destination, status, document) "
        "VALUES (?, ?, ?, ?, ?)",
        V1_HOLD,
    )


def _check_v1_ledger(storage: Any) -> None:
    """The old data reads back exactly, replays, audits clean and takes new writes."""
    ledger = Ledger(storage)
    available = ledger.balance(AVAILABLE)
    assert (available.posted, available.held) == (usd(4000), usd(1000))
    assert ledger.balance(REVENUE).posted == usd(1575)
    assert ledger.balance(GATEWAY).posted == usd(-5575)
    assert [entry.id for entry in ledger.entries_with_reference("order:o1")] == ["e1", "e2"]
    assert ledger.entry("e2").postings[1].amount == usd(4000)
    replay = ledger.transfer(  # the library's key for charge ch_1, now in its own scope
        GATEWAY,
        ESCROW,
        usd(5575),
        memo="payment for order o1",
        references=["order:o1"],
        idempotency_key=internal_key("payment", "ch_1"),
    )
    assert replay.id == "e1"
    assert ledger.hold("hold-1").status is HoldStatus.PENDING
    assert store_violations(storage) == []
    ledger.post_hold("hold-1")
    assert ledger.balance(IN_FLIGHT).posted == usd(1000)
    desk = OrderDesk(storage, policy=fiverr_policy(), clock=ManualClock(START))
    order = desk.place(make_offer(), buyer_id=BUYER_ID)
    desk.record_payment(order.id, order.price.total_charged, reference="ch_2")
    assert store_violations(storage) == []
    _check_payment_operations(storage)


def _check_payment_operations(storage: Any) -> None:
    """The migrated store keeps payment operations (schema 5), and reads them back."""
    operation = PaymentOperation(
        id="payop-1",
        kind=OperationKind.PAYMENT,
        gateway="sandbox",
        subject="o1",
        amount=usd(5575),
        status=OperationStatus.STARTED,
        created_at=START,
        updated_at=START,
        hold_id="hold-1",
        credit=usd(575),
    )
    with storage() as uow:
        uow.payments.add_operation(operation)
        uow.commit()
    with storage() as uow:
        assert uow.payments.get_operation("payop-1") == operation
        assert list(uow.payments.open_operations(10)) == [operation]


# -- SQLite --------------------------------------------------------------------


def _sqlite_file_at(path: Path, version: int) -> None:
    """A file as gigmarket at schema ``version`` created it: its migrations, in order."""
    with contextlib.closing(sqlite3.connect(path, isolation_level=None)) as db:
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("CREATE TABLE IF NOT EXISTS gigmarket_schema (version INTEGER NOT NULL)")
        db.execute("INSERT INTO gigmarket_schema (version) VALUES (?)", (version,))
        for script in SQLITE_MIGRATIONS[:version]:
            db.executescript(script)


def _sqlite_plain(path: Path, work: Callable[[sqlite3.Connection], Any]) -> Any:
    with contextlib.closing(sqlite3.connect(path, isolation_level=None)) as db:
        return work(db)


def _sqlite_shape(path: Path) -> list[tuple[Any, ...]]:
    shape: list[tuple[Any, ...]] = _sqlite_plain(
        path,
        lambda db: sorted(
            db.execute(
                "SELECT type, name, tbl_name, sql FROM sqlite_master WHERE name NOT LIKE 'sqlite_%'"
            ).fetchall()
        ),
    )
    return shape


def _sqlite_version(path: Path) -> int:
    return int(
        _sqlite_plain(
            path, lambda db: db.execute("SELECT version FROM gigmarket_schema").fetchone()[0]
        )
    )


@pytest.mark.parametrize("version", range(1, SQLITE_VERSION))
def test_an_old_sqlite_file_is_migrated_on_open(tmp_path: Path, version: int) -> None:
    old, fresh = tmp_path / "old.db", tmp_path / "fresh.db"
    _sqlite_file_at(old, version)
    _sqlite_plain(old, lambda db: _write_v1_ledger(db.execute, version))

    storage = SQLiteStorage(old)
    try:
        assert storage.schema_version() == SQLITE_VERSION
        _check_v1_ledger(storage)
    finally:
        storage.close()
    SQLiteStorage(fresh).close()
    assert _sqlite_shape(old) == _sqlite_shape(fresh)


def test_a_sqlite_file_from_a_newer_gigmarket_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "newer.db"
    SQLiteStorage(path).close()
    newer = SQLITE_VERSION + 1
    _sqlite_plain(path, lambda db: db.execute("UPDATE gigmarket_schema SET version = ?", (newer,)))
    shape = _sqlite_shape(path)

    for migrate in (True, False):
        with pytest.raises(SchemaTooNew) as refused:
            SQLiteStorage(path, migrate=migrate)
        assert (refused.value.found, refused.value.supported) == (newer, SQLITE_VERSION)
    assert _sqlite_version(path) == newer
    assert _sqlite_shape(path) == shape


def test_an_old_sqlite_file_opened_without_migrating_names_migrate(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    _sqlite_file_at(path, 1)
    with pytest.raises(StorageError, match="gigmarket migrate") as refused:
        SQLiteStorage(path, migrate=False)
    assert not isinstance(refused.value, SchemaTooNew)
    assert _sqlite_version(path) == 1


def test_migrating_a_sqlite_file_twice_changes_nothing(tmp_path: Path) -> None:
    path = tmp_path / "market.db"
    _sqlite_file_at(path, 1)
    _sqlite_plain(path, lambda db: _write_v1_ledger(db.execute))
    storage = SQLiteStorage(path)
    try:
        shape = _sqlite_shape(path)
        assert storage.migrate() == SQLITE_VERSION
        assert storage.migrate() == SQLITE_VERSION
        assert _sqlite_shape(path) == shape
        assert storage.schema_version() == SQLITE_VERSION
        _check_v1_ledger(storage)
    finally:
        storage.close()
    again = SQLiteStorage(path, migrate=False)
    assert again.schema_version() == SQLITE_VERSION
    again.close()


def test_processes_opening_a_new_sqlite_file_at_once_all_succeed(tmp_path: Path) -> None:
    path, fresh = tmp_path / "new.db", tmp_path / "fresh.db"
    context = mp_context()
    opener_count = 4
    barrier = context.Barrier(opener_count)
    spec = StoreSpec("sqlite", str(path))
    versions = run_processes(context, open_worker, [(spec, barrier)] * opener_count)
    assert versions == [SQLITE_VERSION] * opener_count
    rows = _sqlite_plain(
        path, lambda db: db.execute("SELECT version FROM gigmarket_schema").fetchall()
    )
    assert rows == [(SQLITE_VERSION,)]
    SQLiteStorage(fresh).close()
    assert _sqlite_shape(path) == _sqlite_shape(fresh)


# -- PostgreSQL ----------------------------------------------------------------


def _pg_plain(url: str, schema: str, work: Callable[[Execute], Any]) -> Any:
    """Run ``work`` in one committed transaction of a plain psycopg connection
    whose search path is ``schema`` (created if missing)."""
    import psycopg  # noqa: PLC0415 -- optional extra

    with psycopg.connect(url) as connection:
        connection.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
        connection.execute(f'SET search_path TO "{schema}"')

        def execute(sql: str, parameters: tuple[Any, ...] = ()) -> Any:
            if not parameters:
                return connection.execute(sql)  # may hold several statements
            return connection.execute(sql.replace("?", "%s"), parameters)

        return work(execute)  # the connection commits when the block ends


def _pg_schema_at(url: str, schema: str, version: int) -> None:
    def build(execute: Execute) -> None:
        execute("CREATE TABLE IF NOT EXISTS gigmarket_schema (version INTEGER NOT NULL)", ())
        execute("INSERT INTO gigmarket_schema (version) VALUES (?)", (version,))
        for script in PG_MIGRATIONS[:version]:
            execute(script, ())

    _pg_plain(url, schema, build)


def _pg_shape(url: str, schema: str) -> dict[str, list[tuple[Any, ...]]]:
    """Tables, columns, indexes, constraints, triggers and functions of a schema,
    with the schema's own name taken out so that two schemas compare."""

    def read(execute: Execute) -> dict[str, list[tuple[Any, ...]]]:
        queries = {
            "columns": "SELECT table_name, column_name, data_type, is_nullable, "
            "column_default, is_identity FROM information_schema.columns WHERE table_schema = ?",
            "indexes": "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = ?",
            "constraints": "SELECT c.conrelid::regclass::text, c.conname, "
            "pg_get_constraintdef(c.oid), c.condeferrable, c.condeferred FROM pg_constraint c "
            "JOIN pg_namespace n ON n.oid = c.connamespace WHERE n.nspname = ?",
            "triggers": "SELECT event_object_table, trigger_name, event_manipulation, "
            "action_timing, action_statement FROM information_schema.triggers "
            "WHERE trigger_schema = ?",
            "functions": "SELECT p.proname, p.prosrc FROM pg_proc p "
            "JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = ?",
        }
        return {
            name: sorted(
                tuple(str(v).replace(schema, "<schema>") for v in row)
                for row in execute(sql, (schema,)).fetchall()
            )
            for name, sql in queries.items()
        }

    shape: dict[str, list[tuple[Any, ...]]] = _pg_plain(url, schema, read)
    return shape


def _pg_version(url: str, schema: str) -> int:
    return int(
        _pg_plain(
            url, schema, lambda ex: ex("SELECT version FROM gigmarket_schema", ()).fetchone()[0]
        )
    )


@pytest.fixture
def fresh_postgres_shape(postgres_storage_factory: Any, postgres_url: str) -> dict[str, Any]:
    """The shape of a schema the current code created from nothing."""
    storage = postgres_storage_factory()
    return _pg_shape(postgres_url, storage.schema)


@pytest.mark.postgres
@pytest.mark.parametrize("version", range(1, PG_VERSION))
def test_an_old_postgres_schema_is_migrated_on_open(
    postgres_url: str, postgres_schema: str, fresh_postgres_shape: Any, version: int
) -> None:
    from gigmarket.storage.postgres.store import PostgresStorage  # noqa: PLC0415 -- optional extra

    _pg_schema_at(postgres_url, postgres_schema, version)
    _pg_plain(postgres_url, postgres_schema, lambda ex: _write_v1_ledger(ex, version))

    storage = PostgresStorage(postgres_url, schema=postgres_schema)
    try:
        assert storage.schema_version() == PG_VERSION
        _check_v1_ledger(storage)
    finally:
        storage.close()
    assert _pg_shape(postgres_url, postgres_schema) == fresh_postgres_shape


@pytest.mark.postgres
def test_a_postgres_schema_from_a_newer_gigmarket_is_refused(
    postgres_url: str, postgres_schema: str
) -> None:
    from gigmarket.storage.postgres.store import PostgresStorage  # noqa: PLC0415 -- optional extra

    PostgresStorage(postgres_url, schema=postgres_schema).close()
    newer = PG_VERSION + 1
    _pg_plain(
        postgres_url,
        postgres_schema,
        lambda execute: execute("UPDATE gigmarket_schema SET version = ?", (newer,)),
    )
    shape = _pg_shape(postgres_url, postgres_schema)

    for migrate in (True, False):
        with pytest.raises(SchemaTooNew) as refused:
            PostgresStorage(postgres_url, schema=postgres_schema, migrate=migrate)
        assert (refused.value.found, refused.value.supported) == (newer, PG_VERSION)
    assert _pg_version(postgres_url, postgres_schema) == newer
    assert _pg_shape(postgres_url, postgres_schema) == shape


@pytest.mark.postgres
def test_an_old_postgres_schema_opened_without_migrating_names_migrate(
    postgres_url: str, postgres_schema: str
) -> None:
    from gigmarket.storage.postgres.store import PostgresStorage  # noqa: PLC0415 -- optional extra

    _pg_schema_at(postgres_url, postgres_schema, 1)
    with pytest.raises(StorageError, match="gigmarket migrate") as refused:
        PostgresStorage(postgres_url, schema=postgres_schema, migrate=False)
    assert not isinstance(refused.value, SchemaTooNew)
    assert _pg_version(postgres_url, postgres_schema) == 1


@pytest.mark.postgres
def test_migrating_a_postgres_schema_twice_changes_nothing(
    postgres_url: str, postgres_schema: str
) -> None:
    from gigmarket.storage.postgres.store import PostgresStorage  # noqa: PLC0415 -- optional extra

    _pg_schema_at(postgres_url, postgres_schema, 1)
    _pg_plain(postgres_url, postgres_schema, _write_v1_ledger)
    storage = PostgresStorage(postgres_url, schema=postgres_schema)
    try:
        shape = _pg_shape(postgres_url, postgres_schema)
        assert storage.migrate() == PG_VERSION
        assert storage.migrate() == PG_VERSION
        assert _pg_shape(postgres_url, postgres_schema) == shape
        _check_v1_ledger(storage)
    finally:
        storage.close()
    again = PostgresStorage(postgres_url, schema=postgres_schema, migrate=False)
    assert again.schema_version() == PG_VERSION
    again.close()


@pytest.mark.postgres
def test_processes_opening_a_new_postgres_schema_at_once_all_succeed(
    postgres_url: str, postgres_schema: str, fresh_postgres_shape: Any
) -> None:
    context = mp_context()
    opener_count = 4
    barrier = context.Barrier(opener_count)
    spec = StoreSpec("postgres", postgres_url, postgres_schema)
    versions = run_processes(context, open_worker, [(spec, barrier)] * opener_count)
    assert versions == [PG_VERSION] * opener_count
    rows = _pg_plain(
        postgres_url,
        postgres_schema,
        lambda execute: execute("SELECT version FROM gigmarket_schema", ()).fetchall(),
    )
    assert rows == [(PG_VERSION,)]
    assert _pg_shape(postgres_url, postgres_schema) == fresh_postgres_shape


# -- schema 6: idempotency keys move into scopes --------------------------------

UNSCOPED_KEYS = (  # key, operation, result_id, as schema 5 stored them
    ("payment:ch_1", "post", "e1"),
    ("refund:o9:3", "post", "e2"),
    ("webhook:sandbox:evt_1", "webhook", "ch_1"),
    ("order-tip:ch_9", "tip", "o9"),
    ("buyer-key", "place_order", "o9"),
    ("payment:ch_2", "place_order", "o-gone"),  # a host key shaped like the library's
    ("gig-key", "create_gig", "g1"),
    ("edit-key", "update_gig", "2"),
    ("payment:ch_3", "refund_completed", "o9"),
    ("k", "post", "e3"),
)
SCOPED_KEYS = [  # scope, key, operation, fingerprint, result_id after the migration
    ("gigmarket:order-tip", "ch_9", "tip", "f", "o9"),
    ("gigmarket:payment", "ch_1", "post", "f", "e1"),
    ("gigmarket:refund", "o9:3", "post", "f", "e2"),
    ("gigmarket:webhook", "sandbox:evt_1", "webhook", "f", "ch_1"),
    ("host:create_gig:s1", "gig-key", "create_gig", "f", "g1"),
    ("host:place_order", "payment:ch_2", "place_order", "f", "o-gone"),
    ("host:place_order:b1", "buyer-key", "place_order", "f", "o9"),
    ("host:post", "k", "post", "f", "e3"),
    ("host:refund_completed", "payment:ch_3", "refund_completed", "f", "o9"),
    ("host:update_gig", "edit-key", "update_gig", "f", "2"),
    ("host:withdraw:s1", "1", "withdraw", "amount:1000 USD", "payout:s1:1"),
    ("host:withdraw:s1", "w-7", "withdraw", "amount:2500 USD", "payout:s1:w-7"),
]


def _write_unscoped_keys(execute: Execute) -> None:
    """Schema-5 rows of every kind of key, with the order, gig and payouts they name."""
    execute(
        "INSERT INTO orders (id, version, state, buyer_id, seller_id, document) "
        "VALUES ('o9', 1, 'completed', 'b1', 's1', '{}')",
        (),
    )
    execute(
        "INSERT INTO catalog_gigs (id, seller_id, status, document) "
        "VALUES ('g1', 's1', 'draft', '{}')",
        (),
    )
    for key, operation, result_id in UNSCOPED_KEYS:
        execute(
            "INSERT INTO idempotency_keys (key, operation, fingerprint, result_id) "
            "VALUES (?, ?, 'f', ?)",
            (key, operation, result_id),
        )
    for suffix, units in (("1", 1000), ("w-7", 2500)):
        execute(
            "INSERT INTO payment_operations (id, kind, gateway, subject, currency, units, "
            "status, created_at, updated_at, version) VALUES (?, 'payout', 'sandbox', 's1', "
            "'USD', ?, 'succeeded', '2026-01-05T09:00:00.000000+00:00', "
            "'2026-01-05T09:00:00.000000+00:00', 1)",
            (f"payout:s1:{suffix}", units),
        )


_READ_KEYS = (
    "SELECT scope, key, operation, fingerprint, result_id FROM idempotency_keys ORDER BY scope, key"
)


def test_sqlite_keys_of_schema_5_move_into_their_scopes(tmp_path: Path) -> None:
    path = tmp_path / "v5.db"
    _sqlite_file_at(path, 5)
    _sqlite_plain(path, lambda db: _write_unscoped_keys(db.execute))
    SQLiteStorage(path).close()
    rows = _sqlite_plain(path, lambda db: db.execute(_READ_KEYS).fetchall())
    assert [tuple(row) for row in rows] == SCOPED_KEYS


@pytest.mark.postgres
def test_postgres_keys_of_schema_5_move_into_their_scopes(
    postgres_url: str, postgres_schema: str
) -> None:
    from gigmarket.storage.postgres.store import PostgresStorage  # noqa: PLC0415 -- optional extra

    _pg_schema_at(postgres_url, postgres_schema, 5)
    _pg_plain(postgres_url, postgres_schema, _write_unscoped_keys)
    PostgresStorage(postgres_url, schema=postgres_schema).close()
    rows = _pg_plain(postgres_url, postgres_schema, lambda ex: ex(_READ_KEYS, ()).fetchall())
    assert [tuple(row) for row in rows] == SCOPED_KEYS
