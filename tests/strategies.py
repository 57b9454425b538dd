"""Hypothesis strategies shared by the test suite.

One module, so that a property test reads as a statement about the domain
(``amounts("KWD")``, ``rates()``) and every test draws values the same way.
Each concern has its own section below; add a section rather than growing
another one.
"""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from fractions import Fraction

from hypothesis import strategies as st

from gigmarket._iso4217 import EXPONENTS, NO_MINOR_UNIT
from gigmarket.catalog import SearchSort, SellerLevel
from gigmarket.escrow.fees import Tier, Tiered
from gigmarket.money import MAX_UNITS, Amount, RoundingMode

__all__ = [
    "CATALOG_CATEGORIES",
    "CATALOG_WORDS",
    "CURRENCIES_BY_EXPONENT",
    "EXPONENT_CURRENCIES",
    "amounts",
    "aware_datetimes",
    "catalog_search_queries",
    "currencies",
    "gig_payload",
    "gig_payloads",
    "hostile_values",
    "iso_currencies",
    "profile_payload",
    "rate_spellings",
    "rates",
    "ratio_lists",
    "rounding_modes",
    "scrambled_ids",
    "signed_amounts",
    "tiered_rules",
]


# -- fees: one currency per exponent, rates, tiers, dates (gigmarket.escrow.fees) --

EXPONENT_CURRENCIES = ("JPY", "USD", "KWD", "CLF")
"""One currency per minor-unit exponent gigmarket knows: 0, 2, 3 and 4 decimals."""

_MAX_TEST_UNITS = 10**12
"""Large enough for every rounding path, small enough that sums stay below MAX_UNITS."""


def currencies() -> st.SearchStrategy[str]:
    """A currency code, one of each exponent (0, 2, 3, 4)."""
    return st.sampled_from(EXPONENT_CURRENCIES)


def amounts(
    currency: str | None = None, *, min_units: int = 1, max_units: int = _MAX_TEST_UNITS
) -> st.SearchStrategy[Amount]:
    """Amounts in ``currency`` (or any of :data:`EXPONENT_CURRENCIES`), positive by default.

    Small amounts are drawn often: that is where rounding and thresholds bite.
    """
    codes = currencies() if currency is None else st.just(currency)
    units = st.one_of(
        st.integers(min_value=min_units, max_value=min(max_units, min_units + 1000)),
        st.integers(min_value=min_units, max_value=max_units),
    )
    return st.builds(lambda code, count: Amount(units=count, currency=code), codes, units)


def rates(*, max_rate: Fraction = Fraction(1)) -> st.SearchStrategy[Fraction]:
    """Exact rates in ``[0, max_rate]``: published-looking decimals (``0.055``)
    and awkward fractions (``1/3``) whose products never come out even."""
    decimal_rates = st.decimals(
        min_value=0, max_value=Decimal(max_rate.numerator) / max_rate.denominator, places=4
    ).map(Fraction)
    fraction_rates = st.fractions(min_value=0, max_value=max_rate, max_denominator=1000)
    edges = st.sampled_from([Fraction(0), max_rate])
    return st.one_of(edges, decimal_rates, fraction_rates)


def rounding_modes() -> st.SearchStrategy[RoundingMode]:
    """Every :class:`~gigmarket.money.RoundingMode`."""
    return st.sampled_from(RoundingMode)


@st.composite
def tiered_rules(draw: st.DrawFn, currency: str, *, max_bound: int = 10**6) -> Tiered:
    """A :class:`~gigmarket.escrow.fees.Tiered` rule of one to four tiers with
    rising bounds (at most ``max_bound`` minor units) in ``currency`` and rates
    in ``[0, 1]``."""
    bound_count = draw(st.integers(min_value=0, max_value=3))
    bounds = sorted(
        draw(
            st.sets(
                st.integers(min_value=1, max_value=max_bound),
                min_size=bound_count,
                max_size=bound_count,
            )
        )
    )
    tiers = [
        Tier(rate=draw(rates()), up_to=[Amount(units=bound, currency=currency)]) for bound in bounds
    ]
    tiers.append(Tier(rate=draw(rates())))
    return Tiered(tiers=tiers)


def aware_datetimes() -> st.SearchStrategy[datetime]:
    """Timezone-aware datetimes in UTC or at a fixed offset, years 2000–2100."""
    offsets = st.integers(min_value=-14 * 60, max_value=14 * 60).map(
        lambda minutes: timezone(timedelta(minutes=minutes))
    )
    return st.datetimes(
        min_value=datetime(2000, 1, 1),  # noqa: DTZ001 -- bounds are naive by Hypothesis' API
        max_value=datetime(2100, 1, 1),  # noqa: DTZ001
        timezones=st.one_of(st.just(UTC), offsets),
    )


