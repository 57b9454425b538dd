"""The seed story with exact amounts and exact dates, under each preset.

Nadia sells a 50.00 USD logo; Rahim buys it on Monday 5 January 2026 at
09:00 UTC, pays, sends his brief at once, and Nadia delivers two days later,
on Wednesday 7 January at 09:00. Rahim then does nothing. Every number
below can be checked by hand against DESIGN §8.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from fractions import Fraction

import pytest

from gigmarket.escrow import chart
from gigmarket.money import Amount
from gigmarket.orders import (
    Actor,
    DisputeResolution,
    Order,
    OrderState,
    Settlement,
    fiverr_policy,
    upwork_policy,
)
from tests.unit.orders.helpers import BUYER_ID, SELLER_ID, World, WorldFactory, make_offer, usd

PLACED = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
DELIVERED = datetime(2026, 1, 7, 9, 0, tzinfo=UTC)
SECOND = timedelta(seconds=1)

HAPPY_EVENTS = [
    "order.placed",
    "order.paid",
    "order.requirements_submitted",
    "order.delivered",
    "order.completed",
    "money.released",
    "money.cleared",
]


def deliver(world: World, price: str = "50.00", currency: str = "USD") -> Order:
    """Place, pay, brief, and deliver two days later."""
    order = world.place(make_offer(price, currency))
    assert order.placed_at == PLACED
    order = world.start(world.pay(order))
    world.clock.set(DELIVERED)
    order = world.desk.deliver(order.id, seller_id=SELLER_ID)
    assert order.delivered_at == DELIVERED
    return order


def amounts(world: World, order: Order, currency: str) -> dict[str, Amount | None]:
    return {
        "escrow": world.escrow_of(order),
        "pending": world.balance(chart.seller_pending(SELLER_ID, currency)),
        "available": world.balance(chart.seller_available(SELLER_ID, currency)),
        "platform": world.balance(chart.platform_revenue(currency)),
        "buyer credit": world.balance(chart.buyer_credit(BUYER_ID, currency)),
        "gateway": world.balance(chart.gateway("sandbox", currency)),
    }


def silent_buyer_story(
    world: World,
    *,
    price: str,
    currency: str,
    charged: str,
    net: str,
    platform: str,
    completes_after: timedelta,
    available_after: timedelta,
) -> None:
    """The buyer never answers the delivery: it completes, then clears, on the dot."""

    def money(value: str) -> Amount:
        return Amount.of(value, currency)

    order = deliver(world, price, currency)
    assert order.price.total_charged == money(charged)
    assert order.price.seller_net == money(net)
    assert order.price.platform_revenue == money(platform)
    assert world.escrow_of(order) == money(charged)

    completes_at = DELIVERED + completes_after
    assert world.run_due_at(completes_at - SECOND).count == 0
    assert world.desk.get(order.id).state is OrderState.DELIVERED

    world.clock.set(completes_at)
    world.desk.run_due()
    order = world.desk.get(order.id)
    assert order.state is OrderState.COMPLETED
    assert order.completed_at == completes_at
    assert order.settlement == Settlement(
        seller_net=money(net).units, platform_fees=money(platform).units
    )
    assert order.held == 0
    zero = money("0")
    assert amounts(world, order, currency) == {
        "escrow": zero,
        "pending": money(net),
        "available": None,
        "platform": money(platform),
        "buyer credit": None,
        "gateway": -money(charged),
    }

    available_at = DELIVERED + available_after
    world.run_due_at(available_at - SECOND)
    assert world.balance(chart.seller_available(SELLER_ID, currency)) is None
    world.clock.set(available_at)
    world.desk.run_due()
    assert amounts(world, order, currency) == {
        "escrow": zero,
        "pending": zero,
        "available": money(net),
        "platform": money(platform),
        "buyer credit": None,
        "gateway": -money(charged),
    }
    assert world.event_types(order.id) == HAPPY_EVENTS
    world.assert_books_balance()


def test_fiverr_usd(make_world: WorldFactory) -> None:
    """55.75 charged; auto-complete 3 days after delivery (10 January); 40.00
    available 14 days later, 17 after delivery (24 January); 15.75 kept."""
    silent_buyer_story(
        make_world(fiverr_policy()),
        price="50.00",
        currency="USD",
        charged="55.75",  # 50.00 + 5.5% (2.75) + 3.00 small-order fee
        net="40.00",  # 50.00 - 20%
        platform="15.75",  # 5.75 + 10.00
        completes_after=timedelta(days=3),
        available_after=timedelta(days=17),
    )
    assert DELIVERED + timedelta(days=17) == datetime(2026, 1, 24, 9, 0, tzinfo=UTC)


def test_fiverr_bdt(make_world: WorldFactory) -> None:
    """The same story in taka: the small-order fee is 300.00 under 10,000.00."""
    silent_buyer_story(
        make_world(fiverr_policy()),
        price="5000.00",
        currency="BDT",
        charged="5575.00",  # 5,000.00 + 275.00 + 300.00
        net="4000.00",
        platform="1575.00",
        completes_after=timedelta(days=3),
        available_after=timedelta(days=17),
    )


def test_fiverr_top_rated_seller_clears_in_seven_days(make_world: WorldFactory) -> None:
    silent_buyer_story(
        make_world(fiverr_policy(), top_rated=lambda seller_id: seller_id == SELLER_ID),
        price="50.00",
        currency="USD",
        charged="55.75",
        net="40.00",
        platform="15.75",
        completes_after=timedelta(days=3),
        available_after=timedelta(days=10),  # 3 + 7
    )


def test_upwork_usd(make_world: WorldFactory) -> None:
    """No client fee, 10% commission, auto-approval after 14 days, 5 days of
    security period: available 19 days after the work was submitted."""
    silent_buyer_story(
        make_world(upwork_policy()),
        price="50.00",
        currency="USD",
        charged="50.00",
        net="45.00",
        platform="5.00",
        completes_after=timedelta(days=14),
        available_after=timedelta(days=19),
    )


def test_buyer_accepts_at_once(world: World) -> None:
    """Accepting starts the 14-day clearance at once."""
    order = deliver(world)
    world.clock.set(DELIVERED + timedelta(hours=5))
    order = world.desk.accept(order.id, buyer_id=BUYER_ID)
    assert order.completed_at == DELIVERED + timedelta(hours=5)
    assert world.pending_timers(order.id) == [
        ("clear", DELIVERED + timedelta(days=14, hours=5)),
        ("publish_reviews", DELIVERED + timedelta(days=14, hours=5)),
    ]
    world.clock.set(DELIVERED + timedelta(days=14, hours=5))
    world.desk.run_due()
    assert world.balance(chart.seller_available(SELLER_ID, "USD")) == usd("40.00")
    world.assert_books_balance()


# -- a dispute split 30/70 ------------------------------------------------------


def largest_remainder(total: int, ratios: list[int]) -> list[int]:
    """The rule written out once more, to check the library's by hand."""
    shares = [Fraction(total * r, sum(ratios)) for r in ratios]
    parts = [int(share) for share in shares]
    order = sorted(range(len(ratios)), key=lambda i: (-(shares[i] - parts[i]), i))
    for i in order[: total - sum(parts)]:
        parts[i] += 1
    return parts


