"""The search rules applied to one gig at a time: what every search decides with.

A :class:`~gigmarket.catalog.search.GigSearch` has two jobs: find the gigs
that *might* match, and decide which do and in what order. The first job is
each implementation's own (a scan of every active gig, a full-text index);
the second is :class:`GigRanker`'s, shared by all of them, so that however the
candidates were found, the verdict, the hit and its sort key come from the
same code that reads the same history. An index can therefore only make a
search faster, never different: it may let through gigs that do not match
(the ranker drops them), it must never hold back one that does.

:func:`page_of` then cuts the page from ranked results in result order,
reading an iterator only as far as the page needs, which is what lets an
index that already returns gigs in sort order stop after one page.

Reputation is read lazily: a gig's rating, its completed orders and its
seller's level (each derived from the whole stored history) are read when a
filter or the sort needs them, or when the gig lands on the page and its
:class:`~gigmarket.catalog.search.SearchHit` is built. Sorting a thousand gigs
by rating reads a thousand ratings, but only one page of seller levels.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from fractions import Fraction
from functools import cached_property

from gigmarket.catalog.accounts import SellerProfile
from gigmarket.catalog.gigs import Gig, GigContent, GigStatus, GigVersion
from gigmarket.catalog.history import gig_rating, orders_completed, seller_level
from gigmarket.catalog.ports import CatalogRepository
from gigmarket.catalog.reputation import RatingSummary, SellerLevel, SellerLevelPolicy
from gigmarket.catalog.search import (
    Cursor,
    Relevance,
    SearchHit,
    SearchPage,
    SearchQuery,
    SortKey,
    relevance,
    sort_key,
)
from gigmarket.money import Amount

__all__ = ["Candidate", "GigRanker", "Ranked", "page_of"]


class _Seller:
    """What one search needs to know about a seller, read once per search."""

    def __init__(self, repository: CatalogRepository, seller_id: str, at: datetime) -> None:
        account = repository.get_account(seller_id)
        self.eligible = account is not None and not account.is_suspended
        self._repository = repository
        self._id = seller_id
        self._at = at
        self._profile: SellerProfile | None = None
        self._level: SellerLevel | None = None

    @property
    def profile(self) -> SellerProfile | None:
        if self._profile is None:
            self._profile = self._repository.get_profile(self._id)
        return self._profile

    def level(self, policy: SellerLevelPolicy) -> SellerLevel:
        if self._level is None:
            self._level = seller_level(self._repository, self._id, self._at, policy)
        return self._level


def _matches(query: SearchQuery, content: GigContent, price: Amount, days: int) -> bool:
    """The filters that read only the gig's content."""
    low, high = query.price_bounds
    return (
        query.category in (None, content.category)
        and query.subcategory in (None, content.subcategory)
        and query.currency in (None, content.currency)
        and (low is None or price >= low)
        and (high is None or price <= high)
        and (query.delivery_within_days is None or days <= query.delivery_within_days)
    )


class Candidate:
    """A gig that passed the filters read so far; what it is sorted by, and its hit.

    Satisfies :class:`~gigmarket.catalog.search.SortFields`; the fields read
    from history are read on first use, once.
    """

    def __init__(
        self,
        ranker: GigRanker,
        *,
        gig: Gig,
        version: GigVersion,
        seller: _Seller,
        price: Amount,
        days: int,
        score: Relevance,
    ) -> None:
        self._ranker = ranker
        self._gig = gig
        self._version = version
        self._seller = seller
        self.published_at = gig.published_at or gig.created_at
        self.starting_price = price
        self.fastest_delivery_days = days
        self.relevance = score

    @cached_property
    def rating(self) -> RatingSummary:
        ranker = self._ranker
        return gig_rating(ranker.repository, self._gig.id, ranker.at)

    @cached_property
    def orders_completed(self) -> int:
        ranker = self._ranker
        return orders_completed(ranker.repository, self._gig.id, ranker.at)

    @cached_property
    def seller_level(self) -> SellerLevel:
        return self._seller.level(self._ranker.level_policy)

    def hit(self) -> SearchHit:
        """The result as shown (reads what the filters and the sort did not)."""
        content = self._version.content
        return SearchHit(
            gig_id=self._gig.id,
            version=self._version.number,
            seller_id=self._gig.seller_id,
            title=content.title,
            category=content.category,
            subcategory=content.subcategory,
            tags=content.tags,
            starting_price=self.starting_price,
            fastest_delivery_days=self.fastest_delivery_days,
            rating=self.rating,
            orders_completed=self.orders_completed,
            seller_level=self.seller_level,
            published_at=self.published_at,
            relevance=self.relevance,
        )


Ranked = tuple[SortKey, str, Candidate]
"""A result with its position: sort key, gig id (the tie-breaker), candidate."""


class GigRanker:
    """Judges gigs against one query at one moment, reading history from ``repository``.

    Cheap checks come first and reputation (ratings, completed orders, the
    seller's level, each derived from the stored history) is read only for a
    gig that passed them; a seller's account, profile and level are read once
    per ranker.
    """

    def __init__(
        self,
        repository: CatalogRepository,
        query: SearchQuery,
        at: datetime,
        level_policy: SellerLevelPolicy,
    ) -> None:
        self.repository = repository
        self.at = at
        self.level_policy = level_policy
        self._query = query
        self._terms = query.terms
        self._sellers: dict[str, _Seller] = {}

    def rank(self, gig: Gig, version: GigVersion | None) -> Ranked | None:
        """``gig`` (whose current version is ``version``) as a result, or ``None``."""
        seller = self._sellers.get(gig.seller_id)
        if seller is None:
            seller = self._sellers[gig.seller_id] = _Seller(self.repository, gig.seller_id, self.at)
        if gig.status is not GigStatus.ACTIVE or not seller.eligible or version is None:
            return None
        query, content = self._query, version.content
        price, days = content.starting_price, content.fastest_delivery_days
        if price is None or days is None or not _matches(query, content, price, days):
            return None
        score = relevance(self._terms, content)
        if score is None or not self._seller_matches(seller):
            return None
        candidate = Candidate(
            self, gig=gig, version=version, seller=seller, price=price, days=days, score=score
        )
        if query.min_rating is not None:
            average = candidate.rating.average
            if average is None or average < Fraction(query.min_rating):
                return None
        if query.seller_levels and candidate.seller_level not in query.seller_levels:
            return None
        return sort_key(query.sort, candidate), gig.id, candidate

    def _seller_matches(self, seller: _Seller) -> bool:
        query = self._query
        if not (query.seller_languages or query.seller_countries):
            return True
        profile = seller.profile
        if profile is None:
            return False
        if query.seller_countries and profile.country not in query.seller_countries:
            return False
        return not query.seller_languages or any(
            profile.speaks(language) for language in query.seller_languages
        )


def page_of(query: SearchQuery, after: Cursor | None, ranked: Iterable[Ranked]) -> SearchPage:
    """The page of ``query`` that follows ``after``, from ``ranked`` in result order.

    ``ranked`` is read only until the page is full and one more result shows
    that there is a next page. The hits are built here, so call it before
    the unit of work the candidates were read in ends.
    """
    position = None if after is None else (after.key, after.gig_id)
    page: list[Ranked] = []
    cursor = None
    for item in ranked:
        if position is not None and (item[0], item[1]) <= position:
            continue
        if len(page) == query.limit:
            key, gig_id, _ = page[-1]
            cursor = Cursor(query.fingerprint(), key, gig_id).encode()
            break
        page.append(item)
    return SearchPage(hits=tuple(found.hit() for _, _, found in page), next_cursor=cursor)