# -- money: every currency, the whole amount range, ratios (gigmarket.money) ---

CURRENCIES_BY_EXPONENT: dict[int, tuple[str, ...]] = {
    places: tuple(
        sorted(
            code
            for code, exponent in EXPONENTS.items()
            if exponent == places and code not in NO_MINOR_UNIT
        )
    )
    for places in sorted(set(EXPONENTS.values()))
}
"""Every code of gigmarket's ISO 4217 table that is money (not XAU, XDR, XXX...),
grouped by its number of decimals."""


def iso_currencies(exponent: int | None = None) -> st.SearchStrategy[str]:
    """Any code in gigmarket's table (active and historic), or only the codes
    with ``exponent`` decimals."""
    codes = (
        sorted(set(EXPONENTS) - NO_MINOR_UNIT)
        if exponent is None
        else CURRENCIES_BY_EXPONENT[exponent]
    )
    return st.sampled_from(codes)


def signed_amounts(
    currency: str | None = None, *, min_units: int = -MAX_UNITS, max_units: int = MAX_UNITS
) -> st.SearchStrategy[Amount]:
    """Amounts anywhere in ``[min_units, max_units]`` (by default the whole legal
    range, negatives and zero included) in ``currency`` or any code of the table.

    The bounds themselves, zero and one unit either side of it are drawn often.
    """
    codes = iso_currencies() if currency is None else st.just(currency)
    edges = [
        units
        for units in (0, 1, -1, MAX_UNITS, -MAX_UNITS, MAX_UNITS - 1, -MAX_UNITS + 1)
        if min_units <= units <= max_units
    ]
    small = st.integers(min_value=max(min_units, -1000), max_value=min(max_units, 1000))
    units = st.one_of(
        st.sampled_from(edges) if edges else st.nothing(),
        small if max(min_units, -1000) <= min(max_units, 1000) else st.nothing(),
        st.integers(min_value=min_units, max_value=max_units),
    )
    return st.builds(lambda code, count: Amount(units=count, currency=code), codes, units)


@st.composite
def ratio_lists(
    draw: st.DrawFn, *, min_size: int = 1, max_size: int = 8
) -> list[int | Decimal | Fraction]:
    """Ratios :func:`~gigmarket.money.allocate` accepts: ints, Decimals and
    Fractions, mixed, zero allowed (and drawn often), never all zero."""
    ratio = st.one_of(
        st.just(0),
        st.integers(min_value=0, max_value=10**6),
        st.decimals(min_value=0, max_value=10**6, places=4),
        st.fractions(min_value=0, max_value=1000, max_denominator=1000),
    )
    ratios: list[int | Decimal | Fraction] = draw(
        st.lists(ratio, min_size=min_size, max_size=max_size)
    )
    if not any(ratios):
        index = draw(st.integers(min_value=0, max_value=len(ratios) - 1))
        ratios[index] = draw(st.integers(min_value=1, max_value=10**6))
    return ratios


@st.composite
def rate_spellings(draw: st.DrawFn) -> tuple[Decimal | int | str | Fraction, Fraction]:
    """A rate in ``[0, 1]`` written as :func:`~gigmarket.money.parse_rate` accepts
    it (``Decimal``, plain string, percent string, ``Fraction``, ``0``/``1``),
    paired with the exact ``Fraction`` it means."""
    value = draw(st.decimals(min_value=0, max_value=1, places=6))
    exact = Fraction(value)
    spelling = draw(st.sampled_from(["decimal", "str", "percent", "fraction", "int"]))
    if spelling == "decimal":
        return value, exact
    if spelling == "str":
        return f"{value:f}", exact
    if spelling == "percent":
        return f"{value * 100:f}%", exact
    if spelling == "fraction":
        return exact, exact
    whole = draw(st.sampled_from([0, 1]))
    return whole, Fraction(whole)


# -- catalog: gig and profile payloads, search queries (gigmarket.catalog) -----

CATALOG_WORDS = (
    "logo",
    "design",
    "website",
    "wordpress",
    "seo",
    "article",
    "translate",
    "video",
    "edit",
    "bangla",
    "minimal",
    "modern",
    "brand",
    "mobile",
    "shop",
    "voice",
)
"""A small vocabulary, so that drawn texts and drawn queries often meet."""

