"""Fixtures for the payment unit tests: a sandbox on a manual clock."""

from __future__ import annotations

import pytest

from gigmarket.clock import ManualClock
from gigmarket.gateways import SandboxGateway
from tests.unit.payments.helpers import API_KEY, T0, WEBHOOK_SECRET


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(T0)


@pytest.fixture
def sandbox(clock: ManualClock) -> SandboxGateway:
    return SandboxGateway(api_key=API_KEY, webhook_secret=WEBHOOK_SECRET, clock=clock)
