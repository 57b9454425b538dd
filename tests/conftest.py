"""Shared test configuration.

Hypothesis profiles: ``ci`` (the default under CI=true) runs the state
machines at the depth the issues ask for; ``dev`` is quicker for local edits;
``deep`` is for an evening's hunt (``HYPOTHESIS_PROFILE=deep``).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, settings

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


@pytest.fixture
def postgres_storage_factory() -> Iterator[Callable[[], Any]]:
    """Fresh PostgreSQL stores, each in its own schema, dropped afterwards.

    Without ``GIGMARKET_POSTGRES_URL`` the tests skip, saying why; under CI the
    variable is required, so these tests can never silently skip there.
    """
    if not POSTGRES_URL:
        if os.environ.get("CI"):
            pytest.fail("CI must set GIGMARKET_POSTGRES_URL: PostgreSQL tests may not skip in CI")
        pytest.skip("set GIGMARKET_POSTGRES_URL to run the PostgreSQL tests")
    from gigmarket.storage.postgres import PostgresStorage  # noqa: PLC0415 -- optional extra

    created: list[Any] = []

    def make() -> Any:
        storage = PostgresStorage(POSTGRES_URL, schema=f"gm_test_{uuid.uuid4().hex[:12]}")
        created.append(storage)
        return storage

    yield make
    for storage in created:
        storage.drop_schema()
