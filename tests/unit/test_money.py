"""Unit tests of gigmarket.money: published figures, rounding, and refusals.

The money layer is the one place where "close enough" is a bug, so each rule
of DESIGN §3 has a test here: exact parsing, one exponent per currency, a
named rounding mode, largest-remainder allocation, and a specific error for
every kind of bad input.
"""

from __future__ import annotations

import decimal
from collections.abc import Callable
from decimal import Decimal
from fractions import Fraction
from typing import Any

import moneyed
import pytest

from gigmarket._iso4217 import EXPONENTS
from gigmarket.errors import (
    AmountOutOfRange,
    CurrencyMismatch,
    GigmarketError,
    InvalidAmount,
    InvalidRatios,
    PrecisionError,
    UnknownCurrency,
    ValidationError,
)
from gigmarket.money import (
    MAX_UNITS,
    Amount,
    FeeSplit,
    Money,
    RoundingMode,
    allocate,
    currency_code,
    exponent,
    parse_rate,
    percentage,
    round_fraction,
    split_fee,
    sum_amounts,
)

HALF_UP = RoundingMode.HALF_UP
HALF_EVEN = RoundingMode.HALF_EVEN
DOWN = RoundingMode.DOWN
UP = RoundingMode.UP


def usd(text: str) -> Amount:
    return Amount.of(text, "USD")


# -- published figures -----------------------------------------------------------


def test_fowler_allocation_of_five_cents_seven_to_three() -> None:
    """Fowler, *Patterns of Enterprise Application Architecture*, "Money":
    0.05 USD split 70/30 is 0.04 + 0.01 (shares 3.5 and 1.5 cents).

    Both remainders are exactly one half, so the tie-break decides: equal
    remainders go to the earlier part, here the 70% one.
    """
    assert allocate(usd("0.05"), [7, 3]) == [usd("0.04"), usd("0.01")]


def test_fowler_allocation_of_five_cents_three_to_seven() -> None:
    """The same split with the ratios reversed is 0.02 + 0.03: shares 1.5 and
    3.5 cents tie on their remainders, and the leftover cent goes to the
    earlier part (the 30% one). Ordering the ratios is how a caller chooses
    who receives a tied unit."""
    assert allocate(usd("0.05"), [3, 7]) == [usd("0.02"), usd("0.03")]


def test_upwork_ten_percent_fee_on_266_64() -> None:
    """10% of 266.64 is 26.664: the fee rounds to 26.66 and the net is the
    rest, 239.98 (not an independently rounded 239.976 → 239.98 by luck)."""
    split = split_fee(usd("266.64"), "10%")
    assert split == FeeSplit(gross=usd("266.64"), fee=usd("26.66"), net=usd("239.98"))


def test_upwork_ten_percent_fee_on_333_36() -> None:
    """10% of 333.36 is 33.336 → 33.34, and the net is 300.02. Rounding the
    net on its own (300.024 → 300.02) would agree here only by accident."""
    split = split_fee(usd("333.36"), Decimal("0.10"))
    assert (split.fee, split.net) == (usd("33.34"), usd("300.02"))


def test_jpy_fifteen_percent_of_999_rounds_half_up_to_150() -> None:
    """Yen have no minor unit: 15% of 999 JPY is 149.85 → 150, net 849."""
    split = split_fee(Amount.of("999", "JPY"), "15%", HALF_UP)
    assert (split.fee, split.net) == (Amount.of(150, "JPY"), Amount.of(849, "JPY"))
    assert str(split.fee) == "150 JPY"


def test_kwd_keeps_three_decimals_exactly() -> None:
    """The Kuwaiti dinar has 1000 fils: 1.234 KWD is 1234 fils, not 123 cents."""
    amount = Amount.of("1.234", "KWD")
    assert amount == Amount(units=1234, currency="KWD")
    assert amount.to_money() == Money(Decimal("1.234"), "KWD")
    assert amount.to_decimal() == Decimal("1.234")
    assert str(amount) == "1.234 KWD"
    assert Amount.of("1.2", "KWD").to_decimal().as_tuple().exponent == -3
    assert str(Amount.of("1.2", "KWD")) == "1.200 KWD"


def test_clf_has_four_decimals() -> None:
    """The Chilean Unidad de Fomento is quoted to four decimals."""
    amount = Amount.of("1.2345", "CLF")
    assert amount.units == 12345
    assert str(amount) == "1.2345 CLF"
    assert exponent("CLF") == 4
    with pytest.raises(PrecisionError):
        Amount.of("1.23456", "CLF")


def test_bdt_has_two_decimals() -> None:
    """The Bangladeshi taka has 100 poisha."""
    amount = Amount.of("100.50", "BDT")
    assert amount.units == 10050
    assert str(amount) == "100.50 BDT"
    assert amount.to_money() == Money("100.50", "BDT")


