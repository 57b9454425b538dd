"""Fixtures of the integration tests: a real SQLite file, a real PostgreSQL schema.

``store`` is parametrized over both engines (the PostgreSQL case is marked
``postgres`` and comes from the root ``postgres_storage_factory``, so it skips
with a reason without ``GIGMARKET_POSTGRES_URL`` and fails under CI).
``postgres_url`` and ``postgres_schema`` are for tests that build a schema by
hand; the schema is dropped afterwards whatever the test did to it.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from gigmarket.storage.sqlite.store import SQLiteStorage

POSTGRES_URL = os.environ.get("GIGMARKET_POSTGRES_URL")


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Any]:
    """A fresh, migrated store on each engine; the parent's handle on it."""
    if request.param == "sqlite":
        storage = SQLiteStorage(tmp_path / "market.db")
        yield storage
        storage.close()
    else:
        factory: Callable[[], Any] = request.getfixturevalue("postgres_storage_factory")
        yield factory()


@pytest.fixture
def postgres_url() -> str:
    """The server's URL; skips (fails under CI) without ``GIGMARKET_POSTGRES_URL``."""
    if not POSTGRES_URL:
        if os.environ.get("CI"):
            pytest.fail("CI must set GIGMARKET_POSTGRES_URL: PostgreSQL tests may not skip in CI")
        pytest.skip("set GIGMARKET_POSTGRES_URL to run the PostgreSQL tests")
    return POSTGRES_URL


@pytest.fixture
def postgres_schema(postgres_url: str) -> Iterator[str]:
    """A schema name nobody uses yet, dropped (with everything in it) afterwards."""
    import psycopg  # noqa: PLC0415 -- optional extra

    name = f"gm_test_{uuid.uuid4().hex[:12]}"
    yield name
    with psycopg.connect(postgres_url, autocommit=True) as connection:
        connection.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')
