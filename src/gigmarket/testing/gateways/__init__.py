"""The payment gateway conformance kit, for gigmarket's sandbox and for your adapter.

An adapter is correct when it behaves like the protocols say: declines are
results, failures are typed, idempotency keys collapse retries and refuse
reuse, lost responses can be reconciled, webhooks are verified, secrets never
print. Subclass the suite of each protocol your adapter implements, give it
a factory and a driver for your test double, and pytest runs every check::

    from gigmarket.testing.gateways import CollectionConformance

    class TestAcmePay(CollectionConformance):
        secrets = ("sk_test_acme", "whsec_acme")  # must never show in reprs, errors, logs

        def make_gateway(self, clock):
            server = FakeAcmeServer(api_key="sk_test_acme", webhook_secret="whsec_acme",
                                    clock=clock)
            return AcmePayGateway(api_key="sk_test_acme", webhook_secret="whsec_acme",
                                  transport=server, clock=clock)

        def make_driver(self, gateway):
            return AcmeDriver(gateway.transport)

        def make_misconfigured_gateway(self, clock):  # optional: skipped when absent
            ...

``clock`` is a :class:`~gigmarket.clock.ManualClock` that the tests move;
``stale_after`` (one hour) is a clock jump after which a webhook must be
refused as stale. A test of a capability the adapter does not declare skips
and says why (``acmepay does not declare partial_capture``), and the refusal
of that capability is tested instead; so does a test of something the
driver cannot force on the fake. An adapter with both protocols subclasses
both :class:`CollectionConformance` and :class:`DisbursementConformance`.
The kit needs pytest (``pip install gigmarket[test]``).
"""

from __future__ import annotations

import pytest

# Registered before the suites are imported, so that their plain ``assert``
# statements explain themselves in an adapter author's test run.
pytest.register_assert_rewrite(
    "gigmarket.testing.gateways._base",
    "gigmarket.testing.gateways.collection",
    "gigmarket.testing.gateways.disbursement",
)

from gigmarket.testing.gateways._base import GatewayKit  # noqa: E402
from gigmarket.testing.gateways.collection import CollectionConformance  # noqa: E402
from gigmarket.testing.gateways.disbursement import DisbursementConformance  # noqa: E402
from gigmarket.testing.gateways.driver import (  # noqa: E402
    BankBehaviour,
    CardBehaviour,
    SandboxDriver,
    SandboxGatewayDriver,
)

__all__ = [
    "BankBehaviour",
    "CardBehaviour",
    "CollectionConformance",
    "DisbursementConformance",
    "GatewayKit",
    "SandboxDriver",
    "SandboxGatewayDriver",
]
