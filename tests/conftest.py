"""Shared test configuration.

Hypothesis profiles: ``ci`` (the default under CI=true) runs the state
machines at the depth the issues ask for; ``dev`` is quicker for local edits;
``deep`` is for an evening's hunt (``HYPOTHESIS_PROFILE=deep``).
"""

from __future__ import annotations

import os
import tempfile
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, settings

from gigmarket.storage.memory.store import MemoryStorage
from gigmarket.storage.sqlite.store import SQLiteStorage

settings.register_profile(
    "ci",
    max_examples=200,
    stateful_step_count=50,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    print_blob=True,
)
settings.register_profile("dev", max_examples=50, stateful_step_count=30, deadline=None)
settings.register_profile(
    "deep",
    max_examples=2000,
    stateful_step_count=100,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci" if os.environ.get("CI") else "dev"))


POSTGRES_URL = os.environ.get("GIGMARKET_POSTGRES_URL")


def pytest_configure(config: pytest.Config) -> None:
    """Under CI the PostgreSQL tests must run, so a missing URL stops the run at once."""
    if os.environ.get("CI") and not POSTGRES_URL:
        raise pytest.UsageError(
            "CI must set GIGMARKET_POSTGRES_URL: the PostgreSQL tests may not skip in CI"
        )


@contextmanager
def postgres_stores(
    *, durable: bool = True, close_earlier: bool = False
) -> Iterator[Callable[[], Any]]:
    """Make fresh PostgreSQL stores, each in its own schema, and drop them all at the end.

    Without ``GIGMARKET_POSTGRES_URL`` the calling test skips, saying why;
    under CI the variable is required, so these tests can never silently skip there.
    ``durable=False`` turns ``synchronous_commit`` off on the store's connection:
    commits stop waiting for the disk (what a crash of the *server* could lose),
    while what a transaction sees and when stays exactly the same.
    ``close_earlier=True`` closes the stores made before each new one (a store
    reconnects when used again), so that a test making hundreds of stores does
    not hold hundreds of server connections.
    """
    if not POSTGRES_URL:
        if os.environ.get("CI"):
            pytest.fail("CI must set GIGMARKET_POSTGRES_URL: PostgreSQL tests may not skip in CI")
        pytest.skip("set GIGMARKET_POSTGRES_URL to run the PostgreSQL tests")
    from gigmarket.storage.postgres.store import PostgresStorage  # noqa: PLC0415 -- optional extra

    created: list[Any] = []

    def make() -> Any:
        for earlier in created if close_earlier else ():
            earlier.close()
        storage = PostgresStorage(POSTGRES_URL, schema=f"gm_test_{uuid.uuid4().hex[:12]}")
        created.append(storage)
        if not durable:
            storage.connection().script("SET synchronous_commit = off")
            storage.connection().commit()
        return storage

    try:
        yield make
    finally:
        for storage in created:
            storage.drop_schema()


@pytest.fixture
def postgres_storage_factory() -> Iterator[Callable[[], Any]]:
    """Fresh PostgreSQL stores, each in its own schema, dropped afterwards."""
    with postgres_stores() as make:
        yield make


@pytest.fixture(
    scope="module",
    params=["memory", "sqlite", pytest.param("postgres", marks=pytest.mark.postgres)],
)
def storage_engine(request: pytest.FixtureRequest) -> str:
    """The adapter a test runs on: ``memory``, ``sqlite`` or ``postgres`` (one run each)."""
    engine: str = request.param
    return engine


@pytest.fixture(scope="module")
def any_storage_factory(storage_engine: str) -> Iterator[Callable[[], Any]]:
    """Fresh empty stores of the ``storage_engine`` adapter.

    Module-scoped, so that a module-scoped fixture (a generated market) and a
    Hypothesis test (which refuses function-scoped fixtures) can make stores;
    every store is closed (and every PostgreSQL schema dropped) when the
    module is done. Commits do not wait for the disk (SQLite
    ``durability="normal"``, PostgreSQL ``durable=False``): nothing here must
    survive a power cut, and a sync per commit would only make the tests slow.
    """
    if storage_engine == "postgres":
        with postgres_stores(durable=False, close_earlier=True) as make:
            yield make
    elif storage_engine == "sqlite":
        with tempfile.TemporaryDirectory(prefix="gigmarket-") as directory:
            opened: list[SQLiteStorage] = []

            def make_sqlite() -> SQLiteStorage:
                for earlier in opened:  # reopened when used again: few files stay open
                    earlier.close()
                path = Path(directory) / f"{uuid.uuid4().hex}.db"
                opened.append(SQLiteStorage(path, durability="normal"))
                return opened[-1]

            yield make_sqlite
            for storage in opened:
                storage.close()
    else:
        yield MemoryStorage
