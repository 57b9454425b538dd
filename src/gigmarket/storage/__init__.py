"""The storage adapters: each serves :class:`gigmarket.ports.Storage`.

* :class:`MemoryStorage`: dictionaries with real transactions, for tests and
  simulations;
* :class:`SQLiteStorage`: one file, the embedded default;
* :class:`PostgresStorage`: a PostgreSQL database and schema (``pip install
  'gigmarket[postgres]'``; imported when first asked for, so that a host
  without psycopg can use the others).

A store is named by a URL (:mod:`gigmarket.storage.urls`): :func:`open_store`
asks the adapter the URL names for the store, after it has read the stored
schema version without changing anything (:func:`stored_version`), and
refuses a store that does not exist, is older than this code or newer;
:func:`migrate_store` is the one that creates or migrates a schema.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from gigmarket.errors import SchemaTooNew, StorageError
from gigmarket.ports import Storage
from gigmarket.storage.memory.store import MemoryStorage
from gigmarket.storage.sqlite.store import SQLiteStorage
from gigmarket.storage.urls import StoreLocation, parse_location, secrets_kept

if TYPE_CHECKING:
    from gigmarket.storage.postgres.store import PostgresStorage

__all__ = [
    "MemoryStorage",
    "PostgresStorage",
    "SQLiteStorage",
    "StoreLocation",
    "migrate_store",
    "open_store",
    "parse_location",
    "stored_version",
]


def __getattr__(name: str) -> object:
    if name == "PostgresStorage":
        return _postgres()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _postgres() -> type[PostgresStorage]:
    try:
        from gigmarket.storage.postgres.store import PostgresStorage  # noqa: PLC0415 -- optional
    except ImportError:
        raise StorageError(
            "PostgreSQL stores need psycopg 3: pip install 'gigmarket[postgres]'"
        ) from None
    return PostgresStorage


def _adapter(location: StoreLocation) -> type[SQLiteStorage] | type[PostgresStorage]:
    return SQLiteStorage if location.engine == "sqlite" else _postgres()


def _location(where: str | StoreLocation) -> StoreLocation:
    return where if isinstance(where, StoreLocation) else parse_location(where)


def stored_version(where: str | StoreLocation) -> int | None:
    """The schema version recorded in the store, read without changing anything.

    ``None``: there is no such SQLite file. ``0``: the file or PostgreSQL
    schema exists but holds no gigmarket store.
    """
    location = _location(where)
    with secrets_kept(location):
        return _adapter(location).stored_version(location)


def open_store(where: str | StoreLocation) -> Storage:
    """Open an existing store at this code's schema version, without migrating it.

    ``where`` is a store URL or a parsed :class:`StoreLocation`. The caller
    closes the store. A missing, empty, older or newer store is refused with a
    message that says what to do.
    """
    location = _location(where)
    found = stored_version(location)
    needed = _adapter(location).SCHEMA_VERSION
    if found is None:
        raise StorageError(f"no database file at {location.display}")
    if found == 0:
        raise StorageError(
            f"{location.display} holds no gigmarket store; create one with `gigmarket migrate`"
        )
    if found > needed:
        raise SchemaTooNew(found=found, supported=needed)
    if found < needed:
        raise StorageError(
            f"{location.display} has schema version {found}, this gigmarket needs {needed}: "
            "run `gigmarket migrate` first"
        )
    with secrets_kept(location):
        return _adapter(location).from_location(location, migrate=False)


def migrate_store(where: str | StoreLocation) -> tuple[int, int]:
    """Migrate the store forward to this code's schema version, creating it if
    it does not exist; return the versions before and after.

    Safe to run repeatedly and from two processes at once: the adapters
    migrate under a lock, each migration in one transaction.
    """
    location = _location(where)
    with secrets_kept(location):
        adapter = _adapter(location)
        before = adapter.stored_version(location) or 0
        if before > adapter.SCHEMA_VERSION:
            raise SchemaTooNew(found=before, supported=adapter.SCHEMA_VERSION)
        storage: Storage = adapter.from_location(location, migrate=True)
        try:
            after = storage.schema_version()
        finally:
            storage.close()
    return before, after


if TYPE_CHECKING:

    def _every_adapter_serves_the_port(
        memory: MemoryStorage, sqlite: SQLiteStorage, postgres: PostgresStorage
    ) -> tuple[Storage, Storage, Storage]:
        return memory, sqlite, postgres