# -- rounding modes ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        # value: {mode: result}; ties first, then values either side of a tie
        (Fraction(5, 2), {HALF_UP: 3, HALF_EVEN: 2, DOWN: 2, UP: 3}),
        (Fraction(-5, 2), {HALF_UP: -3, HALF_EVEN: -2, DOWN: -2, UP: -3}),
        (Fraction(7, 2), {HALF_UP: 4, HALF_EVEN: 4, DOWN: 3, UP: 4}),
        (Fraction(-7, 2), {HALF_UP: -4, HALF_EVEN: -4, DOWN: -3, UP: -4}),
        (Fraction(1, 2), {HALF_UP: 1, HALF_EVEN: 0, DOWN: 0, UP: 1}),
        (Fraction(-1, 2), {HALF_UP: -1, HALF_EVEN: 0, DOWN: 0, UP: -1}),
        (Fraction(12, 5), {HALF_UP: 2, HALF_EVEN: 2, DOWN: 2, UP: 3}),
        (Fraction(13, 5), {HALF_UP: 3, HALF_EVEN: 3, DOWN: 2, UP: 3}),
        (Fraction(-12, 5), {HALF_UP: -2, HALF_EVEN: -2, DOWN: -2, UP: -3}),
        (Fraction(-13, 5), {HALF_UP: -3, HALF_EVEN: -3, DOWN: -2, UP: -3}),
        (Fraction(1, 3), {HALF_UP: 0, HALF_EVEN: 0, DOWN: 0, UP: 1}),
        (Fraction(-2, 3), {HALF_UP: -1, HALF_EVEN: -1, DOWN: 0, UP: -1}),
        (Fraction(3), {HALF_UP: 3, HALF_EVEN: 3, DOWN: 3, UP: 3}),
        (Fraction(-3), {HALF_UP: -3, HALF_EVEN: -3, DOWN: -3, UP: -3}),
        (Fraction(0), {HALF_UP: 0, HALF_EVEN: 0, DOWN: 0, UP: 0}),
    ],
    ids=str,
)
@pytest.mark.parametrize("mode", list(RoundingMode), ids=lambda mode: mode.name)
def test_round_fraction(
    value: Fraction, expected: dict[RoundingMode, int], mode: RoundingMode
) -> None:
    assert round_fraction(value, mode) == expected[mode]


def test_round_fraction_refuses_a_mode_that_is_not_a_rounding_mode() -> None:
    """A misspelt mode used to fall through every branch and truncate silently."""
    with pytest.raises(ValidationError) as caught:
        round_fraction(Fraction(5, 2), "half_up")  # type: ignore[arg-type]
    assert caught.value.field == "rounding"
    with pytest.raises(ValidationError):
        round_fraction(Fraction(2), "half_up")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("mode", "fee"),
    [(HALF_UP, "0.03"), (HALF_EVEN, "0.02"), (DOWN, "0.02"), (UP, "0.03")],
)
def test_split_fee_rounds_once_under_the_chosen_mode(mode: RoundingMode, fee: str) -> None:
    split = split_fee(usd("0.25"), "10%", mode)  # exact fee 2.5 cents
    assert split.fee == usd(fee)
    assert split.fee + split.net == split.gross


def test_percentage_defaults_to_half_up() -> None:
    assert percentage(usd("0.25"), "10%") == usd("0.03")
    assert percentage(usd("0.25"), "10%", HALF_EVEN) == usd("0.02")


def test_split_fee_of_a_refund_is_negative_and_still_sums() -> None:
    split = split_fee(usd("-266.64"), "10%")
    assert (split.fee, split.net) == (usd("-26.66"), usd("-239.98"))


@pytest.mark.parametrize(("rate", "fee", "net"), [(0, "0.00", "10.00"), ("100%", "10.00", "0.00")])
def test_split_fee_at_the_edges_of_the_rate(rate: str | int, fee: str, net: str) -> None:
    split = split_fee(usd("10.00"), rate)
    assert (split.fee, split.net) == (usd(fee), usd(net))


# -- allocation ----------------------------------------------------------------------


def test_allocate_three_ways_gives_the_extra_cent_to_the_first() -> None:
    assert allocate(usd("1.00"), [1, 1, 1]) == [usd("0.34"), usd("0.33"), usd("0.33")]


def test_allocate_a_negative_amount_mirrors_the_positive_one() -> None:
    assert allocate(usd("-0.05"), [3, 7]) == [usd("-0.02"), usd("-0.03")]


def test_allocate_gives_nothing_to_a_zero_ratio() -> None:
    assert allocate(usd("0.05"), [0, 1, 0, 1]) == [usd("0"), usd("0.03"), usd("0"), usd("0.02")]


def test_allocate_zero() -> None:
    assert allocate(Amount.zero("JPY"), [1, 2]) == [Amount.zero("JPY")] * 2


def test_allocate_accepts_decimal_and_fraction_ratios_in_a_tuple() -> None:
    ratios = (Decimal("0.7"), Fraction(3, 10))
    assert allocate(usd("0.05"), ratios) == [usd("0.04"), usd("0.01")]


def test_allocate_largest_remainder_beats_order() -> None:
    # shares 0.1, 0.2, 0.7 cents: the single cent goes to the largest remainder
    assert allocate(usd("0.01"), [1, 2, 7]) == [usd("0"), usd("0"), usd("0.01")]


# -- Amount ----------------------------------------------------------------------------


def test_amount_arithmetic() -> None:
    assert usd("1.25") + usd("0.75") == usd("2.00")
    assert usd("1.25") - usd("2.00") == usd("-0.75")
    assert -usd("1.25") == usd("-1.25")
    assert -Amount.zero("USD") == Amount.zero("USD")


def test_amount_comparisons() -> None:
    small, large = usd("1.00"), usd("1.01")
    assert small < large
    assert small <= large
    assert small <= usd("1.00")
    assert large > small
    assert large >= small
    assert large >= usd("1.01")
    assert not small > large
    assert not large < small


def test_amounts_of_different_currencies_are_unequal_not_an_error() -> None:
    """``==`` answers the question "the same amount?", so it may say no;
    ordering across currencies has no answer and raises."""
    assert Amount(units=100, currency="USD") != Amount(units=100, currency="EUR")
    assert Amount.zero("USD") != Amount.zero("EUR")
    text: object = "1.00 USD"
    assert usd("1") != text


def test_amount_is_hashable_and_frozen() -> None:
    assert len({usd("1"), usd("1.00"), usd("2")}) == 2
    with pytest.raises(AttributeError):
        usd("1").units = 5  # type: ignore[misc]


