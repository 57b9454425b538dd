"""Fee policies against the platforms' published figures, and every refusal.

Each worked example is written the way a help page states it ("600.00 billed
to one client leaves the freelancer 490.00"), so a reader can check the
library against the source without reading the code.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from fractions import Fraction

import pytest

from gigmarket.errors import (
    AmountOutOfRange,
    CurrencyMismatch,
    FeePolicyError,
    GigmarketError,
    InvalidAmount,
    ValidationError,
)
from gigmarket.escrow import fees
from gigmarket.escrow.fees import (
    FeeContext,
    FeePolicy,
    FeeRule,
    Fixed,
    Maximum,
    Minimum,
    NoFee,
    Percentage,
    PriceBreakdown,
    SmallOrderSurcharge,
    Tier,
    Tiered,
    Total,
)
from gigmarket.escrow.presets import fiverr, upwork, upwork_legacy
from gigmarket.escrow.schedule import FeeSchedule, PolicyVersion
from gigmarket.money import Amount, RoundingMode


def usd(value: str) -> Amount:
    return Amount.of(value, "USD")


def flat(rate: str, rounding: RoundingMode = RoundingMode.HALF_UP) -> FeePolicy:
    return FeePolicy(
        name=f"flat {rate}", seller_commission=Percentage(rate=rate), rounding=rounding
    )


# -- Upwork: 10% flat ---------------------------------------------------------


@pytest.mark.parametrize(
    ("gross", "fee", "net"),
    [
        ("266.64", "26.66", "239.98"),  # 26.664 rounds down
        ("333.36", "33.34", "300.02"),  # 33.336 rounds up
    ],
)
def test_upwork_takes_ten_percent(gross: str, fee: str, net: str) -> None:
    split = upwork().commission_on(usd(gross))

    assert (split.fee, split.net) == (usd(fee), usd(net))


def test_upwork_charges_the_client_no_fee() -> None:
    breakdown = upwork().price(usd("333.36"))

    assert breakdown.buyer_service_fee == usd("0.00")
    assert breakdown.total_charged == usd("333.36")
    assert breakdown.seller_net == usd("300.02")


# -- Upwork legacy: 20% / 10% / 5% over cumulative billing --------------------


@pytest.mark.parametrize(
    ("prior", "payment", "commission", "net"),
    [
        pytest.param("0.00", "600.00", "110.00", "490.00", id="first 600 crosses 500"),
        pytest.param("0.00", "500.00", "100.00", "400.00", id="exactly 500 is all 20%"),
        pytest.param("500.00", "100.00", "10.00", "90.00", id="after 500 it is 10%"),
        pytest.param("9500.00", "1000.00", "75.00", "925.00", id="straddles 10,000"),
        pytest.param("10000.00", "200.00", "10.00", "190.00", id="beyond 10,000 it is 5%"),
        pytest.param("400.00", "10000.00", "990.00", "9010.00", id="spans all three"),
    ],
)
def test_upwork_legacy_slides_with_billing_to_one_client(
    prior: str, payment: str, commission: str, net: str
) -> None:
    context = FeeContext(prior_billed=usd(prior))

    split = upwork_legacy().commission_on(usd(payment), context)

    assert (split.fee, split.net) == (usd(commission), usd(net))


def test_upwork_legacy_charges_the_same_paid_at_once_or_in_instalments() -> None:
    policy = upwork_legacy()
    first = policy.commission_on(usd("500.00"))
    second = policy.commission_on(usd("100.00"), FeeContext().after(usd("500.00")))

    assert first.fee + second.fee == policy.commission_on(usd("600.00")).fee == usd("110.00")


def test_upwork_legacy_knows_taka_at_a_hundredfold() -> None:
    split = upwork_legacy().commission_on(Amount.of("60000.00", "BDT"))

    assert split.fee == Amount.of("11000.00", "BDT")
    assert split.net == Amount.of("49000.00", "BDT")


def test_upwork_legacy_accepts_the_callers_bounds() -> None:
    policy = upwork_legacy(tier_bounds={"EUR": ("400.00", "8000.00")})

    assert policy.commission_on(Amount.of("500", "EUR")).fee == Amount.of("90.00", "EUR")


# -- Fiverr: buyer 5.5% (+3.00 under 100.00), seller 20% ----------------------


@pytest.mark.parametrize(("subtotal", "net"), [("100.00", "80.00"), ("5.00", "4.00")])
def test_fiverr_seller_keeps_eighty_percent(subtotal: str, net: str) -> None:
    assert fiverr().price(usd(subtotal)).seller_net == usd(net)


@pytest.mark.parametrize(
    ("subtotal", "service_fee", "total"),
    [
        pytest.param("50.00", "5.75", "55.75", id="2.75 plus the small-order 3.00"),
        pytest.param("100.00", "5.50", "105.50", id="100.00 is not under 100.00"),
        pytest.param("99.99", "8.50", "108.49", id="5.49945 + 3.00 rounded once"),
    ],
)
def test_fiverr_buyer_service_fee(subtotal: str, service_fee: str, total: str) -> None:
    breakdown = fiverr().price(usd(subtotal))

    assert breakdown.buyer_service_fee == usd(service_fee)
    assert breakdown.total_charged == usd(total)


@pytest.mark.parametrize(
    ("subtotal", "service_fee"),
    [("9999.00", "849.95"), ("10000.00", "550.00")],
)
def test_fiverr_in_taka(subtotal: str, service_fee: str) -> None:
    breakdown = fiverr().price(Amount.of(subtotal, "BDT"))

    assert breakdown.buyer_service_fee == Amount.of(service_fee, "BDT")


def test_fiverr_takes_twenty_percent_of_a_tip_and_no_buyer_fee() -> None:
    tip = fiverr().commission_on(usd("5.00"))

    assert (tip.gross, tip.fee, tip.net) == (usd("5.00"), usd("1.00"), usd("4.00"))


def test_fiverr_accepts_the_callers_small_order_table() -> None:
    policy = fiverr(small_order_fees={"JPY": ("300", "10000")})

    assert policy.price(Amount.of("1000", "JPY")).buyer_service_fee == Amount.of("355", "JPY")


def test_fiverr_refuses_a_currency_its_table_lacks() -> None:
    with pytest.raises(FeePolicyError, match="JPY") as caught:
        fiverr().price(Amount.of("1000", "JPY"))

    assert caught.value.currency == "JPY"


def test_a_breakdown_adds_up_for_buyer_seller_and_platform() -> None:
    breakdown = fiverr().price(usd("50.00"))

    assert breakdown.platform_revenue == usd("15.75")  # 5.75 + 10.00
    assert breakdown.total_charged == breakdown.seller_net + breakdown.platform_revenue


# -- currencies with 0 and 3 decimals ------------------------------------------


def test_yen_has_no_minor_unit_to_round_to() -> None:
    split = flat("15%").commission_on(Amount.of("999", "JPY"))  # 149.85 yen

    assert (split.fee, split.net) == (Amount.of("150", "JPY"), Amount.of("849", "JPY"))


@pytest.mark.parametrize(
    ("gross", "rounding", "fee"),
    [
        # 10% of 1.235 KWD is 123.5 fils: halfway, and 123 is odd.
        ("1.235", RoundingMode.HALF_UP, "0.124"),
        ("1.235", RoundingMode.HALF_EVEN, "0.124"),
        ("1.235", RoundingMode.DOWN, "0.123"),
        ("1.235", RoundingMode.UP, "0.124"),
        # 10% of 1.225 KWD is 122.5 fils: halfway, and 122 is even.
        ("1.225", RoundingMode.HALF_UP, "0.123"),
        ("1.225", RoundingMode.HALF_EVEN, "0.122"),
        ("1.225", RoundingMode.DOWN, "0.122"),
        ("1.225", RoundingMode.UP, "0.123"),
    ],
)
def test_dinar_keeps_three_decimals(gross: str, rounding: RoundingMode, fee: str) -> None:
    split = flat("10%", rounding).commission_on(Amount.of(gross, "KWD"))

    assert str(split.fee) == f"{fee} KWD"
    assert split.fee + split.net == Amount.of(gross, "KWD")


# -- rounding modes ----------------------------------------------------------


@pytest.mark.parametrize(
    ("gross", "rounding", "fee"),
    [
        # 10% of 0.25 is 2.5 cents, a tie with an even neighbour below.
        ("0.25", RoundingMode.HALF_UP, "0.03"),
        ("0.25", RoundingMode.HALF_EVEN, "0.02"),
        ("0.25", RoundingMode.DOWN, "0.02"),
        ("0.25", RoundingMode.UP, "0.03"),
        # 10% of 0.35 is 3.5 cents, a tie with an even neighbour above.
        ("0.35", RoundingMode.HALF_UP, "0.04"),
        ("0.35", RoundingMode.HALF_EVEN, "0.04"),
        ("0.35", RoundingMode.DOWN, "0.03"),
        ("0.35", RoundingMode.UP, "0.04"),
        # 10% of 0.33 is 3.3 cents, no tie: only UP moves away from 3.
        ("0.33", RoundingMode.HALF_UP, "0.03"),
        ("0.33", RoundingMode.HALF_EVEN, "0.03"),
        ("0.33", RoundingMode.DOWN, "0.03"),
        ("0.33", RoundingMode.UP, "0.04"),
    ],
)
def test_each_rounding_mode(gross: str, rounding: RoundingMode, fee: str) -> None:
    assert flat("10%", rounding).commission_on(usd(gross)).fee == usd(fee)


def test_composite_rules_round_once_not_part_by_part() -> None:
    two_halves = FeePolicy(
        name="5% + 5%",
        seller_commission=Total(rules=[Percentage(rate="5%"), Percentage(rate="5%")]),
    )

    # Each part is 0.5 cent, which alone would round up to 1 cent; together exactly 1.
    assert two_halves.commission_on(usd("0.10")).fee == usd("0.01")


# -- schedules ---------------------------------------------------------------

CHANGE = datetime(2025, 7, 1, tzinfo=UTC)


def schedule() -> FeeSchedule:
    return FeeSchedule(
        versions=[
            (CHANGE, flat("15%")),
            (CHANGE - timedelta(days=365), flat("10%")),
        ]
    )


@pytest.mark.parametrize(
    ("placed_at", "fee"),
    [
        pytest.param(CHANGE - timedelta(seconds=1), "10.00", id="just before the change"),
        pytest.param(CHANGE, "15.00", id="at the change"),
        pytest.param(CHANGE + timedelta(days=30), "15.00", id="after the change"),
    ],
)
def test_an_order_is_priced_under_the_policy_in_force_when_placed(
    placed_at: datetime, fee: str
) -> None:
    breakdown = schedule().price(usd("100.00"), placed_at=placed_at)

    assert breakdown.seller_commission == usd(fee)


def test_schedule_versions_are_kept_in_date_order() -> None:
    dates = [version.effective_from for version in schedule().versions]

    assert dates == sorted(dates)


def test_schedule_compares_times_in_any_zone_as_utc() -> None:
    dhaka = timezone(timedelta(hours=6))
    # 05:59 in Dhaka on 1 July is 23:59 UTC on 30 June: still the old policy.
    placed_at = datetime(2025, 7, 1, 5, 59, tzinfo=dhaka)

    assert schedule().policy_at(placed_at).name == "flat 10%"


def test_an_order_before_the_first_version_cannot_be_priced() -> None:
    with pytest.raises(FeePolicyError, match="no fee policy was in force") as caught:
        schedule().policy_at(datetime(2020, 1, 1, tzinfo=UTC))

    assert caught.value.policy == "flat 10%"


def test_schedule_refuses_a_naive_time() -> None:
    with pytest.raises(ValidationError) as caught:
        schedule().policy_at(datetime(2025, 7, 1))  # noqa: DTZ001 -- the point of the test

    assert caught.value.field == "when"


def test_schedule_refuses_a_naive_effective_date() -> None:
    with pytest.raises(ValidationError) as caught:
        PolicyVersion(effective_from=datetime(2025, 7, 1), policy=upwork())  # noqa: DTZ001

    assert caught.value.field == "effective_from"


def test_schedule_refuses_two_versions_at_one_moment() -> None:
    with pytest.raises(FeePolicyError, match="both take effect"):
        FeeSchedule(versions=[(CHANGE, upwork()), (CHANGE, fiverr())])


def test_schedule_refuses_to_be_empty() -> None:
    with pytest.raises(FeePolicyError, match="at least one version"):
        FeeSchedule(versions=[])


def test_a_schedule_that_always_applies_one_preset() -> None:
    always = FeeSchedule.always(upwork())

    assert always.policy_at(datetime(1970, 1, 1, tzinfo=UTC)) == upwork()


def test_a_schedule_grows_by_a_new_version() -> None:
    grown = FeeSchedule.always(upwork_legacy()).with_version(CHANGE, upwork())

    assert grown.policy_at(CHANGE - timedelta(microseconds=1)) == upwork_legacy()
    assert grown.policy_at(CHANGE) == upwork()


# -- the rules one by one ------------------------------------------------------


def test_a_fixed_fee_per_currency() -> None:
    rule = Fixed(amounts={"USD": "0.30", "EUR": "0.25"})
    policy = FeePolicy(name="card", seller_commission=rule)

    assert policy.commission_on(usd("10.00")).fee == usd("0.30")
    assert policy.commission_on(Amount.of("10.00", "EUR")).fee == Amount.of("0.25", "EUR")


def test_a_fixed_fee_table_may_list_amounts() -> None:
    assert Fixed(amounts=[usd("0.30")]) == Fixed(amounts={"USD": "0.30"})


def test_a_fixed_fee_refuses_a_currency_it_lacks_and_names_it() -> None:
    policy = FeePolicy(name="card", seller_commission=Fixed(amounts={"USD": "0.30"}))

    with pytest.raises(FeePolicyError, match="no entry for GBP") as caught:
        policy.commission_on(Amount.of("10.00", "GBP"))

    assert caught.value.currency == "GBP"


@pytest.mark.parametrize(
    ("gross", "fee"),
    [
        pytest.param("10.00", "0.50", id="2% is 0.20, raised to the floor"),
        pytest.param("100.00", "2.00", id="2% is above the floor"),
    ],
)
def test_minimum_raises_a_small_fee_to_the_floor(gross: str, fee: str) -> None:
    rule = Minimum(rule=Percentage(rate="2%"), floor={"USD": "0.50"})

    assert FeePolicy(name="min", seller_commission=rule).commission_on(usd(gross)).fee == usd(fee)


@pytest.mark.parametrize(
    ("gross", "fee"),
    [
        pytest.param("1000.00", "50.00", id="20% is 200.00, capped"),
        pytest.param("100.00", "20.00", id="20% is under the cap"),
    ],
)
def test_maximum_caps_a_large_fee(gross: str, fee: str) -> None:
    rule = Maximum(rule=Percentage(rate="20%"), cap={"USD": "50.00"})

    assert FeePolicy(name="max", seller_commission=rule).commission_on(usd(gross)).fee == usd(fee)


@pytest.mark.parametrize("rule_type", [Minimum, Maximum])
def test_clamps_refuse_a_currency_they_lack(rule_type: type[Minimum | Maximum]) -> None:
    bound = "floor" if rule_type is Minimum else "cap"
    rule = rule_type(rule=Percentage(rate="2%"), **{bound: {"USD": "0.50"}})

    with pytest.raises(FeePolicyError, match="EUR"):
        rule.fee_for(Amount.of("10.00", "EUR"), FeeContext())


def test_small_order_surcharge_applies_strictly_under_the_threshold() -> None:
    rule = SmallOrderSurcharge(fee={"USD": "3.00"}, under={"USD": "100.00"})

    assert rule.fee_for(usd("99.99"), FeeContext()) == 300
    assert rule.fee_for(usd("100.00"), FeeContext()) == 0


def test_small_order_surcharge_needs_matching_tables() -> None:
    with pytest.raises(FeePolicyError, match="same currencies"):
        SmallOrderSurcharge(fee={"USD": "3.00"}, under={"USD": "100.00", "EUR": "100.00"})


def test_rules_return_exact_unrounded_fractions() -> None:
    rule = Total(rules=[Percentage(rate="5.5%"), Fixed(amounts={"USD": "3.00"})])

    assert rule.fee_for(usd("99.99"), FeeContext()) == Fraction("849.945")


def test_an_empty_total_is_no_fee() -> None:
    assert Total(rules=[]).fee_for(usd("10.00"), FeeContext()) == 0
    assert NoFee().fee_for(usd("10.00"), FeeContext()) == 0


def test_tiered_rule_refuses_a_currency_without_bounds() -> None:
    with pytest.raises(FeePolicyError, match="EUR") as caught:
        upwork_legacy().commission_on(Amount.of("600.00", "EUR"))

    assert caught.value.currency == "EUR"


@pytest.mark.parametrize(
    ("tiers", "message"),
    [
        pytest.param([], "needs tiers", id="no tiers"),
        pytest.param([Tier(rate="5%", up_to={"USD": "1"})], "last tier", id="bounded last"),
        pytest.param(
            [Tier(rate="20%"), Tier(rate="5%")], "only the last tier", id="unbounded middle"
        ),
        pytest.param(
            [
                Tier(rate="20%", up_to={"USD": "9"}),
                Tier(rate="9%", up_to={"USD": "9"}),
                Tier(rate="1%"),
            ],
            "must rise",
            id="bounds that do not rise",
        ),
        pytest.param(
            [
                Tier(rate="20%", up_to={"USD": "9"}),
                Tier(rate="9%", up_to={"EUR": "99"}),
                Tier(rate="1%"),
            ],
            "same currencies",
            id="bounds in different currencies",
        ),
    ],
)
def test_tiered_rule_refuses_malformed_tiers(tiers: list[Tier], message: str) -> None:
    with pytest.raises(FeePolicyError, match=message):
        Tiered(tiers=tiers)


def test_tiered_rule_is_made_of_tiers() -> None:
    with pytest.raises(TypeError, match="Tier objects"):
        Tiered(tiers=[Percentage(rate="5%")])  # type: ignore[list-item]


# -- tables, rates and rules that cannot be ------------------------------------


def test_a_table_refuses_a_currency_twice() -> None:
    with pytest.raises(FeePolicyError, match="twice"):
        Fixed(amounts=[usd("0.30"), usd("0.40")])


def test_a_table_refuses_to_be_empty() -> None:
    with pytest.raises(FeePolicyError, match="at least one"):
        Fixed(amounts={})


def test_a_table_refuses_a_negative_amount() -> None:
    with pytest.raises(AmountOutOfRange):
        Fixed(amounts={"USD": "-0.30"})


def test_a_table_refuses_an_amount_filed_under_another_currency() -> None:
    with pytest.raises(CurrencyMismatch):
        Fixed(amounts={"EUR": usd("0.30")})


def test_a_rate_cannot_be_a_float() -> None:
    with pytest.raises(InvalidAmount, match="float"):
        Percentage(rate=0.1)  # type: ignore[arg-type]


@pytest.mark.parametrize("rate", ["10%", "0.1", Decimal("0.1"), Fraction(1, 10)])
def test_a_rate_is_read_exactly_in_any_spelling(rate: str | Decimal | Fraction) -> None:
    assert Percentage(rate=rate).rate == Fraction(1, 10)


def test_commission_above_the_payment_is_refused() -> None:
    greedy = flat("150%")

    with pytest.raises(FeePolicyError, match="not between zero and") as caught:
        greedy.price(usd("10.00"))

    assert caught.value.policy == "flat 150%"


def test_a_fixed_commission_larger_than_a_tip_is_refused() -> None:
    policy = FeePolicy(name="fixed", seller_commission=Fixed(amounts={"USD": "1.00"}))

    with pytest.raises(FeePolicyError):
        policy.commission_on(usd("0.50"))


@pytest.mark.parametrize("subtotal", ["0.00", "-1.00"])
def test_a_subtotal_must_be_positive(subtotal: str) -> None:
    with pytest.raises(AmountOutOfRange, match="must be positive"):
        fiverr().price(usd(subtotal))


class _FloatRule:
    def fee_for(self, gross: Amount, context: FeeContext) -> float:
        return gross.units * 0.1


class _NegativeRule:
    def fee_for(self, gross: Amount, context: FeeContext) -> Fraction:
        return Fraction(-1)


def test_a_host_rule_returning_a_float_is_refused() -> None:
    policy = FeePolicy(name="host", seller_commission=_FloatRule())  # type: ignore[arg-type]

    with pytest.raises(FeePolicyError, match="returned a float"):
        policy.commission_on(usd("10.00"))


def test_a_host_rule_returning_a_negative_fee_is_refused() -> None:
    policy = FeePolicy(name="host", seller_commission=NoFee(), buyer_service_fee=_NegativeRule())

    with pytest.raises(FeePolicyError, match="negative fee"):
        policy.price(usd("10.00"))


def test_a_policy_is_made_of_rules() -> None:
    with pytest.raises(TypeError, match="must be a fee rule"):
        FeePolicy(name="bad", seller_commission="20%")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="must be a fee rule"):
        Total(rules=["20%"])  # type: ignore[list-item]


def test_a_policy_needs_a_name() -> None:
    with pytest.raises(ValidationError) as caught:
        FeePolicy(name=" ", seller_commission=NoFee())

    assert caught.value.field == "name"


# -- context and breakdown -----------------------------------------------------


def test_context_refuses_negative_prior_billing() -> None:
    with pytest.raises(AmountOutOfRange):
        FeeContext(prior_billed=usd("-1.00"))


def test_context_refuses_prior_billing_in_another_currency() -> None:
    context = FeeContext(prior_billed=Amount.of("500.00", "EUR"))

    with pytest.raises(CurrencyMismatch):
        upwork_legacy().commission_on(usd("100.00"), context)


def test_context_moves_on_by_each_payment() -> None:
    context = FeeContext().after(usd("100.00")).after(usd("50.00"))

    assert context.prior_billed == usd("150.00")


def test_a_breakdown_derives_its_totals() -> None:
    breakdown = PriceBreakdown(
        subtotal=usd("10.00"), buyer_service_fee=usd("0.55"), seller_commission=usd("2.00")
    )

    assert (breakdown.total_charged, breakdown.seller_net) == (usd("10.55"), usd("8.00"))


@pytest.mark.parametrize(
    ("service_fee", "commission"), [("-0.01", "2.00"), ("0.55", "10.01"), ("0.55", "-0.01")]
)
def test_a_breakdown_refuses_fees_that_cannot_be(service_fee: str, commission: str) -> None:
    with pytest.raises(FeePolicyError):
        PriceBreakdown(
            subtotal=usd("10.00"),
            buyer_service_fee=usd(service_fee),
            seller_commission=usd(commission),
        )


def test_public_names_are_sorted_and_exist() -> None:
    assert fees.__all__ == sorted(fees.__all__)
    assert all(hasattr(fees, name) for name in fees.__all__)


# -- a tiered rule inside composites, priced through a policy with a context -------


def legacy_tiers() -> Tiered:
    """Upwork's legacy bands: 20% of the first 500.00, 10% up to 10,000.00, 5% beyond."""
    return Tiered(
        tiers=[
            Tier(rate="20%", up_to={"USD": "500.00"}),
            Tier(rate="10%", up_to={"USD": "10000.00"}),
            Tier(rate="5%"),
        ]
    )


