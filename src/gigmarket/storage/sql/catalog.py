"""The catalog port in SQL, for both engines (see :mod:`gigmarket.storage.sql.repositories`).

Accounts, profiles, gigs, gig versions, reviews and order outcomes are JSON
documents keyed by their identity, with the columns that lists are filtered
and ordered by (seller, status, gig) beside them. Versions are never
rewritten: a gig's history is its rows.

Every write of an account, a profile, a gig or its current version also
writes the search index (:class:`~gigmarket.storage.sql.search.SearchIndex`)
in the same transaction, so the index is never behind what it describes.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any, TypeVar

from gigmarket.catalog.accounts import SellerProfile, UserAccount
from gigmarket.catalog.gigs import Gig, GigStatus, GigVersion
from gigmarket.catalog.reputation import OrderOutcome, ReviewRating
from gigmarket.errors import StorageError
from gigmarket.storage.codec import decode, encode
from gigmarket.storage.sql.repositories import SqlConnection
from gigmarket.storage.sql.search import SearchIndex

__all__ = ["SqlCatalogRepository"]

T = TypeVar("T")


def _document(value: object) -> str:
    return json.dumps(encode(value), sort_keys=True)


class SqlCatalogRepository:
    """The catalog port (:class:`~gigmarket.catalog.ports.CatalogRepository`) in SQL."""

    def __init__(self, db: SqlConnection) -> None:
        self._db = db
        self.search_index = SearchIndex(db)

    def rebuild_search_index(self) -> None:
        """Index every account, profile and gig again (after migration 4, or
        after the catalog tables were written by anything but this class)."""
        self.search_index.rebuild()

    def _one(self, kind: type[T], sql: str, parameters: Sequence[Any]) -> T | None:
        row = self._db.one(sql, parameters)
        return None if row is None else decode(kind, json.loads(row[0]))

    def _all(self, kind: type[T], sql: str, parameters: Sequence[Any] = ()) -> list[T]:
        return [decode(kind, json.loads(row[0])) for row in self._db.all(sql, parameters)]

    # -- accounts and profiles

    def get_account(self, account_id: str) -> UserAccount | None:
        return self._one(
            UserAccount, "SELECT document FROM catalog_accounts WHERE id = ?", (account_id,)
        )

    def find_account_by_username(self, username: str) -> UserAccount | None:
        return self._one(
            UserAccount, "SELECT document FROM catalog_accounts WHERE username = ?", (username,)
        )

    def add_account(self, account: UserAccount) -> None:
        if self.find_account_by_username(account.username) is not None:
            raise StorageError(f"username {account.username!r} is taken")
        self._db.execute(
            "INSERT INTO catalog_accounts (id, username, document) VALUES (?, ?, ?)",
            (account.id, account.username, _document(account)),
        )
        self.search_index.save_account(account)

    def save_account(self, account: UserAccount) -> None:
        cursor = self._db.execute(
            "UPDATE catalog_accounts SET username = ?, document = ? WHERE id = ?",
            (account.username, _document(account), account.id),
        )
        if cursor.rowcount != 1:
            raise StorageError(f"account {account.id!r} was never added")
        self.search_index.save_account(account)

    def get_profile(self, account_id: str) -> SellerProfile | None:
        return self._one(
            SellerProfile,
            "SELECT document FROM catalog_profiles WHERE account_id = ?",
            (account_id,),
        )

    def save_profile(self, profile: SellerProfile) -> None:
        cursor = self._db.execute(
            "UPDATE catalog_profiles SET document = ? WHERE account_id = ?",
            (_document(profile), profile.account_id),
        )
        if cursor.rowcount == 0:
            self._db.execute(
                "INSERT INTO catalog_profiles (account_id, document) VALUES (?, ?)",
                (profile.account_id, _document(profile)),
            )
        self.search_index.save_profile(profile)

    # -- gigs and versions

    def get_gig(self, gig_id: str) -> Gig | None:
        return self._one(Gig, "SELECT document FROM catalog_gigs WHERE id = ?", (gig_id,))

    def add_gig(self, gig: Gig, first_version: GigVersion) -> None:
        self._db.execute(
            "INSERT INTO catalog_gigs (id, seller_id, status, document) VALUES (?, ?, ?, ?)",
            (gig.id, gig.seller_id, gig.status.value, _document(gig)),
        )
        self.add_version(first_version)

    def save_gig(self, gig: Gig) -> None:
        cursor = self._db.execute(
            "UPDATE catalog_gigs SET status = ?, document = ? WHERE id = ?",
            (gig.status.value, _document(gig), gig.id),
        )
        if cursor.rowcount != 1:
            raise StorageError(f"gig {gig.id!r} was never added")
        if not self.search_index.save_gig_status(gig):
            self.search_index.save_gig(gig, self.get_version(gig.id, gig.current_version))

    def add_version(self, version: GigVersion) -> None:
        if self.get_version(version.gig_id, version.number) is not None:
            raise StorageError(f"gig {version.gig_id!r} already has version {version.number}")
        self._db.execute(
            "INSERT INTO catalog_gig_versions (gig_id, number, document) VALUES (?, ?, ?)",
            (version.gig_id, version.number, _document(version)),
        )
        gig = self.get_gig(version.gig_id)
        if gig is not None and gig.current_version == version.number:
            self.search_index.save_gig(gig, version)  # a first version, or a late one

    def get_version(self, gig_id: str, number: int) -> GigVersion | None:
        return self._one(
            GigVersion,
            "SELECT document FROM catalog_gig_versions WHERE gig_id = ? AND number = ?",
            (gig_id, number),
        )

    def gigs_of_seller(self, seller_id: str) -> Sequence[Gig]:
        return self._all(
            Gig, "SELECT document FROM catalog_gigs WHERE seller_id = ? ORDER BY seq", (seller_id,)
        )

    def gigs(self, status: GigStatus | None = None) -> Sequence[Gig]:
        if status is None:
            return self._all(Gig, "SELECT document FROM catalog_gigs ORDER BY seq")
        return self._all(
            Gig, "SELECT document FROM catalog_gigs WHERE status = ? ORDER BY seq", (status.value,)
        )

    # -- reputation inputs

    def get_review(self, review_id: str) -> ReviewRating | None:
        return self._one(
            ReviewRating, "SELECT document FROM catalog_reviews WHERE id = ?", (review_id,)
        )

    def add_review(self, review: ReviewRating) -> None:
        self._db.execute(
            "INSERT INTO catalog_reviews (id, gig_id, seller_id, document) VALUES (?, ?, ?, ?)",
            (review.id, review.gig_id, review.seller_id, _document(review)),
        )

    def reviews_for_gig(self, gig_id: str) -> Sequence[ReviewRating]:
        return self._all(
            ReviewRating,
            "SELECT document FROM catalog_reviews WHERE gig_id = ? ORDER BY seq",
            (gig_id,),
        )

    def reviews_for_seller(self, seller_id: str) -> Sequence[ReviewRating]:
        return self._all(
            ReviewRating,
            "SELECT document FROM catalog_reviews WHERE seller_id = ? ORDER BY seq",
            (seller_id,),
        )

    def get_outcome(self, order_id: str) -> OrderOutcome | None:
        return self._one(
            OrderOutcome, "SELECT document FROM catalog_outcomes WHERE order_id = ?", (order_id,)
        )

    def add_outcome(self, outcome: OrderOutcome) -> None:
        self._db.execute(
            "INSERT INTO catalog_outcomes (order_id, gig_id, seller_id, document) "
            "VALUES (?, ?, ?, ?)",
            (outcome.order_id, outcome.gig_id, outcome.seller_id, _document(outcome)),
        )

    def outcomes_for_gig(self, gig_id: str) -> Sequence[OrderOutcome]:
        return self._all(
            OrderOutcome,
            "SELECT document FROM catalog_outcomes WHERE gig_id = ? ORDER BY seq",
            (gig_id,),
        )

    def outcomes_for_seller(self, seller_id: str) -> Sequence[OrderOutcome]:
        return self._all(
            OrderOutcome,
            "SELECT document FROM catalog_outcomes WHERE seller_id = ? ORDER BY seq",
            (seller_id,),
        )
