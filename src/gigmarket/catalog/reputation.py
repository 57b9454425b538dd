"""Reputation: rating aggregates from published reviews, and seller levels.

The order lifecycle reports what happened (a review published, an order
completed or cancelled); the catalog keeps those facts as an append-only
history and *derives* reputation from them for a given date. Nothing here is
a counter that could drift: ``seller_level(seller, at)`` on any date gives the
level the seller had then, which is also what an audit or a dispute needs.

Ratings are averaged exactly (a :class:`~fractions.Fraction`) and rounded only
for display, so a 4.6999… average never passes a 4.7 threshold by rounding.

Seller levels follow a :class:`SellerLevelPolicy`: a ladder of
:class:`LevelRequirement`, each met or not by a seller's :class:`SellerStats`.
A seller holds the highest level whose every requirement is met, so one who
slips below a Level Two threshold falls back to Level One (if still met), not
to New. The defaults resemble the public descriptions of large marketplaces'
programmes; they are configurable starting points, not anyone's official
numbers. Statistics are lifetime ones up to the evaluation date (large
marketplaces use rolling windows for some; a policy that needs one can be
built on the same history).
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction
from types import MappingProxyType

import attrs

from gigmarket.errors import LevelPolicyError, ValidationError, brief
from gigmarket.money import Amount, AmountLike, parse_rate

__all__ = [
    "DEFAULT_LEVEL_POLICY",
    "LevelRequirement",
    "OrderOutcome",
    "OutcomeKind",
    "RatingSummary",
    "ReviewRating",
    "SellerLevel",
    "SellerLevelPolicy",
    "SellerStats",
    "parse_rating",
]


class SellerLevel(enum.Enum):
    """A seller's standing, lowest first. ``TOP_RATED`` shortens clearance."""

    NEW = "new"
    LEVEL_ONE = "level_one"
    LEVEL_TWO = "level_two"
    TOP_RATED = "top_rated"

    @property
    def rank(self) -> int:
        return _RANKS[self]


_RANKS = {level: rank for rank, level in enumerate(SellerLevel)}


def parse_rating(value: object, field: str = "rating") -> Decimal:
    """A rating between 1 and 5 with at most two decimals (``5``, ``"4.67"``).

    Floats are refused, as for money: ``4.7`` as a float is 4.70000000000000017…
    """
    if isinstance(value, bool | float) or not isinstance(value, int | Decimal | str):
        raise ValidationError("a rating is an int, a Decimal or a str; not a float", field=field)
    try:
        rating = Decimal(value.strip() if isinstance(value, str) else value)
    except ArithmeticError:
        raise ValidationError(f"{brief(value)} is not a number", field=field) from None
    if not rating.is_finite() or not Decimal(1) <= rating <= Decimal(5):
        raise ValidationError("a rating is between 1 and 5", field=field)
    exponent = rating.as_tuple().exponent
    if isinstance(exponent, int) and exponent < -2:
        raise ValidationError("a rating has at most two decimals", field=field)
    return rating


@attrs.frozen(kw_only=True)
class ReviewRating:
    """A published review's rating, as the catalog keeps it (the text stays with the order)."""

    id: str
    gig_id: str
    seller_id: str
    buyer_id: str
    order_id: str
    rating: Decimal
    published_at: datetime


class OutcomeKind(enum.Enum):
    """How an order ended for its seller's statistics: ``COMPLETED`` or ``CANCELLED``."""

    COMPLETED = "completed"
    CANCELLED = "cancelled"


@attrs.frozen(kw_only=True)
class OrderOutcome:
    """How an order ended, for the seller's statistics.

    ``earnings`` is what the seller earned from a completed order (net of
    commission, as the lifecycle computes it); ``on_time`` whether it was
    delivered by its due date. A cancelled order earns nothing.
    """

    order_id: str
    gig_id: str
    seller_id: str
    kind: OutcomeKind
    recorded_at: datetime
    earnings: Amount | None = None
    on_time: bool | None = None