# 100.00 paid after 500.00 already billed: 10.00 under the bands, 20.00 if the
# history were lost. Each composite must hand the context down to the bands.
TIERED_INSIDE: list[tuple[str, FeeRule, str]] = [
    ("bare", legacy_tiers(), "10.00"),
    ("above a floor", Minimum(rule=legacy_tiers(), floor={"USD": "5.00"}), "10.00"),
    ("under a cap", Maximum(rule=legacy_tiers(), cap={"USD": "15.00"}), "10.00"),
    ("plus a fixed fee", Total(rules=[legacy_tiers(), Fixed(amounts={"USD": "0.30"})]), "10.30"),
]


@pytest.mark.parametrize(
    ("rule", "commission"), [pytest.param(rule, fee, id=name) for name, rule, fee in TIERED_INSIDE]
)
def test_a_tiered_commission_reads_the_context_through_every_composite(
    rule: FeeRule, commission: str
) -> None:
    policy = FeePolicy(name="tiered", seller_commission=rule)
    context = FeeContext(prior_billed=usd("500.00"))

    breakdown = policy.price(usd("100.00"), context)
    split = policy.commission_on(usd("100.00"), context)

    assert breakdown.seller_commission == split.fee == usd(commission)
    assert breakdown.seller_net == split.net
    assert breakdown.total_charged == usd("100.00")


