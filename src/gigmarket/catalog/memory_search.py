"""Search by scanning the repository: exact, simple, fine for thousands of gigs.

:class:`MemoryGigSearch` hands every active gig, read through the catalog
port, to the shared :class:`~gigmarket.catalog.ranking.GigRanker`, which
applies :mod:`gigmarket.catalog.search`'s rules in plain Python. It works over
any storage adapter, so it is the reference the SQL implementations are
tested against, and the right choice for tests, demos and small marketplaces.
"""

from __future__ import annotations

from gigmarket.catalog.gigs import GigStatus
from gigmarket.catalog.ports import CatalogUnitOfWorkFactory
from gigmarket.catalog.ranking import GigRanker, Ranked, page_of
from gigmarket.catalog.reputation import DEFAULT_LEVEL_POLICY, SellerLevelPolicy
from gigmarket.catalog.search import Cursor, SearchPage, SearchQuery
from gigmarket.clock import Clock, SystemClock

__all__ = ["MemoryGigSearch"]


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
        """One page of results for ``query``, ranked by scanning every active gig.

        :raises ValidationError: ``query.cursor`` was not made for this query.
        """
        after = None if query.cursor is None else Cursor.decode(query.cursor, query)
        with self._storage() as uow:
            repository = uow.catalog
            ranker = GigRanker(repository, query, self.clock.now(), self.level_policy)
            ranked: list[Ranked] = []
            for gig in repository.gigs(GigStatus.ACTIVE):
                found = ranker.rank(gig, repository.get_version(gig.id, gig.current_version))
                if found is not None:
                    ranked.append(found)
            ranked.sort(key=lambda item: (item[0], item[1]))
            return page_of(query, after, ranked)
