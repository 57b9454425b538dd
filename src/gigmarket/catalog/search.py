"""Search as a port: the query, the page of results, the ranking and the cursor.

A :class:`GigSearch` answers a :class:`SearchQuery` with a :class:`SearchPage`.
This module fixes the *meaning* every implementation shares, so results do
not change when a host moves from the in-memory scan to an SQL index:

Eligibility
    Only ``active`` gigs of non-suspended sellers are ever returned. A paused,
    archived, denied or draft gig, or any gig of a suspended seller, never is.

Filters (all must hold)
    ``category`` / ``subcategory``; ``currency`` (the gig's); ``min_price`` /
    ``max_price`` against the gig's *starting price* (its cheapest package),
    in ``currency``; ``delivery_within_days``: some package delivers within
    that many days; ``seller_levels``: the seller's level now is one of them;
    ``min_rating``: the gig's exact average rating is at least this (an
    unrated gig does not pass); ``seller_languages`` / ``seller_countries``:
    the seller speaks one of them / lives in one of them.

Text relevance
    The text is split into words (:func:`~gigmarket.catalog.text.tokens`).
    Every word must match, and a word matches a field when it is a prefix of
    one of the field's words ("logo" matches "logos"). Each word counts once,
    in the best field it matches: title, else tags, else description. The
    score is the triple ``(title words, tag words, description words)``,
    compared in that order: a gig whose title matches more words ranks above
    one whose tags or description match more, so a title match always ranks
    above a description match.

Sorts
    ``relevance`` (score, best first), ``rating`` (exact average, then number
    of reviews; unrated last), ``orders`` (completed orders), ``newest``
    (first publication), ``price_asc`` / ``price_desc`` (starting price; needs
    ``currency``, because prices in two currencies do not compare). Ties are
    always broken by gig id, ascending, so the order is total.

Cursor pagination
    A page's ``next_cursor`` encodes the last result's sort key and gig id.
    The next page holds the results strictly after that position in the
    same total order, so a gig added or paused between two pages can neither
    push a remaining result onto a page already read (a repeat) nor pull one
    back from a page not yet read (a skip), as offsets would. A cursor only
    works with the query it came from (any change but ``limit`` and ``cursor``
    is refused). A result whose own sort key changes between pages (a new
    review changes its rating) moves with it, as in any keyset pagination.
"""

from __future__ import annotations

import base64
import binascii
import enum
import json
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from fractions import Fraction
from typing import Annotated, Protocol, Self, runtime_checkable

import attrs
from pydantic import AfterValidator, BeforeValidator, Field, StrictInt, StrictStr, model_validator

from gigmarket.catalog import limits
from gigmarket.catalog.commands import Command, Country, Currency, Language, PriceValue, Slug
from gigmarket.catalog.gigs import GigContent
from gigmarket.catalog.reputation import (
    RatingSummary,
    SellerLevel,
    SellerLevelPolicy,
    parse_rating,
)
from gigmarket.catalog.text import clean_line, tokens
from gigmarket.clock import Clock
from gigmarket.errors import MoneyError, ValidationError
from gigmarket.idempotency import fingerprint
from gigmarket.money import Amount

__all__ = [
    "Cursor",
    "GigSearch",
    "GigSearchProvider",
    "Relevance",
    "SearchHit",
    "SearchPage",
    "SearchQuery",
    "SearchSort",
    "SortFields",
    "SortKey",
    "relevance",
    "searchable_words",
    "sort_key",
]

Relevance = tuple[int, int, int]
"""Query words matched in the title, in the tags, in the description."""

SortKey = tuple[Fraction, ...]
"""A result's position: smaller comes first; the gig id breaks ties."""

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class SearchSort(enum.Enum):
    """The orders a search can return its results in (a query's ``sort``).

    - ``RELEVANCE`` (the default): the text score, best first: title words, then
      tag words, then description words.
    - ``RATING``: the exact average rating, best first, then the number of
      reviews; unrated gigs last.
    - ``ORDERS``: the number of completed orders, most first.
    - ``NEWEST``: the first publication, latest first.
    - ``PRICE_ASC`` / ``PRICE_DESC``: the starting price (the cheapest package),
      cheapest / dearest first; the query must name a ``currency``.

    Ties are broken by gig id, ascending.
    """

    RELEVANCE = "relevance"
    RATING = "rating"
    ORDERS = "orders"
    NEWEST = "newest"
    PRICE_ASC = "price_asc"
    PRICE_DESC = "price_desc"


