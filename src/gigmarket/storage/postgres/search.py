"""Gig search on PostgreSQL: the shared SQL index, its words in a ``tsvector``.

See :mod:`gigmarket.storage.sql.search` for how the index narrows and the
shared ranker decides. What is PostgreSQL's own: words are matched against
the GIN-indexed ``words_vector`` column with a prefix ``tsquery``
(``'desi':* & 'logo':*``) written as a literal, so no parser or dictionary
touches the words (see :mod:`gigmarket.storage.postgres.schema`); and a search
runs in a ``REPEATABLE READ, READ ONLY`` transaction, so that the candidates,
their reviews and their sellers' histories, read in several statements, are
one snapshot even while others write. ``PostgresStorage.gig_search()`` makes
one; :class:`~gigmarket.catalog.Catalog` over a ``PostgresStorage`` uses it by
default.
"""

from __future__ import annotations

from typing import Any

from gigmarket.storage.sql.search import SqlGigSearch

__all__ = ["PostgresGigSearch"]


def _lexeme(term: str) -> str:
    # tsquery literal syntax; words never hold a quote or a backslash (they are
    # letters, marks and digits), escaping them is for safety.
    return "'" + term.replace("\\", "\\\\").replace("'", "''") + "':*"


class PostgresGigSearch(SqlGigSearch):
    """A :class:`~gigmarket.catalog.search.GigSearch` over a ``PostgresStorage``."""

    snapshot = "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY"

    def _text_condition(self, terms: list[str]) -> tuple[str, list[Any]]:
        return "s.words_vector @@ CAST(? AS tsquery)", [" & ".join(map(_lexeme, terms))]