@attrs.frozen
class RatingSummary:
    """Count and exact total of ratings; the average is exact, ``display`` rounded."""

    count: int = 0
    total: Fraction = Fraction(0)

    @classmethod
    def of(cls, ratings: Iterable[Decimal]) -> RatingSummary:
        """The summary of ``ratings`` (an empty one if there are none)."""
        values = [Fraction(rating) for rating in ratings]
        return cls(len(values), sum(values, Fraction(0)))

    @property
    def average(self) -> Fraction | None:
        return self.total / self.count if self.count else None

    @property
    def display(self) -> Decimal | None:
        """The average to one decimal, half up: what a gig card shows (4.9 ★)."""
        average = self.average
        if average is None:
            return None
        exact = Decimal(average.numerator) / Decimal(average.denominator)
        return exact.quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)


@attrs.frozen(kw_only=True)
class SellerStats:
    """What a seller-level policy judges: a seller's history up to one date."""

    member_since: datetime
    completed_orders: int = 0
    on_time_orders: int = 0
    cancelled_orders: int = 0
    earnings: tuple[Amount, ...] = ()
    rating: RatingSummary = RatingSummary()

    @classmethod
    def from_history(
        cls,
        *,
        member_since: datetime,
        outcomes: Iterable[OrderOutcome],
        reviews: Iterable[ReviewRating],
        at: datetime,
    ) -> SellerStats:
        """Aggregate the outcomes and reviews recorded at or before ``at``."""
        completed = on_time = cancelled = 0
        earnings: dict[str, Amount] = {}
        for outcome in outcomes:
            if outcome.recorded_at > at:
                continue
            if outcome.kind is OutcomeKind.CANCELLED:
                cancelled += 1
                continue
            completed += 1
            on_time += bool(outcome.on_time)
            if outcome.earnings is not None:
                currency = outcome.earnings.currency
                earnings[currency] = earnings.get(currency, Amount.zero(currency))
                earnings[currency] += outcome.earnings
        return cls(
            member_since=member_since,
            completed_orders=completed,
            on_time_orders=on_time,
            cancelled_orders=cancelled,
            earnings=tuple(earnings[currency] for currency in sorted(earnings)),
            rating=RatingSummary.of(r.rating for r in reviews if r.published_at <= at),
        )

    @property
    def on_time_rate(self) -> Fraction | None:
        """Share of completed orders delivered on time; ``None`` before the first."""
        if not self.completed_orders:
            return None
        return Fraction(self.on_time_orders, self.completed_orders)

    @property
    def cancellation_rate(self) -> Fraction:
        """Share of ended orders (completed or cancelled) that were cancelled."""
        ended = self.completed_orders + self.cancelled_orders
        return Fraction(self.cancelled_orders, ended) if ended else Fraction(0)


def _amounts(value: Mapping[str, AmountLike]) -> Mapping[str, Amount]:
    return MappingProxyType(
        {currency: Amount.of(amount, currency) for currency, amount in value.items()}
    )


