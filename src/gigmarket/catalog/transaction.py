"""Catalog operations inside a unit of work the caller opened.

:class:`CatalogTransaction` is what the order lifecycle uses: it reads the
gig version an order buys (:meth:`~CatalogTransaction.ensure_orderable`,
:meth:`~CatalogTransaction.gig_version`) and reports reviews and outcomes in
the same transaction as the order's own change, so both commit or neither.
:class:`~gigmarket.catalog.service.Catalog` wraps each call in its own unit
of work for everyone else.

Every operation checks everything first and writes only then, so a refused
operation leaves the unit of work as it found it.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TypeVar

import attrs

from gigmarket._kernel.runner import Command, Handler, execute
from gigmarket.catalog.accounts import SellerProfile, UserAccount
from gigmarket.catalog.commands import CreateAccount, CreateGig, SetUpProfile, UpdateGig
from gigmarket.catalog.gigs import Gig, GigAction, GigContent, GigStatus, GigVersion
from gigmarket.catalog.history import gig_rating, seller_level, seller_stats
from gigmarket.catalog.ports import CatalogUnitOfWork
from gigmarket.catalog.reputation import (
    DEFAULT_LEVEL_POLICY,
    OrderOutcome,
    OutcomeKind,
    RatingSummary,
    ReviewRating,
    SellerLevel,
    SellerLevelPolicy,
    SellerStats,
    parse_rating,
)
from gigmarket.catalog.taxonomy import GigRules
from gigmarket.catalog.text import check_id, reason_text
from gigmarket.clock import Clock, SystemClock, require_aware
from gigmarket.errors import (
    GigIncomplete,
    GigNotFound,
    GigVersionNotFound,
    IdempotencyConflict,
    NotGigOwner,
    NotOrderable,
    SellerSuspended,
    StaleGigVersion,
    UserNotFound,
    ValidationError,
    brief,
)
from gigmarket.ids import IdFactory, random_ids
from gigmarket.money import Amount

__all__ = ["CatalogTransaction"]

_VERSION_MAX = 2**31 - 1

C = TypeVar("C", bound=Command)
R = TypeVar("R")


def _require(value: object, kind: type, field: str) -> None:
    if not isinstance(value, kind):
        raise ValidationError(f"expected a {kind.__name__}, not {brief(value)}", field=field)


@attrs.define
class CatalogTransaction:
    """Catalog operations inside an open unit of work; nothing here commits."""

    uow: CatalogUnitOfWork
    clock: Clock = attrs.field(factory=SystemClock)
    ids: IdFactory = random_ids
    rules: GigRules = attrs.field(factory=GigRules)
    level_policy: SellerLevelPolicy = DEFAULT_LEVEL_POLICY

    # -- accounts and profiles --------------------------------------------

    def create_account(
        self, command: CreateAccount, *, idempotency_key: str | None = None
    ) -> UserAccount:
        """Open an account; a taken username is a ValidationError on ``username``."""
        _require(command, CreateAccount, "command")
        return self._run(CREATE_ACCOUNT, OpenAccount(account=command), idempotency_key)

    def account(self, account_id: str) -> UserAccount:
        """The account ``account_id`` (anyone may read it).

        :raises ValidationError: ``account_id`` is not a well-formed id.
        :raises UserNotFound: no account has this id.
        """
        account = self.uow.catalog.get_account(check_id(account_id, "account_id"))
        if account is None:
            raise UserNotFound(account_id)
        return account

    def profile(self, account_id: str) -> SellerProfile | None:
        """The account's seller profile, ``None`` if it never set one up.

        :raises UserNotFound: no account has this id.
        """
        """The account's seller profile, ``None`` if it never set one up."""
        self.account(account_id)
        return self.uow.catalog.get_profile(account_id)

    def set_up_profile(self, account_id: str, command: SetUpProfile) -> SellerProfile:
        """Create or replace the account's seller profile."""
        _require(command, SetUpProfile, "command")
        account = self._active_seller(account_id)
        profile = SellerProfile.from_command(command, account=account, now=self.clock.now())
        self.uow.catalog.save_profile(profile)
        return profile

    def suspend_account(self, account_id: str, *, reason: str) -> UserAccount:
        """Suspend an account: its gigs leave search and cannot be ordered.

        The gigs keep their status, so reactivation brings them back as they
        were; orders already running are the lifecycle's and continue.
        """
        reason = reason_text(reason)
        account = self.account(account_id).suspend(reason, self.clock.now())
        self.uow.catalog.save_account(account)
        return account

    def reactivate_account(self, account_id: str) -> UserAccount:
        """Lift an account's suspension (an operator's decision).

        Its gigs come back to search and can be ordered again, each in the status it
        kept. An account that is not suspended is returned unchanged.

        :raises UserNotFound: no account has this id.
        """
        account = self.account(account_id)
        if not account.is_suspended:
            return account
        account = account.reactivate(self.clock.now())
        self.uow.catalog.save_account(account)
        return account

    # -- gigs ---------------------------------------------------------------

    def create_gig(
        self, seller_id: str, command: CreateGig, *, idempotency_key: str | None = None
    ) -> Gig:
        """Store a new draft gig with its version 1."""
        _require(command, CreateGig, "command")
        check_id(seller_id, "seller_id")
        return self._run(CREATE_GIG, NewGig(seller_id=seller_id, gig=command), idempotency_key)

    def update_gig(
        self,
        gig_id: str,
        command: UpdateGig,
        *,
        seller_id: str,
        idempotency_key: str | None = None,
    ) -> GigVersion:
        """Edit a gig: store version *n + 1*, leave version *n* as it was.

        A published (active or paused) gig must stay complete. An edit that
        changes nothing stores nothing and returns the current version.
        """
        _require(command, UpdateGig, "command")
        check_id(gig_id, "gig_id")
        check_id(seller_id, "seller_id")
        edit = EditGig(gig_id=gig_id, seller_id=seller_id, update=command)
        return self._run(UPDATE_GIG, edit, idempotency_key)

    def publish(self, gig_id: str, *, seller_id: str) -> Gig:
        """Draft → active, once the gig is complete and the seller has a profile."""
        gig = self._own_gig(gig_id, seller_id)
        self._active_seller(seller_id)
        published = gig.apply(GigAction.PUBLISH, self.clock.now())
        missing = self.gig_version(gig_id).content.missing_to_publish()
        if self.uow.catalog.get_profile(seller_id) is None:
            missing = (*missing, "seller_profile")
        if missing:
            raise GigIncomplete(gig_id=gig_id, missing=missing)
        self.uow.catalog.save_gig(published)
        return published

    def pause(self, gig_id: str, *, seller_id: str) -> Gig:
        """The seller takes an active gig out of search for a while.

        Taken by the gig's seller ``seller_id``; the gig becomes *paused* and cannot
        be ordered until
        [resume][gigmarket.catalog.transaction.CatalogTransaction.resume]. Orders
        already placed continue.

        :raises GigNotFound: no gig has this id.
        :raises NotGigOwner: ``seller_id`` is not the gig's seller.
        :raises GigStateError: the gig is not active.
        """
        return self._apply(self._own_gig(gig_id, seller_id), GigAction.PAUSE)

    def resume(self, gig_id: str, *, seller_id: str) -> Gig:
        """The seller puts a paused gig back in search.

        Taken by the gig's seller ``seller_id``; the gig becomes *active* again.

        :raises GigNotFound: no gig has this id.
        :raises NotGigOwner: ``seller_id`` is not the gig's seller.
        :raises SellerSuspended: the seller's account is suspended.
        :raises GigStateError: the gig is not paused.
        """
        gig = self._own_gig(gig_id, seller_id)
        self._active_seller(seller_id)
        return self._apply(gig, GigAction.RESUME)

    def archive(self, gig_id: str, *, seller_id: str) -> Gig:
        """The seller retires a gig for good.

        Taken by the gig's seller ``seller_id`` on a draft, active, paused or denied
        gig; an *archived* gig leaves search, cannot be ordered and cannot change
        again. Its versions stay, so orders keep what their buyers bought.

        :raises GigNotFound: no gig has this id.
        :raises NotGigOwner: ``seller_id`` is not the gig's seller.
        :raises GigStateError: the gig is already archived.
        """
        return self._apply(self._own_gig(gig_id, seller_id), GigAction.ARCHIVE)

    def deny(self, gig_id: str, *, reason: str) -> Gig:
        """The operator refuses a gig (from draft, active or paused); it can only be archived."""
        reason = reason_text(reason)
        return self._apply(self.gig(gig_id), GigAction.DENY, reason=reason)

    def gig(self, gig_id: str) -> Gig:
        """The gig ``gig_id`` as it is now, whatever its status (anyone may read it).

        :raises ValidationError: ``gig_id`` is not a well-formed id.
        :raises GigNotFound: no gig has this id.
        """
        gig = self.uow.catalog.get_gig(check_id(gig_id, "gig_id"))
        if gig is None:
            raise GigNotFound(gig_id)
        return gig

    def gig_version(self, gig_id: str, version: int | None = None) -> GigVersion:
        """Version ``version`` of a gig (the current one when ``None``), frozen forever."""
        if version is not None and (
            isinstance(version, bool)
            or not isinstance(version, int)
            or not 1 <= version <= _VERSION_MAX
        ):
            raise ValidationError(
                f"a version number from 1 to {_VERSION_MAX}, not {brief(version)}",
                field="version",
            )
        check_id(gig_id, "gig_id")
        number = self.gig(gig_id).current_version if version is None else version
        found = self.uow.catalog.get_version(gig_id, number)
        if found is None:
            raise GigVersionNotFound(gig_id=gig_id, version=number)
        return found

    def gigs_of_seller(self, seller_id: str) -> Sequence[Gig]:
        """Every gig of a seller, whatever its status.

        :raises UserNotFound: no account has this id.
        """
        self.account(seller_id)
        return self.uow.catalog.gigs_of_seller(seller_id)

    def ensure_orderable(self, gig_id: str, *, buyer_id: str | None = None) -> GigVersion:
        """The current version of a gig that can be ordered now, or :class:`NotOrderable`.

        The order should keep the returned version's number: that is what the
        buyer bought, whatever the seller edits later.
        """
        gig = self.gig(gig_id)
        if gig.status is not GigStatus.ACTIVE:
            raise NotOrderable(gig_id=gig_id, reason="gig_not_active", state=gig.status.value)
        if self.account(gig.seller_id).is_suspended:
            raise NotOrderable(gig_id=gig_id, reason="seller_suspended", state=gig.status.value)
        if buyer_id is not None:
            if buyer_id == gig.seller_id:
                raise NotOrderable(gig_id=gig_id, reason="own_gig", state=gig.status.value)
            if self.account(buyer_id).is_suspended:
                raise NotOrderable(gig_id=gig_id, reason="buyer_suspended", state=gig.status.value)
        return self.gig_version(gig_id)

    # -- reputation ---------------------------------------------------------

    def record_review(
        self, *, review_id: str, order_id: str, gig_id: str, buyer_id: str, rating: object
    ) -> ReviewRating:
        """Record a *published* review's rating. The review id is its idempotency key."""
        check_id(review_id, "review_id")
        payload = (
            check_id(order_id, "order_id"),
            check_id(gig_id, "gig_id"),
            check_id(buyer_id, "buyer_id"),
            parse_rating(rating),
        )
        existing = self.uow.catalog.get_review(review_id)
        if existing is not None:
            recorded = (existing.order_id, existing.gig_id, existing.buyer_id, existing.rating)
            if recorded != payload:
                raise IdempotencyConflict(key=review_id, operation="record_review")
            return existing
        gig = self.gig(gig_id)
        self.account(buyer_id)
        if buyer_id == gig.seller_id:
            raise ValidationError("a seller does not review their own gig", field="buyer_id")
        review = ReviewRating(
            id=review_id,
            gig_id=gig_id,
            seller_id=gig.seller_id,
            buyer_id=buyer_id,
            order_id=order_id,
            rating=payload[3],
            published_at=self.clock.now(),
        )
        self.uow.catalog.add_review(review)
        return review

    def record_order_outcome(
        self,
        *,
        order_id: str,
        gig_id: str,
        outcome: OutcomeKind | str,
        earnings: Amount | None = None,
        on_time: bool | None = None,
    ) -> OrderOutcome:
        """Record how an order ended; the order id is its idempotency key.

        A completed order needs ``earnings`` (the seller's net, an Amount,
        zero or more) and ``on_time``; a cancelled one takes neither.
        """
        check_id(order_id, "order_id")
        check_id(gig_id, "gig_id")
        try:
            kind = OutcomeKind(outcome)
        except ValueError:
            raise ValidationError("must be 'completed' or 'cancelled'", field="outcome") from None
        if kind is OutcomeKind.COMPLETED:
            if not isinstance(earnings, Amount) or earnings.units < 0:
                raise ValidationError("a completed order needs earnings >= 0", field="earnings")
            self.rules.price_range(earnings.currency, "earnings")  # a currency sold in
            if not isinstance(on_time, bool):
                raise ValidationError(
                    "a completed order says whether it was on time", field="on_time"
                )
        elif earnings is not None or on_time is not None:
            field = "earnings" if earnings is not None else "on_time"
            raise ValidationError("a cancelled order has no earnings or timing", field=field)
        existing = self.uow.catalog.get_outcome(order_id)
        if existing is not None:
            same = (existing.gig_id, existing.kind, existing.earnings, existing.on_time)
            if same != (gig_id, kind, earnings, on_time):
                raise IdempotencyConflict(key=order_id, operation="record_order_outcome")
            return existing
        gig = self.gig(gig_id)
        recorded = OrderOutcome(
            order_id=order_id,
            gig_id=gig_id,
            seller_id=gig.seller_id,
            kind=kind,
            recorded_at=self.clock.now(),
            earnings=earnings,
            on_time=on_time,
        )
        self.uow.catalog.add_outcome(recorded)
        return recorded

    def gig_rating(self, gig_id: str, at: datetime | None = None) -> RatingSummary:
        """The gig's rating from reviews published up to ``at`` (now by default)."""
        when = self._at(at)
        self.gig(gig_id)
        return gig_rating(self.uow.catalog, gig_id, when)

    def seller_rating(self, seller_id: str, at: datetime | None = None) -> RatingSummary:
        """The seller's rating over all their gigs, up to ``at``."""
        return self.seller_stats(seller_id, at).rating

    def seller_stats(self, seller_id: str, at: datetime | None = None) -> SellerStats:
        """The seller's history aggregated up to ``at`` (now by default)."""
        check_id(seller_id, "seller_id")
        return seller_stats(self.uow.catalog, seller_id, self._at(at))

    def seller_level(self, seller_id: str, at: datetime | None = None) -> SellerLevel:
        """The seller's level at ``at`` (now by default) under the level policy."""
        check_id(seller_id, "seller_id")
        return seller_level(self.uow.catalog, seller_id, self._at(at), self.level_policy)

    # -- helpers ------------------------------------------------------------

    def _run(self, handler: Handler[C, CatalogTransaction, R], command: C, key: str | None) -> R:
        return execute(self.uow.idempotency, self, handler, command, key=key)

    def _at(self, at: datetime | None) -> datetime:
        return self.clock.now() if at is None else require_aware(at, "at")

    def _active_seller(self, account_id: str) -> UserAccount:
        account = self.account(account_id)
        if account.is_suspended:
            raise SellerSuspended(account_id)
        return account

    def _own_gig(self, gig_id: str, seller_id: str) -> Gig:
        gig = self.gig(gig_id)
        check_id(seller_id, "seller_id")
        if gig.seller_id != seller_id:
            raise NotGigOwner(gig_id=gig_id, account_id=seller_id)
        return gig

    def _apply(self, gig: Gig, action: GigAction, *, reason: str = "") -> Gig:
        changed = gig.apply(action, self.clock.now(), reason=reason)
        self.uow.catalog.save_gig(changed)
        return changed


