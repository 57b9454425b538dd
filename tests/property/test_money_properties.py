"""Properties of gigmarket.money that must hold for every amount, not just the
examples in tests/unit/test_money.py.

- ``allocate`` never creates or loses a minor unit, gives each part its exact
  share give or take one unit (the leftover units going to the largest
  remainders, ties to the earlier part), and is deterministic and symmetric
  under negation.
- ``split_fee``: ``fee + net == gross`` under every rounding mode, in every
  currency exponent.
- ``round_fraction`` is within one unit of the exact value (half a unit for
  the HALF_* modes) and agrees with :mod:`decimal`'s rounding of the same name.
- Money ↔ minor units round-trips exactly in every currency of the table.
"""

from __future__ import annotations

import decimal
from decimal import Decimal
from fractions import Fraction

from hypothesis import given
from hypothesis import strategies as st

from gigmarket._iso4217 import EXPONENTS, NO_MINOR_UNIT
from gigmarket.money import (
    MAX_UNITS,
    Amount,
    RoundingMode,
    allocate,
    parse_rate,
    percentage,
    round_fraction,
    split_fee,
)
from tests.strategies import (
    CURRENCIES_BY_EXPONENT,
    iso_currencies,
    rate_spellings,
    rates,
    ratio_lists,
    signed_amounts,
)

DECIMAL_ROUNDING = {
    RoundingMode.HALF_UP: decimal.ROUND_HALF_UP,
    RoundingMode.HALF_EVEN: decimal.ROUND_HALF_EVEN,
    RoundingMode.DOWN: decimal.ROUND_DOWN,
    RoundingMode.UP: decimal.ROUND_UP,
}
"""The :mod:`decimal` rounding that means the same as each RoundingMode."""


def exact_shares(amount: Amount, ratios: list[int | Decimal | Fraction]) -> list[Fraction]:
    weights = [Fraction(ratio) for ratio in ratios]
    total = sum(weights, Fraction(0))
    return [amount.units * weight / total for weight in weights]


# -- allocate ----------------------------------------------------------------------


@given(amount=signed_amounts(), ratios=ratio_lists())
def test_allocate_parts_sum_to_the_whole(
    amount: Amount, ratios: list[int | Decimal | Fraction]
) -> None:
    parts = allocate(amount, ratios)
    assert len(parts) == len(ratios)
    assert all(part.currency == amount.currency for part in parts)
    assert sum(part.units for part in parts) == amount.units


@given(amount=signed_amounts(), ratios=ratio_lists())
def test_allocate_parts_are_within_one_unit_of_their_share(
    amount: Amount, ratios: list[int | Decimal | Fraction]
) -> None:
    parts = allocate(amount, ratios)
    for part, share, ratio in zip(parts, exact_shares(amount, ratios), ratios, strict=True):
        assert abs(part.units - share) < 1
        # never rounded away from the share's own sign
        assert part.units * share >= 0
        if ratio == 0:
            assert part.units == 0


@given(amount=signed_amounts(min_units=0), ratios=ratio_lists())
def test_allocate_gives_leftover_units_to_the_largest_remainders(
    amount: Amount, ratios: list[int | Decimal | Fraction]
) -> None:
    """Largest remainder, exactly: a part rounded up never has a smaller
    remainder than a part rounded down, and on a tie it comes first."""
    parts = allocate(amount, ratios)
    shares = exact_shares(amount, ratios)
    remainders = [share - int(share) for share in shares]
    rounded_up = [i for i, (p, s) in enumerate(zip(parts, shares, strict=True)) if p.units > s]
    rounded_down = [i for i, (p, s) in enumerate(zip(parts, shares, strict=True)) if p.units < s]
    for up in rounded_up:
        for down in rounded_down:
            assert remainders[up] > remainders[down] or (
                remainders[up] == remainders[down] and up < down
            )


@given(amount=signed_amounts(), ratios=ratio_lists())
def test_allocate_is_deterministic_and_symmetric_under_negation(
    amount: Amount, ratios: list[int | Decimal | Fraction]
) -> None:
    parts = allocate(amount, ratios)
    assert allocate(amount, list(ratios)) == parts
    assert allocate(amount, tuple(ratios)) == parts
    assert allocate(-amount, ratios) == [-part for part in parts]


