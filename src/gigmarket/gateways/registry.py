"""Find payment adapters by name: built in, installed as plugins, or registered at run time.

A host's configuration says ``gateway = "acmepay"``; this module turns that
name into an adapter. Three sources, in this order of precedence:

1. run-time registrations (:func:`register`), for a host's own adapter or a
   test double: explicit code wins over anything installed;
2. installed distributions that advertise a factory in the entry-point
   group ``gigmarket.payment_gateways``, e.g. in the adapter's
   ``pyproject.toml``::

       [project.entry-points."gigmarket.payment_gateways"]
       acmepay = "gigmarket_acmepay:AcmePayGateway"

3. gigmarket's built-ins: ``sandbox``.

The built-in sandbox is listed in code rather than through gigmarket's own
entry point, so it is there even in a source checkout whose installed
metadata is stale. Entry points are read on each lookup (they are cheap and a
long-running process may have had a plugin installed), and a factory is only
imported when it is used, so a broken plugin breaks only its own name.

This is a convenience on top of explicit wiring: a composition root may
always construct an adapter directly.

>>> from gigmarket.clock import ManualClock
>>> from datetime import UTC, datetime
>>> gateway = create("sandbox", api_key="sk_sandbox_doc", webhook_secret="whsec_doc",
...                  clock=ManualClock(datetime(2026, 1, 1, tzinfo=UTC)))
>>> gateway.name, "sandbox" in available()
('sandbox', True)
"""

from __future__ import annotations

import importlib.metadata
import threading
from collections.abc import Callable
from typing import Any

from gigmarket.errors import GatewayMisconfigured, ValidationError
from gigmarket.gateways.protocols import CollectionGateway, DisbursementGateway

__all__ = [
    "ENTRY_POINT_GROUP",
    "GatewayFactory",
    "available",
    "create",
    "create_collection",
    "create_disbursement",
    "factory",
    "register",
    "unregister",
]

ENTRY_POINT_GROUP = "gigmarket.payment_gateways"
"""The entry-point group in which an installed distribution advertises its
payment adapters' factories, one name each."""

GatewayFactory = Callable[..., Any]
"""Anything that takes keyword configuration and returns an adapter (usually its class)."""

_BUILTINS: dict[str, str] = {"sandbox": "gigmarket.gateways.sandbox:SandboxGateway"}

_lock = threading.Lock()
_registered: dict[str, GatewayFactory] = {}


def register(name: str, factory: GatewayFactory, *, replace: bool = False) -> None:
    """Make ``factory`` available as ``name`` for this process.

    Registering a name twice is refused unless ``replace=True`` (two parts
    of a program fighting over a name is a bug worth hearing about). A
    run-time registration shadows an installed plugin or a built-in of the
    same name.
    """
    if not name or not name.isidentifier():
        raise ValidationError("a gateway name must be a non-empty identifier", field="name")
    if not callable(factory):
        raise ValidationError("a gateway factory must be callable", field="factory")
    with _lock:
        if name in _registered and not replace:
            raise ValidationError(
                f"a payment gateway named {name!r} is already registered; pass replace=True",
                field="name",
            )
        _registered[name] = factory


def unregister(name: str) -> None:
    """Forget a run-time registration (installed plugins are not affected)."""
    with _lock:
        _registered.pop(name, None)


def _entry_points(name: str | None = None) -> list[importlib.metadata.EntryPoint]:
    found = importlib.metadata.entry_points(group=ENTRY_POINT_GROUP)
    return [ep for ep in found if name is None or ep.name == name]


def available() -> list[str]:
    """Every name :func:`create` accepts now, sorted."""
    with _lock:
        names = set(_registered)
    names.update(ep.name for ep in _entry_points())
    names.update(_BUILTINS)
    return sorted(names)


def _load(name: str, target: Callable[[], Any], origin: str) -> GatewayFactory:
    try:
        loaded: GatewayFactory = target()
    except Exception as error:
        raise GatewayMisconfigured(
            f"the payment gateway plugin {origin} could not be loaded: {type(error).__name__}",
            gateway=name,
            operation="load",
        ) from error
    if not callable(loaded):
        raise GatewayMisconfigured(
            f"the payment gateway plugin {origin} is not callable", gateway=name, operation="load"
        )
    return loaded


def factory(name: str) -> GatewayFactory:
    """The factory behind ``name`` (see the module docs for the precedence)."""
    with _lock:
        registered = _registered.get(name)
    if registered is not None:
        return registered
    points = _entry_points(name)
    if len(points) > 1:
        values = ", ".join(sorted(ep.value for ep in points))
        raise GatewayMisconfigured(
            f"several installed plugins claim the name {name!r} ({values}); "
            "uninstall one or register the one you mean at run time",
            gateway=name,
            operation="load",
        )
    if points:
        point = points[0]
        return _load(name, point.load, f"entry point {point.value!r}")
    if name in _BUILTINS:
        path = _BUILTINS[name]
        ep = importlib.metadata.EntryPoint(name=name, value=path, group=ENTRY_POINT_GROUP)
        return _load(name, ep.load, f"built-in {path!r}")
    raise GatewayMisconfigured(
        f"no payment gateway named {name!r}; available: {', '.join(available())}",
        gateway=name,
        operation="load",
    )


def create(name: str, **config: Any) -> Any:
    """Build the adapter named ``name`` with ``config`` (passed to its factory
    as keyword arguments: API keys, secrets, a clock...).

    Returns whatever the factory returns; use :func:`create_collection` or
    :func:`create_disbursement` to have the protocol checked and the result
    typed.
    """
    return factory(name)(**config)


def create_collection(name: str, **config: Any) -> CollectionGateway:
    """:func:`create`, checking that the adapter implements :class:`CollectionGateway`."""
    gateway = create(name, **config)
    if not isinstance(gateway, CollectionGateway):
        raise GatewayMisconfigured(
            "the adapter does not implement the collection protocol",
            gateway=name,
            operation="load",
        )
    return gateway


def create_disbursement(name: str, **config: Any) -> DisbursementGateway:
    """:func:`create`, checking that the adapter implements :class:`DisbursementGateway`."""
    gateway = create(name, **config)
    if not isinstance(gateway, DisbursementGateway):
        raise GatewayMisconfigured(
            "the adapter does not implement the disbursement protocol",
            gateway=name,
            operation="load",
        )
    return gateway
