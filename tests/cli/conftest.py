"""Fixtures of the command line's tests: stores holding a small real story.

The SQLite story is told once per session and copied for each test (a test
may corrupt its copy). PostgreSQL stores come from the root
``postgres_storage_factory``: a fresh schema per store, dropped afterwards,
skipped with a reason without ``GIGMARKET_POSTGRES_URL``.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import attrs
import pytest

from gigmarket.storage.sqlite.store import SQLiteStorage
from tests.cli.story import Story, tell

POSTGRES_URL = os.environ.get("GIGMARKET_POSTGRES_URL")


@attrs.frozen
class StoredStory:
    """A store with the story in it, and how the command line names it."""

    story: Story
    args: tuple[str, ...]
    """``--db ...`` (and ``--schema ...``) for the command line."""
    location: str
    """The file path, or the PostgreSQL URL."""
    schema: str | None = None


@pytest.fixture(scope="session")
def story_template(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Story]:
    path = tmp_path_factory.mktemp("story") / "template.db"
    storage = SQLiteStorage(path)
    try:
        story = tell(storage)
    finally:
        storage.close()  # the last connection checkpoints the WAL into the file
    return path, story


@pytest.fixture
def sqlite_story(story_template: tuple[Path, Story], tmp_path: Path) -> StoredStory:
    """A private copy of the story's SQLite file."""
    template, story = story_template
    path = tmp_path / "market.db"
    shutil.copyfile(template, path)
    return StoredStory(story=story, args=("--db", f"sqlite:///{path}"), location=str(path))


@pytest.fixture
def postgres_story(postgres_storage_factory: Callable[[], Any]) -> StoredStory:
    """The story in a fresh PostgreSQL schema (dropped after the test)."""
    storage = postgres_storage_factory()
    try:
        story = tell(storage)
    finally:
        storage.close()
    return StoredStory(
        story=story,
        args=("--db", storage.url, "--schema", storage.schema),
        location=storage.url,
        schema=storage.schema,
    )


@pytest.fixture
def postgres_schema() -> Iterator[tuple[str, str]]:
    """(URL, a schema name nobody uses yet); the schema is dropped afterwards."""
    if not POSTGRES_URL:
        if os.environ.get("CI"):
            pytest.fail("CI must set GIGMARKET_POSTGRES_URL: PostgreSQL tests may not skip in CI")
        pytest.skip("set GIGMARKET_POSTGRES_URL to run the PostgreSQL tests")
    import psycopg  # noqa: PLC0415 -- optional extra

    name = f"gm_test_{uuid.uuid4().hex[:12]}"
    yield POSTGRES_URL, name
    with psycopg.connect(POSTGRES_URL, autocommit=True) as connection:
        connection.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')
