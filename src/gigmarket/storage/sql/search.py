"""Gig search on an SQL index, for both engines: the index narrows, the ranker decides.

The search index is two tables written by
:class:`~gigmarket.storage.sql.catalog.SqlCatalogRepository` in the same
transaction as the entities they describe (schema migration 4):

* ``catalog_search_gigs``, one row per gig, with what SQL can filter and sort
  on (status, category, currency, starting price in minor units, fastest
  delivery, first publication in microseconds) and the gig's words, already
  split by :func:`~gigmarket.catalog.search.searchable_words` (the function
  relevance itself uses) for the engine's full-text index: FTS5 on SQLite, a
  ``tsvector`` with a GIN index on PostgreSQL;
* ``catalog_search_sellers``, one row per account: suspended or not, and the
  profile's country and languages. Gig rows hold no seller facts, so writing
  a gig never has to read, and cannot overwrite with a stale value, what a
  concurrent suspension or profile change writes.

How a search runs (:class:`SqlGigSearch`):

1. SQL keeps the candidates: active gigs of sellers not suspended, matching
   category, currency, price range, delivery time, seller country and
   language, and containing every query word as a word prefix. Each of these
   conditions lets through *at least* the gigs the rule accepts; none decides.
2. Every candidate goes through :class:`~gigmarket.catalog.ranking.GigRanker`,
   the code :class:`~gigmarket.catalog.memory_search.MemoryGigSearch` runs, on
   the gig and version read in the same query: it re-checks every filter,
   reads the rating, the completed orders and the seller's level from the
   history *as of now* (those change with time, so they are never stored),
   scores relevance and builds the hit and its sort key.
3. For sorts whose key the index holds (newest, price up, price down, and
   relevance without text, where every score is equal) SQL returns candidates
   in result order, the cursor's position is applied in SQL too, and reading
   stops once the page and one more result are found: a page costs
   *O(limit)* gigs read, plus those the rating and level filters turn down.
   For rating, orders and relevance with text, every candidate is ranked and
   sorted in Python, as the memory search does: a page costs *O(candidates)*
   (the text narrows those to the gigs holding every word, but a rating or
   orders sort without other filters ranks every active gig).

The index's one duty is therefore never to hold back a gig that matches;
:mod:`tests.property.test_catalog_properties` checks, for random catalogs,
edits and queries, that every page equals the memory search's page.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from fractions import Fraction
from typing import Any, Protocol

import attrs

from gigmarket.catalog.accounts import SellerProfile, UserAccount
from gigmarket.catalog.gigs import Gig, GigStatus, GigVersion
from gigmarket.catalog.ports import CatalogRepository, CatalogUnitOfWork
from gigmarket.catalog.ranking import GigRanker, Ranked, page_of
from gigmarket.catalog.reputation import DEFAULT_LEVEL_POLICY, SellerLevelPolicy
from gigmarket.catalog.search import (
    Cursor,
    SearchPage,
    SearchQuery,
    SearchSort,
    SortKey,
    searchable_words,
)
from gigmarket.clock import Clock, SystemClock
from gigmarket.errors import StorageError
from gigmarket.storage.codec import decode
from gigmarket.storage.sql.repositories import SqlConnection

__all__ = ["INDEXED_SINCE", "WORD_MAX", "SearchIndex", "SqlGigSearch"]

INDEXED_SINCE = 4
"""The schema version that added the search index: a store migrated across it
is indexed once, in Python (the words need :func:`~gigmarket.catalog.text.tokens`)."""

WORD_MAX = 255
"""Words are indexed cut to this many characters (PostgreSQL refuses lexemes
over 2,047 bytes). Query words are cut alike, so that a word still matches
every gig it is the start of; the ranker then compares the whole words."""

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_NO_SCORE: SortKey = (Fraction(0), Fraction(0), Fraction(0))
"""The relevance sort key of every gig when the query has no words."""
_ACTIVE = GigStatus.ACTIVE.value


def _index_terms(terms: Sequence[str]) -> list[str]:
    """Query words as the full-text index holds them (see :data:`WORD_MAX`)."""
    return list(dict.fromkeys(term[:WORD_MAX] for term in terms))


def _words(version: GigVersion) -> str:
    title, tags, description = searchable_words(version.content)
    return " ".join(dict.fromkeys(word[:WORD_MAX] for word in (*title, *tags, *description)))


def _microseconds(moment: datetime) -> int:
    # The same count sort_key() negates for "newest", so SQL's order is the ranker's.
    return (moment - _EPOCH) // timedelta(microseconds=1)


class SearchIndex:
    """Writes and reads the search index tables on one connection."""

    def __init__(self, db: SqlConnection) -> None:
        self._db = db

    # -- writing, called by the catalog repository ---------------------------

    def save_account(self, account: UserAccount) -> None:
        self._db.execute(
            "INSERT INTO catalog_search_sellers (seller_id, suspended) VALUES (?, ?) "
            "ON CONFLICT (seller_id) DO UPDATE SET suspended = excluded.suspended",
            (account.id, int(account.is_suspended)),
        )

    def save_profile(self, profile: SellerProfile) -> None:
        # Spaces around every code, so that LIKE '% bn %' finds a whole code.
        languages = " " + " ".join(sorted({skill.language for skill in profile.languages})) + " "
        self._db.execute(
            "INSERT INTO catalog_search_sellers (seller_id, country, languages) VALUES (?, ?, ?) "
            "ON CONFLICT (seller_id) DO UPDATE "
            "SET country = excluded.country, languages = excluded.languages",
            (profile.account_id, profile.country, languages),
        )

    def save_gig(self, gig: Gig, version: GigVersion | None) -> None:
        """Index ``gig`` as of ``version``, its current version (unlisted without one)."""
        if version is None:
            self._db.execute("DELETE FROM catalog_search_gigs WHERE gig_id = ?", (gig.id,))
            return
        content = version.content
        price = content.starting_price
        self._db.execute(
            "INSERT INTO catalog_search_gigs (gig_id, seller_id, version, status, category, "
            "subcategory, currency, price_units, delivery_days, published_us, words) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (gig_id) DO UPDATE SET seller_id = excluded.seller_id, "
            "version = excluded.version, status = excluded.status, "
            "category = excluded.category, subcategory = excluded.subcategory, "
            "currency = excluded.currency, price_units = excluded.price_units, "
            "delivery_days = excluded.delivery_days, published_us = excluded.published_us, "
            "words = excluded.words",
            (
                gig.id,
                gig.seller_id,
                version.number,
                gig.status.value,
                content.category,
                content.subcategory,
                content.currency,
                None if price is None else price.units,
                content.fastest_delivery_days,
                _microseconds(gig.published_at or gig.created_at),
                _words(version),
            ),
        )

    def save_gig_status(self, gig: Gig) -> bool:
        """Update what a status change changes; ``False`` if the row is not at
        ``gig``'s current version (then the caller indexes the whole gig)."""
        cursor = self._db.execute(
            "UPDATE catalog_search_gigs SET status = ?, published_us = ? "
            "WHERE gig_id = ? AND version = ?",
            (
                gig.status.value,
                _microseconds(gig.published_at or gig.created_at),
                gig.id,
                gig.current_version,
            ),
        )
        return bool(cursor.rowcount == 1)

    def rebuild(self) -> None:
        """Index every account, profile and gig again, from the stored documents."""
        self._db.execute("DELETE FROM catalog_search_gigs")
        self._db.execute("DELETE FROM catalog_search_sellers")
        for (document,) in self._db.all("SELECT document FROM catalog_accounts ORDER BY id"):
            self.save_account(decode(UserAccount, json.loads(document)))
        for (document,) in self._db.all(
            "SELECT document FROM catalog_profiles ORDER BY account_id"
        ):
            self.save_profile(decode(SellerProfile, json.loads(document)))
        for (document,) in self._db.all("SELECT document FROM catalog_gigs ORDER BY seq"):
            gig = decode(Gig, json.loads(document))
            row = self._db.one(
                "SELECT document FROM catalog_gig_versions WHERE gig_id = ? AND number = ?",
                (gig.id, gig.current_version),
            )
            self.save_gig(gig, None if row is None else decode(GigVersion, json.loads(row[0])))

    # -- reading, for SqlGigSearch -------------------------------------------

    def begin(self, statement: str) -> None:
        """Run ``statement`` first in a search's transaction (see ``SqlGigSearch.snapshot``)."""
        self._db.execute(statement)

    def candidates(
        self, where: list[str], parameters: list[Any], order: _Order, batch: int
    ) -> Iterator[tuple[Gig, GigVersion | None]]:
        """Gigs passing ``where``, in ``order``, read ``batch`` rows at a time
        (growing), each with the version the index holds for it."""
        after: tuple[Any, str] | None = None
        while True:
            conditions, values = list(where), list(parameters)
            if after is not None:
                condition, more = order.after(*after)
                conditions.append(condition)
                values.extend(more)
            rows = self._db.all(
                "SELECT s.gig_id, " + order.column + ", g.document, v.document "
                "FROM catalog_search_gigs s "
                "LEFT JOIN catalog_search_sellers p ON p.seller_id = s.seller_id "
                "JOIN catalog_gigs g ON g.id = s.gig_id "
                "LEFT JOIN catalog_gig_versions v ON v.gig_id = s.gig_id AND v.number = s.version "
                f"WHERE {' AND '.join(conditions)} ORDER BY {order.sql} LIMIT ?",
                [*values, batch],
            )
            for _, _, gig_document, version_document in rows:
                gig = decode(Gig, json.loads(gig_document))
                version = (
                    None
                    if version_document is None
                    else decode(GigVersion, json.loads(version_document))
                )
                yield gig, version
            if len(rows) < batch:
                return
            gig_id, value = rows[-1][0], rows[-1][1]
            after = (value, gig_id)
            batch = min(batch * 2, 1000)


