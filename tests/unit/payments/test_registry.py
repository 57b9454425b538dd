"""Finding adapters: built-ins, entry points (faked here), run-time registrations."""

from __future__ import annotations

import importlib.metadata
import sys
import types
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from gigmarket.clock import ManualClock
from gigmarket.errors import GatewayMisconfigured, ValidationError
from gigmarket.gateways import SandboxGateway, registry
from tests.unit.payments.helpers import API_KEY, WEBHOOK_SECRET

CONFIG: dict[str, Any] = {
    "api_key": API_KEY,
    "webhook_secret": WEBHOOK_SECRET,
    "clock": ManualClock(datetime(2026, 1, 1, tzinfo=UTC)),
}


class CollectOnly:
    """A stand-in adapter that is neither protocol."""

    def __init__(self, **config: Any) -> None:
        self.config = config


@pytest.fixture(autouse=True)
def _clean_registry() -> Iterator[None]:
    yield
    for name in ("fake", "plugin", "sandbox", "broken", "twice", "odd"):
        registry.unregister(name)


@pytest.fixture
def plugins(monkeypatch: pytest.MonkeyPatch) -> list[importlib.metadata.EntryPoint]:
    """Entry points as if distributions had installed them; a fake module to load from."""
    module = types.ModuleType("fake_gateway_plugin")
    module.FakeGateway = CollectOnly  # type: ignore[attr-defined]
    module.NOT_CALLABLE = 42  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "fake_gateway_plugin", module)
    installed: list[importlib.metadata.EntryPoint] = []
    real = importlib.metadata.entry_points

    def entry_points(**selection: Any) -> Any:
        if selection.get("group") == registry.ENTRY_POINT_GROUP:
            return importlib.metadata.EntryPoints(installed)
        return real(**selection)

    monkeypatch.setattr(importlib.metadata, "entry_points", entry_points)
    return installed


def entry_point(name: str, value: str) -> importlib.metadata.EntryPoint:
    return importlib.metadata.EntryPoint(name=name, value=value, group=registry.ENTRY_POINT_GROUP)


def test_the_sandbox_is_built_in(plugins: list[importlib.metadata.EntryPoint]) -> None:
    assert registry.available() == ["sandbox"]
    gateway = registry.create("sandbox", **CONFIG)
    assert isinstance(gateway, SandboxGateway)
    assert registry.create_collection("sandbox", **CONFIG).name == "sandbox"
    assert registry.create_disbursement("sandbox", **CONFIG).name == "sandbox"


def test_an_installed_plugin_is_found_by_its_entry_point(
    plugins: list[importlib.metadata.EntryPoint],
) -> None:
    plugins.append(entry_point("plugin", "fake_gateway_plugin:FakeGateway"))
    assert registry.available() == ["plugin", "sandbox"]
    made = registry.create("plugin", region="eu")
    assert isinstance(made, CollectOnly)
    assert made.config == {"region": "eu"}


def test_a_plugin_that_is_not_a_gateway_is_refused_by_the_typed_constructors(
    plugins: list[importlib.metadata.EntryPoint],
) -> None:
    plugins.append(entry_point("plugin", "fake_gateway_plugin:FakeGateway"))
    with pytest.raises(GatewayMisconfigured, match="collection protocol"):
        registry.create_collection("plugin")
    with pytest.raises(GatewayMisconfigured, match="disbursement protocol"):
        registry.create_disbursement("plugin")


def test_a_broken_plugin_breaks_only_its_own_name(
    plugins: list[importlib.metadata.EntryPoint],
) -> None:
    plugins.append(entry_point("broken", "no_such_module_anywhere:Gateway"))
    plugins.append(entry_point("odd", "fake_gateway_plugin:NOT_CALLABLE"))
    with pytest.raises(GatewayMisconfigured) as info:
        registry.create("broken")
    assert isinstance(info.value.__cause__, ImportError)
    assert info.value.gateway == "broken"
    with pytest.raises(GatewayMisconfigured, match="not callable"):
        registry.create("odd")
    assert isinstance(registry.create("sandbox", **CONFIG), SandboxGateway)


def test_two_plugins_claiming_one_name_are_refused(
    plugins: list[importlib.metadata.EntryPoint],
) -> None:
    plugins.append(entry_point("twice", "fake_gateway_plugin:FakeGateway"))
    plugins.append(entry_point("twice", "other_plugin:Gateway"))
    with pytest.raises(GatewayMisconfigured, match="several installed plugins"):
        registry.create("twice")
    registry.register("twice", CollectOnly)  # the way out: say which one at run time
    assert isinstance(registry.create("twice"), CollectOnly)


def test_an_unknown_name_lists_what_is_available(
    plugins: list[importlib.metadata.EntryPoint],
) -> None:
    with pytest.raises(GatewayMisconfigured) as info:
        registry.create("stripe")
    assert "available: sandbox" in str(info.value)


def test_run_time_registration(plugins: list[importlib.metadata.EntryPoint]) -> None:
    registry.register("fake", CollectOnly)
    assert "fake" in registry.available()
    assert isinstance(registry.create("fake"), CollectOnly)
    with pytest.raises(ValidationError, match="already registered"):
        registry.register("fake", CollectOnly)
    registry.register("fake", SandboxGateway, replace=True)
    assert isinstance(registry.create("fake", **CONFIG), SandboxGateway)
    registry.unregister("fake")
    assert "fake" not in registry.available()


def test_a_run_time_registration_shadows_plugins_and_built_ins(
    plugins: list[importlib.metadata.EntryPoint],
) -> None:
    plugins.append(entry_point("plugin", "no_such_module_anywhere:Gateway"))
    registry.register("plugin", CollectOnly)
    registry.register("sandbox", CollectOnly)
    assert isinstance(registry.create("plugin"), CollectOnly)
    assert isinstance(registry.create("sandbox"), CollectOnly)


@pytest.mark.parametrize(("name", "factory"), [("", CollectOnly), ("a-b", CollectOnly), ("ok", 3)])
def test_registration_checks_its_arguments(name: str, factory: Any) -> None:
    with pytest.raises(ValidationError):
        registry.register(name, factory)