def _search_text(value: str) -> str:
    text = clean_line(value)
    if len(text) > limits.SEARCH_TEXT_MAX:
        raise ValueError(f"must be at most {limits.SEARCH_TEXT_MAX} characters")
    if len(tokens(text)) > limits.SEARCH_TERMS_MAX:
        raise ValueError(f"may hold at most {limits.SEARCH_TERMS_MAX} words")
    return text


def _rating(value: object) -> Decimal:
    return parse_rating(value, field="")


class SearchQuery(Command):
    """What a buyer asks for; see the module docs for what each part means."""

    text: Annotated[StrictStr, AfterValidator(_search_text)] | None = None
    category: Slug | None = None
    subcategory: Slug | None = None
    currency: Currency | None = None
    min_price: PriceValue | None = None
    max_price: PriceValue | None = None
    delivery_within_days: (
        Annotated[StrictInt, Field(ge=1, le=limits.PACKAGE_DELIVERY_DAYS_MAX)] | None
    ) = None
    seller_levels: frozenset[SellerLevel] = frozenset()
    min_rating: Annotated[Decimal, BeforeValidator(_rating)] | None = None
    seller_languages: frozenset[Language] = frozenset()
    seller_countries: frozenset[Country] = frozenset()
    sort: SearchSort = SearchSort.RELEVANCE
    limit: Annotated[StrictInt, Field(ge=1, le=limits.SEARCH_LIMIT_MAX)] = 20
    cursor: Annotated[StrictStr, Field(max_length=2000)] | None = None

    @model_validator(mode="after")
    def _prices_need_a_currency(self) -> Self:
        priced = self.min_price is not None or self.max_price is not None
        if self.currency is None and (priced or self.sort in _PRICE_SORTS):
            raise ValidationError(
                "prices compare only within one currency: name it", field="currency"
            )
        low, high = self.price_bounds
        if low is not None and high is not None and high < low:
            raise ValidationError("must not be below min_price", field="max_price")
        return self

    def _bound(self, name: str) -> Amount | None:
        value = getattr(self, name)
        if value is None or self.currency is None:
            return None
        try:
            return Amount.of(value, self.currency)
        except MoneyError as error:
            raise ValidationError(error.message, field=name) from error

    @property
    def price_bounds(self) -> tuple[Amount | None, Amount | None]:
        """``(min_price, max_price)`` as amounts in ``currency``."""
        return self._bound("min_price"), self._bound("max_price")

    @property
    def terms(self) -> tuple[str, ...]:
        """The distinct words of ``text``, in order."""
        return tuple(dict.fromkeys(tokens(self.text or "")))

    def fingerprint(self) -> str:
        """What a cursor is bound to: everything but ``limit`` and ``cursor``."""
        payload = self.model_dump(mode="json", exclude={"limit", "cursor"})
        for name in ("seller_levels", "seller_languages", "seller_countries"):
            payload[name] = sorted(payload[name])
        return fingerprint(payload)[:16]


_PRICE_SORTS = frozenset({SearchSort.PRICE_ASC, SearchSort.PRICE_DESC})


@attrs.frozen(kw_only=True)
class SearchHit:
    """One result: what a gig card shows, and what it was ranked by."""

    gig_id: str
    version: int
    seller_id: str
    title: str
    category: str
    subcategory: str
    tags: tuple[str, ...]
    starting_price: Amount
    fastest_delivery_days: int
    rating: RatingSummary
    orders_completed: int
    seller_level: SellerLevel
    published_at: datetime
    relevance: Relevance


@attrs.frozen(kw_only=True)
class SearchPage:
    """One page of results; pass ``next_cursor`` back for the next, ``None`` at the end."""

    hits: tuple[SearchHit, ...]
    next_cursor: str | None