# -- keyed commands: the validated public input, carried as it is -------------


@attrs.frozen(kw_only=True)
class OpenAccount(Command):
    OPERATION = "create_account"

    account: CreateAccount

    def payload(self) -> object:
        return self.account.model_dump(mode="json")


@attrs.frozen(kw_only=True)
class NewGig(Command):
    OPERATION = "create_gig"
    PARTY = "seller_id"

    seller_id: str
    gig: CreateGig

    def payload(self) -> object:
        return {"seller": self.seller_id, "gig": self.gig.model_dump(mode="json")}


@attrs.frozen(kw_only=True)
class EditGig(Command):
    OPERATION = "update_gig"
    PARTY = "seller_id"

    gig_id: str
    seller_id: str
    update: UpdateGig

    def payload(self) -> object:
        return {
            "gig": self.gig_id,
            "seller": self.seller_id,
            "update": self.update.model_dump(mode="json"),
        }


def _open_account(command: OpenAccount, tx: CatalogTransaction) -> UserAccount:
    given = command.account
    if tx.uow.catalog.find_account_by_username(given.username) is not None:
        raise ValidationError(f"{given.username!r} is taken", field="username")
    account = UserAccount.from_command(given, id=tx.ids(), now=tx.clock.now())
    tx.uow.catalog.add_account(account)
    return account