@attrs.frozen
class _Order:
    """An order of index rows: ``column`` (then gig id, ascending)."""

    column: str
    descending: bool = False

    @property
    def sql(self) -> str:
        if self.column == "s.gig_id":
            return "s.gig_id"
        return f"{self.column} {'DESC' if self.descending else 'ASC'}, s.gig_id"

    def after(self, value: Any, gig_id: str) -> tuple[str, list[Any]]:
        """The condition for the rows after the row ``(value, gig_id)``."""
        if self.column == "s.gig_id":
            return "s.gig_id > ?", [gig_id]
        sign = "<" if self.descending else ">"
        column = self.column
        return f"({column} {sign} ? OR ({column} = ? AND s.gig_id > ?))", [value, value, gig_id]


_BY_SEQ = _Order("s.seq")
_STREAMED = {
    SearchSort.NEWEST: _Order("s.published_us", descending=True),
    SearchSort.PRICE_ASC: _Order("s.price_units"),
    SearchSort.PRICE_DESC: _Order("s.price_units", descending=True),
}
"""Sorts whose key is an index column (the key negates it where it sorts down)."""


class _IndexedCatalog(CatalogRepository, Protocol):
    @property
    def search_index(self) -> SearchIndex: ...


class _IndexedUnitOfWork(CatalogUnitOfWork, Protocol):
    @property
    def catalog(self) -> _IndexedCatalog: ...