def test_amount_refuses_to_combine_with_a_non_amount() -> None:
    with pytest.raises(TypeError):
        usd("1") + 1  # type: ignore[operator]
    with pytest.raises(TypeError):
        usd("1") < Decimal(1)  # type: ignore[operator]  # noqa: B015


@pytest.mark.parametrize(
    ("value", "currency", "units", "code"),
    [
        ("55.75", "USD", 5575, "USD"),
        ("-55.75", "USD", -5575, "USD"),
        ("+1.00", "USD", 100, "USD"),
        ("  1.00\n", "USD", 100, "USD"),
        ("\t-0.01 ", "EUR", -1, "EUR"),
        ("-0", "USD", 0, "USD"),
        ("007", "USD", 700, "USD"),
        ("1", "JPY", 1, "JPY"),
        ("1.00", "usd", 100, "USD"),
        ("1.00", "Usd", 100, "USD"),
        (Decimal("1.500"), "USD", 150, "USD"),
        (Decimal("-2.5"), "USD", -250, "USD"),
        (Decimal("1E+2"), "USD", 10000, "USD"),
        (Decimal("-0.000"), "USD", 0, "USD"),
        (Decimal("0E+99"), "USD", 0, "USD"),
        (Decimal("1." + "0" * 5000), "USD", 100, "USD"),
        (5, "USD", 500, "USD"),
        (-5, "JPY", -5, "JPY"),
        (5, "KWD", 5000, "KWD"),
        (0, "CLF", 0, "CLF"),
        (Money("12.34", "USD"), None, 1234, "USD"),
        (Money("12.34", "USD"), "USD", 1234, "USD"),
        (Money("12.34", "USD"), "usd", 1234, "USD"),
        (Money("12.340", "USD"), None, 1234, "USD"),
        ("1.00", moneyed.get_currency("USD"), 100, "USD"),
        ("9999999999999.99", "USD", MAX_UNITS - 1, "USD"),
        ("10000000000000.00", "USD", MAX_UNITS, "USD"),
        ("-10000000000000", "USD", -MAX_UNITS, "USD"),
        (Decimal("1E+15"), "JPY", MAX_UNITS, "JPY"),
        (10**15, "JPY", MAX_UNITS, "JPY"),
    ],
    ids=lambda value: repr(value)[:40],  # the 5000-digit Decimal would make a 5000-char id
)
def test_amount_of_reads_major_units_exactly(
    value: Any, currency: Any, units: int, code: str
) -> None:
    amount = Amount.of(value, currency)
    assert (amount.units, amount.currency) == (units, code)
    assert type(amount.units) is int


def test_amount_of_an_amount_returns_it() -> None:
    amount = usd("1")
    assert Amount.of(amount) is amount
    assert Amount.of(amount, "usd") is amount


def test_require_positive() -> None:
    amount = usd("0.01")
    assert amount.require_positive() is amount
    with pytest.raises(AmountOutOfRange, match="price must be positive") as caught:
        Amount.zero("USD").require_positive("price")
    assert caught.value.value == Amount.zero("USD")
    with pytest.raises(AmountOutOfRange):
        usd("-0.01").require_positive()


def test_require_currency_accepts_a_lower_case_code() -> None:
    """Every other entry point upper-cases a code; this one used to compare
    the raw string and report "expected usd, got 1.00 USD"."""
    usd("1").require_currency("usd")
    with pytest.raises(CurrencyMismatch) as caught:
        usd("1").require_currency("eur")
    assert (caught.value.expected, caught.value.actual) == ("EUR", "USD")


def test_sum_amounts() -> None:
    assert sum_amounts([], "USD") == Amount.zero("USD")
    assert sum_amounts([], "jpy") == Amount.zero("JPY")
    amounts = [usd("1.10"), usd("2.20"), usd("-0.30")]
    assert sum_amounts(amounts, "USD") == usd("3.00")
    assert sum_amounts(iter(amounts), "usd") == usd("3.00")


@pytest.mark.parametrize(
    ("amount", "text"),
    [
        (Amount(units=5575, currency="USD"), "55.75 USD"),
        (Amount(units=-150, currency="USD"), "-1.50 USD"),
        (Amount(units=5, currency="USD"), "0.05 USD"),
        (Amount(units=0, currency="USD"), "0.00 USD"),
        (Amount(units=5, currency="JPY"), "5 JPY"),
        (Amount(units=1, currency="CLF"), "0.0001 CLF"),
        (Amount(units=-1, currency="KWD"), "-0.001 KWD"),
        (Amount(units=MAX_UNITS, currency="JPY"), "1000000000000000 JPY"),
        (Amount(units=MAX_UNITS, currency="CLF"), "100000000000.0000 CLF"),
    ],
    ids=str,
)
def test_str(amount: Amount, text: str) -> None:
    assert str(amount) == text


def test_to_money_and_to_decimal() -> None:
    amount = Amount(units=-1234, currency="USD")
    assert amount.to_decimal() == Decimal("-12.34")
    assert amount.to_money() == Money("-12.34", "USD")
    assert amount.to_money().currency == moneyed.get_currency("USD")
    assert Amount.zero("BHD").to_decimal().as_tuple() == (0, (0,), -3)


@pytest.mark.parametrize("precision", [1, 5, 10])
def test_conversions_ignore_the_callers_decimal_context(precision: int) -> None:
    """A host that lowers ``getcontext().prec`` (or traps ``Inexact``) must not
    change what an amount converts to; ``to_decimal`` used ``scaleb``, which
    rounds to the context precision."""
    amount = Amount(units=123456789012, currency="USD")
    with decimal.localcontext() as context:
        context.prec = precision
        context.traps[decimal.Inexact] = True
        context.traps[decimal.Rounded] = True
        assert amount.to_decimal() == Decimal("1234567890.12")
        assert str(amount) == "1234567890.12 USD"
        assert Amount.of(amount.to_money()) == amount
        assert Amount.of("1234567890.12", "USD") == amount


