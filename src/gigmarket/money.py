"""Exact money: integer minor units, strict parsing, allocation and rounding.

Inside gigmarket an amount is an :class:`Amount`, an integer count of a
currency's minor unit (cents, poisha, fils) plus its ISO 4217 code. Integers
add, subtract and compare exactly and store in any database, so no ledger
balance can drift by a fraction of a cent.

py-moneyed's ``Money`` is the public type at the edge; converting between the
two is exact or an error, never a rounding:

>>> Amount.of("55.75", "USD")
Amount(units=5575, currency='USD')
>>> Amount.of("10.005", "USD")
Traceback (most recent call last):
...
gigmarket.errors.PrecisionError: 10.005 has more decimals than USD allows (2)

Parsing is strict: :meth:`Amount.of` reads ASCII digits only (``"৫০"`` is
refused, not read as 50), and ISO codes without a minor unit (XAU, XDR,
XXX...) are not money. :meth:`Amount.parse_localized` reads an amount
written in one script's digits (Bengali, Arabic-Indic, fullwidth...), for the
forms that want it.

The only places gigmarket rounds are the ones it names: a percentage of an
amount (:func:`percentage`, :func:`split_fee`) rounds once, under a
:class:`RoundingMode` the caller chose, and :func:`allocate` splits by largest
remainder so its parts always add up to the whole.
"""

from __future__ import annotations

import enum
import re
import unicodedata
from collections.abc import Iterable, Sequence
from decimal import Decimal
from fractions import Fraction
from typing import TypeAlias

import attrs
from moneyed import CURRENCIES, Currency, Money

from gigmarket._iso4217 import EXPONENTS, NO_MINOR_UNIT
from gigmarket.errors import (
    AmountOutOfRange,
    CurrencyMismatch,
    InvalidAmount,
    InvalidRatios,
    PrecisionError,
    UnknownCurrency,
    UnsupportedCurrency,
    ValidationError,
    brief,
)

__all__ = [
    "MAX_UNITS",
    "Amount",
    "AmountLike",
    "FeeSplit",
    "Money",
    "RateLike",
    "RoundingMode",
    "allocate",
    "currency_code",
    "exponent",
    "parse_rate",
    "percentage",
    "round_fraction",
    "split_fee",
    "sum_amounts",
]

MAX_UNITS = 10**15
"""The largest magnitude of one amount, in minor units.

10^15 cents is ten trillion dollars: far above any real payment, far below
what a signed 64-bit database column holds, so that sums of many amounts
still fit. Anything larger is a bug or an attack, and is refused.
"""

AmountLike: TypeAlias = "Amount | Money | Decimal | int | str"
"""What :meth:`Amount.of` accepts. Floats are deliberately absent."""

RateLike: TypeAlias = "Decimal | int | str | Fraction"
"""What :func:`parse_rate` accepts: ``Decimal("0.2")``, ``"0.2"``, ``"20%"``."""

# re.ASCII: without it ``\d`` matches every script's digits, and "5০" (a five
# and a Bengali zero) would read as 50.
_PLAIN_DECIMAL = re.compile(r"[+-]?\d+(?:\.\d+)?", re.ASCII)
_CURRENCY_CODE = re.compile(r"[A-Z]{3}")

_LOCAL_PUNCTUATION = {
    "\u066b": ".",  # ARABIC DECIMAL SEPARATOR
    "\uff0e": ".",  # FULLWIDTH FULL STOP
    "\u2212": "-",  # MINUS SIGN
    "\uff0b": "+",  # FULLWIDTH PLUS SIGN
    "\uff0d": "-",  # FULLWIDTH HYPHEN-MINUS
}
"""What :meth:`Amount.parse_localized` reads as a decimal point or a sign."""

_MAX_LOCALIZED_CHARS = 100


