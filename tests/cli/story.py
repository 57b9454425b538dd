"""A small real story on a real store, for the command line's tests.

Nadia sells a 50.00 USD logo (the buyer pays 55.75 with the service fee).
Rahim orders it twice: the first order is delivered and auto-completes, so
40.00 USD waits in Nadia's pending balance and the platform keeps 15.75; the
second is paid and in progress, its 55.75 still in escrow. Timers left armed:
the first order's clearance (14 days after completion) and review window, the
second order's late-cancellation timer.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import attrs

from gigmarket.catalog import CreateAccount, CreateGig, SetUpProfile
from gigmarket.clock import ManualClock
from gigmarket.escrow import chart
from gigmarket.ids import sequential_ids
from gigmarket.marketplace import Marketplace
from gigmarket.money import Amount

START = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
"""Well in the past, so that every timer of the story is due by the real clock."""
COMPLETED_AT = START + timedelta(days=5)
CLEARANCE_DUE = COMPLETED_AT + timedelta(days=14)


@attrs.frozen(kw_only=True)
class Story:
    seller_id: str
    buyer_id: str
    completed_order: str
    open_order: str
    payment_key: str
    """The idempotency key of the open order's payment entry, as the entry
    carries it: ``<scope> <key>``."""

    @property
    def pending(self) -> str:
        return chart.seller_pending(self.seller_id, "USD")

    @property
    def revenue(self) -> str:
        return chart.platform_revenue("USD")

    @property
    def gateway(self) -> str:
        return chart.gateway("sandbox", "USD")


def tell(storage: Any) -> Story:
    """Run the story on ``storage`` through the public API."""
    clock = ManualClock(START)
    market = Marketplace(storage, clock=clock, ids=sequential_ids("id"))
    nadia = market.catalog.create_account(CreateAccount(username="nadia"))
    market.catalog.set_up_profile(
        nadia.id,
        SetUpProfile.model_validate(
            {
                "display_name": "Nadia Rahman",
                "headline": "Minimal logos for small shops",
                "description": "Logo designer in Dhaka; ten years of brands for small shops.",
                "skills": ["logo design"],
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
                "description": "A clean, memorable logo for a small shop, with the source "
                "files, in three days. " * 4,
                "packages": [
                    {"name": "Basic", "price": "50.00", "delivery_days": 3, "revisions": 1}
                ],
                "gallery": ["gallery/logo.png"],
            }
        ),
    )
    market.catalog.publish(gig.id, seller_id=nadia.id)
    rahim = market.catalog.create_account(CreateAccount(username="rahim"))

    first = market.checkout(gig.id, buyer_id=rahim.id, package="Basic")
    market.orders.record_payment(first.id, Amount.of("55.75", "USD"), reference="charge-1")
    market.orders.submit_requirements(first.id, buyer_id=rahim.id, answers={})
    clock.advance(timedelta(days=2))
    market.orders.deliver(first.id, seller_id=nadia.id)
    clock.advance(timedelta(days=3))
    market.orders.run_due()
    if market.orders.get(first.id).completed_at != COMPLETED_AT:  # pragma: no cover
        raise AssertionError("the story's first order did not auto-complete as planned")

    second = market.checkout(gig.id, buyer_id=rahim.id, package="Basic")
    market.orders.record_payment(second.id, Amount.of("55.75", "USD"), reference="charge-2")
    market.orders.submit_requirements(second.id, buyer_id=rahim.id, answers={})
    return Story(
        seller_id=nadia.id,
        buyer_id=rahim.id,
        completed_order=first.id,
        open_order=second.id,
        payment_key="gigmarket:payment charge-2",
    )