def test_zero() -> None:
    assert Amount.zero("usd") == Amount(units=0, currency="USD")
    assert Amount.zero(moneyed.get_currency("KWD")).currency == "KWD"


# -- currencies and the exponent table ------------------------------------------------


@pytest.mark.parametrize("code", sorted(moneyed.CURRENCIES))
def test_exponent_table_agrees_with_py_moneyed(code: str) -> None:
    assert code in EXPONENTS
    assert 10 ** EXPONENTS[code] == moneyed.CURRENCIES[code].sub_unit


@pytest.mark.parametrize(
    ("code", "places"),
    [("JPY", 0), ("KRW", 0), ("BDT", 2), ("USD", 2), ("EUR", 2), ("KWD", 3), ("BHD", 3),
     ("TND", 3), ("CLF", 4), ("UYW", 4), ("XOF", 0), ("ZWG", 2), ("XCG", 2)],
)  # fmt: skip
def test_known_exponents(code: str, places: int) -> None:
    assert exponent(code) == places
    assert exponent(code.lower()) == places


def test_exponent_table_is_well_formed() -> None:
    assert all(len(code) == 3 and code.isascii() and code.isupper() for code in EXPONENTS)
    assert set(EXPONENTS.values()) == {0, 2, 3, 4}
    with pytest.raises(TypeError):
        EXPONENTS["ZZZ"] = 2  # type: ignore[index]


def test_currency_code() -> None:
    assert currency_code("usd") == "USD"
    assert currency_code(moneyed.get_currency("BDT")) == "BDT"
    assert exponent("usd") == 2


# -- rates -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rate", "expected"),
    [
        ("20%", Fraction(1, 5)),
        (" 20 % ", Fraction(1, 5)),
        ("5.5%", Fraction(11, 200)),
        ("0.055", Fraction(11, 200)),
        (Decimal("0.055"), Fraction(11, 200)),
        (Decimal("0.0550"), Fraction(11, 200)),
        ("150%", Fraction(3, 2)),
        (0, Fraction(0)),
        (1, Fraction(1)),
        ("0%", Fraction(0)),
        (Fraction(1, 3), Fraction(1, 3)),
    ],
    ids=repr,
)
def test_parse_rate(rate: Any, expected: Fraction) -> None:
    parsed = parse_rate(rate)
    assert parsed == expected
    assert type(parsed) is Fraction


def test_parse_rate_passes_a_fraction_through() -> None:
    third = Fraction(1, 3)
    assert parse_rate(third) is third


# -- every bad input, one specific error ----------------------------------------------

NAN = float("nan")
INF = float("inf")
D_NAN, D_SNAN, D_INF, D_NEG_INF = (
    Decimal("NaN"),
    Decimal("sNaN"),
    Decimal("Infinity"),
    Decimal("-Infinity"),
)
HUGE_DECIMAL = Decimal("1E+999999999999")
TINY_DECIMAL = Decimal("1E-999999999999")
EUR_MONEY = Money("1", "EUR")
LONG_STRING = "1" * 5000
RATIOS_FLOAT = [0.5, 0.5]


def _amount_usd(value: object) -> Callable[[], object]:
    return lambda: Amount.of(value, "USD")  # type: ignore[arg-type]