def _new_gig(command: NewGig, tx: CatalogTransaction) -> Gig:
    seller_id = command.seller_id
    tx._active_seller(seller_id)
    content = GigContent.from_command(command.gig, tx.rules)
    now = tx.clock.now()
    gig = Gig(
        id=tx.ids(),
        seller_id=seller_id,
        status=GigStatus.DRAFT,
        current_version=1,
        created_at=now,
        updated_at=now,
    )
    first = GigVersion(
        gig_id=gig.id, number=1, seller_id=seller_id, created_at=now, content=content
    )
    tx.uow.catalog.add_gig(gig, first)
    return gig


def _edit_gig(command: EditGig, tx: CatalogTransaction) -> GigVersion:
    gig_id, seller_id = command.gig_id, command.seller_id
    gig = tx._own_gig(gig_id, seller_id)
    tx._active_seller(seller_id)
    gig.require_editable()
    expected = command.update.expected_version
    if expected is not None and expected != gig.current_version:
        raise StaleGigVersion(gig_id=gig_id, expected=expected, actual=gig.current_version)
    current = tx.gig_version(gig_id)
    content = current.content.updated(command.update, tx.rules)
    if gig.status is not GigStatus.DRAFT:
        missing = content.missing_to_publish()
        if missing:
            raise GigIncomplete(gig_id=gig_id, missing=missing)
    if content == current.content:
        return current
    now = tx.clock.now()
    version = GigVersion(
        gig_id=gig_id,
        number=gig.current_version + 1,
        seller_id=seller_id,
        created_at=now,
        content=content,
    )
    tx.uow.catalog.add_version(version)
    tx.uow.catalog.save_gig(gig.with_version(version.number, now))
    return version


CREATE_ACCOUNT: Handler[OpenAccount, CatalogTransaction, UserAccount] = Handler(
    _open_account, lambda account: account.id, lambda tx, account_id, _: tx.account(account_id)
)
CREATE_GIG: Handler[NewGig, CatalogTransaction, Gig] = Handler(
    _new_gig, lambda gig: gig.id, lambda tx, gig_id, _: tx.gig(gig_id)
)
UPDATE_GIG: Handler[EditGig, CatalogTransaction, GigVersion] = Handler(
    _edit_gig,
    lambda version: str(version.number),
    lambda tx, number, command: tx.gig_version(command.gig_id, int(number)),
)
