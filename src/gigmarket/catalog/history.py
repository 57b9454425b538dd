"""Reputation read from the stored history, for one moment.

The service and the scanning search both derive ratings, order counts and
levels from the same append-only history the repository keeps; these
functions are that one derivation, so the two can never disagree.
"""

from __future__ import annotations

from datetime import datetime

from gigmarket.catalog.ports import CatalogRepository
from gigmarket.catalog.reputation import (
    OutcomeKind,
    RatingSummary,
    SellerLevel,
    SellerLevelPolicy,
    SellerStats,
)
from gigmarket.errors import UserNotFound

__all__ = ["gig_rating", "orders_completed", "seller_level", "seller_stats"]


def seller_stats(repository: CatalogRepository, seller_id: str, at: datetime) -> SellerStats:
    """The seller's outcomes and reviews recorded up to ``at``, aggregated."""
    account = repository.get_account(seller_id)
    if account is None:
        raise UserNotFound(seller_id)
    return SellerStats.from_history(
        member_since=account.created_at,
        outcomes=repository.outcomes_for_seller(seller_id),
        reviews=repository.reviews_for_seller(seller_id),
        at=at,
    )


def seller_level(
    repository: CatalogRepository, seller_id: str, at: datetime, policy: SellerLevelPolicy
) -> SellerLevel:
    """The seller's level at ``at``; ``NEW`` before the account existed."""
    stats = seller_stats(repository, seller_id, at)
    if stats.member_since > at:
        return SellerLevel.NEW
    return policy.evaluate(stats, at)


def gig_rating(repository: CatalogRepository, gig_id: str, at: datetime) -> RatingSummary:
    """The gig's reviews published up to ``at``."""
    reviews = repository.reviews_for_gig(gig_id)
    return RatingSummary.of(review.rating for review in reviews if review.published_at <= at)


def orders_completed(repository: CatalogRepository, gig_id: str, at: datetime) -> int:
    """How many of the gig's orders had completed by ``at``."""
    return sum(
        1
        for outcome in repository.outcomes_for_gig(gig_id)
        if outcome.kind is OutcomeKind.COMPLETED and outcome.recorded_at <= at
    )