class _IndexedStorage(Protocol):
    def __call__(self) -> _IndexedUnitOfWork: ...


class SqlGigSearch:
    """A :class:`~gigmarket.catalog.search.GigSearch` on the SQL search index.

    Subclasses say how their engine matches words (:meth:`_text_condition`)
    and how a search's transaction starts (:attr:`snapshot`).
    """

    snapshot = ""
    """A statement that makes the search's transaction one consistent, read-only view."""

    def __init__(
        self,
        storage: _IndexedStorage,
        *,
        clock: Clock | None = None,
        level_policy: SellerLevelPolicy = DEFAULT_LEVEL_POLICY,
    ) -> None:
        self._storage = storage
        self.clock: Clock = clock if clock is not None else SystemClock()
        self.level_policy = level_policy

    def _text_condition(self, terms: list[str]) -> tuple[str, list[Any]]:
        """SQL keeping the rows ``s`` whose words start with every one of ``terms``."""
        raise NotImplementedError

    def search(self, query: SearchQuery) -> SearchPage:
        after = None if query.cursor is None else Cursor.decode(query.cursor, query)
        where, parameters = self._filters(query)
        streamed = _STREAMED.get(query.sort)
        if query.sort is SearchSort.RELEVANCE and not query.terms:
            streamed = _Order("s.gig_id")  # every score is (0, 0, 0): gig id decides
        with self._storage() as uow:
            repository = uow.catalog
            if self.snapshot:
                repository.search_index.begin(self.snapshot)
            ranker = GigRanker(repository, query, self.clock.now(), self.level_policy)
            if streamed is not None:
                bound = _cursor_bound(streamed, after)
                if bound is not None:
                    where.append(bound[0])
                    parameters.extend(bound[1])
                rows = repository.search_index.candidates(
                    where, parameters, streamed, query.limit + 1
                )
                return page_of(query, after, _in_order(ranker, repository, rows))
            ranked: list[Ranked] = []
            for gig, version in repository.search_index.candidates(where, parameters, _BY_SEQ, 500):
                found = ranker.rank(gig, _current(repository, gig, version))
                if found is not None:
                    ranked.append(found)
            ranked.sort(key=lambda item: (item[0], item[1]))
            return page_of(query, after, ranked)

    def _filters(self, query: SearchQuery) -> tuple[list[str], list[Any]]:
        """Conditions every gig the query accepts meets (a seller without a row
        in ``catalog_search_sellers`` is not taken for suspended)."""
        where = [f"s.status = '{_ACTIVE}'", "COALESCE(p.suspended, 0) = 0"]
        parameters: list[Any] = []
        for column, value in (
            ("s.category", query.category),
            ("s.subcategory", query.subcategory),
            ("s.currency", query.currency),
        ):
            if value is not None:
                where.append(f"{column} = ?")
                parameters.append(value)
        low, high = query.price_bounds
        if low is not None:
            where.append("s.price_units >= ?")
            parameters.append(low.units)
        if high is not None:
            where.append("s.price_units <= ?")
            parameters.append(high.units)
        if query.sort in (SearchSort.PRICE_ASC, SearchSort.PRICE_DESC):
            where.append("s.price_units IS NOT NULL")
        if query.delivery_within_days is not None:
            where.append("s.delivery_days <= ?")
            parameters.append(query.delivery_within_days)
        if query.seller_countries:
            countries = sorted(query.seller_countries)
            where.append(f"p.country IN ({', '.join('?' * len(countries))})")
            parameters.extend(countries)
        if query.seller_languages:
            languages = sorted(query.seller_languages)
            where.append("(" + " OR ".join("p.languages LIKE ?" for _ in languages) + ")")
            parameters.extend(f"% {language} %" for language in languages)
        if query.terms:
            condition, values = self._text_condition(_index_terms(query.terms))
            where.append(condition)
            parameters.extend(values)
        return where, parameters


