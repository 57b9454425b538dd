"""The numbers of a marketplace: fees, timers, clearance, where refunds go.

A :class:`LifecyclePolicy` is configuration, not code: the same process runs a
Fiverr-like and an Upwork-like marketplace with different policies. Every
delay is a ``timedelta`` a host can change; the presets carry the figures in
DESIGN §8 and name where each comes from.
"""

from __future__ import annotations

import enum
from datetime import timedelta

import attrs

from gigmarket.errors import ValidationError
from gigmarket.escrow.presets import fiverr, upwork
from gigmarket.escrow.schedule import FeeSchedule

__all__ = ["LifecyclePolicy", "RefundDestination", "fiverr_policy", "upwork_policy"]


class RefundDestination(enum.Enum):
    """Where a refund goes: marketplace credit the buyer can spend again, or
    back through the payment gateway to the card."""

    CREDIT = "credit"
    GATEWAY = "gateway"


def _positive(instance: object, attribute: attrs.Attribute[timedelta], value: timedelta) -> None:
    if not isinstance(value, timedelta) or value <= timedelta(0):
        raise ValidationError("must be a positive timedelta", field=attribute.name)


@attrs.frozen(kw_only=True)
class LifecyclePolicy:
    """Fees and timers of one marketplace. All delays are positive ``timedelta``\\ s."""

    name: str
    fees: FeeSchedule
    payment_window: timedelta = attrs.field(default=timedelta(hours=24), validator=_positive)
    """An unpaid order expires after this long."""
    requirements_window: timedelta = attrs.field(default=timedelta(days=14), validator=_positive)
    """A paid order whose buyer never sends requirements is cancelled and refunded."""
    auto_complete_after: timedelta = attrs.field(default=timedelta(days=3), validator=_positive)
    """A delivered order the buyer neither accepts nor sends back completes by itself."""
    revision_time: timedelta = attrs.field(default=timedelta(days=3), validator=_positive)
    """A revision is due this long after it is requested."""
    late_cancel_after: timedelta = attrs.field(default=timedelta(days=30), validator=_positive)
    """An order this long past its due date with no delivery is cancelled and refunded."""
    cancellation_response_window: timedelta = attrs.field(
        default=timedelta(hours=48), validator=_positive
    )
    """Silence this long after a cancellation request accepts it."""
    dispute_timeout: timedelta = attrs.field(default=timedelta(days=30), validator=_positive)
    """A dispute no operator resolves in this time ends in a full refund."""
    clearance_period: timedelta = attrs.field(default=timedelta(days=14), validator=_positive)
    """Released earnings wait this long before they can be withdrawn."""
    clearance_period_top_rated: timedelta = attrs.field(
        default=timedelta(days=7), validator=_positive
    )
    """The shorter clearance of top-rated sellers."""
    review_window: timedelta = attrs.field(default=timedelta(days=14), validator=_positive)
    """Reviews may be left, and stay hidden, until this long after completion."""
    refund_to: RefundDestination = RefundDestination.CREDIT
    gateway: str = "sandbox"
    """The payment gateway orders are charged through (the name of its ledger account)."""


def fiverr_policy(**overrides: object) -> LifecyclePolicy:
    """Fiverr-like defaults (DESIGN §8): 5.5% + 3.00 small-order buyer fee, 20%
    commission, auto-complete after 3 days, 14 days clearance (7 for top-rated),
    48 hours to answer a cancellation request, 14 days to review."""
    fields: dict[str, object] = {"name": "fiverr", "fees": FeeSchedule.always(fiverr())}
    fields.update(overrides)
    return LifecyclePolicy(**fields)  # type: ignore[arg-type]


def upwork_policy(**overrides: object) -> LifecyclePolicy:
    """Upwork-like defaults (DESIGN §8): 10% flat commission and no buyer fee,
    auto-approval after 14 days, a 5-day security period for everyone."""
    fields: dict[str, object] = {
        "name": "upwork",
        "fees": FeeSchedule.always(upwork()),
        "auto_complete_after": timedelta(days=14),
        "clearance_period": timedelta(days=5),
        "clearance_period_top_rated": timedelta(days=5),
    }
    fields.update(overrides)
    return LifecyclePolicy(**fields)  # type: ignore[arg-type]
