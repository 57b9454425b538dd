"""The storage conformance suite, run against every adapter gigmarket ships."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from gigmarket.storage.memory.store import MemoryStorage
from gigmarket.storage.sqlite.store import SQLiteStorage
from gigmarket.testing.storage import StorageConformance


class TestMemoryStorage(StorageConformance):
    def make_storage(self, tmp_path: Path) -> MemoryStorage:
        return MemoryStorage()


class TestSQLiteStorage(StorageConformance):
    def make_storage(self, tmp_path: Path) -> SQLiteStorage:
        return SQLiteStorage(tmp_path / "gigmarket.db")


@pytest.mark.postgres
class TestPostgresStorage(StorageConformance):
    def make_storage(self, tmp_path: Path) -> Any:
        return self.postgres_factory()

    @pytest.fixture(autouse=True)
    def _postgres(self, postgres_storage_factory: Any) -> None:
        self.postgres_factory = postgres_storage_factory
