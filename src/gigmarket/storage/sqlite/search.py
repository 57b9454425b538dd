"""Gig search on SQLite: the shared SQL index, its words in an FTS5 table.

See :mod:`gigmarket.storage.sql.search` for how the index narrows and the
shared ranker decides. What is SQLite's own: words are matched through the
``catalog_search_words`` FTS5 table as prefix queries (``"desi"*``), one per
query word, all of which must match. ``SQLiteStorage.gig_search()`` makes one;
:class:`~gigmarket.catalog.Catalog` over an ``SQLiteStorage`` uses it by
default.

A search runs in the storage's usual unit of work, whose ``BEGIN IMMEDIATE``
gives it one consistent view of the file (and, as for any unit of work, holds
the write lock while it runs: writers wait for a search, as searches wait for
a writer).
"""

from __future__ import annotations

from typing import Any

from gigmarket.storage.sql.search import SqlGigSearch

__all__ = ["SQLiteGigSearch"]


class SQLiteGigSearch(SqlGigSearch):
    """A :class:`~gigmarket.catalog.search.GigSearch` over an ``SQLiteStorage``."""

    def _text_condition(self, terms: list[str]) -> tuple[str, list[Any]]:
        # A quoted string followed by * is a prefix query; words never hold a
        # quote (they are letters, marks and digits), doubling one is for safety.
        match = " ".join('"' + term.replace('"', '""') + '"*' for term in terms)
        return (
            "s.seq IN (SELECT rowid FROM catalog_search_words WHERE catalog_search_words MATCH ?)",
            [match],
        )