@pytest.mark.parametrize(
    ("rule", "commission"), [pytest.param(rule, fee, id=name) for name, rule, fee in TIERED_INSIDE]
)
def test_a_tiered_buyer_fee_reads_the_context_through_every_composite(
    rule: FeeRule, commission: str
) -> None:
    policy = FeePolicy(name="tiered buyer fee", seller_commission=NoFee(), buyer_service_fee=rule)

    breakdown = policy.price(usd("100.00"), FeeContext(prior_billed=usd("500.00")))

    assert breakdown.buyer_service_fee == usd(commission)
    assert breakdown.total_charged == usd("100.00") + usd(commission)
    assert breakdown.seller_net == usd("100.00")


@pytest.mark.parametrize(
    ("subtotal", "commission"),
    [("600.00", "110.00"), ("500.00", "100.00"), ("10500.00", "1075.00")],
)
def test_a_tiered_policy_priced_without_a_context_starts_from_nothing(
    subtotal: str, commission: str
) -> None:
    policy = FeePolicy(
        name="legacy", seller_commission=legacy_tiers(), buyer_service_fee=legacy_tiers()
    )

    breakdown = policy.price(usd(subtotal))

    assert breakdown.seller_commission == usd(commission)
    assert breakdown.buyer_service_fee == usd(commission)
    assert policy.commission_on(usd(subtotal)).fee == usd(commission)