@attrs.frozen(kw_only=True)
class LevelRequirement:
    """Everything a seller needs for ``level``.

    ``min_earnings`` maps a currency to the threshold in that currency;
    amounts are never converted, so earnings meet it when the seller's
    earnings in *one* listed currency reach that currency's threshold.
    ``min_rating=None`` ignores ratings; a seller with no rating yet does not
    meet a rating minimum.
    """

    level: SellerLevel
    min_days_active: int = 0
    min_completed_orders: int = 0
    min_earnings: Mapping[str, Amount] = attrs.field(factory=dict, converter=_amounts)
    min_rating: Decimal | None = None
    min_on_time_rate: Fraction = attrs.field(default=Fraction(0), converter=parse_rate)
    max_cancellation_rate: Fraction = attrs.field(default=Fraction(1), converter=parse_rate)

    def unmet(self, stats: SellerStats, at: datetime) -> tuple[str, ...]:
        """Names of the requirements ``stats`` fail at ``at``; empty when the level is met."""
        failed: list[str] = []
        if at - stats.member_since < timedelta(days=self.min_days_active):
            failed.append("days_active")
        if stats.completed_orders < self.min_completed_orders:
            failed.append("completed_orders")
        if self.min_earnings and not self._earned_enough(stats.earnings):
            failed.append("earnings")
        average = stats.rating.average
        if self.min_rating is not None and (average is None or average < Fraction(self.min_rating)):
            failed.append("rating")
        on_time = stats.on_time_rate
        if on_time is not None and on_time < self.min_on_time_rate:
            failed.append("on_time_rate")
        if stats.cancellation_rate > self.max_cancellation_rate:
            failed.append("cancellation_rate")
        return tuple(failed)

    def _earned_enough(self, earnings: Sequence[Amount]) -> bool:
        met = False
        for earned in earnings:
            threshold = self.min_earnings.get(earned.currency)
            if threshold is None:
                if earned.units:
                    raise LevelPolicyError(
                        f"the {self.level.value} requirement sets no earnings threshold in "
                        f"{earned.currency}; add one to the policy",
                        currency=earned.currency,
                    )
                continue
            met = met or earned >= threshold
        return met


def _requirements(value: Iterable[LevelRequirement]) -> tuple[LevelRequirement, ...]:
    return tuple(value)


def _ladder(
    instance: object, attribute: attrs.Attribute[tuple[LevelRequirement, ...]], value: object
) -> None:
    if not isinstance(value, tuple):  # pragma: no cover -- the converter makes a tuple
        raise ValidationError("requirements must be a tuple", field="requirements")
    levels = [requirement.level for requirement in value]
    if SellerLevel.NEW in levels or levels != sorted(levels, key=lambda level: level.rank):
        raise ValidationError(
            "one requirement per level above NEW, lowest level first", field="requirements"
        )
    if len(set(levels)) != len(levels):
        raise ValidationError("a level appears twice", field="requirements")


@attrs.frozen
class SellerLevelPolicy:
    """A ladder of level requirements; any level not listed is never reached."""

    requirements: tuple[LevelRequirement, ...] = attrs.field(
        converter=_requirements, validator=_ladder
    )

    def evaluate(self, stats: SellerStats, at: datetime) -> SellerLevel:
        """The highest level whose every requirement ``stats`` meet at ``at``."""
        level = SellerLevel.NEW
        for requirement in self.requirements:
            if not requirement.unmet(stats, at):
                level = requirement.level
        return level

    def requirement(self, level: SellerLevel) -> LevelRequirement | None:
        """What ``level`` asks of a seller, or ``None`` if the policy does not list it
        (as for ``NEW``, which asks nothing)."""
        return next((r for r in self.requirements if r.level is level), None)


def _earnings(usd: str, bdt: str) -> dict[str, AmountLike]:
    return {"USD": usd, "EUR": usd, "GBP": usd, "BDT": bdt}


DEFAULT_LEVEL_POLICY = SellerLevelPolicy(
    (
        LevelRequirement(
            level=SellerLevel.LEVEL_ONE,
            min_days_active=60,
            min_completed_orders=10,
            min_earnings=_earnings("400.00", "40000.00"),
            min_rating=Decimal("4.7"),
            min_on_time_rate="90%",
            max_cancellation_rate="5%",
        ),
        LevelRequirement(
            level=SellerLevel.LEVEL_TWO,
            min_days_active=120,
            min_completed_orders=50,
            min_earnings=_earnings("2000.00", "200000.00"),
            min_rating=Decimal("4.7"),
            min_on_time_rate="90%",
            max_cancellation_rate="5%",
        ),
        LevelRequirement(
            level=SellerLevel.TOP_RATED,
            min_days_active=180,
            min_completed_orders=100,
            min_earnings=_earnings("20000.00", "2000000.00"),
            min_rating=Decimal("4.7"),
            min_on_time_rate="90%",
            max_cancellation_rate="5%",
        ),
    )
)
"""Fiverr-like defaults (see ``docs/explanation/catalog.md``); configurable, not official."""