def currency_code(currency: object) -> str:
    """Return the ISO 4217 code for ``currency`` (a code string or a py-moneyed
    ``Currency``), upper-cased, or raise :class:`UnknownCurrency`.

    Codes without a minor unit (XAU, XDR, XTS, XXX...: see
    :data:`gigmarket._iso4217.NO_MINOR_UNIT`) raise
    :class:`~gigmarket.errors.UnsupportedCurrency`: they are units of account,
    not money a marketplace can move.
    """
    code = getattr(currency, "code", currency)
    # isascii() first: Unicode case mapping would otherwise turn "uſd" into "USD".
    if isinstance(code, str) and code.isascii():
        upper = code.upper()
        if _CURRENCY_CODE.fullmatch(upper) and upper in EXPONENTS:
            if upper in NO_MINOR_UNIT:
                raise UnsupportedCurrency(upper)
            return upper
    raise UnknownCurrency(currency)


def exponent(currency: object) -> int:
    """How many decimal places the currency's minor unit has: USD 2, JPY 0, KWD 3."""
    return EXPONENTS[currency_code(currency)]


def _describe_int(number: int) -> str:
    """An int for an error message; str() of a huge int raises (or takes
    quadratic time) past ``sys.get_int_max_str_digits()`` digits."""
    return str(number) if number.bit_length() <= 256 else f"a {number.bit_length()}-bit integer"


def _check_units(units: int, currency: str) -> None:
    if abs(units) > MAX_UNITS:
        raise AmountOutOfRange(
            f"{_describe_int(units)} minor units of {currency} is beyond the bound of {MAX_UNITS}",
            value=units,
        )


_MAX_UNITS_DIGITS = len(str(MAX_UNITS))


def _decimal_to_units(value: Decimal, currency: str, original: object) -> int:
    """Exact Decimal → minor units by counting digits.

    Decimal multiplication obeys a context precision and could round a long
    value; counting digits cannot. The digits are counted *before* any int is
    built, so ``Decimal("1E+999999999")`` or a 10,000-digit string is refused
    at once instead of computing a gigantic power of ten (or tripping the
    interpreter's int/str digit limit with a bare ``ValueError``).
    """
    if not value.is_finite():
        raise InvalidAmount(f"{value} is not a finite amount", value=original)
    sign, digits, exp = value.as_tuple()
    if not isinstance(exp, int):  # pragma: no cover -- is_finite() rules out 'n', 'N', 'F'
        raise InvalidAmount(f"{value} is not a finite amount", value=original)
    significant = "".join(map(str, digits)).rstrip("0")
    if not significant:  # zero, whatever its exponent: "0.000", Decimal("0E+99")
        return 0
    places = EXPONENTS[currency]
    shift = exp + (len(digits) - len(significant)) + places  # trailing zeros are exact
    if shift < 0:
        raise PrecisionError(
            f"{value} has more decimals than {currency} allows ({places})",
            value=original,
            currency=currency,
            exponent=places,
        )
    if len(significant) + shift > _MAX_UNITS_DIGITS:
        raise AmountOutOfRange(f"{value} {currency} is absurdly large", value=original)
    units = int(significant) * 10**shift
    signed: int = -units if sign else units
    _check_units(signed, currency)
    return signed


def _moneyed_currency(code: str) -> Currency:
    """py-moneyed's ``Currency`` for ``code``.

    A few codes of gigmarket's table are newer than py-moneyed's (XCG, ZWG);
    for those an unregistered ``Currency`` is made on the spot. py-moneyed's
    global registry is left alone: it belongs to the host.
    """
    known: Currency | None = CURRENCIES.get(code)
    if known is not None:
        return known
    return Currency(code=code, sub_unit=10 ** EXPONENTS[code])


def _validate_units(instance: Amount, attribute: attrs.Attribute[int], units: object) -> None:
    if type(units) is not int:
        raise InvalidAmount(f"minor units must be an int, not {type(units).__name__}", value=units)


