"""The order lifecycle's ports (orders, timers, reviews, outbox) in memory."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING

from gigmarket.errors import ConcurrencyConflict, StorageError
from gigmarket.orders.events import OrderEvent
from gigmarket.orders.model import Actor, Order, Review, ScheduledAction

if TYPE_CHECKING:
    from gigmarket.storage.memory.store import MemoryTransaction

__all__ = ["MemoryOrderRepository", "MemoryOutbox"]


class MemoryOrderRepository:
    """Orders, timers and reviews over a memory transaction."""

    def __init__(self, tx: MemoryTransaction) -> None:
        self._tx = tx

    def get(self, order_id: str) -> Order | None:
        order: Order | None = self._tx.get("orders", order_id)
        return order

    def add(self, order: Order) -> None:
        if self.get(order.id) is not None:
            raise StorageError(f"order {order.id!r} already exists")
        self._tx.put("orders", order.id, order)

    def save(self, order: Order, *, expected_version: int) -> None:
        stored = self.get(order.id)
        if stored is None or stored.version != expected_version:
            raise ConcurrencyConflict(
                f"order {order.id!r} changed since version {expected_version} was read"
            )
        self._tx.put("orders", order.id, order)

    def orders(self) -> Sequence[Order]:
        orders: list[Order] = self._tx.values("orders")
        return orders

    def add_timer(self, timer: ScheduledAction) -> None:
        self._tx.put("timers", timer.id, timer)
        self._tx.append("timers_by_order", timer.order_id, timer.id)
        if timer.done_at is None:
            self._tx.put("timers_pending", timer.id, timer)

    def save_timer(self, timer: ScheduledAction) -> None:
        self._tx.put("timers", timer.id, timer)
        if timer.done_at is None:
            self._tx.put("timers_pending", timer.id, timer)
        else:
            self._tx.delete("timers_pending", timer.id)

    def timers_for(self, order_id: str) -> Sequence[ScheduledAction]:
        return [self._tx.get("timers", i) for i in self._tx.sequence("timers_by_order", order_id)]

    def next_due(self, now: datetime) -> ScheduledAction | None:
        pending: list[ScheduledAction] = self._tx.values("timers_pending")
        due = [timer for timer in pending if timer.due_at <= now]
        return min(due, key=lambda timer: (timer.due_at, timer.id), default=None)

    def add_review(self, review: Review) -> None:
        self._tx.put("reviews", (review.order_id, review.author), review)
        self._tx.append("reviews_by_order", review.order_id, review.author)

    def save_review(self, review: Review) -> None:
        self._tx.put("reviews", (review.order_id, review.author), review)

    def reviews_for(self, order_id: str) -> Sequence[Review]:
        return [
            self._tx.get("reviews", (order_id, author))
            for author in self._tx.sequence("reviews_by_order", order_id)
        ]

    def get_review(self, order_id: str, author: Actor) -> Review | None:
        review: Review | None = self._tx.get("reviews", (order_id, author))
        return review


class MemoryOutbox:
    """The outbox over a memory transaction: pending events in append order."""

    def __init__(self, tx: MemoryTransaction) -> None:
        self._tx = tx

    def append(self, event: OrderEvent) -> None:
        self._tx.put("outbox_pending", event.id, event)

    def pending(self, limit: int) -> list[OrderEvent]:
        events: list[OrderEvent] = self._tx.values("outbox_pending")
        return events[: max(limit, 0)]

    def acknowledge(self, event_ids: list[str]) -> None:
        for event_id in event_ids:
            if self._tx.get("outbox_pending", event_id) is not None:
                self._tx.delete("outbox_pending", event_id)
