"""Every public entry point refuses bad input with gigmarket's own errors.

The entry points are found by introspection: every public method of
``Marketplace``, ``OrderDesk``, ``Catalog``, ``Cashier`` and ``Ledger``, every
function of :mod:`gigmarket.gateways.webhooks` and the sandbox's webhook
parser, so a method added tomorrow is fuzzed tomorrow (the few left out are
listed in :data:`EXCLUDED`, each with its reason). Each call starts from
valid arguments (a real order, a real seller...) and replaces at least one of
them with a hostile value (:func:`tests.strategies.hostile_values`). Then:

- nothing but a ``GigmarketError`` leaves the library;
- an error's message is shorter than :data:`MESSAGE_LIMIT` characters;
- a refused call leaves the store exactly as it was: everything stored is
  captured before and after (:func:`memory_state`, and :func:`sqlite_state`
  for the runs on a SQLite file).

The number of calls tried is printed at the end of the run
(``fuzz: N calls tried: ... on memory (M entry points), ... on sqlite``); with
``derandomize=True`` the number is the same on every run of the same code.
"""

from __future__ import annotations

import inspect
import sqlite3
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import attrs
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gigmarket import Amount, Marketplace
from gigmarket.cashier import Cashier
from gigmarket.catalog import Catalog, CreateAccount, CreateGig, SetUpProfile
from gigmarket.clock import ManualClock
from gigmarket.errors import GigmarketError
from gigmarket.escrow.ledger import Ledger
from gigmarket.gateways import webhooks
from gigmarket.gateways.sandbox import SandboxGateway
from gigmarket.ids import sequential_ids
from gigmarket.orders import OrderDesk
from gigmarket.storage.memory.store import MemoryStorage
from gigmarket.storage.sqlite.store import SQLiteStorage
from tests.strategies import gig_payload, hostile_values, profile_payload

MESSAGE_LIMIT = 500
EXAMPLES_PER_ENTRY_POINT = 40

START = datetime(2026, 1, 1, 9, 0, tzinfo=UTC)

SERVICES: dict[str, type] = {
    "Marketplace": Marketplace,
    "OrderDesk": OrderDesk,
    "Catalog": Catalog,
    "Cashier": Cashier,
    "Ledger": Ledger,
    "SandboxGateway": SandboxGateway,
}

EXCLUDED: dict[tuple[str, str], str] = {
    # Constructors and wiring, not commands: they take adapters, not input.
    ("Marketplace", "at"): "a constructor: opens (creates) a SQLite file at a path",
    ("Cashier", "card_refunds_for"): "a static factory that wires a gateway at start-up",
    # Context managers: calling one runs nothing until it is entered.
    ("Catalog", "transaction"): "a context manager; its operations are fuzzed as Catalog's",
    ("Ledger", "transaction"): "a context manager; its operations are fuzzed as Ledger's",
    # Plumbing between services inside one unit of work: the caller is gigmarket
    # itself (the cashier, the marketplace), and the uow argument is not input.
    ("Catalog", "within"): "takes a unit of work the caller opened",
    ("OrderDesk", "act_in"): "act() inside a caller's unit of work; act() is fuzzed",
    ("OrderDesk", "tip_in"): "tip() inside a caller's unit of work; tip() is fuzzed",
}
"""Public methods left out of the fuzz, each with the reason."""

SANDBOX_ONLY = {"parse_webhook"}
"""The sandbox gateway is fuzzed as the webhook verifier only: the rest of it is
the gateway protocol, exercised by the payment conformance suite."""


def entry_points() -> list[tuple[str, str]]:
    """(service, method) for every public method of the services, by introspection."""
    found = []
    for service, cls in SERVICES.items():
        for name, member in inspect.getmembers(cls):
            if name.startswith("_") or not callable(member) or isinstance(member, type):
                continue
            if service == "SandboxGateway" and name not in SANDBOX_ONLY:
                continue
            if (service, name) not in EXCLUDED:
                found.append((service, name))
    found += [
        ("webhooks", name)
        for name in webhooks.__all__
        if inspect.isfunction(getattr(webhooks, name))
    ]
    return sorted(found)


ENTRY_POINTS = entry_points()


# -- the world: a marketplace with a little of everything in it ------------------------------


