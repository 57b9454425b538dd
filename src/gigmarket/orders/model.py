"""The Order aggregate and what it freezes at checkout.

An order records what was bought *as it was when it was bought*: the gig's
version, the package, the extras, the requirement questions, the delivery
time and the price breakdown under the fee policy then in force. Editing or
repricing the gig later changes nothing of an order already placed, so a
buyer is never charged, and a seller never paid, by rules they did not agree
to.

Orders are immutable values: every transition returns a new ``Order`` with a
bumped ``version``, which storage uses for optimistic concurrency (two workers
that both read version 4 cannot both write version 5).
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import attrs

from gigmarket.errors import ValidationError, brief
from gigmarket.escrow.fees import PriceBreakdown
from gigmarket.money import Amount
from gigmarket.text import check_id, free_text

__all__ = [
    "Actor",
    "CancellationRequest",
    "Offer",
    "OfferedExtra",
    "OfferedPackage",
    "Order",
    "OrderState",
    "RequirementQuestion",
    "Review",
    "ScheduledAction",
    "Settlement",
]


# What an offer may hold. They equal the catalog's limits
# (gigmarket.catalog.limits; a test pins the two together), so every offer the
# catalog makes is valid, and an offer a host builds by hand obeys the same rules.
OFFER_TITLE_MAX = 80
OFFER_NAME_MAX = 35
OFFER_DELIVERY_DAYS_MAX = 90
OFFER_EXTRA_DAYS_MAX = 30
OFFER_REVISIONS_MAX = 20
OFFER_EXTRAS_MAX = 10
OFFER_QUANTITY_MAX = 100
OFFER_QUESTIONS_MAX = 10
OFFER_QUESTION_TEXT_MAX = 400
OFFER_CHOICES_MAX = 10
OFFER_CHOICE_MAX = 80
OFFER_GIG_VERSION_MAX = 2**31 - 1


def _whole(minimum: int, maximum: int) -> Callable[[Any, attrs.Attribute[Any], object], None]:
    def check(instance: Any, attribute: attrs.Attribute[Any], value: object) -> None:
        if isinstance(value, bool) or not isinstance(value, int) or not minimum <= value <= maximum:
            raise ValidationError(
                f"a whole number from {minimum} to {maximum}, not {brief(value)}",
                field=attribute.name,
            )

    return check


def _text(
    minimum: int, maximum: int, *, multiline: bool = False
) -> Callable[[Any, attrs.Attribute[Any], object], None]:
    def check(instance: Any, attribute: attrs.Attribute[Any], value: object) -> None:
        cleaned = free_text(
            value, field=attribute.name, minimum=minimum, maximum=maximum, multiline=multiline
        )
        if cleaned != value:
            raise ValidationError(
                "must be clean text (NFC, no surrounding whitespace)", field=attribute.name
            )

    return check


def _identifier(instance: Any, attribute: attrs.Attribute[Any], value: object) -> None:
    check_id(value, attribute.name)


def _flag(instance: Any, attribute: attrs.Attribute[Any], value: object) -> None:
    if type(value) is not bool:
        raise ValidationError("must be True or False", field=attribute.name)


def _price(instance: Any, attribute: attrs.Attribute[Any], value: object) -> None:
    if not isinstance(value, Amount):
        raise ValidationError("must be an Amount", field=attribute.name)
    if value.units <= 0:
        raise ValidationError(f"must be positive, not {value}", field=attribute.name)


def _instance(kind: type) -> Callable[[Any, attrs.Attribute[Any], object], None]:
    def check(instance: Any, attribute: attrs.Attribute[Any], value: object) -> None:
        if not isinstance(value, kind):
            raise ValidationError(f"must be a {kind.__name__}", field=attribute.name)

    return check


def _items(kind: type, maximum: int) -> Callable[[Any, attrs.Attribute[Any], object], None]:
    def check(instance: Any, attribute: attrs.Attribute[Any], value: object) -> None:
        if not isinstance(value, tuple) or len(value) > maximum:
            raise ValidationError(f"a tuple of at most {maximum}", field=attribute.name)
        for index, item in enumerate(value):
            if not isinstance(item, kind):
                raise ValidationError(
                    f"must be a {kind.__name__}", field=f"{attribute.name}.{index}"
                )

    return check


def _choices(instance: Any, attribute: attrs.Attribute[Any], value: object) -> None:
    if not isinstance(value, tuple) or len(value) > OFFER_CHOICES_MAX:
        raise ValidationError(f"a tuple of at most {OFFER_CHOICES_MAX}", field=attribute.name)
    for index, choice in enumerate(value):
        cleaned = free_text(
            choice, field=f"{attribute.name}.{index}", minimum=1, maximum=OFFER_CHOICE_MAX
        )
        if cleaned != choice:
            raise ValidationError("must be clean text", field=f"{attribute.name}.{index}")
        if choice in value[:index]:
            raise ValidationError("appears twice", field=f"{attribute.name}.{index}")


class Actor(enum.Enum):
    """Who is acting. Every transition names the actors allowed to take it."""

    BUYER = "buyer"
    SELLER = "seller"
    OPERATOR = "operator"
    SYSTEM = "system"


class OrderState(enum.Enum):
    """Where an order is in its life. The last four are terminal."""

    PENDING_PAYMENT = "pending_payment"
    AWAITING_REQUIREMENTS = "awaiting_requirements"
    IN_PROGRESS = "in_progress"
    DELIVERED = "delivered"
    CANCELLATION_REQUESTED = "cancellation_requested"
    DISPUTED = "disputed"
    COMPLETED = "completed"
    CANCELLED = "cancelled"
    RESOLVED = "resolved"
    EXPIRED = "expired"


@attrs.frozen(kw_only=True)
class RequirementQuestion:
    """A question the buyer answers before work starts."""

    id: str = attrs.field(validator=_identifier)
    text: str = attrs.field(validator=_text(1, OFFER_QUESTION_TEXT_MAX, multiline=True))
    required: bool = attrs.field(default=True, validator=_flag)
    choices: tuple[str, ...] = attrs.field(default=(), validator=_choices)
    allow_multiple: bool = attrs.field(default=False, validator=_flag)
    """With ``choices``: the answer may name several, separated by ``", "``."""


@attrs.frozen(kw_only=True)
class OfferedPackage:
    """The package of a gig as offered: name, price and what it includes.

    ``revisions`` is how many revisions are included; ``None`` is unlimited.
    The price is positive; days and revisions are bounded as in the catalog.
    """

    name: str = attrs.field(validator=_text(1, OFFER_NAME_MAX))
    price: Amount = attrs.field(validator=_price)
    delivery_days: int = attrs.field(validator=_whole(1, OFFER_DELIVERY_DAYS_MAX))
    revisions: int | None = attrs.field(
        validator=attrs.validators.optional(_whole(0, OFFER_REVISIONS_MAX))
    )


@attrs.frozen(kw_only=True)
class OfferedExtra:
    """An extra bought with the package: more days shaved or added, more revisions.

    The price is positive: an extra never takes money off the package.
    """

    name: str = attrs.field(validator=_text(1, OFFER_NAME_MAX))
    price: Amount = attrs.field(validator=_price)
    extra_days: int = attrs.field(
        default=0, validator=_whole(-OFFER_EXTRA_DAYS_MAX, OFFER_EXTRA_DAYS_MAX)
    )
    extra_revisions: int = attrs.field(default=0, validator=_whole(0, OFFER_REVISIONS_MAX))


@attrs.frozen(kw_only=True)
class Offer:
    """Everything a buyer is about to buy, as the catalog states it at checkout.

    The catalog produces offers from a gig version; tests and hosts without a
    catalog may build one directly. Either way an offer checks its own
    invariants when it is built, and refuses with a
    :class:`~gigmarket.errors.ValidationError` naming the field: prices are
    positive and all in the package's currency, counts and days are bounded
    (as the catalog bounds them), ids are printable, text obeys
    :mod:`gigmarket.text`, extras and questions appear once each.
    """

    gig_id: str = attrs.field(validator=_identifier)
    gig_version: int = attrs.field(validator=_whole(1, OFFER_GIG_VERSION_MAX))
    seller_id: str = attrs.field(validator=_identifier)
    package: OfferedPackage = attrs.field(validator=_instance(OfferedPackage))
    extras: tuple[OfferedExtra, ...] = attrs.field(
        default=(), validator=_items(OfferedExtra, OFFER_EXTRAS_MAX)
    )
    quantity: int = attrs.field(default=1, validator=_whole(1, OFFER_QUANTITY_MAX))
    questions: tuple[RequirementQuestion, ...] = attrs.field(
        default=(), validator=_items(RequirementQuestion, OFFER_QUESTIONS_MAX)
    )
    title: str = attrs.field(default="", validator=_text(0, OFFER_TITLE_MAX))

    def __attrs_post_init__(self) -> None:
        currency = self.package.price.currency
        names: list[str] = []
        for index, extra in enumerate(self.extras):
            if extra.price.currency != currency:
                raise ValidationError(
                    f"must be in {currency}, like the package, not {extra.price.currency}",
                    field=f"extras.{index}.price",
                )
            if extra.name.casefold() in names:
                raise ValidationError("appears twice", field=f"extras.{index}.name")
            names.append(extra.name.casefold())
        ids = [question.id for question in self.questions]
        for index, question_id in enumerate(ids):
            if question_id in ids[:index]:
                raise ValidationError("appears twice", field=f"questions.{index}.id")

    @property
    def currency(self) -> str:
        return self.package.price.currency

    @property
    def subtotal(self) -> Amount:
        """Package and extras, times the quantity."""
        total = self.package.price
        for extra in self.extras:
            total += extra.price
        return Amount(units=total.units * self.quantity, currency=total.currency)

    @property
    def delivery_days(self) -> int:
        """Working time promised: the package's days plus (or minus) the extras'."""
        return max(1, self.package.delivery_days + sum(e.extra_days for e in self.extras))

    @property
    def revisions(self) -> int | None:
        """Revisions included with the extras bought; ``None`` is unlimited."""
        if self.package.revisions is None:
            return None
        return self.package.revisions + sum(e.extra_revisions for e in self.extras)


@attrs.frozen(kw_only=True)
class CancellationRequest:
    """A pending mutual-cancellation request: who asked, when, and from which state.

    ``resume_entered_at`` is when the order entered ``resume_state``: if the
    request is declined or withdrawn, the order's timers count from there
    again, so asking to cancel cannot postpone an auto-completion.
    """

    requested_by: Actor
    requested_at: datetime
    resume_state: OrderState
    resume_entered_at: datetime | None = None
    reason: str = ""


@attrs.frozen(kw_only=True)
class Settlement:
    """Where an order's escrow went, in minor units of the order's currency.

    Together with what is still held, these account for every unit charged:
    ``charged == seller_net + platform_fees + refunded + held``.
    """

    seller_net: int = 0
    platform_fees: int = 0
    refunded: int = 0


@attrs.frozen(kw_only=True)
class Order:
    """One purchase of one gig package, from checkout to settlement."""

    id: str
    buyer_id: str
    offer: Offer
    price: PriceBreakdown
    state: OrderState
    placed_at: datetime
    version: int = 1
    paid_at: datetime | None = None
    payment_reference: str | None = None
    started_at: datetime | None = None
    due_at: datetime | None = None
    delivered_at: datetime | None = None
    completed_at: datetime | None = None
    closed_at: datetime | None = None
    state_entered_at: datetime | None = None
    answers: tuple[tuple[str, str], ...] = ()
    deliveries: int = 0
    revisions_used: int = 0
    cancellation: CancellationRequest | None = None
    dispute_opened_by: Actor | None = None
    charged: int = 0
    settlement: Settlement = Settlement()
    tips: int = 0

    @property
    def seller_id(self) -> str:
        return self.offer.seller_id

    @property
    def currency(self) -> str:
        return self.price.subtotal.currency

    @property
    def held(self) -> int:
        """What escrow still holds for this order, in minor units."""
        s = self.settlement
        return self.charged - s.seller_net - s.platform_fees - s.refunded

    @property
    def revisions_left(self) -> int | None:
        """Revisions the buyer may still ask for; ``None`` is unlimited."""
        included = self.offer.revisions
        return None if included is None else included - self.revisions_used

    def is_late(self, now: datetime) -> bool:
        """Past its due date and not delivered."""
        return (
            self.state is OrderState.IN_PROGRESS and self.due_at is not None and now > self.due_at
        )

    def party(self, actor: Actor) -> str | None:
        """The account id behind a buyer or seller actor."""
        return {Actor.BUYER: self.buyer_id, Actor.SELLER: self.seller_id}.get(actor)

    def due_from(self, start: datetime) -> datetime:
        """When delivery is due if work starts at ``start``: ``delivery_days`` later."""
        return start + timedelta(days=self.offer.delivery_days)


@attrs.frozen(kw_only=True)
class ScheduledAction:
    """A timer armed for one order: at ``due_at`` the system takes ``action``.

    ``armed_in`` is the state the order was in when the timer was armed (and
    its version); if the order has moved on by then, the timer is stale and is
    retired without effect. Timers that are not transitions (clearing a
    seller's earnings, publishing reviews) have ``armed_in = None`` and carry
    what they need in ``payload``.
    """

    id: str
    order_id: str
    action: str
    due_at: datetime
    armed_in: OrderState | None = None
    armed_version: int | None = None
    payload: tuple[tuple[str, str], ...] = ()
    done_at: datetime | None = None
    outcome: str | None = None


@attrs.frozen(kw_only=True)
class Review:
    """One side's review of a completed order; hidden until published."""

    order_id: str
    author: Actor
    author_id: str
    subject_id: str
    rating: int
    sub_ratings: tuple[tuple[str, int], ...] = ()
    text: str = ""
    submitted_at: datetime
    published_at: datetime | None = None
