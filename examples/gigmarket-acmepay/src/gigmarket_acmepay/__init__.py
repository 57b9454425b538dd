"""gigmarket-acmepay: an example third-party payment adapter for gigmarket.

``AcmePayGateway`` implements gigmarket's collection protocol over the
(fictional) Acme Pay API; ``FakeAcmeServer`` imitates that API in memory for
tests. gigmarket finds the adapter through the ``gigmarket.payment_gateways``
entry point declared in this package's ``pyproject.toml``. The driver for
gigmarket's conformance kit is in :mod:`gigmarket_acmepay.testing` (it needs
pytest, so it is not imported here).
"""

from __future__ import annotations

from gigmarket_acmepay.fake import FakeAcmeServer
from gigmarket_acmepay.gateway import AcmePayGateway

__all__ = ["AcmePayGateway", "FakeAcmeServer"]
