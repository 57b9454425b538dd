"""The Django example project (``examples/gigmarket-django``), with Django's test client.

The example is a separate distribution: where Django or the example is not
installed these tests skip, saying what to install. CI installs both and sets
``GIGMARKET_REQUIRE_DJANGO=1``, which turns every such skip into a failure.

Django is set up once per test process, with the example's settings (a
throwaway SQLite file for the marketplace its app config builds at start-up);
each test then puts a marketplace of its own, on a fresh file and a manual
clock, in the app config's place.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NoReturn
from unittest import mock

import pytest

from gigmarket import ManualClock, Marketplace
from gigmarket.catalog import CreateAccount, CreateGig, SetUpProfile
from gigmarket.gateways import SandboxGateway

START = datetime(2026, 11, 2, 10, 0, tzinfo=UTC)


def unavailable(reason: str) -> NoReturn:
    """Skip, or fail when CI requires the Django tests to run."""
    if os.environ.get("GIGMARKET_REQUIRE_DJANGO") == "1":
        pytest.fail(f"GIGMARKET_REQUIRE_DJANGO=1, but {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def django_project(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Django, set up with the example's settings, and its test environment."""
    if importlib.util.find_spec("django") is None:
        unavailable("Django is not installed: python -m pip install -e examples/gigmarket-django")
    if importlib.util.find_spec("gigmarket_django") is None:
        unavailable(
            "the Django example is not installed: "
            "python -m pip install -e examples/gigmarket-django"
        )
    from django.test.utils import (  # noqa: PLC0415
        setup_test_environment,
        teardown_test_environment,
    )

    import django  # noqa: PLC0415 -- optional

    startup = tmp_path_factory.mktemp("django") / "startup.db"
    environment = {
        "DJANGO_SETTINGS_MODULE": "gigmarket_django.settings",
        "DJANGO_SECRET_KEY": "test-secret",
        "GIGMARKET_DATABASE": str(startup),
    }
    with mock.patch.dict(os.environ, environment):
        django.setup()  # imports the settings, runs GigmarketConfig.ready()
    setup_test_environment()
    yield
    teardown_test_environment()


@dataclass
class Market:
    """The marketplace the views use in this test, and what drives it."""

    market: Marketplace
    clock: ManualClock
    sandbox: SandboxGateway


@pytest.fixture
def market(django_project: None, tmp_path: Path) -> Iterator[Market]:
    """A marketplace on a fresh file and a manual clock, put in the app config's place."""
    from django.apps import apps  # noqa: PLC0415 -- optional
    from django.conf import settings  # noqa: PLC0415
    from gigmarket_django.apps import GigmarketConfig, build_marketplace  # noqa: PLC0415

    config = apps.get_app_config("gigmarket_django")
    assert isinstance(config, GigmarketConfig)
    clock = ManualClock(START)
    options = {**settings.GIGMARKET, "DATABASE": str(tmp_path / "market.db"), "MIGRATE": True}
    built = build_marketplace(options, clock=clock)
    assert isinstance(built.gateway, SandboxGateway)
    started = config.market
    config.market = built
    try:
        yield Market(market=built, clock=clock, sandbox=built.gateway)
    finally:
        config.market = started
        built.storage.close()


def published_gig(market: Marketplace) -> tuple[str, str]:
    """A seller with a published 50.00 USD logo gig: (seller id, gig id)."""
    nadia = market.catalog.create_account(CreateAccount(username="nadia"))
    market.catalog.set_up_profile(
        nadia.id,
        SetUpProfile.model_validate(
            {
                "display_name": "Nadia Rahman",
                "headline": "Logos for small shops",
                "description": "Designer in Dhaka; logos and brand marks since 2018.",
                "skills": ["logo-design"],
                "languages": [{"language": "en", "level": "fluent"}],
                "country": "BD",
            }
        ),
    )
    gig = market.catalog.create_gig(
        nadia.id,
        CreateGig.model_validate(
            {
                "title": "I will design a minimalist logo for your shop",
                "category": "graphics-design",
                "subcategory": "logo-design",
                "currency": "USD",
                "tags": ["logo", "minimalist"],
                "description": "A clean, memorable logo with the source files. " * 4,
                "packages": [
                    {"name": "Basic", "price": "50.00", "delivery_days": 3, "revisions": 1}
                ],
                "gallery": ["gallery/logo.png"],
            }
        ),
    )
    market.catalog.publish(gig.id, seller_id=nadia.id)
    return nadia.id, gig.id


def signed_up(client: Any, username: str) -> str:
    """Sign up through the view (it sets the signed account cookie); the account id."""
    response = client.post("/accounts", {"username": username})
    assert response.status_code == 201, response.content
    return str(response.json()["id"])