def dispute(world: World) -> Order:
    order = deliver(world)
    world.clock.set(DELIVERED + timedelta(days=1))
    return world.desk.open_dispute(order.id, by=Actor.BUYER, account_id=BUYER_ID)


@pytest.mark.parametrize(
    ("resolution", "refund", "net", "fees"),
    [
        # 30% of 5575 is 1672.5 and 70% is 3902.5: a tie, the earlier part (the
        # buyer) gets the odd cent. The 3902 left splits 4000 : 1575, i.e.
        # 2799.64... : 1102.35...; the larger remainder, the seller's, gets the cent.
        pytest.param("split", "16.73", "28.00", "11.02", id="split-30-70"),
        pytest.param("16.73", "16.73", "28.00", "11.02", id="the-same-as-an-amount"),
        # 3575 left: 2565.02... : 1009.97...; this time the platform's cent.
        pytest.param("20.00", "20.00", "25.65", "10.10", id="refund-20"),
    ],
)
def test_a_split_adds_up_to_the_cent(
    world: World, resolution: str, refund: str, net: str, fees: str
) -> None:
    order = dispute(world)
    assert order.held == 5575
    refund_units, rest = largest_remainder(5575, [30, 70])
    assert (refund_units, rest) == (1673, 3902)
    assert largest_remainder(3902, [4000, 1575]) == [2800, 1102]
    assert largest_remainder(5575 - 2000, [4000, 1575]) == [2565, 1010]

    decision = (
        DisputeResolution.split(order, 30, 70, note="the logo was half right")
        if resolution == "split"
        else DisputeResolution(refund=usd(resolution))
    )
    assert decision.refund == usd(refund)
    world.clock.set(DELIVERED + timedelta(days=2))
    order = world.desk.resolve_dispute(order.id, decision)

    assert order.state is OrderState.RESOLVED
    assert order.closed_at == DELIVERED + timedelta(days=2)
    assert order.settlement == Settlement(
        seller_net=usd(net).units, platform_fees=usd(fees).units, refunded=usd(refund).units
    )
    assert usd(refund) + usd(net) + usd(fees) == usd("55.75")
    assert amounts(world, order, "USD") == {
        "escrow": usd("0"),
        "pending": usd(net),
        "available": None,
        "platform": usd(fees),
        "buyer credit": usd(refund),
        "gateway": usd("-55.75"),
    }
    assert world.event_types(order.id) == [
        "order.placed",
        "order.paid",
        "order.requirements_submitted",
        "order.delivered",
        "order.dispute_opened",
        "money.refunded",
        "money.released",
        "order.dispute_resolved",
    ]
    resolved = [e for e in world.desk.pending_events() if e.type == "order.dispute_resolved"]
    assert resolved[0].payload == {
        "state": "resolved",
        "refund": f"{refund} USD",
        "seller_net": f"{net} USD",
        "platform_fees": f"{fees} USD",
        "note": decision.note,
    }
    world.assert_books_balance()

    world.clock.set(DELIVERED + timedelta(days=16))  # 14 days after the resolution
    world.desk.run_due()
    assert world.balance(chart.seller_available(SELLER_ID, "USD")) == usd(net)
    assert world.event_types(order.id)[-1] == "money.cleared"
    world.assert_books_balance()