def _validate_currency(instance: Amount, attribute: attrs.Attribute[str], currency: object) -> None:
    if not isinstance(currency, str) or currency not in EXPONENTS:
        raise UnknownCurrency(currency)
    if currency in NO_MINOR_UNIT:
        raise UnsupportedCurrency(currency)


@attrs.frozen(repr=True, order=False)
class Amount:
    """An exact amount: ``units`` of the minor unit of ``currency``.

    ``Amount(units=5575, currency="USD")`` is 55.75 USD. Amounts of one
    currency add, subtract and compare; mixing currencies raises
    :class:`~gigmarket.errors.CurrencyMismatch`. Negative amounts are allowed
    (a ledger posting that takes money out is negative); functions that need a
    positive amount say so and check.
    """

    units: int = attrs.field(validator=_validate_units)
    currency: str = attrs.field(validator=_validate_currency)

    def __attrs_post_init__(self) -> None:
        _check_units(self.units, self.currency)

    @classmethod
    def of(cls, value: AmountLike, currency: object = None) -> Amount:
        """Parse an amount in *major* units, exactly.

        ``value`` is a ``str`` in plain decimal notation (``"1234.50"``), a
        ``Decimal``, an ``int`` (whole units), a py-moneyed ``Money`` or an
        ``Amount``. ``currency`` is required unless the value carries one; if
        both are given they must agree. Floats, NaN, infinities, exponents,
        thousands separators and extra decimals are refused with a
        :class:`~gigmarket.errors.MoneyError`.
        """
        if isinstance(value, Amount):
            return value._in(currency)
        if isinstance(value, Money):
            code = currency_code(value.currency)
            if currency is not None and currency_code(currency) != code:
                raise CurrencyMismatch(
                    f"expected {currency_code(currency)}, got {code}",
                    expected=currency_code(currency),
                    actual=code,
                )
            return cls(units=_decimal_to_units(value.amount, code, value), currency=code)
        if currency is None:
            raise InvalidAmount(f"{brief(value)} needs a currency", value=value)
        code = currency_code(currency)
        if isinstance(value, bool | float):
            raise InvalidAmount(
                f"{brief(value)} is a {type(value).__name__}; amounts must be exact: "
                "pass a str, Decimal or int",
                value=value,
            )
        if isinstance(value, int):
            if abs(value) > MAX_UNITS:
                raise AmountOutOfRange(
                    f"{_describe_int(value)} {code} is absurdly large", value=value
                )
            return cls(units=value * 10 ** EXPONENTS[code], currency=code)
        if isinstance(value, Decimal):
            return cls(units=_decimal_to_units(value, code, value), currency=code)
        if isinstance(value, str):
            text = value.strip()
            if not _PLAIN_DECIMAL.fullmatch(text):
                raise InvalidAmount(
                    f"{brief(value)} is not a plain decimal number such as '1234.50'",
                    value=value,
                )
            return cls(units=_decimal_to_units(Decimal(text), code, value), currency=code)
        raise InvalidAmount(f"cannot read an amount from a {type(value).__name__}", value=value)

    @classmethod
    def parse_localized(cls, value: str, currency: object) -> Amount:
        """Parse an amount typed with one script's digits, exactly.

        :meth:`of` reads ASCII digits only. A form where people type in their
        own script calls this instead: ``Amount.parse_localized("৫০.২৫", "BDT")``
        is 50.25 BDT. Any script's decimal digits are read (Bengali ০-৯,
        Arabic-Indic ٠-٩, Extended Arabic-Indic ۰-۹, Devanagari ०-९,
        fullwidth ０-９...), as long as *all* digits of the value come from the
        same script: ``"5০"`` mixes ASCII and Bengali and is refused, since
        that is a typo or a spoof, not a number. The decimal point may be
        ``.``, the Arabic decimal separator ``٫`` or the fullwidth ``．``; a
        sign may be ``+``, ``-`` or ``−`` (U+2212). Grouping separators are
        refused, as in :meth:`of`, and so is everything else :meth:`of` refuses.
        """
        if not isinstance(value, str):
            raise InvalidAmount(
                f"parse_localized reads text, not a {type(value).__name__}", value=value
            )
        if len(value) > _MAX_LOCALIZED_CHARS:
            raise AmountOutOfRange(f"{brief(value)} is too long to be an amount", value=value)
        ascii_chars: list[str] = []
        zeros: set[int] = set()
        for char in value.strip():
            digit = unicodedata.decimal(char, None)
            if digit is not None:
                zeros.add(ord(char) - digit)  # the code point of this script's zero
                ascii_chars.append(str(digit))
            else:
                ascii_chars.append(_LOCAL_PUNCTUATION.get(char, char))
        if len(zeros) > 1:
            raise InvalidAmount(f"{brief(value)} mixes the digits of several scripts", value=value)
        text = "".join(ascii_chars)
        if not _PLAIN_DECIMAL.fullmatch(text):
            raise InvalidAmount(
                f"{brief(value)} is not a plain decimal number such as '1234.50'", value=value
            )
        code = currency_code(currency)
        return cls(units=_decimal_to_units(Decimal(text), code, value), currency=code)

    @classmethod
    def zero(cls, currency: object) -> Amount:
        """No money, in ``currency``."""
        return cls(units=0, currency=currency_code(currency))

    def to_money(self) -> Money:
        """The same amount as py-moneyed ``Money``, exactly."""
        return Money(self.to_decimal(), _moneyed_currency(self.currency))

    def to_decimal(self) -> Decimal:
        """The amount in major units, with exactly the currency's decimals."""
        # Built from a digit tuple, which is exact: scaleb() or a division would
        # round to the caller's decimal context precision (getcontext().prec).
        sign, digits, _ = Decimal(self.units).as_tuple()
        return Decimal((sign, digits, -EXPONENTS[self.currency]))

    def _in(self, currency: object) -> Amount:
        if currency is not None:
            self.require_currency(currency_code(currency))
        return self

    def require_currency(self, currency: str) -> None:
        """Raise :class:`~gigmarket.errors.CurrencyMismatch` unless in ``currency``."""
        currency = currency_code(currency)
        if self.currency != currency:
            raise CurrencyMismatch(
                f"expected an amount in {currency}, got {self}",
                expected=currency,
                actual=self.currency,
            )

    def require_positive(self, what: str = "amount") -> Amount:
        """Return self if greater than zero, else raise ``AmountOutOfRange``."""
        if self.units <= 0:
            raise AmountOutOfRange(f"{what} must be positive, got {self}", value=self)
        return self

    def _same(self, other: object) -> Amount:
        if not isinstance(other, Amount):
            raise TypeError(f"cannot combine an Amount with {type(other).__name__}")
        other.require_currency(self.currency)
        return other

    def __add__(self, other: Amount) -> Amount:
        return Amount(units=self.units + self._same(other).units, currency=self.currency)

    def __sub__(self, other: Amount) -> Amount:
        return Amount(units=self.units - self._same(other).units, currency=self.currency)

    def __neg__(self) -> Amount:
        return Amount(units=-self.units, currency=self.currency)

    def __lt__(self, other: Amount) -> bool:
        return self.units < self._same(other).units

    def __le__(self, other: Amount) -> bool:
        return self.units <= self._same(other).units

    def __gt__(self, other: Amount) -> bool:
        return self.units > self._same(other).units

    def __ge__(self, other: Amount) -> bool:
        return self.units >= self._same(other).units

    def __str__(self) -> str:
        return f"{self.to_decimal()} {self.currency}"