def test_an_empty_total_answers_an_exact_fraction() -> None:
    """A rule answers an exact Fraction, so that a host summing rules of its own
    never meets a bare int where the protocol promised a Fraction."""
    fee = Total(rules=[]).fee_for(usd("10.00"), FeeContext())

    assert type(fee) is Fraction
    assert fee == 0


# -- what each refusal says --------------------------------------------------------


EUR_10 = Amount.of("10.00", "EUR")
GBP_10 = Amount.of("10.00", "GBP")
FeeRefusal = tuple[str, Callable[[], object], type[GigmarketError], dict[str, object], str]

FEE_REFUSALS: list[FeeRefusal] = [
    # per-currency tables
    (
        "empty table",
        lambda: Fixed(amounts={}),
        FeePolicyError,
        {"currency": None, "policy": None},
        "a per-currency table needs at least one amount",
    ),
    (
        "currency twice",
        lambda: Fixed(amounts=[usd("0.30"), EUR_10, usd("0.40")]),
        FeePolicyError,
        {"currency": "USD", "policy": None},
        "USD appears twice in one table",
    ),
    (
        "negative table amount",
        lambda: Maximum(rule=NoFee(), cap={"EUR": "1.00", "USD": "-0.30"}),
        AmountOutOfRange,
        {"value": usd("-0.30")},
        "a fee or threshold cannot be negative: -0.30 USD",
    ),
    (
        "negative prior billing",
        lambda: FeeContext(prior_billed=usd("-1.00")),
        AmountOutOfRange,
        {"value": usd("-1.00")},
        "prior_billed cannot be negative: -1.00 USD",
    ),
    (
        "surcharge tables that differ",
        lambda: SmallOrderSurcharge(fee={"USD": "3.00"}, under={"USD": "100", "EUR": "100"}),
        FeePolicyError,
        {"currency": None},
        "a small-order surcharge needs a fee and a threshold for the same currencies, "
        "got fees for ['USD'] and thresholds for ['EUR', 'USD']",
    ),
    # a currency a rule does not know, named with the ones it does
    (
        "fixed fee lacks the currency",
        lambda: Fixed(amounts={"USD": "0.30", "EUR": "0.25"}).fee_for(GBP_10, FeeContext()),
        FeePolicyError,
        {"currency": "GBP"},
        "the fixed fee has no entry for GBP (it lists EUR, USD)",
    ),
    (
        "small-order threshold lacks the currency",
        lambda: SmallOrderSurcharge(fee={"USD": "3"}, under={"USD": "100"}).fee_for(
            GBP_10, FeeContext()
        ),
        FeePolicyError,
        {"currency": "GBP"},
        "the small-order threshold has no entry for GBP (it lists USD)",
    ),
    (
        "minimum lacks the currency",
        lambda: Minimum(rule=NoFee(), floor={"USD": "0.50"}).fee_for(EUR_10, FeeContext()),
        FeePolicyError,
        {"currency": "EUR"},
        "the minimum fee has no entry for EUR (it lists USD)",
    ),
    (
        "maximum lacks the currency",
        lambda: Maximum(rule=NoFee(), cap={"USD": "50.00"}).fee_for(EUR_10, FeeContext()),
        FeePolicyError,
        {"currency": "EUR"},
        "the maximum fee has no entry for EUR (it lists USD)",
    ),
    (
        "tier bounds lack the currency",
        lambda: legacy_tiers().fee_for(EUR_10, FeeContext()),
        FeePolicyError,
        {"currency": "EUR"},
        "the tier bounds has no entry for EUR (it lists USD)",
    ),
    # tiers that cannot be
    (
        "no tiers",
        lambda: Tiered(tiers=[]),
        FeePolicyError,
        {"currency": None},
        "a tiered rule needs tiers, and its last tier has no upper bound",
    ),
    (
        "unbounded middle tier",
        lambda: Tiered(tiers=[Tier(rate="20%"), Tier(rate="5%")]),
        FeePolicyError,
        {"currency": None},
        "only the last tier of a tiered rule may lack an upper bound",
    ),
    (
        "tier bounds in other currencies",
        lambda: Tiered(
            tiers=[
                Tier(rate="20%", up_to={"USD": "9"}),
                Tier(rate="9%", up_to={"EUR": "99", "USD": "99"}),
                Tier(rate="1%"),
            ]
        ),
        FeePolicyError,
        {"currency": None},
        "every tier bound lists the same currencies, got ['USD'] and ['EUR', 'USD']",
    ),
    (
        "tier bounds that fall",
        lambda: Tiered(
            tiers=[
                Tier(rate="20%", up_to={"EUR": "5", "USD": "9"}),
                Tier(rate="9%", up_to={"EUR": "50", "USD": "8.99"}),
                Tier(rate="1%"),
            ]
        ),
        FeePolicyError,
        {"currency": "USD"},
        "tier bounds must rise: 8.99 USD follows 9.00 USD",
    ),
    # breakdowns and policies
    (
        "negative buyer fee in a breakdown",
        lambda: PriceBreakdown(
            subtotal=usd("10.00"), buyer_service_fee=usd("-0.01"), seller_commission=usd("1")
        ),
        FeePolicyError,
        {"policy": None},
        "a buyer service fee of -0.01 USD is negative",
    ),
    (
        "commission above the subtotal in a breakdown",
        lambda: PriceBreakdown(
            subtotal=usd("10.00"), buyer_service_fee=usd("0"), seller_commission=usd("10.01")
        ),
        FeePolicyError,
        {"policy": None},
        "the seller commission of 10.01 USD is not between zero and the 10.00 USD it is taken from",
    ),
    (
        "commission above the payment",
        lambda: flat("150%").commission_on(usd("10.00")),
        FeePolicyError,
        {"policy": "flat 150%"},
        "the seller commission of 15.00 USD is not between zero and the 10.00 USD it is taken from",
    ),
    (
        "blank policy name",
        lambda: FeePolicy(name="\t", seller_commission=NoFee()),
        ValidationError,
        {"field": "name"},
        "name: a fee policy needs a non-empty name",
    ),
    (
        "zero subtotal",
        lambda: flat("10%").price(usd("0.00")),
        AmountOutOfRange,
        {"value": usd("0.00")},
        "subtotal must be positive, got 0.00 USD",
    ),
    (
        "negative tip",
        lambda: flat("10%").commission_on(usd("-1.00")),
        AmountOutOfRange,
        {"value": usd("-1.00")},
        "amount must be positive, got -1.00 USD",
    ),
    (
        "host rule answering a float",
        lambda: FeePolicy(
            name="host",
            seller_commission=NoFee(),
            buyer_service_fee=_FloatRule(),  # type: ignore[arg-type]
        ).price(usd("10.00")),
        FeePolicyError,
        {"policy": "host"},
        "_FloatRule.fee_for returned a float; "
        "a fee must be an exact int or Fraction of minor units",
    ),
    (
        "host rule answering a negative fee",
        lambda: FeePolicy(name="host", seller_commission=_NegativeRule()).commission_on(
            usd("10.00")
        ),
        FeePolicyError,
        {"policy": "host"},
        "_NegativeRule computed a negative fee (-1 minor units)",
    ),
]


