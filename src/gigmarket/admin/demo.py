"""The seed story, told by the library on its embedded SQLite default.

Nadia creates an account, sets up a profile and posts a logo gig. Rahim
searches, finds it and orders the Basic package; the marketplace holds his
payment in escrow. Nadia delivers; Rahim does nothing, so three days later
the order completes by itself and the marketplace releases Nadia's share
minus its commission. Both leave reviews. After the clearance period the
money becomes withdrawable, and Nadia withdraws it to her bank.

Every number comes from the fee policy, the lifecycle and the ledger; the
clock is a manual one, fast-forwarded, so the story takes a second.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TextIO

import attrs
from moneyed.l10n import format_money

from gigmarket.catalog import CreateAccount, CreateGig, SearchQuery, SetUpProfile
from gigmarket.clock import ManualClock
from gigmarket.errors import ValidationError
from gigmarket.escrow import chart
from gigmarket.escrow.fees import PriceBreakdown
from gigmarket.gateways.sandbox import SandboxGateway
from gigmarket.ids import sequential_ids
from gigmarket.marketplace import Marketplace
from gigmarket.money import Amount
from gigmarket.orders import Actor
from gigmarket.storage.sqlite.store import SQLiteStorage

__all__ = ["DemoResult", "run_demo"]

STORY_START = datetime(2026, 11, 2, 10, 0, tzinfo=UTC)
_LOCALES = {"BDT": "bn_BD"}
SANDBOX_BANK = "bank_ok"
"""The sandbox's token for a bank account that accepts payouts."""
_PRICES = {  # Basic, Standard, Premium, and the express extra
    "USD": ("50.00", "120.00", "250.00", "15.00"),
    "EUR": ("50.00", "120.00", "250.00", "15.00"),
    "GBP": ("50.00", "120.00", "250.00", "15.00"),
    "BDT": ("5000.00", "12000.00", "25000.00", "1500.00"),
}


@attrs.frozen(kw_only=True)
class DemoResult:
    """The end of the story, for tests and for the curious."""

    breakdown: PriceBreakdown
    balances: dict[str, Amount]
    delivered_at: datetime
    available_at: datetime


@contextmanager
def _database(path: str | os.PathLike[str] | None) -> Iterator[Path]:
    if path is not None:
        target = Path(path)
        if target.exists():
            raise ValidationError(
                f"{target} exists; the demo starts from an empty file", field="db"
            )
        yield target
        return
    with tempfile.TemporaryDirectory(prefix="gigmarket-demo-") as directory:
        yield Path(directory) / "gigmarket.db"


def run_demo(
    out: TextIO, *, currency: str = "USD", db: str | os.PathLike[str] | None = None
) -> DemoResult:
    """Tell the story on ``out``; keep the database at ``db`` if given."""
    currency = str(currency).upper()
    if currency not in _PRICES:
        raise ValidationError(f"the demo is told in {', '.join(sorted(_PRICES))}", field="currency")
    with _database(db) as path:
        storage = SQLiteStorage(path)
        try:
            return _story(
                out,
                Marketplace(storage, clock=ManualClock(STORY_START), ids=sequential_ids("id")),
                currency,
                path,
                keep=db is not None,
            )
        finally:
            storage.close()