def sum_amounts(amounts: Iterable[Amount], currency: str) -> Amount:
    """Add amounts of one currency; an empty iterable is zero ``currency``."""
    total = Amount.zero(currency)
    for amount in amounts:
        total += amount
    return total


class RoundingMode(enum.Enum):
    """How a computed share (a fee, an interest) is brought to whole minor units.

    ``HALF_UP`` rounds halves away from zero (the commercial rule, and the
    default); ``HALF_EVEN`` rounds halves to the even neighbour (banker's
    rounding, unbiased over many operations); ``DOWN`` truncates toward zero;
    ``UP`` rounds away from zero.
    """

    HALF_UP = "half_up"
    HALF_EVEN = "half_even"
    DOWN = "down"
    UP = "up"


def round_fraction(value: Fraction, mode: RoundingMode) -> int:
    """Round an exact rational to an integer under ``mode``."""
    if not isinstance(mode, RoundingMode):
        # Checked up front: an unknown mode would otherwise fall through every
        # branch below and truncate silently, and only when there is a remainder.
        raise ValidationError(f"must be a RoundingMode, not {brief(mode)}", field="rounding")
    negative = value < 0
    magnitude = -value if negative else value
    whole, remainder = divmod(magnitude.numerator, magnitude.denominator)
    if remainder:
        twice = 2 * remainder
        denominator = magnitude.denominator
        if mode is RoundingMode.UP:
            whole += 1
        elif mode is RoundingMode.HALF_UP:
            whole += twice >= denominator
        elif mode is RoundingMode.HALF_EVEN:
            whole += twice > denominator or (twice == denominator and whole % 2 == 1)
    return -whole if negative else whole