class GigSearch(Protocol):
    """Finds active gigs. Implementations keep this module's semantics exactly."""

    def search(self, query: SearchQuery) -> SearchPage:
        """One page of the active gigs that match ``query``, in its sort's order
        (an empty page when none match).

        :raises ValidationError: ``query.cursor`` was not made for this query.
        """
        ...


@runtime_checkable
class GigSearchProvider(Protocol):
    """A storage adapter that brings an indexed :class:`GigSearch` of its own.

    :class:`~gigmarket.catalog.Catalog` asks a storage that has one for it
    (with the catalog's clock and level policy), so that a host who picks
    SQLite or PostgreSQL gets that engine's search without wiring it, and the
    catalog never has to import a storage adapter to find it.
    """

    def gig_search(self, *, clock: Clock, level_policy: SellerLevelPolicy) -> GigSearch:
        """A search over this store's own index that reads the time from
        ``clock`` and seller levels by ``level_policy``, as the catalog does."""
        ...


def searchable_words(content: GigContent) -> tuple[list[str], list[str], list[str]]:
    """The words of the title, of the tags and of the description, as search reads them.

    One function, so that an index built from these words (SQL full-text
    search) holds exactly the words :func:`relevance` matches against.
    """
    return (
        tokens(content.title),
        [word for tag in content.tags for word in tokens(tag)],
        tokens(content.description),
    )


def relevance(terms: Sequence[str], content: GigContent) -> Relevance | None:
    """The text score of ``content`` for ``terms``, or ``None`` if a term matches nowhere."""
    if not terms:
        return 0, 0, 0  # without splitting the words: most searches have no text
    fields = searchable_words(content)
    counts = [0, 0, 0]
    for term in terms:
        best = next(
            (rank for rank, words in enumerate(fields) if any(w.startswith(term) for w in words)),
            None,
        )
        if best is None:
            return None
        counts[best] += 1
    return counts[0], counts[1], counts[2]


class SortFields(Protocol):
    """What a result is sorted by: a :class:`SearchHit`, or a result whose
    other fields are not read yet (a sort reads only the fields it needs)."""

    @property
    def relevance(self) -> Relevance: ...

    @property
    def rating(self) -> RatingSummary: ...

    @property
    def orders_completed(self) -> int: ...

    @property
    def published_at(self) -> datetime: ...

    @property
    def starting_price(self) -> Amount: ...


def sort_key(sort: SearchSort, hit: SortFields) -> SortKey:
    """The position of ``hit`` under ``sort``; ascending order is result order."""
    if sort is SearchSort.RELEVANCE:
        return tuple(Fraction(-count) for count in hit.relevance)
    if sort is SearchSort.RATING:
        return (-(hit.rating.average or Fraction(0)), Fraction(-hit.rating.count))
    if sort is SearchSort.ORDERS:
        return (Fraction(-hit.orders_completed),)
    if sort is SearchSort.NEWEST:
        return (Fraction(-((hit.published_at - _EPOCH) // timedelta(microseconds=1))),)
    if sort is SearchSort.PRICE_ASC:
        return (Fraction(hit.starting_price.units),)
    return (Fraction(-hit.starting_price.units),)


@attrs.frozen
class Cursor:
    """A position in one query's result order, as an opaque URL-safe string."""

    query: str
    key: SortKey
    gig_id: str

    def encode(self) -> str:
        payload = {
            "v": 1,
            "q": self.query,
            "k": [[part.numerator, part.denominator] for part in self.key],
            "id": self.gig_id,
        }
        raw = json.dumps(payload, separators=(",", ":")).encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    @classmethod
    def decode(cls, text: str, query: SearchQuery) -> Cursor:
        """Read a cursor made for ``query`` (or raise ``ValidationError`` on ``cursor``)."""
        try:
            raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
            payload = json.loads(raw)
            key = tuple(Fraction(int(n), int(d)) for n, d in payload["k"])
            cursor = cls(str(payload["q"]), key, str(payload["id"]))
        except (binascii.Error, ValueError, TypeError, KeyError, ZeroDivisionError):
            raise ValidationError("not a cursor this search made", field="cursor") from None
        if payload.get("v") != 1 or cursor.query != query.fingerprint():
            raise ValidationError("this cursor belongs to another query", field="cursor")
        return cursor