@given(
    amount=signed_amounts(),
    ratios=ratio_lists(),
    scale=st.integers(min_value=1, max_value=10**6),
)
def test_allocate_depends_only_on_the_proportions(
    amount: Amount, ratios: list[int | Decimal | Fraction], scale: int
) -> None:
    assert allocate(amount, [ratio * scale for ratio in ratios]) == allocate(amount, ratios)


# -- fees and rounding --------------------------------------------------------------


@given(
    data=st.data(),
    places=st.sampled_from(sorted(CURRENCIES_BY_EXPONENT)),
    rate=rates(),
)
def test_fee_plus_net_is_gross_in_every_mode_and_exponent(
    data: st.DataObject, places: int, rate: Fraction
) -> None:
    gross = data.draw(signed_amounts(data.draw(iso_currencies(places))), label="gross")
    for mode in RoundingMode:
        split = split_fee(gross, rate, mode)
        assert split.gross == gross
        assert split.fee + split.net == gross
        assert split.fee == percentage(gross, rate, mode)
        assert abs(split.fee.units) <= abs(gross.units)
        assert split.fee.units * gross.units >= 0
        assert split.net.units * gross.units >= 0


@given(amount=signed_amounts(), rate=rates())
def test_percentage_is_within_one_unit_of_the_exact_value(amount: Amount, rate: Fraction) -> None:
    exact = amount.units * rate
    fees = {mode: percentage(amount, rate, mode).units for mode in RoundingMode}
    for mode, fee in fees.items():
        error = abs(fee - exact)
        assert error < 1
        if mode in (RoundingMode.HALF_UP, RoundingMode.HALF_EVEN):
            assert error <= Fraction(1, 2)
    assert abs(fees[RoundingMode.DOWN]) <= abs(exact) <= abs(fees[RoundingMode.UP])


@given(value=st.fractions(max_denominator=10**6), mode=st.sampled_from(RoundingMode))
def test_round_fraction_bounds(value: Fraction, mode: RoundingMode) -> None:
    rounded = round_fraction(value, mode)
    assert type(rounded) is int
    assert abs(rounded - value) < 1
    if mode in (RoundingMode.HALF_UP, RoundingMode.HALF_EVEN):
        assert abs(rounded - value) <= Fraction(1, 2)
    if mode is RoundingMode.DOWN:
        assert abs(rounded) <= abs(value)
    if mode is RoundingMode.UP:
        assert abs(rounded) >= abs(value)
    assert round_fraction(-value, mode) == -rounded
    if value.denominator == 1:
        assert rounded == value


@given(
    value=st.decimals(allow_nan=False, allow_infinity=False, places=4, max_value=10**12),
    mode=st.sampled_from(RoundingMode),
)
def test_round_fraction_agrees_with_decimal(value: Decimal, mode: RoundingMode) -> None:
    with decimal.localcontext() as context:
        context.prec = 50
        expected = int(value.quantize(Decimal(1), rounding=DECIMAL_ROUNDING[mode]))
    assert round_fraction(Fraction(value), mode) == expected


@given(spelled=rate_spellings())
def test_parse_rate_reads_every_spelling_exactly(
    spelled: tuple[Decimal | int | str | Fraction, Fraction],
) -> None:
    rate, exact = spelled
    assert parse_rate(rate) == exact


# -- Money <-> minor units ---------------------------------------------------------


@given(units=st.one_of(st.integers(-1000, 1000), st.integers(-MAX_UNITS, MAX_UNITS)))
def test_money_round_trips_in_every_currency(units: int) -> None:
    for code in sorted(set(EXPONENTS) - NO_MINOR_UNIT):
        amount = Amount(units=units, currency=code)
        money = amount.to_money()
        assert Amount.of(money) == amount
        assert Amount.of(money, code.lower()) == amount
        assert Amount.of(str(amount.to_decimal()), amount.currency) == amount
        assert Amount.of(amount.to_decimal(), amount.currency) == amount
        assert amount.to_decimal().as_tuple().exponent == -EXPONENTS[code]
        assert str(amount) == f"{amount.to_decimal()} {code}"


@given(amount=signed_amounts())
def test_money_round_trips_through_its_string(amount: Amount) -> None:
    text, code = str(amount).split(" ")
    assert Amount.of(text, code) == amount