def _current(
    repository: CatalogRepository, gig: Gig, version: GigVersion | None
) -> GigVersion | None:
    """The gig's current version: the one read with the index row, unless the
    index lags behind the gig (then read as the memory search reads it)."""
    if version is not None and version.number == gig.current_version:
        return version
    return repository.get_version(gig.id, gig.current_version)


def _in_order(
    ranker: GigRanker,
    repository: CatalogRepository,
    rows: Iterator[tuple[Gig, GigVersion | None]],
) -> Iterator[Ranked]:
    """Ranked results of rows SQL returned in sort order, checked to be in it.

    A page is cut from the first results, so an index whose order differs
    from the ranker's (a gig edited by hand-written SQL, leaving its row
    stale) would skip results; when a row read shows it, the search raises
    instead of answering. (A stale row never read goes unnoticed: the
    repository keeps the index current, and only writes behind its back can
    make it stale.)
    """
    previous: tuple[Any, str] | None = None
    for gig, version in rows:
        found = ranker.rank(gig, _current(repository, gig, version))
        if found is None:
            continue
        position = (found[0], found[1])
        if previous is not None and position <= previous:
            raise StorageError(
                f"the search index is out of date for gig {gig.id!r}: "
                "rebuild it (SqlCatalogRepository.rebuild_search_index)"
            )
        previous = position
        yield found


def _cursor_bound(order: _Order, after: Cursor | None) -> tuple[str, list[Any]] | None:
    """A condition keeping every row at or after ``after`` (and perhaps a few
    before it, which :func:`~gigmarket.catalog.ranking.page_of` skips); ``None``
    when the cursor's key is not of this sort's shape."""
    if after is None:
        return None
    if order.column == "s.gig_id":
        return ("s.gig_id >= ?", [after.gig_id]) if after.key == _NO_SCORE else None
    if len(after.key) != 1:
        return None
    (value,) = after.key
    if order.descending:  # the key is minus the column
        return f"{order.column} <= ?", [math.floor(-value)]
    return f"{order.column} >= ?", [math.ceil(value)]
