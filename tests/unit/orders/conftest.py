"""Fixtures for the order lifecycle's unit tests.

``make_world(...)`` builds an :class:`~gigmarket.orders.OrderDesk` on a
:class:`~gigmarket.storage.memory.store.MemoryStorage`, a manual clock and readable
sequential ids; ``world.drive(state)`` walks a new order into any state of
the lifecycle. The helpers live in :mod:`tests.unit.orders.helpers`.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

import pytest

from gigmarket.clock import ManualClock
from gigmarket.ids import sequential_ids
from gigmarket.orders import LifecyclePolicy, Order, OrderDesk, fiverr_policy
from gigmarket.orders.ports import StandingByPredicate
from gigmarket.storage.memory.store import MemoryStorage
from tests.unit.orders.helpers import START, STATES, World, WorldFactory


@pytest.fixture
def make_world() -> WorldFactory:
    """``make_world(policy=..., top_rated=..., start=...)``: a fresh desk each call."""

    def make(
        policy: LifecyclePolicy | None = None,
        *,
        top_rated: Callable[[str], bool] = lambda seller_id: False,
        start: datetime = START,
    ) -> World:
        storage = MemoryStorage()
        clock = ManualClock(start)
        desk = OrderDesk(
            storage,
            policy=policy if policy is not None else fiverr_policy(),
            clock=clock,
            ids=sequential_ids("o"),
            standing=StandingByPredicate(top_rated),
        )
        return World(desk=desk, storage=storage, clock=clock)

    return make


@pytest.fixture
def world(make_world: WorldFactory) -> World:
    return make_world()


@pytest.fixture
def desk(world: World) -> OrderDesk:
    return world.desk


@pytest.fixture(params=STATES)
def any_state(request: pytest.FixtureRequest, world: World) -> tuple[str, Order]:
    """An order in each of :data:`STATES` in turn."""
    state: str = request.param
    return state, world.drive(state)
