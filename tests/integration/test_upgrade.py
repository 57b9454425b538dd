"""The PostgreSQL path of ``docs/how-to/upgrade.md``, with the commands it shows.

A schema at an old version, written the way the migration tests write one
(the plain driver running the old migrations), is dumped with ``pg_dump
--schema``, migrated and audited with the ``gigmarket`` command, then rolled
back as the page says: the migrated schema renamed aside, the dump replayed
with ``psql``. The restored schema is the old store again, and can be
upgraded again. (The SQLite path runs as the page's own example, in
``tests/docs``.)
"""

from __future__ import annotations

import contextlib
import io
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from gigmarket import Amount, Marketplace
from gigmarket.admin.cli import main as gigmarket
from gigmarket.admin.operations import parse_location, stored_version
from gigmarket.storage.postgres.schema import MIGRATIONS, SCHEMA_VERSION

pytestmark = pytest.mark.postgres

OLD_VERSION = 4

RELEASE = (  # a completed order's money, released as the old code booked it
    "INSERT INTO ledger_accounts (code, currency, allow_negative, posted, held) VALUES "
    "('gateway:sandbox:USD', 'USD', 1, -5575, 0), "
    "('seller:nadia:pending:USD', 'USD', 0, 4000, 0), "
    "('platform:revenue:USD', 'USD', 0, 1575, 0)",
    "INSERT INTO ledger_entries (id, created_at, memo) "
    "VALUES ('e1', '2026-01-06T09:00:00.000000+00:00', 'release of order o1')",
    "INSERT INTO ledger_postings (entry_seq, line, account, units, currency) "
    "SELECT seq, line, account, units, 'USD' FROM ledger_entries, (VALUES "
    "(0, 'gateway:sandbox:USD', -5575), (1, 'seller:nadia:pending:USD', 4000), "
    "(2, 'platform:revenue:USD', 1575)) AS p (line, account, units) WHERE id = 'e1'",
)


def _tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        pytest.skip(f"{name} is not on PATH: install PostgreSQL's client programs")
    return found


def _run(*argv: str) -> tuple[int, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        status = gigmarket(list(argv))
    return status, out.getvalue() + err.getvalue()


def _old_schema(url: str, schema: str, version: int) -> None:
    import psycopg  # noqa: PLC0415 -- optional extra

    with psycopg.connect(url) as connection:
        connection.execute(f'CREATE SCHEMA "{schema}"')
        connection.execute(f'SET search_path TO "{schema}"')
        connection.execute("CREATE TABLE gigmarket_schema (version INTEGER NOT NULL)")
        connection.execute("INSERT INTO gigmarket_schema (version) VALUES (%s)", (version,))
        for script in MIGRATIONS[:version]:
            connection.execute(script)
        for statement in RELEASE:
            connection.execute(statement)


@pytest.fixture
def aside(postgres_url: str, postgres_schema: str) -> Iterator[str]:
    """The name the migrated schema is moved to on rollback, dropped afterwards."""
    import psycopg  # noqa: PLC0415 -- optional extra

    name = f"{postgres_schema}_failed"
    yield name
    with psycopg.connect(postgres_url, autocommit=True) as connection:
        connection.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')


def test_a_postgres_store_is_backed_up_migrated_audited_and_rolled_back(
    postgres_url: str, postgres_schema: str, aside: str, tmp_path: Path
) -> None:
    pg_dump, psql = _tool("pg_dump"), _tool("psql")
    schema = postgres_schema
    location = parse_location(postgres_url, schema=schema)
    _old_schema(postgres_url, schema, OLD_VERSION)
    assert _run("audit", "--db", postgres_url, "--schema", schema)[0] == 2  # too old to read

    dump = tmp_path / "before-upgrade.sql"
    subprocess.run(
        [pg_dump, f"--schema={schema}", f"--file={dump}", postgres_url],
        check=True,
        capture_output=True,
    )

    status, said = _run("migrate", "--db", postgres_url, "--schema", schema)
    assert status == 0, said
    assert said.endswith(f": schema version {OLD_VERSION} → {SCHEMA_VERSION}\n")
    status, report = _run("audit", "--db", postgres_url, "--schema", schema)
    assert status == 0, report
    assert report.endswith("no violations\n")
    assert stored_version(location) == SCHEMA_VERSION

    # Roll back: the migrated schema aside, the dump replayed.
    subprocess.run(
        [
            psql,
            postgres_url,
            "-v",
            "ON_ERROR_STOP=1",
            "-c",
            f'ALTER SCHEMA "{schema}" RENAME TO "{aside}"',
        ],
        check=True,
        capture_output=True,
    )
    subprocess.run(
        [psql, postgres_url, "-v", "ON_ERROR_STOP=1", "--single-transaction", f"--file={dump}"],
        check=True,
        capture_output=True,
    )
    assert stored_version(location) == OLD_VERSION
    assert stored_version(parse_location(postgres_url, schema=aside)) == SCHEMA_VERSION

    # The restored store is the old one, whole: it upgrades again, and its money reads back.
    assert _run("migrate", "--db", postgres_url, "--schema", schema)[0] == 0
    from gigmarket.storage.postgres.store import PostgresStorage  # noqa: PLC0415 -- optional extra

    market = Marketplace(PostgresStorage(postgres_url, schema=schema, migrate=False))
    try:
        assert market.balance("platform:revenue:USD").posted == Amount.of("15.75", "USD")
        assert market.seller_balance("nadia", "USD")["pending"] == Amount.of("40.00", "USD")
        assert market.audit() == []
    finally:
        market.storage.close()