@pytest.mark.parametrize(
    ("call", "error", "attributes", "message"),
    [pytest.param(*row[1:], id=row[0]) for row in FEE_REFUSALS],
)
def test_a_fee_refusal_names_its_culprit(
    call: Callable[[], object],
    error: type[GigmarketError],
    attributes: dict[str, object],
    message: str,
) -> None:
    with pytest.raises(GigmarketError) as caught:
        call()

    assert type(caught.value) is error
    for name, expected in attributes.items():
        assert getattr(caught.value, name) == expected, name
    assert str(caught.value) == message


@pytest.mark.parametrize(
    ("call", "message"),
    [
        pytest.param(
            lambda: FeePolicy(name="bad", seller_commission="20%"),  # type: ignore[arg-type]
            "seller_commission must be a fee rule (with fee_for), not str",
            id="seller commission",
        ),
        pytest.param(
            lambda: FeePolicy(name="bad", seller_commission=NoFee(), buyer_service_fee=0.2),  # type: ignore[arg-type]
            "buyer_service_fee must be a fee rule (with fee_for), not float",
            id="buyer service fee",
        ),
        pytest.param(
            lambda: Minimum(rule=Decimal("0.5"), floor={"USD": "0.50"}),  # type: ignore[arg-type]
            "rule must be a fee rule (with fee_for), not Decimal",
            id="inside a minimum",
        ),
        pytest.param(
            lambda: Total(rules=[NoFee(), "20%"]),  # type: ignore[list-item]
            "each of rules must be a fee rule (with fee_for), not str",
            id="inside a total",
        ),
        pytest.param(
            lambda: Tiered(tiers=[Percentage(rate="5%")]),  # type: ignore[list-item]
            "a tiered rule is made of Tier objects, not Percentage",
            id="a tier",
        ),
    ],
)
def test_a_rule_of_the_wrong_type_is_named(call: Callable[[], object], message: str) -> None:
    with pytest.raises(TypeError) as caught:
        call()

    assert str(caught.value) == message
