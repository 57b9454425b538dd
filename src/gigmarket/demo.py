"""The seed story, told by the library: an order's money from buyer to bank.

A buyer orders a logo from a seller. The marketplace charges the buyer and
holds the money in escrow; on completion it releases the seller's share to
their pending balance and keeps its fees; after the clearance period the
money becomes available, and the seller withdraws it to a bank.

Until the order lifecycle lands, the story drives the escrow flows directly;
every number comes from the fee policy and the ledger, none is typed in.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import TextIO

import attrs
from moneyed.l10n import format_money

from gigmarket.clock import ManualClock
from gigmarket.errors import ValidationError
from gigmarket.escrow import chart
from gigmarket.escrow.fees import PriceBreakdown
from gigmarket.escrow.flows import EscrowFlows
from gigmarket.escrow.ledger import Ledger
from gigmarket.escrow.presets import fiverr
from gigmarket.ids import sequential_ids
from gigmarket.money import Amount
from gigmarket.storage.memory import MemoryStorage

__all__ = ["DemoResult", "run_demo"]

STORY_START = datetime(2026, 11, 2, 10, 0, tzinfo=UTC)
CLEARANCE = timedelta(days=14)
GATEWAY = "sandbox"

_LOCALES = {"BDT": "bn_BD"}
_PACKAGE_PRICE = {"USD": "50.00", "BDT": "5000.00", "EUR": "50.00", "GBP": "50.00"}


@attrs.frozen(kw_only=True)
class DemoResult:
    """The final balances of the story, for tests and for the curious."""

    breakdown: PriceBreakdown
    balances: dict[str, Amount]


def _formatter(currency: str) -> Callable[[Amount], str]:
    locale = _LOCALES.get(currency, "en_US")

    def format_amount(amount: Amount) -> str:
        return str(format_money(amount.to_money(), locale=locale))

    return format_amount


def run_demo(out: TextIO, *, currency: str = "USD") -> DemoResult:
    """Tell the story on ``out`` and return the final balances."""
    currency = currency.upper()
    if currency not in _PACKAGE_PRICE:
        raise ValidationError(
            f"the demo is told in {', '.join(sorted(_PACKAGE_PRICE))}", field="currency"
        )
    fmt = _formatter(currency)
    clock = ManualClock(STORY_START)
    ledger = Ledger(MemoryStorage(), clock=clock, ids=sequential_ids("entry"))
    order_id, seller = "1001", "nadia"
    accounts = {
        "gateway (world)": chart.gateway(GATEWAY, currency),
        "order escrow": chart.order_escrow(order_id),
        "seller pending": chart.seller_pending(seller, currency),
        "seller available": chart.seller_available(seller, currency),
        "payouts in flight": chart.payouts_in_flight(currency),
        "platform revenue": chart.platform_revenue(currency),
    }

    def say(title: str, *lines: str) -> None:
        out.write(f"\n== {clock.now():%Y-%m-%d} · {title}\n")
        for line in lines:
            out.write(f"   {line}\n")

    def balances() -> dict[str, Amount]:
        """Available balances, plus what a pending withdrawal has reserved."""
        current: dict[str, Amount] = {}
        with ledger.transaction() as tx:
            for label, code in accounts.items():
                if tx.uow.ledger.get_account(code) is None:
                    current[label] = Amount.zero(currency)
                    continue
                balance = tx.balance(code)
                current[label] = balance.available
                if balance.held.units:
                    current["  reserved for payout"] = balance.held
        return current

    def table() -> None:
        current = balances()
        width = max(len(label) for label in current)
        for label, amount in current.items():
            out.write(f"     {label:<{width}}  {fmt(amount):>16}\n")

    policy = fiverr()
    breakdown = policy.price(Amount.of(_PACKAGE_PRICE[currency], currency))
    out.write("gigmarket demo: one order, from the buyer's card to the seller's bank\n")
    out.write(f"fee policy: {policy.name}; every amount below is exact to the minor unit\n")

    say(
        "Nadia posts a gig: 'I will design your logo'",
        f"Basic package: {fmt(breakdown.subtotal)}, delivery in 3 days",
    )
    say(
        "Rahim orders the Basic package",
        f"package price      {fmt(breakdown.subtotal)}",
        f"buyer service fee  {fmt(breakdown.buyer_service_fee)}",
        f"charged to card    {fmt(breakdown.total_charged)}",
    )
    with ledger.transaction() as tx:
        EscrowFlows(tx).fund(
            order_id, breakdown.total_charged, gateway=GATEWAY, idempotency_key="charge-1001"
        )
    say("The charge is confirmed: the money is held in escrow, not paid to anyone")
    table()

    clock.advance(timedelta(days=2))
    say("Nadia delivers the logo; Rahim accepts it and leaves five stars")
    with ledger.transaction() as tx:
        EscrowFlows(tx).release(
            order_id,
            seller_id=seller,
            seller_net=breakdown.seller_net,
            platform_fees=breakdown.platform_revenue,
            idempotency_key="release-1001",
        )
    say(
        "The marketplace releases the escrow",
        f"seller commission  {fmt(breakdown.seller_commission)} (20%)",
        f"to Nadia (pending) {fmt(breakdown.seller_net)}",
        f"platform keeps     {fmt(breakdown.platform_revenue)} (commission + service fee)",
    )
    table()

    clock.advance(CLEARANCE)
    with ledger.transaction() as tx:
        EscrowFlows(tx).clear(seller, breakdown.seller_net, idempotency_key="clear-1001")
    say(f"{CLEARANCE.days} days of clearance pass: the earnings become withdrawable")
    table()

    with ledger.transaction() as tx:
        hold = EscrowFlows(tx).request_withdrawal(
            seller, breakdown.seller_net, idempotency_key="withdraw-1"
        )
    say(
        "Nadia withdraws to her bank",
        "the amount is reserved first, so it cannot be spent twice",
    )
    table()
    clock.advance(timedelta(days=1))
    with ledger.transaction() as tx:
        flows = EscrowFlows(tx)
        flows.payout_sent(hold.id, idempotency_key="payout-sent-1")
        flows.payout_paid(hold.id, gateway=GATEWAY, idempotency_key="payout-paid-1")
    say("The bank confirms the payout: the money has left the marketplace")
    final = balances()
    table()
    out.write(
        "\nEvery entry balanced; the gateway line is the world's side: "
        f"{fmt(breakdown.total_charged)} came in, {fmt(breakdown.seller_net)} went out.\n"
    )
    return DemoResult(breakdown=breakdown, balances=final)
