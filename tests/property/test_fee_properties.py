"""Fee policies: the sums that must hold for every amount, rate, currency and rounding.

The unit tests check published figures; these check that no figure anywhere
can make money appear or vanish: fee + net is the gross to the minor unit,
a commission stays within the payment, and a tiered rule charges the same
exact fee however a sum is cut into payments.
"""

from __future__ import annotations

from datetime import UTC, datetime
from fractions import Fraction

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from gigmarket.errors import FeePolicyError
from gigmarket.escrow.fees import (
    FeeContext,
    FeePolicy,
    Maximum,
    Minimum,
    Percentage,
    Tiered,
    Total,
)
from gigmarket.escrow.schedule import FeeSchedule, PolicyVersion
from gigmarket.money import Amount, RoundingMode, round_fraction
from tests.strategies import (
    EXPONENT_CURRENCIES,
    amounts,
    aware_datetimes,
    currencies,
    rates,
    rounding_modes,
    tiered_rules,
)

_HALF = Fraction(1, 2)


@pytest.mark.parametrize("rounding", list(RoundingMode))
@pytest.mark.parametrize("currency", EXPONENT_CURRENCIES)
@given(data=st.data(), rate=rates())
def test_commission_and_net_add_up_to_the_gross(
    currency: str, rounding: RoundingMode, data: st.DataObject, rate: Fraction
) -> None:
    gross = data.draw(amounts(currency))
    policy = FeePolicy(name="p", seller_commission=Percentage(rate=rate), rounding=rounding)

    split = policy.commission_on(gross)

    assert split.fee + split.net == gross
    assert Amount.zero(currency) <= split.fee <= gross
    exact = gross.units * rate
    assert abs(split.fee.units - exact) < 1
    if rounding in {RoundingMode.HALF_UP, RoundingMode.HALF_EVEN}:
        assert abs(split.fee.units - exact) <= _HALF


@given(
    data=st.data(),
    buyer_rate=rates(max_rate=Fraction(1, 2)),
    seller_rate=rates(),
    rounding=rounding_modes(),
)
def test_a_breakdown_balances_buyer_seller_and_platform(
    data: st.DataObject, buyer_rate: Fraction, seller_rate: Fraction, rounding: RoundingMode
) -> None:
    subtotal = data.draw(amounts())
    policy = FeePolicy(
        name="p",
        buyer_service_fee=Percentage(rate=buyer_rate),
        seller_commission=Percentage(rate=seller_rate),
        rounding=rounding,
    )

    breakdown = policy.price(subtotal)

    assert breakdown.total_charged == breakdown.subtotal + breakdown.buyer_service_fee
    assert breakdown.seller_net + breakdown.seller_commission == breakdown.subtotal
    assert breakdown.total_charged == breakdown.seller_net + breakdown.platform_revenue
    assert breakdown.seller_commission == policy.commission_on(subtotal).fee


@given(
    data=st.data(),
    parts=st.lists(rates(max_rate=Fraction(1, 3)), min_size=1, max_size=3),
    rounding=rounding_modes(),
)
def test_a_total_is_the_exact_sum_rounded_once(
    data: st.DataObject, parts: list[Fraction], rounding: RoundingMode
) -> None:
    gross = data.draw(amounts())
    total = Total(rules=[Percentage(rate=rate) for rate in parts])
    policy = FeePolicy(name="p", seller_commission=total, rounding=rounding)

    exact = total.fee_for(gross, FeeContext())

    assert exact == sum(gross.units * rate for rate in parts)
    assert policy.commission_on(gross).fee.units == round_fraction(exact, rounding)


@given(data=st.data(), rate=rates(max_rate=Fraction(2)), bound=st.integers(0, 10**6))
def test_clamps_hold_their_bounds(data: st.DataObject, rate: Fraction, bound: int) -> None:
    gross = data.draw(amounts())
    limit = Amount(units=bound, currency=gross.currency)
    inner = Percentage(rate=rate)
    context = FeeContext()

    floored = Minimum(rule=inner, floor=[limit]).fee_for(gross, context)
    capped = Maximum(rule=inner, cap=[limit]).fee_for(gross, context)

    assert floored == max(inner.fee_for(gross, context), bound)
    assert capped == min(inner.fee_for(gross, context), bound)