BAD_INPUTS: list[tuple[str, Callable[[], object], type[GigmarketError], dict[str, object]]] = [
    # floats: never, not even 1.0
    ("float 0.1", _amount_usd(0.1), InvalidAmount, {"value": 0.1}),
    ("float 1.0", _amount_usd(1.0), InvalidAmount, {"value": 1.0}),
    ("float nan", _amount_usd(NAN), InvalidAmount, {"value": NAN}),
    ("float inf", _amount_usd(INF), InvalidAmount, {"value": INF}),
    ("float -inf", _amount_usd(-INF), InvalidAmount, {}),
    # non-finite Decimals, bare or inside Money
    ("Decimal NaN", _amount_usd(D_NAN), InvalidAmount, {"value": D_NAN}),
    ("Decimal sNaN", _amount_usd(D_SNAN), InvalidAmount, {"value": D_SNAN}),
    ("Decimal Infinity", _amount_usd(D_INF), InvalidAmount, {"value": D_INF}),
    ("Decimal -Infinity", _amount_usd(D_NEG_INF), InvalidAmount, {"value": D_NEG_INF}),
    ("Money NaN", lambda: Amount.of(Money(D_NAN, "USD")), InvalidAmount, {}),
    # strings that are not plain decimals
    ("str nan", _amount_usd("nan"), InvalidAmount, {"value": "nan"}),
    ("str NaN", _amount_usd("NaN"), InvalidAmount, {"value": "NaN"}),
    ("str inf", _amount_usd("inf"), InvalidAmount, {"value": "inf"}),
    ("str Infinity", _amount_usd("-Infinity"), InvalidAmount, {"value": "-Infinity"}),
    ("str exponent", _amount_usd("1e3"), InvalidAmount, {"value": "1e3"}),
    ("str thousands", _amount_usd("1,000.00"), InvalidAmount, {"value": "1,000.00"}),
    ("str underscore", _amount_usd("1_000"), InvalidAmount, {"value": "1_000"}),
    ("str decimal comma", _amount_usd("1,50"), InvalidAmount, {"value": "1,50"}),
    ("str blank", _amount_usd(" "), InvalidAmount, {"value": " "}),
    ("str empty", _amount_usd(""), InvalidAmount, {"value": ""}),
    ("str trailing dot", _amount_usd("1."), InvalidAmount, {"value": "1."}),
    ("str leading dot", _amount_usd(".5"), InvalidAmount, {"value": ".5"}),
    ("str double sign", _amount_usd("--1"), InvalidAmount, {"value": "--1"}),
    ("str sign space", _amount_usd("- 1"), InvalidAmount, {"value": "- 1"}),
    ("str hex", _amount_usd("0x10"), InvalidAmount, {"value": "0x10"}),
    ("str with code", _amount_usd("1.00 USD"), InvalidAmount, {"value": "1.00 USD"}),
    ("str dollar sign", _amount_usd("$1.00"), InvalidAmount, {"value": "$1.00"}),
    # more decimals than the currency has: never rounded
    (
        "USD 10.005",
        _amount_usd("10.005"),
        PrecisionError,
        {"value": "10.005", "currency": "USD", "exponent": 2},
    ),
    (
        "JPY 1.5",
        lambda: Amount.of("1.5", "JPY"),
        PrecisionError,
        {"value": "1.5", "currency": "JPY", "exponent": 0},
    ),
    (
        "KWD 0.0001",
        lambda: Amount.of("0.0001", "kwd"),
        PrecisionError,
        {"value": "0.0001", "currency": "KWD", "exponent": 3},
    ),
    (
        "CLF 0.00001",
        lambda: Amount.of(Decimal("0.00001"), "CLF"),
        PrecisionError,
        {"value": Decimal("0.00001"), "currency": "CLF", "exponent": 4},
    ),
    (
        "Money USD 10.005",
        lambda: Amount.of(Money("10.005", "USD")),
        PrecisionError,
        {"currency": "USD", "exponent": 2},
    ),
    (
        "Decimal 1E-999999999999",
        _amount_usd(TINY_DECIMAL),
        PrecisionError,
        {"value": TINY_DECIMAL, "currency": "USD"},
    ),
    # unknown currency codes
    ("currency ZZZ", lambda: Amount.of("1", "ZZZ"), UnknownCurrency, {"currency": "ZZZ"}),
    (
        "currency usdollar",
        lambda: Amount.of("1", "usdollar"),
        UnknownCurrency,
        {"currency": "usdollar"},
    ),
    ("currency empty", lambda: Amount.of("1", ""), UnknownCurrency, {"currency": ""}),
    ("currency int", lambda: Amount.of("1", 123), UnknownCurrency, {"currency": 123}),
    ("currency US", lambda: Amount.of("1", "US"), UnknownCurrency, {"currency": "US"}),
    ("currency padded", lambda: Amount.of("1", " USD"), UnknownCurrency, {"currency": " USD"}),
    ("currency long s", lambda: currency_code("uſd"), UnknownCurrency, {"currency": "uſd"}),
    ("currency bytes", lambda: currency_code(b"USD"), UnknownCurrency, {"currency": b"USD"}),
    ("currency_code None", lambda: currency_code(None), UnknownCurrency, {"currency": None}),
    ("exponent None", lambda: exponent(None), UnknownCurrency, {"currency": None}),
    ("exponent ZZZ", lambda: exponent("ZZZ"), UnknownCurrency, {"currency": "ZZZ"}),
    ("zero None", lambda: Amount.zero(None), UnknownCurrency, {"currency": None}),
    ("of currency None", lambda: Amount.of("1", None), InvalidAmount, {"value": "1"}),
    ("of no currency", lambda: Amount.of(5), InvalidAmount, {"value": 5}),
    (
        "raw lower-case code",
        lambda: Amount(units=5, currency="usd"),
        UnknownCurrency,
        {"currency": "usd"},
    ),
    ("raw ZZZ", lambda: Amount(units=5, currency="ZZZ"), UnknownCurrency, {"currency": "ZZZ"}),
    ("raw None", lambda: Amount(units=5, currency=None), UnknownCurrency, {"currency": None}),  # type: ignore[arg-type]
    (
        "Money of an unknown currency",
        lambda: Amount.of(Money("1", moneyed.Currency("ZZQ"))),
        UnknownCurrency,
        {},
    ),
    # mixed currencies
    (
        "add",
        lambda: usd("1") + Amount.of("1", "EUR"),
        CurrencyMismatch,
        {"expected": "USD", "actual": "EUR"},
    ),
    (
        "sub",
        lambda: usd("1") - Amount.of("1", "EUR"),
        CurrencyMismatch,
        {"expected": "USD", "actual": "EUR"},
    ),
    ("lt", lambda: usd("1") < Amount.of("1", "EUR"), CurrencyMismatch, {"actual": "EUR"}),
    ("le", lambda: usd("1") <= Amount.of("1", "EUR"), CurrencyMismatch, {"actual": "EUR"}),
    ("gt", lambda: usd("1") > Amount.of("1", "EUR"), CurrencyMismatch, {"actual": "EUR"}),
    ("ge", lambda: usd("1") >= Amount.of("1", "EUR"), CurrencyMismatch, {"actual": "EUR"}),
    (
        "Money EUR read as USD",
        lambda: Amount.of(EUR_MONEY, "USD"),
        CurrencyMismatch,
        {"expected": "USD", "actual": "EUR"},
    ),
    (
        "Amount EUR read as USD",
        lambda: Amount.of(Amount.of("1", "EUR"), "usd"),
        CurrencyMismatch,
        {"expected": "USD", "actual": "EUR"},
    ),
    (
        "sum of mixed",
        lambda: sum_amounts([usd("1"), Amount.of("1", "EUR")], "USD"),
        CurrencyMismatch,
        {"expected": "USD", "actual": "EUR"},
    ),
    (
        "sum in another currency",
        lambda: sum_amounts([usd("1")], "EUR"),
        CurrencyMismatch,
        {"expected": "EUR", "actual": "USD"},
    ),
    # absurd magnitudes
    (
        "10**16 units",
        lambda: Amount(units=10**16, currency="USD"),
        AmountOutOfRange,
        {"value": 10**16},
    ),
    (
        "-10**16 units",
        lambda: Amount(units=-(10**16), currency="JPY"),
        AmountOutOfRange,
        {"value": -(10**16)},
    ),
    (
        "MAX_UNITS + 1 units",
        lambda: Amount(units=MAX_UNITS + 1, currency="JPY"),
        AmountOutOfRange,
        {},
    ),
    ("Decimal 1e40", _amount_usd(Decimal("1e40")), AmountOutOfRange, {"value": Decimal("1e40")}),
    (
        "Decimal 1E+999999999999",
        _amount_usd(HUGE_DECIMAL),
        AmountOutOfRange,
        {"value": HUGE_DECIMAL},
    ),
    ("int 10**16 major", _amount_usd(10**16), AmountOutOfRange, {"value": 10**16}),
    ("int 10**14 major in cents", _amount_usd(10**14), AmountOutOfRange, {}),
    ("int -10**16 major", _amount_usd(-(10**16)), AmountOutOfRange, {"value": -(10**16)}),
    ("int 10**5000", _amount_usd(10**5000), AmountOutOfRange, {}),
    ("raw 10**5000 units", lambda: Amount(units=10**5000, currency="USD"), AmountOutOfRange, {}),
    ("str of 5000 digits", _amount_usd(LONG_STRING), AmountOutOfRange, {"value": LONG_STRING}),
    ("str just above the bound", _amount_usd("10000000000000.01"), AmountOutOfRange, {}),
    ("Money 1e40", lambda: Amount.of(Money("1e40", "USD")), AmountOutOfRange, {}),
    # bools, None, containers
    ("bool True", _amount_usd(True), InvalidAmount, {"value": True}),
    ("bool False", _amount_usd(False), InvalidAmount, {"value": False}),
    ("raw bool units", lambda: Amount(units=True, currency="USD"), InvalidAmount, {"value": True}),
    ("raw float units", lambda: Amount(units=1.0, currency="USD"), InvalidAmount, {"value": 1.0}),  # type: ignore[arg-type]
    ("raw str units", lambda: Amount(units="5", currency="USD"), InvalidAmount, {"value": "5"}),  # type: ignore[arg-type]
    ("None", _amount_usd(None), InvalidAmount, {"value": None}),
    ("list", _amount_usd([1]), InvalidAmount, {"value": [1]}),
    ("bytes", _amount_usd(b"1.00"), InvalidAmount, {"value": b"1.00"}),
    ("Fraction", _amount_usd(Fraction(1, 2)), InvalidAmount, {"value": Fraction(1, 2)}),
    # not positive where positive is required
    ("require_positive zero", lambda: Amount.zero("USD").require_positive(), AmountOutOfRange, {}),
    # rates
    ("rate float", lambda: parse_rate(0.1), InvalidAmount, {"value": 0.1}),  # type: ignore[arg-type]
    ("rate bool", lambda: parse_rate(True), InvalidAmount, {"value": True}),
    ("rate negative int", lambda: parse_rate(-1), AmountOutOfRange, {"value": -1}),
    ("rate negative str", lambda: parse_rate("-5%"), AmountOutOfRange, {"value": "-5%"}),
    (
        "rate negative Decimal",
        lambda: parse_rate(Decimal("-0.1")),
        AmountOutOfRange,
        {"value": Decimal("-0.1")},
    ),
    (
        "rate negative Fraction",
        lambda: parse_rate(Fraction(-1, 2)),
        AmountOutOfRange,
        {"value": Fraction(-1, 2)},
    ),
    ("rate abc", lambda: parse_rate("abc"), InvalidAmount, {"value": "abc"}),
    ("rate percent only", lambda: parse_rate("%"), InvalidAmount, {"value": "%"}),
    ("rate double percent", lambda: parse_rate("5%%"), InvalidAmount, {"value": "5%%"}),
    ("rate exponent", lambda: parse_rate("1e-2"), InvalidAmount, {"value": "1e-2"}),
    ("rate Decimal NaN", lambda: parse_rate(D_NAN), InvalidAmount, {"value": D_NAN}),
    ("rate Decimal Infinity", lambda: parse_rate(D_INF), InvalidAmount, {"value": D_INF}),
    ("rate None", lambda: parse_rate(None), InvalidAmount, {"value": None}),  # type: ignore[arg-type]
    ("percentage float rate", lambda: percentage(usd("1"), 0.5), InvalidAmount, {"value": 0.5}),  # type: ignore[arg-type]
    (
        "split_fee above 100%",
        lambda: split_fee(usd("1.00"), "101%"),
        AmountOutOfRange,
        {"value": usd("1.01")},
    ),
    (
        "split_fee string mode",
        lambda: split_fee(usd("1.00"), "10%", "half_up"),  # type: ignore[arg-type]
        ValidationError,
        {"field": "rounding"},
    ),
    # allocate
    ("ratios empty", lambda: allocate(usd("1"), []), InvalidRatios, {"ratios": []}),
    ("ratios negative", lambda: allocate(usd("1"), [1, -1]), InvalidRatios, {"ratios": [1, -1]}),
    (
        "ratios negative Decimal",
        lambda: allocate(usd("1"), [Decimal("-0.5"), 1]),
        InvalidRatios,
        {"ratios": [Decimal("-0.5"), 1]},
    ),
    ("ratios all zero", lambda: allocate(usd("1"), [0, 0]), InvalidRatios, {"ratios": [0, 0]}),
    (
        "ratios float",
        lambda: allocate(usd("1"), RATIOS_FLOAT),  # type: ignore[arg-type]
        InvalidRatios,
        {"ratios": RATIOS_FLOAT},
    ),
    ("ratios bool", lambda: allocate(usd("1"), [True, 1]), InvalidRatios, {"ratios": [True, 1]}),
    (
        "ratios Decimal NaN",
        lambda: allocate(usd("1"), [D_NAN, 1]),
        InvalidRatios,
        {"ratios": [D_NAN, 1]},
    ),
    ("ratios str", lambda: allocate(usd("1"), "12"), InvalidRatios, {"ratios": "12"}),  # type: ignore[arg-type]
    ("ratios bytes", lambda: allocate(usd("1"), b"12"), InvalidRatios, {"ratios": b"12"}),
    ("ratios set", lambda: allocate(usd("1"), {1, 2}), InvalidRatios, {"ratios": {1, 2}}),  # type: ignore[arg-type]
    ("ratios None", lambda: allocate(usd("1"), None), InvalidRatios, {"ratios": None}),  # type: ignore[arg-type]
    ("ratios str items", lambda: allocate(usd("1"), ["1", "2"]), InvalidRatios, {}),  # type: ignore[list-item]
]


