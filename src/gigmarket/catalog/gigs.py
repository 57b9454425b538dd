"""Gigs, their packages and extras, their versions and their status lifecycle.

A gig is two things kept apart:

* :class:`Gig`, the row that changes: owner, status, which version is current;
* :class:`GigVersion`, an immutable snapshot of everything the seller wrote
  (:class:`GigContent`). Every edit stores version *n + 1* and leaves version
  *n* untouched, so an order that bought version 3 keeps reading version 3
  (its price, delivery days, revisions, requirement questions) whatever the
  seller changes later.

Status changes are a table (:data:`GIG_TRANSITIONS`), not if-chains, so the
docs can print the same object the code runs::

    draft ──publish──▶ active ◀──resume── paused
                         └──────pause──────▶┘
    draft / active / paused ──deny (operator)──▶ denied
    draft / active / paused / denied ──archive──▶ archived

Status changes do not make versions: pausing is not an edit.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from datetime import datetime
from types import MappingProxyType
from typing import TYPE_CHECKING

import attrs

from gigmarket.catalog.limits import DESCRIPTION_MIN_TO_PUBLISH, EXTRAS_MAX
from gigmarket.errors import GigStateError, ValidationError, brief
from gigmarket.money import Amount

if TYPE_CHECKING:
    from gigmarket.catalog.commands import CreateGig, UpdateGig
    from gigmarket.catalog.taxonomy import GigRules

__all__ = [
    "EDITABLE_STATUSES",
    "GIG_TRANSITIONS",
    "Extra",
    "Faq",
    "Gig",
    "GigAction",
    "GigContent",
    "GigRequirement",
    "GigStatus",
    "GigTransition",
    "GigVersion",
    "Package",
    "QuestionKind",
    "Quote",
]


class GigStatus(enum.Enum):
    """Where a gig is in its life. Only ``active`` gigs are found and ordered."""

    DRAFT = "draft"
    ACTIVE = "active"
    PAUSED = "paused"
    DENIED = "denied"
    ARCHIVED = "archived"


class GigAction(enum.Enum):
    """A status change. ``deny`` is the operator's; the others the seller's."""

    PUBLISH = "publish"
    PAUSE = "pause"
    RESUME = "resume"
    ARCHIVE = "archive"
    DENY = "deny"


@attrs.frozen
class GigTransition:
    """From which statuses an action is allowed, and where it leads."""

    sources: frozenset[GigStatus]
    target: GigStatus


_S = GigStatus
GIG_TRANSITIONS: Mapping[GigAction, GigTransition] = MappingProxyType(
    {
        GigAction.PUBLISH: GigTransition(frozenset({_S.DRAFT}), _S.ACTIVE),
        GigAction.PAUSE: GigTransition(frozenset({_S.ACTIVE}), _S.PAUSED),
        GigAction.RESUME: GigTransition(frozenset({_S.PAUSED}), _S.ACTIVE),
        GigAction.ARCHIVE: GigTransition(
            frozenset({_S.DRAFT, _S.ACTIVE, _S.PAUSED, _S.DENIED}), _S.ARCHIVED
        ),
        GigAction.DENY: GigTransition(frozenset({_S.DRAFT, _S.ACTIVE, _S.PAUSED}), _S.DENIED),
    }
)
"""The gig lifecycle as data. ``archived`` is final; ``denied`` only archives."""

EDITABLE_STATUSES = frozenset({_S.DRAFT, _S.ACTIVE, _S.PAUSED})
"""Statuses in which the seller may edit (and so make a new version)."""


@attrs.frozen(kw_only=True)
class Package:
    """One tier of a gig (Basic, Standard, Premium...).

    ``revisions`` is how many revisions the buyer may request; ``None`` means
    unlimited.
    """

    name: str
    description: str
    price: Amount
    delivery_days: int
    revisions: int | None
    features: tuple[str, ...] = ()


@attrs.frozen(kw_only=True)
class Extra:
    """An add-on a buyer may order with any package, at most once per order.

    ``delivery_days_delta`` changes the package's delivery time: positive
    adds days (more work), negative delivers faster ("extra-fast delivery").
    ``extra_revisions`` adds to the package's revisions.
    """

    name: str
    description: str
    price: Amount
    delivery_days_delta: int = 0
    extra_revisions: int = 0


class QuestionKind(enum.Enum):
    """How a buyer answers a requirement question."""

    FREE_TEXT = "free_text"
    MULTIPLE_CHOICE = "multiple_choice"
    ATTACHMENT = "attachment"


@attrs.frozen(kw_only=True)
class GigRequirement:
    """What the seller needs from the buyer before work starts.

    ``choices`` is non-empty only for multiple choice; ``allow_multiple`` lets
    the buyer tick several. An attachment is answered with a reference to a
    file the host stored.
    """

    text: str
    kind: QuestionKind
    required: bool = True
    choices: tuple[str, ...] = ()
    allow_multiple: bool = False


@attrs.frozen
class Faq:
    """A question and answer shown on a gig's page (one gig version's FAQ)."""

    question: str
    answer: str


@attrs.frozen(kw_only=True)
class Quote:
    """What one package plus some extras costs and promises."""

    price: Amount
    delivery_days: int
    revisions: int | None


@attrs.frozen(kw_only=True)
class GigContent:
    """Everything the seller writes about a gig: what one version holds.

    Built from a command by :meth:`from_command`, which checks every limit; a
    ``GigContent`` is therefore always valid, but only a *complete* one can be
    published (:meth:`missing_to_publish`).
    """

    title: str
    category: str
    subcategory: str
    currency: str
    tags: tuple[str, ...] = ()
    description: str = ""
    packages: tuple[Package, ...] = ()
    extras: tuple[Extra, ...] = ()
    requirements: tuple[GigRequirement, ...] = ()
    faqs: tuple[Faq, ...] = ()
    gallery: tuple[str, ...] = ()

    @classmethod
    def from_command(cls, command: CreateGig, rules: GigRules) -> GigContent:
        """Check ``command`` against ``rules`` and build the content it describes."""
        from gigmarket.catalog.convert import gig_content  # noqa: PLC0415 -- convert imports gigs

        return gig_content(command, rules)

    def updated(self, update: UpdateGig, rules: GigRules) -> GigContent:
        """This content with the fields ``update`` sets, checked as a whole."""
        from gigmarket.catalog.convert import updated_content  # noqa: PLC0415 -- as above

        return updated_content(self, update, rules)

    def missing_to_publish(self) -> tuple[str, ...]:
        """The parts a published gig must have and this content lacks."""
        missing: list[str] = []
        if len(self.description) < DESCRIPTION_MIN_TO_PUBLISH:
            missing.append("description")
        if not self.tags:
            missing.append("tags")
        if not self.packages:
            missing.append("packages")
        if not self.gallery:
            missing.append("gallery")
        return tuple(missing)

    @property
    def starting_price(self) -> Amount | None:
        """The cheapest package's price: what search shows and filters on."""
        return min((package.price for package in self.packages), default=None)

    @property
    def fastest_delivery_days(self) -> int | None:
        """The quickest package's delivery time, without extras."""
        return min((package.delivery_days for package in self.packages), default=None)