@pytest.mark.parametrize(
    ("refund", "state", "credit", "pending", "platform"),
    [
        pytest.param("55.75", OrderState.CANCELLED, "55.75", None, None, id="full-refund"),
        pytest.param("0.00", OrderState.COMPLETED, None, "40.00", "15.75", id="full-release"),
    ],
)
def test_the_two_ends_of_a_resolution(
    world: World,
    refund: str,
    state: OrderState,
    credit: str | None,
    pending: str | None,
    platform: str | None,
) -> None:
    order = world.desk.resolve_dispute(dispute(world).id, DisputeResolution(refund=usd(refund)))
    assert order.state is state
    assert order.held == 0
    got = amounts(world, order, "USD")
    assert got["buyer credit"] == (usd(credit) if credit else None)
    assert got["pending"] == (usd(pending) if pending else None)
    assert got["platform"] == (usd(platform) if platform else None)
    world.assert_books_balance()


# -- a tip ------------------------------------------------------------------------


def test_a_tip_pays_commission_and_clears_fourteen_days_later(world: World) -> None:
    order = deliver(world)
    order = world.desk.accept(order.id, buyer_id=BUYER_ID)
    tipped_at = world.clock.set(DELIVERED + timedelta(days=1))
    order = world.desk.tip(order.id, usd("10.00"), buyer_id=BUYER_ID, payment_reference="tip_1")

    assert order.state is OrderState.COMPLETED
    assert order.tips == 1000
    assert order.charged == 5575 + 1000
    assert order.settlement == Settlement(seller_net=4000 + 800, platform_fees=1575 + 200)
    assert order.held == 0
    assert world.balance(chart.seller_pending(SELLER_ID, "USD")) == usd("48.00")
    assert world.balance(chart.platform_revenue("USD")) == usd("17.75")
    assert world.balance(chart.gateway("sandbox", "USD")) == usd("-65.75")
    world.assert_books_balance()

    # the order's 40.00 clears 14 days after its completion, the tip's 8.00
    # 14 days after the tip
    world.clock.set(DELIVERED + timedelta(days=14))
    world.desk.run_due()
    assert world.balance(chart.seller_available(SELLER_ID, "USD")) == usd("40.00")
    world.clock.set(tipped_at + timedelta(days=14) - SECOND)
    world.desk.run_due()
    assert world.balance(chart.seller_available(SELLER_ID, "USD")) == usd("40.00")
    world.clock.set(tipped_at + timedelta(days=14))
    world.desk.run_due()
    assert world.balance(chart.seller_available(SELLER_ID, "USD")) == usd("48.00")
    assert world.balance(chart.seller_pending(SELLER_ID, "USD")) == usd("0")
    assert world.event_types(order.id) == [
        "order.placed",
        "order.paid",
        "order.requirements_submitted",
        "order.delivered",
        "order.completed",
        "money.released",
        "order.tipped",
        "money.cleared",
        "money.cleared",
    ]
    tipped = next(e for e in world.desk.pending_events() if e.type == "order.tipped")
    assert tipped.payload == {
        "state": "completed",
        "amount": "10.00 USD",
        "seller_net": "8.00 USD",
        "platform_fees": "2.00 USD",
    }
    world.assert_books_balance()
