"""Constants and small helpers shared by the payment unit tests."""

from __future__ import annotations

from datetime import UTC, datetime

from gigmarket.money import Amount

T0 = datetime(2026, 5, 4, 12, 0, tzinfo=UTC)
API_KEY = "sk_sandbox_unit_Xq81vB"
WEBHOOK_SECRET = "whsec_unit_p0Ke7"


def usd(value: str) -> Amount:
    return Amount.of(value, "USD")