@pytest.mark.parametrize(
    ("call", "error", "attributes"),
    [
        pytest.param(call, error, attributes, id=name)
        for name, call, error, attributes in BAD_INPUTS
    ],
)
def test_bad_input_raises_a_specific_error(
    call: Callable[[], object], error: type[GigmarketError], attributes: dict[str, object]
) -> None:
    with pytest.raises(GigmarketError) as caught:
        call()
    raised = caught.value
    assert type(raised) is error, f"{type(raised).__name__}: {raised}"
    assert raised.code == error.code
    for builtin in (ValueError, LookupError):
        assert isinstance(raised, builtin) == issubclass(error, builtin)
    for name, expected in attributes.items():
        actual = getattr(raised, name)
        # identity first: NaN is not equal to itself, and comparing sNaN raises
        assert actual is expected or actual == expected, f"{name}={actual!r}"
    assert str(raised)
    assert len(str(raised)) < 10_000  # a message, not a dump of the input


def test_bad_input_table_ids_are_unique() -> None:
    names = [name for name, *_ in BAD_INPUTS]
    assert len(names) == len(set(names))


def test_money_errors_are_value_errors() -> None:
    for error in (InvalidAmount, PrecisionError, AmountOutOfRange, CurrencyMismatch, InvalidRatios):
        assert issubclass(error, ValueError)
    assert issubclass(UnknownCurrency, ValueError)
    assert issubclass(UnknownCurrency, LookupError)


