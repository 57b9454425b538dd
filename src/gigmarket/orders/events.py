"""Domain events: what happened, stored with the change that caused it.

Every transition and every money movement appends an :class:`OrderEvent` to
the outbox inside the same transaction as the change itself. A host reads the
outbox, delivers each event (an e-mail, a webhook) and acknowledges it; if it
crashes in between, the event is delivered again, never lost. Delivery is at
least once, so consumers deduplicate by ``id``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

import attrs

__all__ = ["EVENT_TYPES", "OrderEvent", "Outbox"]

EVENT_TYPES = (
    "order.placed",
    "order.paid",
    "order.expired",
    "order.requirements_submitted",
    "order.delivered",
    "order.revision_requested",
    "order.completed",
    "order.cancellation_requested",
    "order.cancellation_withdrawn",
    "order.cancellation_declined",
    "order.cancelled",
    "order.dispute_opened",
    "order.dispute_resolved",
    "money.released",
    "money.refunded",
    "money.cleared",
    "order.tipped",
    "money.clawed_back",
    "payment.failed",
    "refund.sent",
    "refund.failed",
    "payment.resolved",
    "review.submitted",
    "review.published",
    "timer.failed",
)
"""Every event type gigmarket emits; payloads are documented in the reference."""


@attrs.frozen(kw_only=True)
class OrderEvent:
    """Something that happened to an order. ``payload`` holds JSON-able facts;
    amounts are strings in major units with their currency (``"40.00 USD"``)."""

    id: str
    type: str
    order_id: str
    occurred_at: datetime
    payload: dict[str, object] = attrs.field(factory=dict, eq=False)
    sequence: int = 0


class Outbox(Protocol):
    """Storage port: events appended in the writer's transaction, read and
    acknowledged by whoever delivers them."""

    def append(self, event: OrderEvent) -> None:
        """Add an event, in the writer's unit of work: it becomes pending when that
        unit of work commits, and is lost with it on a rollback."""
        ...

    def pending(self, limit: int) -> list[OrderEvent]:
        """Unacknowledged events, oldest first."""
        ...

    def acknowledge(self, event_ids: list[str]) -> None:
        """Mark events delivered, so that [pending][gigmarket.orders.events.Outbox.pending]
        no longer returns them; ids not pending (already acknowledged, or unknown)
        are ignored."""
        ...