@attrs.frozen(kw_only=True)
class GigVersion:
    """Version ``number`` of a gig: immutable, and what an order keeps."""

    gig_id: str
    number: int
    seller_id: str
    created_at: datetime
    content: GigContent

    def package(self, name: str) -> Package:
        """The package called ``name`` (case-insensitive), or a ValidationError."""
        if not isinstance(name, str):
            raise ValidationError(f"a package name, not {brief(name)}", field="package")
        for package in self.content.packages:
            if package.name.casefold() == name.casefold():
                return package
        raise ValidationError(
            f"gig {self.gig_id!r} version {self.number} has no package {brief(name)}",
            field="package",
        )

    def extra(self, name: str) -> Extra:
        """The extra called ``name`` (case-insensitive), or a ValidationError."""
        if not isinstance(name, str):
            raise ValidationError(f"an extra's name, not {brief(name)}", field="extras")
        for extra in self.content.extras:
            if extra.name.casefold() == name.casefold():
                return extra
        raise ValidationError(
            f"gig {self.gig_id!r} version {self.number} has no extra {brief(name)}", field="extras"
        )

    def quote(self, package: str, extras: Sequence[str] = ()) -> Quote:
        """Price, delivery days and revisions of ``package`` with ``extras``.

        Delivery never drops below one day however many fast-delivery extras
        are chosen; unlimited revisions stay unlimited.
        """
        given: object = extras
        if isinstance(given, str | bytes) or not isinstance(given, Sequence):
            raise ValidationError("pass a sequence of extra names, not one string", field="extras")
        if len(given) > EXTRAS_MAX:
            raise ValidationError(f"at most {EXTRAS_MAX} extras", field="extras")
        chosen = self.package(package)
        picked = [self.extra(name) for name in extras]
        if len({extra.name for extra in picked}) != len(picked):
            raise ValidationError("an extra can be ordered once", field="extras")
        price = chosen.price
        for extra in picked:
            price += extra.price
        days = chosen.delivery_days + sum(extra.delivery_days_delta for extra in picked)
        revisions = chosen.revisions
        if revisions is not None:
            revisions += sum(extra.extra_revisions for extra in picked)
        return Quote(price=price, delivery_days=max(days, 1), revisions=revisions)


@attrs.frozen(kw_only=True)
class Gig:
    """A gig's identity and status; its words and prices live in its versions.

    ``published_at`` is the first publication (what "newest" sorts by), kept
    through pauses so that pausing and resuming does not bump a gig to the top.
    """

    id: str
    seller_id: str
    status: GigStatus
    current_version: int
    created_at: datetime
    updated_at: datetime
    published_at: datetime | None = None
    denial_reason: str = ""

    def apply(self, action: GigAction, now: datetime, *, reason: str = "") -> Gig:
        """The gig after ``action``, or :class:`GigStateError` if its status forbids it."""
        transition = GIG_TRANSITIONS[action]
        if self.status not in transition.sources:
            raise GigStateError(gig_id=self.id, state=self.status.value, action=action.value)
        return attrs.evolve(
            self,
            status=transition.target,
            updated_at=now,
            published_at=self.published_at or (now if action is GigAction.PUBLISH else None),
            denial_reason=reason if action is GigAction.DENY else self.denial_reason,
        )

    def require_editable(self) -> None:
        """Raise [GigStateError][gigmarket.errors.GigStateError] unless the gig is
        draft, active or paused (the statuses in which its seller may edit it)."""
        if self.status not in EDITABLE_STATUSES:
            raise GigStateError(gig_id=self.id, state=self.status.value, action="edit")

    def with_version(self, number: int, now: datetime) -> Gig:
        """The gig pointing at its new current version ``number``, updated at ``now``."""
        return attrs.evolve(self, current_version=number, updated_at=now)