@pytest.mark.parametrize("code", sorted(set(EXPONENTS) - set(moneyed.CURRENCIES)))
def test_to_money_in_a_currency_py_moneyed_does_not_know(code: str) -> None:
    """XCG and ZWG are newer than py-moneyed's table; converting one used to
    raise py-moneyed's own ``CurrencyDoesNotExist``. The Currency is made on the
    spot and py-moneyed's global registry stays untouched."""
    amount = Amount.of("1.25", code)
    money = amount.to_money()
    assert money.amount == Decimal("1.25")
    assert money.currency.code == code
    assert money.currency.sub_unit == 100
    assert Amount.of(money) == amount
    assert code not in moneyed.CURRENCIES


# -- equal amounts, exact edges and what a refusal says ------------------------------


@pytest.mark.parametrize(
    ("left", "right"),
    [
        (usd("1.00"), usd("1")),
        (usd("-0.75"), Amount(units=-75, currency="USD")),
        (Amount.zero("JPY"), Amount.of("-0", "JPY")),
        (Amount(units=MAX_UNITS, currency="KWD"), Amount.of("1000000000000", "KWD")),
    ],
    ids=str,
)
def test_equal_amounts_are_neither_less_nor_greater(left: Amount, right: Amount) -> None:
    """A strict comparison of two equal amounts is false both ways; a threshold
    check such as "under 100.00" depends on it."""
    assert left == right
    assert not left < right
    assert not left > right
    assert left <= right
    assert left >= right


@pytest.mark.parametrize(
    ("rate", "expected"),
    [
        # _MAX_RATIONAL_DIGITS (40) decimal places either side of the point
        (Decimal("1E+40"), Fraction(10**40)),
        (Decimal("1E-40"), Fraction(1, 10**40)),
        # 4 * 40 = 160 bits for an int, and for each half of a Fraction
        (2**160 - 1, Fraction(2**160 - 1)),
        (Fraction(2**160 - 1, 3), Fraction(2**160 - 1, 3)),
        (Fraction(1, 2**160 - 1), Fraction(1, 2**160 - 1)),
        # a string of 2 * 40 + 2 characters, with or without a percent sign
        ("0." + "1" * 80, Fraction(int("1" * 80), 10**80)),
        (" 0." + "1" * 80 + "% ", Fraction(int("1" * 80), 10**82)),
    ],
    ids=lambda value: repr(value)[:30],
)
def test_parse_rate_accepts_a_rate_at_the_exact_bound(rate: Any, expected: Fraction) -> None:
    assert parse_rate(rate) == expected


def test_allocate_accepts_a_ratio_at_the_exact_bound() -> None:
    assert allocate(usd("1.00"), [2**160 - 1, 0]) == [usd("1.00"), usd("0")]
    assert allocate(usd("1.00"), [Fraction(1, 2**160 - 1), 0]) == [usd("1.00"), usd("0")]


