"""Fixtures for the catalog's unit tests: a catalog on a memory store, a
manual clock, readable ids, and a seller with a profile ready to post gigs."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from gigmarket.catalog import (
    Catalog,
    CreateAccount,
    CreateGig,
    Gig,
    SetUpProfile,
    UserAccount,
)
from gigmarket.clock import ManualClock
from gigmarket.ids import sequential_ids
from gigmarket.storage.memory.store import MemoryStorage
from tests.strategies import gig_payload, profile_payload

START = datetime(2026, 1, 1, 9, 0, tzinfo=UTC)

Snapshot = tuple[dict[str, dict[Any, Any]], dict[str, dict[Any, list[Any]]]]


def snapshot(storage: MemoryStorage) -> Snapshot:
    """Everything committed to ``storage``, copied (entities are immutable)."""
    tables = {name: dict(rows) for name, rows in storage.tables.items() if rows}
    lists = {
        name: {key: list(items) for key, items in keyed.items() if items}
        for name, keyed in storage.lists.items()
    }
    return tables, {name: keyed for name, keyed in lists.items() if keyed}


@pytest.fixture
def stored(storage: MemoryStorage) -> Callable[[], Snapshot]:
    """``stored()`` copies what is committed now, to compare before and after."""
    return lambda: snapshot(storage)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(START)


@pytest.fixture
def storage() -> MemoryStorage:
    return MemoryStorage()


@pytest.fixture
def catalog(storage: MemoryStorage, clock: ManualClock) -> Catalog:
    return Catalog(storage, clock=clock, ids=sequential_ids("c"))


@pytest.fixture
def make_seller(catalog: Catalog) -> Callable[..., UserAccount]:
    def make(username: str = "rahim", **profile: object) -> UserAccount:
        account = catalog.create_account(CreateAccount(username=username))
        catalog.set_up_profile(account.id, SetUpProfile(**profile_payload(**profile)))
        return account

    return make


@pytest.fixture
def seller(make_seller: Callable[..., UserAccount]) -> UserAccount:
    return make_seller()


@pytest.fixture
def buyer(catalog: Catalog) -> UserAccount:
    return catalog.create_account(CreateAccount(username="karim"))


@pytest.fixture
def draft(catalog: Catalog, seller: UserAccount) -> Gig:
    return catalog.create_gig(seller.id, CreateGig(**gig_payload()))


@pytest.fixture
def active(catalog: Catalog, seller: UserAccount, draft: Gig) -> Gig:
    return catalog.publish(draft.id, seller_id=seller.id)
