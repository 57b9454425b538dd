"""The app: one :class:`~gigmarket.Marketplace` per process, built when Django starts."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.apps import AppConfig, apps
from django.conf import settings
from gigmarket import Clock, Marketplace, SystemClock
from gigmarket.admin.operations import parse_location
from gigmarket.gateways import SandboxGateway
from gigmarket.storage.sqlite.store import SQLiteStorage


# --8<-- [start:build]
def build_marketplace(options: Mapping[str, Any], *, clock: Clock | None = None) -> Marketplace:
    """The marketplace the ``GIGMARKET`` setting describes (a test passes a manual clock)."""
    location = parse_location(str(options["DATABASE"]))
    migrate = bool(options.get("MIGRATE", False))
    storage: Any
    if location.engine == "sqlite":
        storage = SQLiteStorage(location.target, migrate=migrate)
    else:
        from gigmarket.storage.postgres.store import PostgresStorage  # noqa: PLC0415 -- an extra

        storage = PostgresStorage(
            location.target,
            schema=location.schema,
            migrate=migrate,
            pool_size=int(options.get("POOL_SIZE", 10)),
        )
    clock = clock if clock is not None else SystemClock()
    gateway = SandboxGateway(
        api_key=options["GATEWAY_API_KEY"],
        webhook_secret=options["GATEWAY_WEBHOOK_SECRET"],
        clock=clock,
    )
    return Marketplace(storage, gateway=gateway, clock=clock)


class GigmarketConfig(AppConfig):
    name = "gigmarket_django"
    verbose_name = "gigmarket"
    market: Marketplace

    def ready(self) -> None:
        # Once per process, before the first request (and before a management
        # command runs): a store at the wrong schema version stops the server
        # from starting, instead of failing its first request.
        self.market = build_marketplace(settings.GIGMARKET)


def market() -> Marketplace:
    """This process's marketplace, for views and commands."""
    config = apps.get_app_config("gigmarket_django")
    if not isinstance(config, GigmarketConfig):  # pragma: no cover -- a settings mistake
        raise TypeError("INSTALLED_APPS must name gigmarket_django.apps.GigmarketConfig")
    return config.market


# --8<-- [end:build]