_MAX_RATIONAL_DIGITS = 40
"""A rate or ratio is written with at most this many digits before and after
the point: far beyond any real fee or split, and small enough that exact
arithmetic on it stays cheap (a value like ``Decimal("1E+10000000")`` would
otherwise take seconds to turn into a fraction)."""


def _bounded(value: Decimal | int | Fraction) -> bool:
    if isinstance(value, Decimal):
        return value.is_zero() or abs(value.adjusted()) <= _MAX_RATIONAL_DIGITS
    if isinstance(value, int):
        return value.bit_length() <= 4 * _MAX_RATIONAL_DIGITS
    return max(value.numerator.bit_length(), value.denominator.bit_length()) <= (
        4 * _MAX_RATIONAL_DIGITS
    )


def parse_rate(rate: RateLike) -> Fraction:
    """Read a rate exactly: ``Decimal("0.055")``, ``"0.055"``, ``"5.5%"``, ``0``.

    Rates are fractions of one (0.2 is twenty percent). Floats are refused
    for the same reason as float amounts; so are negative and non-finite rates.
    """
    original = rate
    if isinstance(rate, bool | float):
        raise InvalidAmount(
            f"rate {brief(rate)} is a {type(rate).__name__}; pass a Decimal or a str", value=rate
        )
    if isinstance(rate, str):
        text = rate.strip()
        percent = text.endswith("%")
        text = text.removesuffix("%").strip()
        if not _PLAIN_DECIMAL.fullmatch(text) or len(text) > 2 * _MAX_RATIONAL_DIGITS + 2:
            raise InvalidAmount(f"rate {brief(original)} is not a plain decimal", value=original)
        rate = Fraction(Decimal(text)) / (100 if percent else 1)
    elif isinstance(rate, Decimal):
        if not rate.is_finite():
            raise InvalidAmount(f"rate {rate} is not finite", value=original)
        if not _bounded(rate):
            raise AmountOutOfRange(f"rate {rate} is absurdly large or small", value=original)
        rate = Fraction(rate)
    elif isinstance(rate, int):
        if not _bounded(rate):
            raise AmountOutOfRange("a rate this large is absurd", value=original)
        rate = Fraction(rate)
    elif not isinstance(rate, Fraction):
        raise InvalidAmount(f"cannot read a rate from a {type(rate).__name__}", value=original)
    elif not _bounded(rate):
        raise AmountOutOfRange("a rate with this many digits is absurd", value=original)
    if rate < 0:
        raise AmountOutOfRange(f"rate {brief(original)} is negative", value=original)
    return rate


