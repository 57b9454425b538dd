"""Ratings from published reviews, and seller levels at each threshold, one unit either side."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from fractions import Fraction

import attrs
import pytest

from gigmarket.catalog import (
    DEFAULT_LEVEL_POLICY,
    Catalog,
    CreateAccount,
    Gig,
    GigRules,
    LevelRequirement,
    OutcomeKind,
    PriceRange,
    RatingSummary,
    SellerLevel,
    SellerLevelPolicy,
    SellerStats,
    UserAccount,
)
from gigmarket.clock import ManualClock
from gigmarket.errors import IdempotencyConflict, LevelPolicyError, UserNotFound, ValidationError
from gigmarket.money import Amount
from gigmarket.storage.memory.store import MemoryStorage

AT = datetime(2027, 6, 1, 12, 0, tzinfo=UTC)
LEVELS = [SellerLevel.LEVEL_ONE, SellerLevel.LEVEL_TWO, SellerLevel.TOP_RATED]
BELOW = {
    SellerLevel.LEVEL_ONE: SellerLevel.NEW,
    SellerLevel.LEVEL_TWO: SellerLevel.LEVEL_ONE,
    SellerLevel.TOP_RATED: SellerLevel.LEVEL_TWO,
}


def _requirement(level: SellerLevel) -> LevelRequirement:
    requirement = DEFAULT_LEVEL_POLICY.requirement(level)
    assert requirement is not None
    return requirement


def _just_enough(level: SellerLevel) -> SellerStats:
    """Exactly the days, orders and earnings ``level`` needs; perfect quality."""
    requirement = _requirement(level)
    orders = requirement.min_completed_orders
    return SellerStats(
        member_since=AT - timedelta(days=requirement.min_days_active),
        completed_orders=orders,
        on_time_orders=orders,
        earnings=(requirement.min_earnings["USD"],),
        rating=RatingSummary(count=orders, total=Fraction(5 * orders)),
    )


def _evaluate(stats: SellerStats) -> SellerLevel:
    return DEFAULT_LEVEL_POLICY.evaluate(stats, AT)


@pytest.mark.parametrize("level", LEVELS)
def test_exactly_the_thresholds_reach_the_level(level: SellerLevel) -> None:
    assert _evaluate(_just_enough(level)) is level


@pytest.mark.parametrize("level", LEVELS)
def test_one_day_short_falls_one_level(level: SellerLevel) -> None:
    stats = _just_enough(level)
    assert (
        _evaluate(attrs.evolve(stats, member_since=stats.member_since + timedelta(days=1)))
        is BELOW[level]
    )
    one_second = attrs.evolve(stats, member_since=stats.member_since + timedelta(seconds=1))
    assert _evaluate(one_second) is BELOW[level]


@pytest.mark.parametrize("level", LEVELS)
def test_one_order_short_falls_one_level(level: SellerLevel) -> None:
    stats = _just_enough(level)
    fewer = stats.completed_orders - 1
    assert (
        _evaluate(attrs.evolve(stats, completed_orders=fewer, on_time_orders=fewer)) is BELOW[level]
    )


@pytest.mark.parametrize("level", LEVELS)
@pytest.mark.parametrize("currency", ["USD", "EUR", "GBP", "BDT"])
def test_one_minor_unit_short_of_earnings_falls_one_level(
    level: SellerLevel, currency: str
) -> None:
    threshold = _requirement(level).min_earnings[currency]
    exactly = attrs.evolve(_just_enough(level), earnings=(threshold,))
    assert _evaluate(exactly) is level
    short = attrs.evolve(exactly, earnings=(threshold - Amount(units=1, currency=currency),))
    assert _evaluate(short) is BELOW[level]


@pytest.mark.parametrize("level", LEVELS)
def test_a_rating_a_hundredth_of_a_star_short_falls_to_new(level: SellerLevel) -> None:
    stats = _just_enough(level)
    count = stats.completed_orders
    exactly = attrs.evolve(stats, rating=RatingSummary(count=count, total=Fraction(47, 10) * count))
    assert _evaluate(exactly) is level
    short = attrs.evolve(
        exactly,
        rating=RatingSummary(count=count, total=Fraction(47, 10) * count - Fraction(1, 100)),
    )
    assert _evaluate(short) is SellerLevel.NEW  # every level asks 4.7
    assert _evaluate(attrs.evolve(stats, rating=RatingSummary())) is SellerLevel.NEW  # unrated


@pytest.mark.parametrize("level", LEVELS)
def test_one_late_order_too_many_falls_to_new(level: SellerLevel) -> None:
    stats = _just_enough(level)
    ninety_percent = stats.completed_orders * 9 // 10
    assert _evaluate(attrs.evolve(stats, on_time_orders=ninety_percent)) is level
    assert _evaluate(attrs.evolve(stats, on_time_orders=ninety_percent - 1)) is SellerLevel.NEW


@pytest.mark.parametrize("level", LEVELS)
def test_one_cancellation_too_many_falls_to_new(level: SellerLevel) -> None:
    # 5% of ended orders exactly: c cancelled out of 19c completed + c cancelled.
    allowed = {SellerLevel.LEVEL_ONE: 1, SellerLevel.LEVEL_TWO: 3, SellerLevel.TOP_RATED: 6}[level]
    completed = 19 * allowed
    stats = attrs.evolve(
        _just_enough(level),
        completed_orders=completed,
        on_time_orders=completed,
        rating=RatingSummary(count=1, total=Fraction(5)),
    )
    exactly = attrs.evolve(stats, cancelled_orders=allowed)
    assert exactly.cancellation_rate == Fraction(1, 20)
    assert _evaluate(exactly) is level
    assert _evaluate(attrs.evolve(stats, cancelled_orders=allowed + 1)) is SellerLevel.NEW


def test_a_seller_failing_a_higher_level_keeps_the_highest_one_met() -> None:
    top = _just_enough(SellerLevel.TOP_RATED)
    assert (
        _evaluate(attrs.evolve(top, earnings=(Amount.of("1999.99", "USD"),)))
        is SellerLevel.LEVEL_ONE
    )
    assert (
        _evaluate(attrs.evolve(top, member_since=AT - timedelta(days=61))) is SellerLevel.LEVEL_ONE
    )
    assert _evaluate(SellerStats(member_since=AT)) is SellerLevel.NEW


def test_earnings_are_never_converted_or_summed_across_currencies() -> None:
    stats = attrs.evolve(
        _just_enough(SellerLevel.LEVEL_ONE),
        earnings=(Amount.of("300", "EUR"), Amount.of("300", "USD")),
    )
    assert _evaluate(stats) is SellerLevel.NEW
    with_zero_yen = attrs.evolve(stats, earnings=(Amount.of("400", "USD"), Amount.zero("JPY")))
    assert _evaluate(with_zero_yen) is SellerLevel.LEVEL_ONE
    with pytest.raises(LevelPolicyError) as caught:
        _evaluate(attrs.evolve(stats, earnings=(Amount.of("400", "USD"), Amount.of("5000", "JPY"))))
    assert caught.value.currency == "JPY"


def test_unmet_names_every_failed_requirement() -> None:
    requirement = _requirement(SellerLevel.LEVEL_TWO)
    stats = _just_enough(SellerLevel.LEVEL_ONE)
    assert requirement.unmet(stats, AT) == ("days_active", "completed_orders", "earnings")
    assert requirement.unmet(_just_enough(SellerLevel.LEVEL_TWO), AT) == ()


def test_a_policy_is_a_ladder() -> None:
    one = LevelRequirement(level=SellerLevel.LEVEL_ONE, min_completed_orders=1)
    two = LevelRequirement(
        level=SellerLevel.LEVEL_TWO, min_completed_orders=5, min_rating=Decimal("4")
    )
    assert SellerLevelPolicy([one, two]).evaluate(
        SellerStats(member_since=AT, completed_orders=5), AT
    ) is (SellerLevel.LEVEL_ONE)
    for bad in ([two, one], [one, one], [LevelRequirement(level=SellerLevel.NEW)]):
        with pytest.raises(ValidationError) as caught:
            SellerLevelPolicy(bad)
        assert caught.value.field == "requirements"
    lenient = SellerLevelPolicy([LevelRequirement(level=SellerLevel.TOP_RATED)])
    assert lenient.evaluate(SellerStats(member_since=AT), AT) is SellerLevel.TOP_RATED
    assert lenient.requirement(SellerLevel.LEVEL_ONE) is None


def test_rating_average_is_exact_and_display_rounds_half_up() -> None:
    summary = RatingSummary.of([Decimal(5), Decimal(5), Decimal(4)])
    assert summary.average == Fraction(14, 3)
    assert summary.display == Decimal("4.7")
    assert summary.average < Fraction(47, 10)  # shows 4.7, does not pass a 4.7 threshold
    assert RatingSummary.of([Decimal("4.65")]).display == Decimal("4.7")
    assert RatingSummary().average is None
    assert RatingSummary().display is None


# -- through the catalog: history as of a date -------------------------------------------


def _complete_orders(
    catalog: Catalog, gig: Gig, buyer: UserAccount, count: int, start: int = 0
) -> None:
    for number in range(start, start + count):
        catalog.record_order_outcome(
            order_id=f"order-{number}",
            gig_id=gig.id,
            outcome=OutcomeKind.COMPLETED,
            earnings=Amount.of("40", "USD"),
            on_time=True,
        )
        catalog.record_review(
            review_id=f"review-{number}",
            order_id=f"order-{number}",
            gig_id=gig.id,
            buyer_id=buyer.id,
            rating=5,
        )


def test_levels_are_evaluated_for_a_given_date(
    catalog: Catalog, clock: ManualClock, seller: UserAccount, buyer: UserAccount, active: Gig
) -> None:
    joined = catalog.account(seller.id).created_at
    _complete_orders(catalog, active, buyer, 9)
    clock.advance(timedelta(days=59))
    assert catalog.seller_level(seller.id) is SellerLevel.NEW  # 9 orders, 59 days
    clock.advance(timedelta(days=1))
    assert catalog.seller_level(seller.id) is SellerLevel.NEW  # 60 days, still 9 orders
    _complete_orders(catalog, active, buyer, 1, start=9)
    tenth_at = clock.now()
    assert catalog.seller_level(seller.id) is SellerLevel.LEVEL_ONE
    assert catalog.seller_level(seller.id, tenth_at - timedelta(microseconds=1)) is SellerLevel.NEW
    assert catalog.seller_level(seller.id, joined - timedelta(days=1)) is SellerLevel.NEW
    stats = catalog.seller_stats(seller.id)
    assert (stats.completed_orders, stats.on_time_orders, stats.earnings) == (
        10,
        10,
        (Amount.of("400", "USD"),),
    )
    assert catalog.seller_rating(seller.id).average == 5
    assert catalog.gig_rating(active.id).count == 10
    assert catalog.gig_rating(active.id, joined).count == 9  # the tenth came 60 days later
    catalog.record_order_outcome(order_id="order-x", gig_id=active.id, outcome="cancelled")
    assert catalog.seller_level(seller.id) is SellerLevel.NEW  # 1 of 11 cancelled > 5%


def test_reviews_and_outcomes_are_idempotent_by_id(
    catalog: Catalog, buyer: UserAccount, active: Gig, stored: Callable[[], object]
) -> None:
    review = catalog.record_review(
        review_id="r1", order_id="o1", gig_id=active.id, buyer_id=buyer.id, rating="4.5"
    )
    assert review.rating == Decimal("4.5")
    assert (
        catalog.record_review(
            review_id="r1", order_id="o1", gig_id=active.id, buyer_id=buyer.id, rating="4.50"
        )
        == review
    )
    outcome = catalog.record_order_outcome(
        order_id="o1",
        gig_id=active.id,
        outcome="completed",
        earnings=Amount.of("20", "USD"),
        on_time=False,
    )
    assert (
        catalog.record_order_outcome(
            order_id="o1",
            gig_id=active.id,
            outcome="completed",
            earnings=Amount.of("20", "USD"),
            on_time=False,
        )
        == outcome
    )
    before = stored()
    with pytest.raises(IdempotencyConflict):
        catalog.record_review(
            review_id="r1", order_id="o1", gig_id=active.id, buyer_id=buyer.id, rating=5
        )
    with pytest.raises(IdempotencyConflict):
        catalog.record_order_outcome(order_id="o1", gig_id=active.id, outcome="cancelled")
    assert stored() == before
    assert catalog.gig_rating(active.id).count == 1


def test_reviews_need_a_known_buyer(catalog: Catalog, active: Gig) -> None:
    stranger = catalog.create_account(CreateAccount(username="stranger"))
    catalog.record_review(
        review_id="r1", order_id="o1", gig_id=active.id, buyer_id=stranger.id, rating=1
    )
    with pytest.raises(UserNotFound):
        catalog.record_review(
            review_id="r2", order_id="o2", gig_id=active.id, buyer_id="ghost", rating=1
        )


def test_a_catalog_refuses_a_policy_that_cannot_judge_its_currencies() -> None:
    usd_only = SellerLevelPolicy(
        [LevelRequirement(level=SellerLevel.LEVEL_ONE, min_earnings={"USD": "400.00"})]
    )
    with pytest.raises(LevelPolicyError) as caught:
        Catalog(MemoryStorage(), level_policy=usd_only)
    assert caught.value.currency == "BDT"
    rules = GigRules(price_ranges={"USD": PriceRange.of("5", "500", "USD")})
    assert Catalog(MemoryStorage(), rules=rules, level_policy=usd_only).rules is rules