@attrs.define
class World:
    market: Marketplace
    storage: Any
    good: dict[str, object]
    path: Path | None = None

    def target(self, service: str) -> Any:
        return {
            "Marketplace": self.market,
            "OrderDesk": self.market.orders,
            "Catalog": self.market.catalog,
            "Cashier": self.market.cashier,
            "Ledger": self.market.ledger,
            "SandboxGateway": self.market.gateway,
            "webhooks": webhooks,
        }[service]

    def state(self) -> object:
        if self.path is not None:
            return sqlite_state(self.path)
        return memory_state(self.storage)


def build_world(storage: Any, path: Path | None = None) -> World:
    clock = ManualClock(START)
    market = Marketplace(storage, clock=clock, ids=sequential_ids())
    catalog = market.catalog
    seller = catalog.create_account(CreateAccount(username="nadia")).id
    buyer = catalog.create_account(CreateAccount(username="rahim")).id
    catalog.set_up_profile(seller, SetUpProfile(**profile_payload()))
    gig = catalog.create_gig(seller, CreateGig(**gig_payload())).id
    catalog.publish(gig, seller_id=seller)
    order = market.checkout(gig, buyer_id=buyer, package="Basic")
    market.pay(order.id, buyer_id=buyer, source="tok_visa")
    done = market.checkout(gig, buyer_id=buyer, package="Standard")
    market.pay(done.id, buyer_id=buyer, source="tok_visa")
    market.orders.submit_requirements(
        done.id, buyer_id=buyer, answers={"q1": "Acme", "q2": "Minimal"}
    )
    market.orders.deliver(done.id, seller_id=seller)
    market.orders.accept(done.id, buyer_id=buyer)
    ledger = market.ledger
    ledger.open_account("fuzz:world:USD", "USD", allow_negative=True)
    ledger.open_account("fuzz:box:USD", "USD")
    entry = ledger.transfer("fuzz:world:USD", "fuzz:box:USD", Amount.of("10.00", "USD"))
    hold = ledger.reserve("fuzz:box:USD", "fuzz:world:USD", Amount.of("1.00", "USD"))
    event = market.events(limit=1)[0]
    operation = market.cashier.operations(order.id)[0]
    good: dict[str, object] = {
        "order_id": order.id,
        "buyer_id": buyer,
        "seller_id": seller,
        "account_id": buyer,
        "gig_id": gig,
        "package": "Basic",
        "extras": (),
        "quantity": 1,
        "source": "tok_visa",
        "currency": "USD",
        "amount": Amount.of("1.00", "USD"),
        "code": "fuzz:box:USD",
        "account": "fuzz:box:USD",
        "destination": "fuzz:world:USD",
        "entry_id": entry.id,
        "hold_id": hold.id,
        "reference": "ref-1",
        "event_ids": [event.id],
        "operation_id": operation.id,
        "subject": order.id,
        "op": operation,
        "rating": 5,
        "text": "Great work",
        "reason": "changed my mind",
        "payload": b"{}",
        "headers": {"Gigmarket-Signature": "t=1767258000,v1=00"},
        "header": "t=1767258000,v1=00",
        "limit": 10,
        "version": 1,
        "review_id": "review-1",
        "rating_value": 5,
        "bank_token": "btok_ok",
        "gateway": "sandbox",
        "timestamp": 1767258000,
        "now": START,
    }
    return World(market=market, storage=storage, good=good, path=path)


# -- capturing everything stored ---------------------------------------------------------


def _frozen(value: Any) -> Any:
    """A comparable deep copy: attrs instances become (class, fields), so that
    fields excluded from ``==`` are compared too."""
    if attrs.has(type(value)):
        return (
            type(value).__name__,
            tuple((f.name, _frozen(getattr(value, f.name))) for f in attrs.fields(type(value))),
        )
    if isinstance(value, dict):
        return {key: _frozen(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_frozen(item) for item in value]
    return value


def memory_state(storage: MemoryStorage) -> object:
    """Everything committed to a memory store: every table and every append-only list."""
    tables = {name: _frozen(dict(rows)) for name, rows in sorted(storage.tables.items()) if rows}
    lists = {
        name: {key: _frozen(list(items)) for key, items in keyed.items() if items}
        for name, keyed in sorted(storage.lists.items())
    }
    return tables, {name: keyed for name, keyed in lists.items() if keyed}


def sqlite_state(path: Path) -> object:
    """Every row of every table of a SQLite file, read on a connection of its own."""
    connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        names = [
            row[0]
            for row in connection.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name"
            )
        ]
        return {
            name: sorted(
                connection.execute(f'SELECT * FROM "{name}"').fetchall(),
                key=repr,
            )
            for name in names
        }
    finally:
        connection.close()