def _story(
    out: TextIO, market: Marketplace, currency: str, path: Path, *, keep: bool
) -> DemoResult:
    clock = market.clock
    if not isinstance(clock, ManualClock):  # pragma: no cover -- run_demo builds it
        raise TypeError("the demo fast-forwards a ManualClock")
    locale = _LOCALES.get(currency, "en_US")

    def fmt(amount: Amount) -> str:
        return str(format_money(amount.to_money(), locale=locale))

    def say(who: str, what: str, *details: str) -> None:
        out.write(f"\n{clock.now():%Y-%m-%d %H:%M}  {who}: {what}\n")
        for detail in details:
            out.write(f"                  {detail}\n")

    accounts: dict[str, Callable[[], str]] = {}

    def table() -> dict[str, Amount]:
        current: dict[str, Amount] = {}
        with market.ledger.transaction() as tx:
            for label, code in accounts.items():
                account = code()
                if tx.uow.ledger.get_account(account) is None:
                    current[label] = Amount.zero(currency)
                    continue
                balance = tx.balance(account)
                current[label] = balance.available
                if balance.held.units:
                    current["  reserved for payout"] = balance.held
        width = max(len(label) for label in current)
        for label, amount in current.items():
            out.write(f"                    {label:<{width}}  {fmt(amount):>16}\n")
        return current

    out.write("gigmarket demo: one order, from a seller's first gig to her bank account\n")
    where = f"kept at {path}" if keep else "a temporary file"
    out.write(f"policy: {market.policy.name}; storage: SQLite ({where})\n")

    nadia = market.catalog.create_account(CreateAccount(username="nadia"))
    market.catalog.set_up_profile(
        nadia.id,
        SetUpProfile.model_validate(
            {
                "display_name": "Nadia Rahman",
                "headline": "Minimal logos for small shops",
                "description": "Logo designer in Dhaka; ten years of brands for small shops.",
                "skills": ["logo design", "branding"],
                "languages": [
                    {"language": "bn", "level": "native"},
                    {"language": "en", "level": "fluent"},
                ],
                "country": "BD",
            }
        ),
    )
    basic, standard, premium, express = _PRICES[currency]
    gig = market.catalog.create_gig(
        nadia.id,
        CreateGig.model_validate(
            {
                "title": "I will design a minimalist logo for your shop",
                "category": "graphics-design",
                "subcategory": "logo-design",
                "currency": currency,
                "tags": ["logo", "minimalist", "branding"],
                "description": "A clean, memorable logo for a small shop, with the source files. "
                * 2,
                "packages": [
                    {"name": "Basic", "price": basic, "delivery_days": 3, "revisions": 1},
                    {"name": "Standard", "price": standard, "delivery_days": 5, "revisions": 3},
                    {"name": "Premium", "price": premium, "delivery_days": 7, "revisions": None},
                ],
                "extras": [{"name": "Express", "price": express, "delivery_days_delta": -1}],
                "requirements": [{"text": "What is your shop called?", "kind": "free_text"}],
                "gallery": ["gallery/nadia-logo-1.png"],
            }
        ),
    )
    market.catalog.publish(gig.id, seller_id=nadia.id)
    say(
        "Nadia",
        "creates an account, sets up her profile and posts a gig",
        "'I will design a minimalist logo for your shop'",
        " · ".join(
            f"{name} {fmt(Amount.of(value, currency))}"
            for name, value in (("Basic", basic), ("Standard", standard), ("Premium", premium))
        ),
    )

    clock.advance(timedelta(hours=3))
    rahim = market.catalog.create_account(CreateAccount(username="rahim"))
    hits = market.catalog.search(SearchQuery(text="logo shop", currency=currency)).hits
    say("Rahim", f"searches 'logo shop' and finds {len(hits)} gig: '{hits[0].title}'")

    order = market.checkout(hits[0].gig_id, buyer_id=rahim.id, package="Basic")
    price = order.price
    accounts.update(
        {
            "payment gateway (world)": lambda: chart.gateway(market.policy.gateway, currency),
            "Rahim: credit": lambda: chart.buyer_credit(rahim.id, currency),
            "order escrow": lambda: chart.order_escrow(order.id),
            "Nadia: pending": lambda: chart.seller_pending(nadia.id, currency),
            "Nadia: available": lambda: chart.seller_available(nadia.id, currency),
            "platform revenue": lambda: chart.platform_revenue(currency),
        }
    )
    say(
        "Rahim",
        "orders the Basic package",
        f"package            {fmt(price.subtotal)}",
        f"service fee        {fmt(price.buyer_service_fee)}",
        f"charged            {fmt(price.total_charged)}",
    )
    paid = market.pay(order.id, buyer_id=rahim.id, source="tok_visa")
    charge = paid.charge.id if paid.charge is not None else "(credit)"
    say(
        "Marketplace",
        f"charges Rahim's card through the gateway (charge {charge}): "
        "the money is held in escrow, paid to no one yet",
    )
    table()

    market.orders.submit_requirements(
        order.id, buyer_id=rahim.id, answers={"q1": "Rahim's Tea Stall"}
    )
    say("Rahim", "sends the requirements: the 3-day delivery clock starts")
    clock.advance(timedelta(days=2))
    market.orders.deliver(order.id, seller_id=nadia.id)
    delivered_at = clock.now()
    say("Nadia", "delivers the logo, a day early")

    clock.advance(market.policy.auto_complete_after)
    market.orders.run_due()
    say(
        "Marketplace",
        f"Rahim did not answer for {market.policy.auto_complete_after.days} days: "
        "the order completes by itself and the escrow is released",
        f"commission (20%)   {fmt(price.seller_commission)}",
        f"to Nadia, pending  {fmt(price.seller_net)}",
        f"platform keeps     {fmt(price.platform_revenue)} (commission + service fee)",
    )
    table()

    clock.advance(timedelta(hours=5))
    market.orders.review(
        order.id,
        by=Actor.BUYER,
        account_id=rahim.id,
        rating=5,
        sub_ratings={"communication": 5, "service": 5},
        text="Beautiful logo, fast.",
    )
    market.orders.review(
        order.id, by=Actor.SELLER, account_id=nadia.id, rating=5, text="A pleasure."
    )
    say("Rahim & Nadia", "review each other; both reviews are published once both are in")

    clock.advance(market.policy.clearance_period)
    market.orders.run_due()
    available_at = clock.now()
    days = (available_at - delivered_at).days
    say(
        "Marketplace",
        f"the {market.policy.clearance_period.days}-day clearance is over: "
        f"Nadia can withdraw ({days} days after delivery)",
    )
    table()

    market.add_payout_account(nadia.id, currency, bank_token=SANDBOX_BANK)
    withdrawal = market.withdraw(nadia.id, price.seller_net, idempotency_key="first")
    say(
        "Nadia",
        "adds her bank account and withdraws: the gateway accepts the payout "
        f"({withdrawal.operation.gateway_ref}); the money is in flight",
    )
    accounts["payouts in flight"] = lambda: chart.payouts_in_flight(currency)
    table()
    clock.advance(timedelta(days=3))
    sandbox = market.gateway
    if not isinstance(sandbox, SandboxGateway):  # pragma: no cover -- run_demo builds it
        raise TypeError("the demo runs on the sandbox gateway")
    for delivery in sandbox.deliver_webhooks():
        market.handle_webhook(delivery.payload, delivery.headers)
    say("Bank", "confirms the payout (a signed webhook): the money has left the marketplace")
    final = table()
    out.write(
        f"\nEvery entry balanced. The gateway line is the world's side: {fmt(price.total_charged)} "
        f"came in, {fmt(price.seller_net)} went out to Nadia's bank.\n"
    )
    return DemoResult(
        breakdown=price, balances=final, delivered_at=delivered_at, available_at=available_at
    )