@pytest.mark.parametrize(
    ("code", "name"),
    [("USD", "US Dollar"), ("BDT", "Bangladeshi Taka"), ("KWD", "Kuwaiti Dinar")],
)
def test_to_money_uses_py_moneyeds_own_currency(code: str, name: str) -> None:
    """A currency py-moneyed knows comes from its registry, with its name and
    countries; only codes it lacks get a bare Currency made on the spot."""
    currency = Amount.of("1", code).to_money().currency
    assert currency is moneyed.get_currency(code)
    assert currency.name == name


BEYOND_THE_BOUND = f"is beyond the bound of {MAX_UNITS}"
Refusal = tuple[str, Callable[[], object], type[GigmarketError], dict[str, object], str]

# Each refusal at or just past an edge, its error, its attributes and its full
# message: the message is what an operator reads in a log, so it is behaviour.
EDGE_REFUSALS: list[Refusal] = [
    (
        "units past the bound",
        lambda: Amount(units=10**16, currency="USD"),
        AmountOutOfRange,
        {"value": 10**16},
        f"10000000000000000 minor units of USD {BEYOND_THE_BOUND}",
    ),
    (
        "units of 256 bits are written out",
        lambda: Amount(units=2**255, currency="USD"),
        AmountOutOfRange,
        {"value": 2**255},
        f"{2**255} minor units of USD {BEYOND_THE_BOUND}",
    ),
    (
        "units of 257 bits are described",
        lambda: Amount(units=-(2**256), currency="JPY"),
        AmountOutOfRange,
        {"value": -(2**256)},
        f"a 257-bit integer minor units of JPY {BEYOND_THE_BOUND}",
    ),
    (
        "major units of 257 bits are described",
        lambda: Amount.of(2**256, "usd"),
        AmountOutOfRange,
        {"value": 2**256},
        "a 257-bit integer USD is absurdly large",
    ),
    (
        "require_positive names the amount by default",
        lambda: Amount.zero("USD").require_positive(),
        AmountOutOfRange,
        {"value": Amount.zero("USD")},
        "amount must be positive, got 0.00 USD",
    ),
    (
        "round_fraction with a string mode",
        lambda: round_fraction(Fraction(5, 2), "half_up"),  # type: ignore[arg-type]
        ValidationError,
        {"field": "rounding"},
        "rounding: must be a RoundingMode, not 'half_up'",
    ),
    (
        "rate bool",
        lambda: parse_rate(False),
        InvalidAmount,
        {"value": False},
        "rate False is a bool; pass a Decimal or a str",
    ),
    (
        "rate str one character too long",
        lambda: parse_rate("0." + "1" * 81),
        InvalidAmount,
        {"value": "0." + "1" * 81},
        f"rate {repr('0.' + '1' * 81)[:60]}... (85 characters) is not a plain decimal",
    ),
    (
        "rate Decimal one place too large",
        lambda: parse_rate(Decimal("1E+41")),
        AmountOutOfRange,
        {"value": Decimal("1E+41")},
        "rate 1E+41 is absurdly large or small",
    ),
    (
        "rate Decimal one place too small",
        lambda: parse_rate(Decimal("1E-41")),
        AmountOutOfRange,
        {"value": Decimal("1E-41")},
        "rate 1E-41 is absurdly large or small",
    ),
    (
        "rate int one bit too long",
        lambda: parse_rate(2**160),
        AmountOutOfRange,
        {"value": 2**160},
        "a rate this large is absurd",
    ),
    (
        "rate Fraction numerator one bit too long",
        lambda: parse_rate(Fraction(2**160, 3)),
        AmountOutOfRange,
        {"value": Fraction(2**160, 3)},
        "a rate with this many digits is absurd",
    ),
    (
        "rate Fraction denominator one bit too long",
        lambda: parse_rate(Fraction(1, 2**160)),
        AmountOutOfRange,
        {"value": Fraction(1, 2**160)},
        "a rate with this many digits is absurd",
    ),
    (
        "rate of an unreadable type",
        lambda: parse_rate([5]),  # type: ignore[arg-type]
        InvalidAmount,
        {"value": [5]},
        "cannot read a rate from a list",
    ),
    (
        "ratio one bit too long",
        lambda: allocate(usd("1"), [2**160, 1]),
        InvalidRatios,
        {"ratios": [2**160, 1]},
        "a ratio with this many digits is absurd",
    ),
    (
        "ratios empty",
        lambda: allocate(usd("1"), ()),
        InvalidRatios,
        {"ratios": ()},
        "allocate needs a non-empty sequence of ratios",
    ),
    (
        "ratios all zero",
        lambda: allocate(usd("1"), [0, Decimal(0), Fraction(0)]),
        InvalidRatios,
        {"ratios": [0, Decimal(0), Fraction(0)]},
        "ratios must not all be zero",
    ),
]


@pytest.mark.parametrize(
    ("call", "error", "attributes", "message"),
    [pytest.param(*row[1:], id=row[0]) for row in EDGE_REFUSALS],
)
def test_a_refusal_at_an_edge_names_the_culprit(
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
    ("other", "name"), [(1, "int"), (Decimal("1.00"), "Decimal"), (Money("1", "USD"), "Money")]
)
def test_combining_an_amount_with_a_non_amount_names_its_type(other: object, name: str) -> None:
    with pytest.raises(TypeError, match=f"^cannot combine an Amount with {name}$"):
        usd("1") + other  # type: ignore[operator]
    with pytest.raises(TypeError, match=f"^cannot combine an Amount with {name}$"):
        usd("1") >= other  # type: ignore[operator]  # noqa: B015
