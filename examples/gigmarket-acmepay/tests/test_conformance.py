"""gigmarket's conformance kit, run on the Acme Pay adapter.

The class is all an adapter author writes to get the whole suite: a factory,
a driver, and the credentials the kit must never see printed. The function
after it tests what is Acme's own (its decline codes).
"""

from __future__ import annotations

from datetime import UTC, datetime

from gigmarket.clock import ManualClock
from gigmarket.gateways import DeclineCode
from gigmarket.money import Amount
from gigmarket.testing.gateways import CollectionConformance, SandboxDriver

from gigmarket_acmepay import AcmePayGateway, FakeAcmeServer
from gigmarket_acmepay.testing import AcmeDriver

API_KEY = "sk_test_acme_4f9Kq2"
WEBHOOK_SECRET = "whsec_acme_Z8r1"


def make_gateway(clock: ManualClock, api_key: str = API_KEY) -> AcmePayGateway:
    server = FakeAcmeServer(api_key=API_KEY, webhook_secret=WEBHOOK_SECRET, clock=clock)
    return AcmePayGateway(
        api_key=api_key, webhook_secret=WEBHOOK_SECRET, transport=server, clock=clock
    )


class TestAcmePay(CollectionConformance):
    secrets = (API_KEY, WEBHOOK_SECRET)

    def make_gateway(self, clock: ManualClock) -> AcmePayGateway:
        return make_gateway(clock)

    def make_driver(self, gateway: AcmePayGateway) -> SandboxDriver:
        assert isinstance(gateway.transport, FakeAcmeServer)
        return AcmeDriver(gateway.transport)

    def make_misconfigured_gateway(self, clock: ManualClock) -> AcmePayGateway:
        return make_gateway(clock, api_key="sk_test_revoked")


def test_an_unmapped_decline_code_is_other_and_kept_raw() -> None:
    gateway = make_gateway(ManualClock(datetime(2026, 1, 1, tzinfo=UTC)))
    charge = gateway.charge(
        amount=Amount.of("5.00", "USD"), source="acme_tok_weird", idempotency_key="k"
    )
    assert charge.decline is not None
    assert charge.decline.code is DeclineCode.OTHER
    assert charge.decline.raw_code == "AC-777"
