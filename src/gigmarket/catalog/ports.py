"""The catalog's storage port.

The catalog reads and writes only through these protocols; adapters (memory
now, SQLite and PostgreSQL later) implement them in :mod:`gigmarket.storage`.
Everything written through one unit of work becomes visible on ``commit()``
or not at all, so a gig and its first version are stored together or not.

The repository stores entities as they are: the service decides, the
repository keeps. Sequences come back oldest first.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from gigmarket.catalog.accounts import SellerProfile, UserAccount
from gigmarket.catalog.gigs import Gig, GigStatus, GigVersion
from gigmarket.catalog.reputation import OrderOutcome, ReviewRating
from gigmarket.idempotency import IdempotencyRepository
from gigmarket.unit_of_work import UnitOfWork

__all__ = ["CatalogRepository", "CatalogUnitOfWork", "CatalogUnitOfWorkFactory"]


class CatalogRepository(Protocol):
    """Accounts, profiles, gigs with their versions, and reputation inputs."""

    # -- accounts and profiles

    def get_account(self, account_id: str) -> UserAccount | None:
        """The account ``account_id``, or ``None`` if there is none."""
        ...

    def find_account_by_username(self, username: str) -> UserAccount | None:
        """The account whose (lower-case) username is ``username``."""
        ...

    def add_account(self, account: UserAccount) -> None:
        """Store a new account and reserve its username."""
        ...

    def save_account(self, account: UserAccount) -> None:
        """Replace a stored account (status changes; the username never changes)."""
        ...

    def get_profile(self, account_id: str) -> SellerProfile | None:
        """The seller profile of ``account_id``, or ``None`` if it never set one up."""
        ...

    def save_profile(self, profile: SellerProfile) -> None:
        """Store or replace the profile of ``profile.account_id``."""
        ...

    # -- gigs and versions

    def get_gig(self, gig_id: str) -> Gig | None:
        """The gig ``gig_id`` whatever its status, or ``None`` if there is none."""
        ...

    def add_gig(self, gig: Gig, first_version: GigVersion) -> None:
        """Store a new gig together with its version 1."""
        ...

    def save_gig(self, gig: Gig) -> None:
        """Replace a stored gig (status, current version)."""
        ...

    def add_version(self, version: GigVersion) -> None:
        """Store a new version; versions are never replaced."""
        ...

    def get_version(self, gig_id: str, number: int) -> GigVersion | None:
        """Version ``number`` of the gig, or ``None`` if the gig has no such version."""
        ...

    def gigs_of_seller(self, seller_id: str) -> Sequence[Gig]:
        """The seller's gigs, oldest first."""
        ...

    def gigs(self, status: GigStatus | None = None) -> Sequence[Gig]:
        """Every gig, or every gig in ``status`` (what a scanning search reads)."""
        ...

    # -- reputation inputs

    def get_review(self, review_id: str) -> ReviewRating | None:
        """The review ``review_id``, or ``None`` if there is none."""
        ...

    def add_review(self, review: ReviewRating) -> None:
        """Append a review, indexed by gig and by seller."""
        ...

    def reviews_for_gig(self, gig_id: str) -> Sequence[ReviewRating]:
        """The gig's reviews, oldest first (empty if it has none)."""
        ...

    def reviews_for_seller(self, seller_id: str) -> Sequence[ReviewRating]:
        """The reviews of all the seller's gigs, oldest first (empty if none)."""
        ...

    def get_outcome(self, order_id: str) -> OrderOutcome | None:
        """The recorded outcome of order ``order_id``, or ``None`` if it has none yet."""
        ...

    def add_outcome(self, outcome: OrderOutcome) -> None:
        """Append an order outcome, indexed by gig and by seller."""
        ...

    def outcomes_for_gig(self, gig_id: str) -> Sequence[OrderOutcome]:
        """The outcomes of the gig's orders, oldest first (empty if none)."""
        ...

    def outcomes_for_seller(self, seller_id: str) -> Sequence[OrderOutcome]:
        """The outcomes of the seller's orders over all their gigs, oldest first
        (empty if none)."""
        ...


class CatalogUnitOfWork(UnitOfWork, Protocol):
    """One atomic transaction over the catalog's repositories.

    Leaving the ``with`` block without ``commit()`` (or by an exception)
    rolls everything back.
    """

    @property
    def catalog(self) -> CatalogRepository:
        """The catalog's tables, inside this transaction."""
        ...

    @property
    def idempotency(self) -> IdempotencyRepository:
        """The idempotency records, inside this transaction."""
        ...


class CatalogUnitOfWorkFactory(Protocol):
    """Opens a fresh unit of work; a storage adapter is one of these."""

    def __call__(self) -> CatalogUnitOfWork: ...