def percentage(
    amount: Amount, rate: RateLike, rounding: RoundingMode = RoundingMode.HALF_UP
) -> Amount:
    """``round(amount × rate)`` in whole minor units, rounded once under ``rounding``.

    >>> percentage(Amount.of("999", "JPY"), "15%")
    Amount(units=150, currency='JPY')
    """
    exact = Fraction(amount.units) * parse_rate(rate)
    return Amount(units=round_fraction(exact, rounding), currency=amount.currency)


@attrs.frozen
class FeeSplit:
    """A gross amount cut in two: ``fee + net == gross``, always."""

    gross: Amount
    fee: Amount
    net: Amount


def split_fee(
    gross: Amount, rate: RateLike, rounding: RoundingMode = RoundingMode.HALF_UP
) -> FeeSplit:
    """Take a percentage fee out of ``gross``: the fee is computed and rounded
    first, and the net is what is left. Rounding the two parts independently
    could create or lose a cent; this cannot.

    >>> split = split_fee(Amount.of("266.64", "USD"), "10%")
    >>> str(split.fee), str(split.net)
    ('26.66 USD', '239.98 USD')
    """
    fee = percentage(gross, rate, rounding)
    if abs(fee.units) > abs(gross.units):
        raise AmountOutOfRange(f"a fee of {fee} exceeds the gross {gross}", value=fee)
    return FeeSplit(gross=gross, fee=fee, net=gross - fee)


def _ratio(value: object, ratios: object) -> Fraction:
    # ``ratios`` is the whole sequence, so that ``InvalidRatios.ratios`` means the
    # same thing whichever rule was broken; the message names the culprit.
    if isinstance(value, bool) or not isinstance(value, int | Decimal | Fraction):
        raise InvalidRatios(
            f"ratio {brief(value)} must be an int, Decimal or Fraction", ratios=ratios
        )
    if isinstance(value, Decimal) and not value.is_finite():
        raise InvalidRatios(f"ratio {value} is not finite", ratios=ratios)
    if not _bounded(value):
        raise InvalidRatios("a ratio with this many digits is absurd", ratios=ratios)
    fraction = Fraction(value)
    if fraction < 0:
        raise InvalidRatios(f"ratio {value} is negative", ratios=ratios)
    return fraction


def allocate(amount: Amount, ratios: Sequence[int | Decimal | Fraction]) -> list[Amount]:
    """Split ``amount`` in proportion to ``ratios``; the parts always sum to it.

    Each part first gets the floor of its exact share; the minor units left
    over go one each to the parts with the largest remainders. Ties go to the
    earlier part, so the result is deterministic and a caller can decide who
    benefits by ordering the ratios. A negative amount is split as its
    magnitude and negated, so ``allocate(-a, r) == [-p for p in allocate(a, r)]``.

    >>> ", ".join(str(part) for part in allocate(Amount.of("0.05", "USD"), (7, 3)))
    '0.04 USD, 0.01 USD'
    >>> ", ".join(str(part) for part in allocate(Amount.of("0.05", "USD"), (3, 7)))
    '0.02 USD, 0.03 USD'
    """
    given: object = ratios
    if isinstance(given, str | bytes) or not isinstance(given, Sequence) or not given:
        raise InvalidRatios("allocate needs a non-empty sequence of ratios", ratios=ratios)
    weights = [_ratio(ratio, ratios) for ratio in given]
    total = sum(weights, Fraction(0))
    if total == 0:
        raise InvalidRatios("ratios must not all be zero", ratios=ratios)
    magnitude = abs(amount.units)
    shares = [magnitude * weight / total for weight in weights]
    parts = [share.numerator // share.denominator for share in shares]
    left_over = magnitude - sum(parts)
    by_remainder = sorted(
        range(len(shares)), key=lambda index: (-(shares[index] - parts[index]), index)
    )
    for index in by_remainder[:left_over]:
        parts[index] += 1
    sign = -1 if amount.units < 0 else 1
    return [Amount(units=sign * part, currency=amount.currency) for part in parts]
