"""gigmarket-acmepay: an example third-party payment adapter for gigmarket.

``AcmePayGateway`` implements gigmarket's collection protocol over the
(fictional) Acme Pay API, through a fake in tests or over HTTP from a
``base_url``; ``FakeAcmeServer`` imitates that API in memory, and :func:`serve`
puts it behind HTTP on loopback. gigmarket finds the adapter through the
``gigmarket.payment_gateways`` entry point declared in this package's
``pyproject.toml``. The driver for gigmarket's conformance kit is in
:mod:`gigmarket_acmepay.testing` (it needs pytest, so it is not imported here).
"""

from __future__ import annotations

from gigmarket_acmepay.fake import FakeAcmeServer
from gigmarket_acmepay.gateway import AcmePayGateway
from gigmarket_acmepay.http import HTTPTransport, serve

__all__ = ["AcmePayGateway", "FakeAcmeServer", "HTTPTransport", "serve"]