CATALOG_CATEGORIES = (
    ("graphics-design", "logo-design"),
    ("graphics-design", "illustration"),
    ("programming-tech", "website-development"),
    ("programming-tech", "mobile-apps"),
    ("writing-translation", "translation"),
    ("digital-marketing", "seo"),
)
"""(category, subcategory) pairs of the default taxonomy."""

_CATALOG_FILLER = "Clear communication, original files and a result you will be proud of. "


def scrambled_ids(prefix: str) -> Callable[[], str]:
    """Deterministic ids that do not sort in creation order, so that a test
    notices when an order depends on creation order instead of the gig id."""
    counter = itertools.count(1)
    return lambda: f"{prefix}-{hashlib.sha256(str(next(counter)).encode()).hexdigest()[:10]}"


def gig_payload(**overrides: object) -> dict[str, object]:
    """A complete, publishable ``CreateGig`` payload in USD; ``overrides`` replace keys."""
    payload: dict[str, object] = {
        "title": "I will design a modern minimal logo",
        "category": "graphics-design",
        "subcategory": "logo-design",
        "currency": "USD",
        "tags": ["logo", "brand identity"],
        "description": "A modern logo for your brand. " + _CATALOG_FILLER * 2,
        "packages": [
            {
                "name": "Basic",
                "price": "25.00",
                "delivery_days": 3,
                "revisions": 1,
                "features": ["1 concept", "PNG file"],
            },
            {"name": "Standard", "price": "60", "delivery_days": 5, "revisions": 3},
            {"name": "Premium", "price": "150.00", "delivery_days": 7, "revisions": None},
        ],
        "extras": [
            {"name": "Extra-fast delivery", "price": "20", "delivery_days_delta": -2},
            {"name": "Additional revision", "price": "5", "extra_revisions": 1},
        ],
        "requirements": [
            {"text": "What is your brand name?", "kind": "free_text"},
            {
                "text": "Which style?",
                "kind": "multiple_choice",
                "choices": ["Minimal", "Vintage"],
                "required": False,
            },
            {"text": "Upload your sketch", "kind": "attachment", "required": False},
        ],
        "faqs": [{"question": "Do I get the source file?", "answer": "Yes, in Premium."}],
        "gallery": ["gallery/logo-1.png"],
    }
    payload.update(overrides)
    return payload


def profile_payload(**overrides: object) -> dict[str, object]:
    """A valid ``SetUpProfile`` payload; ``overrides`` replace keys."""
    payload: dict[str, object] = {
        "display_name": "Rahim Uddin",
        "headline": "Logo and brand designer",
        "description": "Ten years of logos for shops in Dhaka and beyond.",
        "skills": ["logo design", "branding"],
        "languages": [
            {"language": "bn", "level": "native"},
            {"language": "en", "level": "fluent"},
        ],
        "country": "BD",
    }
    payload.update(overrides)
    return payload


@st.composite
def gig_payloads(draw: st.DrawFn, currency: str | None = None) -> dict[str, object]:
    """Complete ``CreateGig`` payloads over :data:`CATALOG_WORDS`: one to three
    packages priced in USD (5–10,000) or BDT (500–1,000,000)."""
    code = draw(st.sampled_from(["USD", "BDT"])) if currency is None else currency
    low, high = (500, 10_000) if code == "USD" else (50_000, 1_000_000)
    words = st.lists(st.sampled_from(CATALOG_WORDS), min_size=1, max_size=4)
    category, subcategory = draw(st.sampled_from(CATALOG_CATEGORIES))
    packages = [
        {
            "name": name,
            "price": str(Decimal(draw(st.integers(low, high))) / 100),
            "delivery_days": draw(st.integers(1, 30)),
        }
        for name in ("Basic", "Standard", "Premium")[: draw(st.integers(1, 3))]
    ]
    return gig_payload(
        title=("I will " + " ".join(draw(words)) + " for you")[:80],
        category=category,
        subcategory=subcategory,
        currency=code,
        tags=sorted(set(draw(st.lists(st.sampled_from(CATALOG_WORDS), min_size=1, max_size=3)))),
        description=" ".join(draw(words)) + ". " + _CATALOG_FILLER * 2,
        packages=packages,
        extras=[],
    )


