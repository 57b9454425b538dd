"""Search by scanning the repository: exact, simple, fine for thousands of gigs.

:class:`MemoryGigSearch` reads every active gig through the catalog port and
applies :mod:`gigmarket.catalog.search`'s rules in plain Python. It works over
any storage adapter, so it is the reference the SQL implementations are
tested against, and the right choice for tests, demos and small marketplaces.
"""

from __future__ import annotations

from datetime import datetime
from fractions import Fraction

from gigmarket.catalog.accounts import SellerProfile
from gigmarket.catalog.gigs import GigContent, GigStatus
from gigmarket.catalog.history import gig_rating, orders_completed, seller_level
from gigmarket.catalog.ports import CatalogRepository, CatalogUnitOfWorkFactory
from gigmarket.catalog.reputation import DEFAULT_LEVEL_POLICY, SellerLevel, SellerLevelPolicy
from gigmarket.catalog.search import (
    Cursor,
    SearchHit,
    SearchPage,
    SearchQuery,
    SortKey,
    relevance,
    sort_key,
)
from gigmarket.clock import Clock, SystemClock
from gigmarket.money import Amount

__all__ = ["MemoryGigSearch"]


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


class MemoryGigSearch:
    """A :class:`~gigmarket.catalog.search.GigSearch` that scans the catalog port."""

    def __init__(
        self,
        storage: CatalogUnitOfWorkFactory,
        *,
        clock: Clock | None = None,
        level_policy: SellerLevelPolicy = DEFAULT_LEVEL_POLICY,
    ) -> None:
        self._storage = storage
        self.clock: Clock = clock if clock is not None else SystemClock()
        self.level_policy = level_policy

    def search(self, query: SearchQuery) -> SearchPage:
        after = None if query.cursor is None else Cursor.decode(query.cursor, query)
        with self._storage() as uow:
            ranked = self._ranked(uow.catalog, query, self.clock.now())
        if after is not None:
            position = (after.key, after.gig_id)
            ranked = [item for item in ranked if (item[0], item[1]) > position]
        page = ranked[: query.limit]
        next_cursor = None
        if len(ranked) > query.limit:
            key, gig_id, _ = page[-1]
            next_cursor = Cursor(query.fingerprint(), key, gig_id).encode()
        return SearchPage(hits=tuple(hit for _, _, hit in page), next_cursor=next_cursor)

    def _ranked(
        self, repository: CatalogRepository, query: SearchQuery, at: datetime
    ) -> list[tuple[SortKey, str, SearchHit]]:
        sellers: dict[str, _Seller] = {}
        terms = query.terms
        ranked: list[tuple[SortKey, str, SearchHit]] = []
        for gig in repository.gigs(GigStatus.ACTIVE):
            seller = sellers.get(gig.seller_id)
            if seller is None:
                seller = sellers[gig.seller_id] = _Seller(repository, gig.seller_id, at)
            version = repository.get_version(gig.id, gig.current_version)
            if not seller.eligible or version is None:
                continue
            content = version.content
            price, days = content.starting_price, content.fastest_delivery_days
            if price is None or days is None or not _matches(query, content, price, days):
                continue
            score = relevance(terms, content)
            if score is None or not self._seller_matches(query, seller):
                continue
            rating = gig_rating(repository, gig.id, at)
            average = rating.average
            if query.min_rating is not None and (
                average is None or average < Fraction(query.min_rating)
            ):
                continue
            level = seller.level(self.level_policy)
            if query.seller_levels and level not in query.seller_levels:
                continue
            hit = SearchHit(
                gig_id=gig.id,
                version=version.number,
                seller_id=gig.seller_id,
                title=content.title,
                category=content.category,
                subcategory=content.subcategory,
                tags=content.tags,
                starting_price=price,
                fastest_delivery_days=days,
                rating=rating,
                orders_completed=orders_completed(repository, gig.id, at),
                seller_level=level,
                published_at=gig.published_at or gig.created_at,
                relevance=score,
            )
            ranked.append((sort_key(query.sort, hit), gig.id, hit))
        ranked.sort(key=lambda item: (item[0], item[1]))
        return ranked

    @staticmethod
    def _seller_matches(query: SearchQuery, seller: _Seller) -> bool:
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