# -- the calls ---------------------------------------------------------------------------


@st.composite
def calls(
    draw: st.DrawFn, parameters: list[inspect.Parameter], good: dict[str, object]
) -> tuple[list[object], dict[str, object]]:
    """Arguments for one call: valid ones where the world has them, at least one
    of them (when there are any) replaced by a hostile value."""
    if not parameters:
        return [], {}
    spoiled = draw(
        st.sets(st.sampled_from([p.name for p in parameters]), min_size=1), label="spoiled"
    )
    args: list[object] = []
    kwargs: dict[str, object] = {}
    for parameter in parameters:
        required = parameter.default is inspect.Parameter.empty
        if parameter.name in spoiled:
            value = draw(hostile_values(), label=parameter.name)
        elif parameter.name in good:
            value = good[parameter.name]
        elif required:
            value = draw(hostile_values(), label=parameter.name)
        else:
            continue
        if parameter.kind is inspect.Parameter.POSITIONAL_ONLY:
            args.append(value)
        else:
            kwargs[parameter.name] = value
    return args, kwargs


def _parameters(function: Callable[..., object]) -> list[inspect.Parameter]:
    return [
        p
        for p in inspect.signature(function).parameters.values()
        if p.kind not in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)
    ]


def check_one_call(world: World, function: Callable[..., object], args: Any, kwargs: Any) -> None:
    before = world.state()
    refused: GigmarketError | None = None
    try:
        function(*args, **kwargs)
    except GigmarketError as error:  # anything else fails the test, as it should
        refused = error
    if refused is not None:
        message = str(refused)
        assert len(message) < MESSAGE_LIMIT, f"{type(refused).__name__}: {len(message)} chars"
        assert refused.code
        assert world.state() == before, f"a refused call changed the store: {refused!r}"


def _fuzz(world: World, service: str, method: str, calls_tried: Counter[str]) -> Callable[[], None]:
    store = "memory" if world.path is None else "sqlite"
    function = getattr(world.target(service), method)
    parameters = _parameters(function)

    @settings(
        max_examples=EXAMPLES_PER_ENTRY_POINT,
        derandomize=True,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(call=calls(parameters, world.good))
    def run(call: tuple[list[object], dict[str, object]]) -> None:
        calls_tried[f"{store} {service}.{method}"] += 1
        check_one_call(world, function, *call)

    return run


@pytest.fixture(scope="module")
def memory_world() -> World:
    storage = MemoryStorage()
    return build_world(storage)


@pytest.fixture(scope="module")
def sqlite_world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    path = tmp_path_factory.mktemp("fuzz") / "fuzz.db"
    storage = SQLiteStorage(path, durability="normal")
    yield build_world(storage, path)
    storage.close()


def test_the_walk_finds_every_service() -> None:
    services = {service for service, _ in ENTRY_POINTS}
    assert services == {*SERVICES, "webhooks"}
    assert len(ENTRY_POINTS) > 80
    for service, method in EXCLUDED:
        assert callable(getattr(SERVICES[service], method)), "an exclusion names no method"


@pytest.mark.parametrize(
    ("service", "method"), ENTRY_POINTS, ids=[f"{s}.{m}" for s, m in ENTRY_POINTS]
)
def test_memory(memory_world: World, fuzz_calls: Counter[str], service: str, method: str) -> None:
    _fuzz(memory_world, service, method, fuzz_calls)()


SQLITE_SERVICES = {"Ledger", "OrderDesk", "Catalog"}
"""The subset run again on a SQLite file: where ids and counts meet a real driver."""


@pytest.mark.parametrize(
    ("service", "method"),
    [(s, m) for s, m in ENTRY_POINTS if s in SQLITE_SERVICES],
    ids=[f"{s}.{m}" for s, m in ENTRY_POINTS if s in SQLITE_SERVICES],
)
def test_sqlite(sqlite_world: World, fuzz_calls: Counter[str], service: str, method: str) -> None:
    _fuzz(sqlite_world, service, method, fuzz_calls)()