@st.composite
def catalog_search_queries(draw: st.DrawFn) -> dict[str, object]:
    """Keyword arguments for ``SearchQuery``: any mix of filters and a sort.

    Each filter is drawn one time in three, so that most queries still find
    something in a small market."""

    def sometimes() -> bool:
        return draw(st.integers(min_value=0, max_value=2)) == 0

    query: dict[str, object] = {}
    if sometimes():
        query["text"] = " ".join(draw(st.lists(st.sampled_from(CATALOG_WORDS), max_size=2)))
    if sometimes():
        category, subcategory = draw(st.sampled_from(CATALOG_CATEGORIES))
        query["category"] = category
        if sometimes():
            query["subcategory"] = subcategory
    sort = draw(st.sampled_from(SearchSort))
    if sort in (SearchSort.PRICE_ASC, SearchSort.PRICE_DESC) or sometimes():
        query["currency"] = draw(st.sampled_from(["USD", "BDT"]))
        scale = 1 if query["currency"] == "USD" else 100
        if sometimes():
            query["min_price"] = draw(st.integers(5, 60)) * scale
        if sometimes():
            query["max_price"] = draw(st.integers(60, 100)) * scale
    if sometimes():
        query["delivery_within_days"] = draw(st.integers(1, 30))
    if sometimes():
        query["seller_levels"] = draw(st.sets(st.sampled_from(SellerLevel), min_size=1))
    if sometimes():
        query["min_rating"] = draw(st.sampled_from(["1", "3.5", "4.7", "5"]))
    if sometimes():
        query["seller_languages"] = draw(st.sets(st.sampled_from(["bn", "en", "hi"]), min_size=1))
    if sometimes():
        query["seller_countries"] = draw(st.sets(st.sampled_from(["BD", "IN", "US"]), min_size=1))
    query["sort"] = sort
    query["limit"] = draw(st.sampled_from([1, 2, 3, 5, 12]))
    return query


# -- hostile input: what a careless or malicious caller hands a public entry point --

HUGE_TEXT = "x" * 10**6
"""A million characters: an id or a text no field accepts, and no message may echo."""

HOSTILE_CONSTANTS: tuple[object, ...] = (
    None,
    True,
    False,
    0,
    -1,
    1,
    2**63,
    10**30,
    -(10**30),
    10**5000,  # repr() of this int raises ValueError: messages must not call it
    1.5,
    float("nan"),
    float("inf"),
    Decimal("NaN"),
    Decimal("1E+999999"),
    "",
    " ",
    HUGE_TEXT,
    "\x00",
    "nul\x00in the middle",
    "a\u202eb",  # RIGHT-TO-LEFT OVERRIDE
    "\u2066isolate\u2069",
    "\ud800",  # a lone surrogate: no database can store it
    "e\u0301",  # a combining mark
    "\u0301",
    "\x1b[2J\x1b[31mred",  # terminal escapes
    "৫০",
    "5০",
    "line\nbreak",
    "USD",
    "XAU",
    "a:b",
    ["a"],
    {"a": 1},
    ("a",),
    [],
    {},
    (),
    {"a", "b"},
    b"bytes",
    bytearray(b"bytes"),
    memoryview(b"bytes"),
    object(),
    datetime(2026, 1, 1, 9, 0, tzinfo=UTC).replace(tzinfo=None),  # naive
    datetime(2026, 1, 1, 9, 0, tzinfo=UTC),
    datetime.max.replace(tzinfo=timezone(timedelta(hours=-14))),
    datetime.min.replace(tzinfo=timezone(timedelta(hours=14))),
    timedelta(days=-1),
    Amount(units=-100, currency="USD"),
    Amount(units=0, currency="USD"),
    Amount(units=1, currency="JPY"),
    Amount(units=MAX_UNITS, currency="USD"),
    Fraction(1, 3),
    lambda: None,
)


def hostile_values() -> st.SearchStrategy[object]:
    """Arguments no public entry point should take: wrong types, ``None``,
    huge and negative numbers, odd Unicode (NUL, bidi overrides, lone
    surrogates, combining marks, terminal escapes, a 10**6-character string),
    containers where an id belongs. Every draw must be refused with a
    ``GigmarketError`` (or accepted), never crash with a raw Python error."""
    any_char = st.characters(codec=None, exclude_categories=())  # surrogates included
    constants = st.sampled_from(HOSTILE_CONSTANTS)
    return st.one_of(
        constants,
        constants,  # twice: the named cases are the ones that found bugs
        constants,
        st.text(any_char, max_size=40),
        st.integers(),
        st.lists(st.text(any_char, max_size=5), max_size=3),
        st.dictionaries(st.text(max_size=5), st.integers() | st.text(max_size=5), max_size=3),
        st.binary(max_size=20),
        st.decimals(allow_nan=True, allow_infinity=True),
        st.floats(),
    )
