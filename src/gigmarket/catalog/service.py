"""The catalog as a service: each call is one atomic transaction.

:class:`Catalog` is the face hosts use; every method runs the matching
:class:`~gigmarket.catalog.transaction.CatalogTransaction` operation through
the command runner (:mod:`gigmarket._kernel.runner`), which opens a unit of
work, commits it and runs it again after a transient conflict, as the other
services do. ``with catalog.transaction() as tx:`` groups several
operations into one.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import TypeVar

from gigmarket._kernel.runner import Runner
from gigmarket.catalog.accounts import SellerProfile, UserAccount
from gigmarket.catalog.commands import CreateAccount, CreateGig, SetUpProfile, UpdateGig
from gigmarket.catalog.gigs import Gig, GigVersion
from gigmarket.catalog.memory_search import MemoryGigSearch
from gigmarket.catalog.ports import CatalogUnitOfWork, CatalogUnitOfWorkFactory
from gigmarket.catalog.reputation import (
    DEFAULT_LEVEL_POLICY,
    OrderOutcome,
    OutcomeKind,
    RatingSummary,
    ReviewRating,
    SellerLevel,
    SellerLevelPolicy,
    SellerStats,
)
from gigmarket.catalog.search import GigSearch, GigSearchProvider, SearchPage, SearchQuery
from gigmarket.catalog.taxonomy import GigRules
from gigmarket.catalog.transaction import CatalogTransaction
from gigmarket.clock import Clock, SystemClock
from gigmarket.errors import LevelPolicyError, ValidationError, brief
from gigmarket.ids import IdFactory, random_ids
from gigmarket.money import Amount

__all__ = ["Catalog"]

_T = TypeVar("_T")


def _check_policy_covers(rules: GigRules, policy: SellerLevelPolicy) -> None:
    """Refuse, at start-up, a level policy that could not judge earnings in a
    currency gigs are sold in; otherwise the first such order would break
    every search that shows seller levels."""
    for requirement in policy.requirements:
        if not requirement.min_earnings:
            continue
        for currency in sorted(set(rules.price_ranges) - set(requirement.min_earnings)):
            raise LevelPolicyError(
                f"the {requirement.level.value} requirement has no earnings threshold in "
                f"{currency}, which gigs may be priced in",
                currency=currency,
            )


class Catalog:
    """Accounts, profiles, gigs, search and reputation, one transaction per call.

    ``search`` defaults to the storage's own indexed search when the storage
    offers one (a :class:`~gigmarket.catalog.search.GigSearchProvider`, as the
    SQLite and PostgreSQL adapters are), else to
    :class:`~gigmarket.catalog.memory_search.MemoryGigSearch` over the same
    storage. Either way it runs on this catalog's clock and level policy.
    """

    def __init__(
        self,
        storage: CatalogUnitOfWorkFactory,
        *,
        clock: Clock | None = None,
        ids: IdFactory = random_ids,
        rules: GigRules | None = None,
        level_policy: SellerLevelPolicy = DEFAULT_LEVEL_POLICY,
        search: GigSearch | None = None,
    ) -> None:
        self._storage = storage
        self._runner = Runner(storage, self.within)
        self.clock: Clock = clock if clock is not None else SystemClock()
        self.ids = ids
        self.rules = rules if rules is not None else GigRules()
        self.level_policy = level_policy
        _check_policy_covers(self.rules, level_policy)
        if search is None and isinstance(storage, GigSearchProvider):
            search = storage.gig_search(clock=self.clock, level_policy=level_policy)
        self.searcher: GigSearch = (
            search
            if search is not None
            else MemoryGigSearch(storage, clock=self.clock, level_policy=level_policy)
        )

    @contextmanager
    def transaction(self) -> Iterator[CatalogTransaction]:
        """Group several operations into one atomic transaction.

        Committed when the block ends normally; rolled back if it raises.
        """
        with self._storage() as uow:
            yield self.within(uow)
            uow.commit()

    def within(self, uow: CatalogUnitOfWork) -> CatalogTransaction:
        """This catalog's operations, with its configuration, inside a unit of work
        the caller opened and will commit (how the order lifecycle reads gigs and
        reports outcomes in its own transaction)."""
        return CatalogTransaction(
            uow, self.clock, self.ids, rules=self.rules, level_policy=self.level_policy
        )

    def _run(self, operation: Callable[[CatalogTransaction], _T]) -> _T:
        """One committed unit of work, run again after a transient conflict."""
        return self._runner.transact(operation)

    # -- accounts and profiles

    def create_account(
        self, command: CreateAccount, *, idempotency_key: str | None = None
    ) -> UserAccount:
        """See :meth:`CatalogTransaction.create_account`."""
        return self._run(lambda tx: tx.create_account(command, idempotency_key=idempotency_key))

    def account(self, account_id: str) -> UserAccount:
        """The account ``account_id`` (anyone may read it).

        :raises ValidationError: ``account_id`` is not a well-formed id.
        :raises UserNotFound: no account has this id.
        """
        return self._run(lambda tx: tx.account(account_id))

    def profile(self, account_id: str) -> SellerProfile | None:
        """The account's seller profile, ``None`` if it never set one up.

        :raises UserNotFound: no account has this id.
        """
        return self._run(lambda tx: tx.profile(account_id))

    def set_up_profile(self, account_id: str, command: SetUpProfile) -> SellerProfile:
        """See :meth:`CatalogTransaction.set_up_profile`."""
        return self._run(lambda tx: tx.set_up_profile(account_id, command))

    def suspend_account(self, account_id: str, *, reason: str) -> UserAccount:
        """See :meth:`CatalogTransaction.suspend_account`."""
        return self._run(lambda tx: tx.suspend_account(account_id, reason=reason))

    def reactivate_account(self, account_id: str) -> UserAccount:
        """Lift an account's suspension (an operator's decision).

        Its gigs come back to search and can be ordered again, each in the status it
        kept. An account that is not suspended is returned unchanged.

        :raises UserNotFound: no account has this id.
        """
        return self._run(lambda tx: tx.reactivate_account(account_id))

    # -- gigs

    def create_gig(
        self, seller_id: str, command: CreateGig, *, idempotency_key: str | None = None
    ) -> Gig:
        """See :meth:`CatalogTransaction.create_gig`."""
        return self._run(
            lambda tx: tx.create_gig(seller_id, command, idempotency_key=idempotency_key)
        )

    def update_gig(
        self,
        gig_id: str,
        command: UpdateGig,
        *,
        seller_id: str,
        idempotency_key: str | None = None,
    ) -> GigVersion:
        """See :meth:`CatalogTransaction.update_gig`."""
        return self._run(
            lambda tx: tx.update_gig(
                gig_id, command, seller_id=seller_id, idempotency_key=idempotency_key
            )
        )

    def publish(self, gig_id: str, *, seller_id: str) -> Gig:
        """See :meth:`CatalogTransaction.publish`."""
        return self._run(lambda tx: tx.publish(gig_id, seller_id=seller_id))

    def pause(self, gig_id: str, *, seller_id: str) -> Gig:
        """The seller takes an active gig out of search for a while.

        Taken by the gig's seller ``seller_id``; the gig becomes *paused* and cannot
        be ordered until [resume][gigmarket.catalog.Catalog.resume]. Orders already placed continue.

        :raises GigNotFound: no gig has this id.
        :raises NotGigOwner: ``seller_id`` is not the gig's seller.
        :raises GigStateError: the gig is not active.
        """
        return self._run(lambda tx: tx.pause(gig_id, seller_id=seller_id))

    def resume(self, gig_id: str, *, seller_id: str) -> Gig:
        """The seller puts a paused gig back in search.

        Taken by the gig's seller ``seller_id``; the gig becomes *active* again.

        :raises GigNotFound: no gig has this id.
        :raises NotGigOwner: ``seller_id`` is not the gig's seller.
        :raises SellerSuspended: the seller's account is suspended.
        :raises GigStateError: the gig is not paused.
        """
        return self._run(lambda tx: tx.resume(gig_id, seller_id=seller_id))

    def archive(self, gig_id: str, *, seller_id: str) -> Gig:
        """The seller retires a gig for good.

        Taken by the gig's seller ``seller_id`` on a draft, active, paused or denied
        gig; an *archived* gig leaves search, cannot be ordered and cannot change
        again. Its versions stay, so orders keep what their buyers bought.

        :raises GigNotFound: no gig has this id.
        :raises NotGigOwner: ``seller_id`` is not the gig's seller.
        :raises GigStateError: the gig is already archived.
        """
        return self._run(lambda tx: tx.archive(gig_id, seller_id=seller_id))

    def deny(self, gig_id: str, *, reason: str) -> Gig:
        """See :meth:`CatalogTransaction.deny`."""
        return self._run(lambda tx: tx.deny(gig_id, reason=reason))

    def gig(self, gig_id: str) -> Gig:
        """The gig ``gig_id`` as it is now, whatever its status (anyone may read it).

        :raises ValidationError: ``gig_id`` is not a well-formed id.
        :raises GigNotFound: no gig has this id.
        """
        return self._run(lambda tx: tx.gig(gig_id))

    def gig_version(self, gig_id: str, version: int | None = None) -> GigVersion:
        """See :meth:`CatalogTransaction.gig_version`."""
        return self._run(lambda tx: tx.gig_version(gig_id, version))

    def gigs_of_seller(self, seller_id: str) -> Sequence[Gig]:
        """Every gig of a seller, whatever its status.

        :raises UserNotFound: no account has this id.
        """
        return self._run(lambda tx: tx.gigs_of_seller(seller_id))

    def ensure_orderable(self, gig_id: str, *, buyer_id: str | None = None) -> GigVersion:
        """See :meth:`CatalogTransaction.ensure_orderable`."""
        return self._run(lambda tx: tx.ensure_orderable(gig_id, buyer_id=buyer_id))

    def search(self, query: SearchQuery) -> SearchPage:
        """Find active gigs; see :mod:`gigmarket.catalog.search` for the rules."""
        if not isinstance(query, SearchQuery):
            raise ValidationError(f"expected a SearchQuery, not {brief(query)}", field="query")
        return self.searcher.search(query)

    # -- reputation

    def record_review(
        self, *, review_id: str, order_id: str, gig_id: str, buyer_id: str, rating: object
    ) -> ReviewRating:
        """See :meth:`CatalogTransaction.record_review`."""
        return self._run(
            lambda tx: tx.record_review(
                review_id=review_id,
                order_id=order_id,
                gig_id=gig_id,
                buyer_id=buyer_id,
                rating=rating,
            )
        )

    def record_order_outcome(
        self,
        *,
        order_id: str,
        gig_id: str,
        outcome: OutcomeKind | str,
        earnings: Amount | None = None,
        on_time: bool | None = None,
    ) -> OrderOutcome:
        """See :meth:`CatalogTransaction.record_order_outcome`."""
        return self._run(
            lambda tx: tx.record_order_outcome(
                order_id=order_id,
                gig_id=gig_id,
                outcome=outcome,
                earnings=earnings,
                on_time=on_time,
            )
        )

    def gig_rating(self, gig_id: str, at: datetime | None = None) -> RatingSummary:
        """The gig's rating from reviews published up to ``at`` (now by default).

        :raises GigNotFound: no gig has this id.
        :raises ValidationError: ``at`` is a naive datetime.
        """
        return self._run(lambda tx: tx.gig_rating(gig_id, at))

    def seller_rating(self, seller_id: str, at: datetime | None = None) -> RatingSummary:
        """The seller's rating over all their gigs, from reviews published up to ``at``.

        :raises ValidationError: ``seller_id`` is not a well-formed id, or ``at`` is naive.
        """
        return self._run(lambda tx: tx.seller_rating(seller_id, at))

    def seller_stats(self, seller_id: str, at: datetime | None = None) -> SellerStats:
        """The seller's history (orders, ratings, on-time deliveries...) up to ``at``.

        The numbers the seller levels are computed from; now by default.

        :raises ValidationError: ``seller_id`` is not a well-formed id, or ``at`` is naive.
        """
        return self._run(lambda tx: tx.seller_stats(seller_id, at))

    def seller_level(self, seller_id: str, at: datetime | None = None) -> SellerLevel:
        """See :meth:`CatalogTransaction.seller_level`."""
        return self._run(lambda tx: tx.seller_level(seller_id, at))
