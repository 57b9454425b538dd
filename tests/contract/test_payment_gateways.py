"""The payment conformance kit, run against every gateway gigmarket knows of.

- the built-in :class:`SandboxGateway`, with every capability and both protocols;
- a sandbox that declares less (no manual or partial capture, no partial
  refunds, no payout cancellation, no webhooks), so that the kit's "refused
  when undeclared" tests run and its capability skips are exercised;
- the example third-party adapter ``gigmarket-acmepay`` (``examples/``),
  created through its entry point, when it is installed. Under CI it must be.
"""

from __future__ import annotations

import importlib.util
import os
from typing import Any, ClassVar

import pytest

from gigmarket.clock import ManualClock
from gigmarket.gateways import Capabilities, SandboxGateway, registry
from gigmarket.testing.gateways import (
    CollectionConformance,
    DisbursementConformance,
    SandboxDriver,
    SandboxGatewayDriver,
)

API_KEY = "sk_sandbox_contract_7hQ2vX9"
WEBHOOK_SECRET = "whsec_contract_Lp3mZ8"


class SandboxKit:
    secrets: ClassVar[tuple[str, ...]] = (API_KEY, WEBHOOK_SECRET)
    capabilities: Capabilities | None = None

    def make_gateway(self, clock: ManualClock) -> SandboxGateway:
        return SandboxGateway(
            api_key=API_KEY,
            webhook_secret=WEBHOOK_SECRET,
            clock=clock,
            capabilities=self.capabilities,
        )

    def make_driver(self, gateway: SandboxGateway) -> SandboxDriver:
        return SandboxGatewayDriver(gateway)

    def make_misconfigured_gateway(self, clock: ManualClock) -> SandboxGateway:
        return SandboxGateway(
            api_key="pk_live_" + API_KEY, webhook_secret=WEBHOOK_SECRET, clock=clock
        )


class TestSandboxCollection(SandboxKit, CollectionConformance):
    pass


class TestSandboxDisbursement(SandboxKit, DisbursementConformance):
    pass


LESS_ABLE = Capabilities(currencies={"EUR"}, payouts=True)


class TestLessAbleSandboxCollection(SandboxKit, CollectionConformance):
    capabilities = LESS_ABLE


class TestLessAbleSandboxDisbursement(SandboxKit, DisbursementConformance):
    capabilities = LESS_ABLE


def _acmepay_installed() -> bool:
    if importlib.util.find_spec("gigmarket_acmepay") is not None:
        return True
    if os.environ.get("CI"):
        pytest.fail(
            "CI must install the example adapter (pip install -e examples/gigmarket-acmepay): "
            "its conformance run may not skip in CI"
        )
    return False


@pytest.fixture(scope="module")
def acmepay() -> Any:
    if not _acmepay_installed():
        pytest.skip(
            "the example adapter is not installed: pip install -e examples/gigmarket-acmepay"
        )
    import gigmarket_acmepay  # noqa: PLC0415 -- optional, installed separately

    return gigmarket_acmepay


class TestAcmePayThroughItsEntryPoint(CollectionConformance):
    """The example adapter, found by name through ``gigmarket.payment_gateways``."""

    secrets = ("sk_test_acme_contract_51Hx", "whsec_acme_contract_Qa2")

    @pytest.fixture(autouse=True)
    def _module(self, acmepay: Any) -> None:
        self.acmepay = acmepay

    def make_gateway(self, clock: ManualClock) -> Any:
        assert "acmepay" in registry.available()
        api_key, webhook_secret = self.secrets
        server = self.acmepay.FakeAcmeServer(
            api_key=api_key, webhook_secret=webhook_secret, clock=clock
        )
        return registry.create_collection(
            "acmepay",
            api_key=api_key,
            webhook_secret=webhook_secret,
            transport=server,
            clock=clock,
        )

    def make_driver(self, gateway: Any) -> SandboxDriver:
        from gigmarket_acmepay.testing import AcmeDriver  # noqa: PLC0415 -- installed separately

        driver: SandboxDriver = AcmeDriver(gateway.transport)
        return driver

    def make_misconfigured_gateway(self, clock: ManualClock) -> Any:
        api_key, webhook_secret = self.secrets
        server = self.acmepay.FakeAcmeServer(
            api_key=api_key, webhook_secret=webhook_secret, clock=clock
        )
        return registry.create(
            "acmepay",
            api_key=api_key[:-2] + "xx",
            webhook_secret=webhook_secret,
            transport=server,
            clock=clock,
        )