@st.composite
def tiered_cases(draw: st.DrawFn) -> tuple[Tiered, Amount, FeeContext]:
    """A tiered rule, a payment and a prior billing, all in one currency,
    sized so that payments cross the tier bounds often."""
    currency = draw(currencies())
    rule = draw(tiered_rules(currency))
    prior = draw(amounts(currency, min_units=0, max_units=2 * 10**6))
    gross = draw(amounts(currency, max_units=2 * 10**6))
    return rule, gross, FeeContext(prior_billed=prior)


@given(case=tiered_cases(), extra=st.integers(0, 10**6), rounding=rounding_modes())
def test_a_tiered_fee_grows_with_the_payment(
    case: tuple[Tiered, Amount, FeeContext], extra: int, rounding: RoundingMode
) -> None:
    rule, gross, context = case
    larger = Amount(units=gross.units + extra, currency=gross.currency)

    smaller_fee = rule.fee_for(gross, context)
    larger_fee = rule.fee_for(larger, context)

    assert smaller_fee <= larger_fee
    assert round_fraction(smaller_fee, rounding) <= round_fraction(larger_fee, rounding)


@given(case=tiered_cases(), data=st.data())
def test_a_tiered_fee_is_the_same_paid_at_once_or_in_two_parts(
    case: tuple[Tiered, Amount, FeeContext], data: st.DataObject
) -> None:
    rule, gross, context = case
    assume(gross.units >= 2)
    first_units = data.draw(st.integers(1, gross.units - 1), label="first payment")
    first = Amount(units=first_units, currency=gross.currency)
    second = gross - first

    in_two = rule.fee_for(first, context) + rule.fee_for(second, context.after(first))

    assert in_two == rule.fee_for(gross, context)


@given(data=st.data(), currency=currencies())
def test_a_tiered_fee_matches_a_unit_by_unit_model(data: st.DataObject, currency: str) -> None:
    """Small enough to charge every minor unit at the rate of the tier it falls in."""
    rule = data.draw(tiered_rules(currency, max_bound=300))
    prior = data.draw(st.integers(0, 300), label="prior units")
    gross = data.draw(amounts(currency, max_units=300))
    bounds = [tier.up_to[0].units if tier.up_to else None for tier in rule.tiers]

    def rate_of(unit: int) -> Fraction:
        tier_index = next(i for i, bound in enumerate(bounds) if bound is None or unit < bound)
        return rule.tiers[tier_index].rate

    model = sum((rate_of(unit) for unit in range(prior, prior + gross.units)), Fraction(0))
    context = FeeContext(prior_billed=Amount(units=prior, currency=currency))

    assert rule.fee_for(gross, context) == model


@given(case=tiered_cases())
def test_a_tiered_fee_lies_between_its_lowest_and_highest_rates(
    case: tuple[Tiered, Amount, FeeContext],
) -> None:
    rule, gross, context = case
    tier_rates = [tier.rate for tier in rule.tiers]

    fee = rule.fee_for(gross, context)

    assert min(tier_rates) * gross.units <= fee <= max(tier_rates) * gross.units


@given(
    starts=st.lists(aware_datetimes(), min_size=1, max_size=5, unique_by=lambda d: d.timestamp()),
    when=aware_datetimes(),
)
def test_a_schedule_picks_the_latest_version_in_force(
    starts: list[datetime], when: datetime
) -> None:
    versions = [
        PolicyVersion(
            effective_from=start,
            policy=FeePolicy(name=f"v{index}", seller_commission=Percentage(rate=0)),
        )
        for index, start in enumerate(starts)
    ]
    schedule = FeeSchedule(versions=versions)
    in_force = [version for version in versions if version.effective_from <= when]

    if not in_force:
        with pytest.raises(FeePolicyError, match="no fee policy was in force"):
            schedule.policy_at(when)
    else:
        latest = max(in_force, key=lambda version: version.effective_from)
        assert schedule.policy_at(when) == latest.policy
    assert all(version.effective_from.tzinfo is UTC for version in schedule.versions)
