"""Money input that used to slip through: other scripts' digits, codes without cents."""

from __future__ import annotations

from decimal import Decimal

import moneyed
import pytest

from gigmarket import Marketplace
from gigmarket._iso4217 import EXPONENTS, NO_MINOR_UNIT
from gigmarket.errors import InvalidAmount, UnknownCurrency, UnsupportedCurrency
from gigmarket.escrow.ledger import Ledger
from gigmarket.money import Amount, currency_code, exponent, parse_rate
from gigmarket.storage.memory.store import MemoryStorage

# -- the strict parser reads ASCII digits only --------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "5০",  # an ASCII five and a Bengali zero: read as 50 before
        "৫০",  # Bengali
        "٥٠",  # Arabic-Indic
        "۵۰",  # Extended Arabic-Indic (Persian, Urdu)
        "５０",  # fullwidth
        "५०",  # Devanagari
        "1.৫",
        "²",  # a digit for str.isdigit(), not a decimal digit
    ],
)
def test_the_strict_parser_refuses_digits_that_are_not_ascii(text: str) -> None:
    with pytest.raises(InvalidAmount) as refused:
        Amount.of(text, "BDT")
    assert refused.value.value == text


def test_rates_read_ascii_digits_only() -> None:
    with pytest.raises(InvalidAmount):
        parse_rate("৫%")


# -- parse_localized reads one script's digits --------------------------------------------


@pytest.mark.parametrize(
    ("text", "units"),
    [
        ("৫০.২৫", 5025),  # Bengali
        ("১২৩৪", 123400),
        ("٥٠٫٢٥", 5025),  # Arabic-Indic digits, Arabic decimal separator
        ("٥٠.٢٥", 5025),
        ("۵۰", 5000),  # Extended Arabic-Indic
        ("５０．２５", 5025),  # fullwidth digits and full stop
        ("50.25", 5025),  # ASCII is a script too
        (" ৫০ ", 5000),
        ("−৫", -500),  # U+2212 MINUS SIGN
        ("-٥", -500),
    ],
)
def test_parse_localized_reads_one_script(text: str, units: int) -> None:
    assert Amount.parse_localized(text, "BDT") == Amount(units=units, currency="BDT")


@pytest.mark.parametrize(
    "text",
    [
        "5০",  # ASCII and Bengali
        "৫٠",  # Bengali and Arabic-Indic
        "５0",  # fullwidth and ASCII
        "১.5",
    ],
)
def test_parse_localized_refuses_mixed_scripts(text: str) -> None:
    with pytest.raises(InvalidAmount, match="several scripts"):
        Amount.parse_localized(text, "BDT")


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("১,০০০", InvalidAmount),  # grouping separators, as in Amount.of
        ("৫০.২৫৫", InvalidAmount),  # more decimals than BDT has (a PrecisionError)
        ("১e৫", InvalidAmount),
        ("", InvalidAmount),
        ("৫" * 1000, InvalidAmount),
        ("٥٠", UnknownCurrency),  # with currency "ZZZ" below
    ],
)
def test_parse_localized_refuses_what_of_refuses(text: str, error: type[Exception]) -> None:
    currency = "ZZZ" if error is UnknownCurrency else "BDT"
    with pytest.raises(error):
        Amount.parse_localized(text, currency)


@pytest.mark.parametrize("value", [None, 50, Decimal("50"), b"50"])
def test_parse_localized_reads_text_only(value: object) -> None:
    with pytest.raises(InvalidAmount):
        Amount.parse_localized(value, "BDT")  # type: ignore[arg-type]


# -- ISO codes without a minor unit are not money -----------------------------------------


def test_the_refused_codes_are_the_iso_codes_without_a_minor_unit() -> None:
    assert set(EXPONENTS) >= NO_MINOR_UNIT
    assert {"XAU", "XAG", "XPT", "XPD", "XDR", "XTS", "XXX", "XSU", "XUA"} <= NO_MINOR_UNIT
    # Real currencies without decimals stay money.
    assert not {"XAF", "XOF", "XPF", "JPY", "KRW"} & NO_MINOR_UNIT


@pytest.mark.parametrize("code", sorted(NO_MINOR_UNIT))
def test_codes_without_a_minor_unit_are_refused_as_money(code: str) -> None:
    for attempt in (
        lambda: Amount.of("1", code),
        lambda: Amount.of(1, code.lower()),
        lambda: Amount(units=1, currency=code),
        lambda: Amount.zero(code),
        lambda: currency_code(code),
        lambda: exponent(code),
    ):
        with pytest.raises(UnsupportedCurrency) as refused:
            attempt()
        assert refused.value.currency == code
        assert code in str(refused.value)
        assert "minor unit" in str(refused.value)
        assert isinstance(refused.value, UnknownCurrency)


def test_money_without_a_minor_unit_is_refused_at_the_edge() -> None:
    gold = moneyed.Money("1", "XAU")
    with pytest.raises(UnsupportedCurrency):
        Amount.of(gold)


def test_a_ledger_account_cannot_be_opened_in_gold() -> None:
    with pytest.raises(UnsupportedCurrency):
        Ledger(MemoryStorage()).open_account("vault", "XAU")


def test_a_marketplace_balance_cannot_be_asked_in_gold() -> None:
    market = Marketplace(MemoryStorage())
    with pytest.raises(UnsupportedCurrency):
        market.seller_balance("nadia", "XAU")
