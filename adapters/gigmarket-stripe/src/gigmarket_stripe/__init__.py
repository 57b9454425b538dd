"""gigmarket-stripe: a gigmarket payment adapter for Stripe.

:class:`StripeGateway` implements gigmarket's collection protocol with
PaymentIntents and its disbursement protocol with Connect, and verifies
Stripe-signed webhooks. gigmarket finds it through the
``gigmarket.payment_gateways`` entry point (``stripe``). The drivers for
gigmarket's conformance kit are in :mod:`gigmarket_stripe.testing` (it needs
pytest, so it is not imported here), and the fake of Stripe's Connect
endpoints they drive in :mod:`gigmarket_stripe.fake_connect`.
"""

from __future__ import annotations

from gigmarket_stripe.gateway import CURRENCIES, SIGNATURE_HEADER, StripeGateway
from gigmarket_stripe.http import RequestNotSent, StdlibHTTPClient

__all__ = ["CURRENCIES", "SIGNATURE_HEADER", "RequestNotSent", "StdlibHTTPClient", "StripeGateway"]
