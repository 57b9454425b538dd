"""The catalog port over an in-memory transaction.

Kept apart from :mod:`gigmarket.storage.memory.store` so that each port's memory
adapter stays small; :class:`~gigmarket.storage.memory.store.MemoryUnitOfWork`
exposes it as ``uow.catalog``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from gigmarket.catalog.accounts import SellerProfile, UserAccount
from gigmarket.catalog.gigs import Gig, GigStatus, GigVersion
from gigmarket.catalog.reputation import OrderOutcome, ReviewRating
from gigmarket.errors import StorageError

if TYPE_CHECKING:
    from gigmarket.storage.memory.store import MemoryTransaction

__all__ = ["MemoryCatalogRepository"]


class MemoryCatalogRepository:
    """The catalog port (:class:`~gigmarket.catalog.ports.CatalogRepository`) in memory."""

    def __init__(self, tx: MemoryTransaction) -> None:
        self._tx = tx

    # -- accounts and profiles

    def get_account(self, account_id: str) -> UserAccount | None:
        account: UserAccount | None = self._tx.get("catalog_accounts", account_id)
        return account

    def find_account_by_username(self, username: str) -> UserAccount | None:
        account_id = self._tx.get("catalog_usernames", username)
        return None if account_id is None else self.get_account(account_id)

    def add_account(self, account: UserAccount) -> None:
        if self._tx.get("catalog_usernames", account.username) is not None:
            raise StorageError(f"username {account.username!r} is taken")
        self._tx.put("catalog_accounts", account.id, account)
        self._tx.put("catalog_usernames", account.username, account.id)

    def save_account(self, account: UserAccount) -> None:
        if self.get_account(account.id) is None:
            raise StorageError(f"account {account.id!r} was never added")
        self._tx.put("catalog_accounts", account.id, account)

    def get_profile(self, account_id: str) -> SellerProfile | None:
        profile: SellerProfile | None = self._tx.get("catalog_profiles", account_id)
        return profile

    def save_profile(self, profile: SellerProfile) -> None:
        self._tx.put("catalog_profiles", profile.account_id, profile)

    # -- gigs and versions

    def get_gig(self, gig_id: str) -> Gig | None:
        gig: Gig | None = self._tx.get("catalog_gigs", gig_id)
        return gig

    def add_gig(self, gig: Gig, first_version: GigVersion) -> None:
        self._tx.put("catalog_gigs", gig.id, gig)
        self._tx.append("catalog_gigs_by_seller", gig.seller_id, gig.id)
        self._tx.append("catalog_gig_log", None, gig.id)
        self.add_version(first_version)

    def save_gig(self, gig: Gig) -> None:
        if self.get_gig(gig.id) is None:
            raise StorageError(f"gig {gig.id!r} was never added")
        self._tx.put("catalog_gigs", gig.id, gig)

    def add_version(self, version: GigVersion) -> None:
        key = (version.gig_id, version.number)
        if self._tx.get("catalog_gig_versions", key) is not None:
            raise StorageError(f"gig {version.gig_id!r} already has version {version.number}")
        self._tx.put("catalog_gig_versions", key, version)

    def get_version(self, gig_id: str, number: int) -> GigVersion | None:
        version: GigVersion | None = self._tx.get("catalog_gig_versions", (gig_id, number))
        return version

    def gigs_of_seller(self, seller_id: str) -> Sequence[Gig]:
        ids = self._tx.sequence("catalog_gigs_by_seller", seller_id)
        return [self._tx.get("catalog_gigs", gig_id) for gig_id in ids]

    def gigs(self, status: GigStatus | None = None) -> Sequence[Gig]:
        every: list[Gig] = [
            self._tx.get("catalog_gigs", gig_id)
            for gig_id in self._tx.sequence("catalog_gig_log", None)
        ]
        return every if status is None else [gig for gig in every if gig.status is status]

    # -- reputation inputs

    def get_review(self, review_id: str) -> ReviewRating | None:
        review: ReviewRating | None = self._tx.get("catalog_reviews", review_id)
        return review

    def add_review(self, review: ReviewRating) -> None:
        self._tx.put("catalog_reviews", review.id, review)
        self._tx.append("catalog_reviews_by_gig", review.gig_id, review)
        self._tx.append("catalog_reviews_by_seller", review.seller_id, review)

    def reviews_for_gig(self, gig_id: str) -> Sequence[ReviewRating]:
        return self._tx.sequence("catalog_reviews_by_gig", gig_id)

    def reviews_for_seller(self, seller_id: str) -> Sequence[ReviewRating]:
        return self._tx.sequence("catalog_reviews_by_seller", seller_id)

    def get_outcome(self, order_id: str) -> OrderOutcome | None:
        outcome: OrderOutcome | None = self._tx.get("catalog_outcomes", order_id)
        return outcome

    def add_outcome(self, outcome: OrderOutcome) -> None:
        self._tx.put("catalog_outcomes", outcome.order_id, outcome)
        self._tx.append("catalog_outcomes_by_gig", outcome.gig_id, outcome)
        self._tx.append("catalog_outcomes_by_seller", outcome.seller_id, outcome)

    def outcomes_for_gig(self, gig_id: str) -> Sequence[OrderOutcome]:
        return self._tx.sequence("catalog_outcomes_by_gig", gig_id)

    def outcomes_for_seller(self, seller_id: str) -> Sequence[OrderOutcome]:
        return self._tx.sequence("catalog_outcomes_by_seller", seller_id)
