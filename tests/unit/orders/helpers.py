"""Helpers for the order lifecycle's unit tests (the fixtures are in conftest.py).

:class:`World` wraps an :class:`~gigmarket.orders.OrderDesk` on a
:class:`~gigmarket.storage.memory.store.MemoryStorage`, a :class:`ManualClock` and
readable sequential ids; ``world.drive(state)`` places an order and walks it,
through the public commands only, into any state of the lifecycle (see
:data:`STATES`). ``snapshot(storage)`` copies everything committed, deep
enough to prove that a refused command changed nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import attrs

from gigmarket.clock import ManualClock
from gigmarket.errors import AccountNotFound
from gigmarket.escrow import chart
from gigmarket.escrow.audit import audit_ledger
from gigmarket.escrow.ledger import Ledger
from gigmarket.money import Amount
from gigmarket.orders import (
    DEFAULT_PROCESS,
    Actor,
    DisputeResolution,
    DueRun,
    Offer,
    OfferedPackage,
    Order,
    OrderDesk,
    OrderState,
    RequirementQuestion,
)
from gigmarket.orders.audit import audit_orders
from gigmarket.storage.memory.store import MemoryStorage

START = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
"""A Monday morning; every story starts here."""

BUYER_ID = "rahim"
SELLER_ID = "nadia"
STRANGER_ID = "mallory"
"""An account that is neither the buyer nor the seller of any order here."""

ANSWERS = {"brand": "Acme", "style": "flat"}

STATES: tuple[str, ...] = (
    "pending_payment",
    "awaiting_requirements",
    "in_progress",
    "in_progress_late",
    "delivered",
    "cancellation_requested_by_buyer",
    "cancellation_requested_by_seller",
    "disputed",
    "completed",
    "cancelled",
    "resolved",
    "expired",
)
"""Every state :meth:`World.drive` reaches, with the variants that change who may do what."""


def usd(value: str) -> Amount:
    return Amount.of(value, "USD")


def make_offer(
    price: str = "50.00",
    currency: str = "USD",
    *,
    delivery_days: int = 3,
    revisions: int = 1,
    questions: tuple[RequirementQuestion, ...] | None = None,
    seller_id: str = SELLER_ID,
) -> Offer:
    """A one-package offer; by default the seed story's 50.00 USD logo gig."""
    if questions is None:
        questions = (
            RequirementQuestion(id="brand", text="Your brand name?"),
            RequirementQuestion(id="style", text="Which style?", choices=("flat", "3d")),
            RequirementQuestion(id="notes", text="Anything else?", required=False),
        )
    return Offer(
        gig_id="gig-logo",
        gig_version=1,
        seller_id=seller_id,
        package=OfferedPackage(
            name="Basic",
            price=Amount.of(price, currency),
            delivery_days=delivery_days,
            revisions=revisions,
        ),
        questions=questions,
        title="A flat logo",
    )


# -- snapshots ----------------------------------------------------------------


def _frozen(value: Any) -> Any:
    """A comparable deep copy: attrs instances become (class, fields) so that
    fields excluded from ``==`` (an event's payload) are compared too."""
    if attrs.has(type(value)):
        return (
            type(value).__name__,
            tuple((f.name, _frozen(getattr(value, f.name))) for f in attrs.fields(type(value))),
        )
    if isinstance(value, dict):
        return {key: _frozen(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_frozen(item) for item in value]
    return value


Snapshot = dict[str, Any]


def snapshot(storage: MemoryStorage) -> Snapshot:
    """Everything committed to ``storage``: orders, timers, reviews, outbox,
    ledger accounts, balances and entries, idempotency records, and the
    append-only lists (entry log, timers by order, ...)."""
    tables = {name: _frozen(dict(rows)) for name, rows in sorted(storage.tables.items()) if rows}
    lists = {
        name: {key: _frozen(list(items)) for key, items in keyed.items() if items}
        for name, keyed in sorted(storage.lists.items())
    }
    return {"tables": tables, "lists": {name: keyed for name, keyed in lists.items() if keyed}}


# -- the world ----------------------------------------------------------------


@attrs.define
class World:
    """One desk on one store and one clock, and the ways to drive an order."""

    desk: OrderDesk
    storage: MemoryStorage
    clock: ManualClock

    # -- reading --

    def snapshot(self) -> Snapshot:
        return snapshot(self.storage)

    def balance(self, code: str) -> Amount | None:
        """An account's available balance, ``None`` if it was never opened
        (a balance read would say zero: the tests tell the two apart)."""
        ledger = Ledger(self.storage)
        try:
            ledger.account(code)
        except AccountNotFound:
            return None
        return ledger.balance(code).available

    def event_types(self, order_id: str | None = None) -> list[str]:
        return [
            event.type
            for event in self.desk.pending_events(limit=10_000)
            if order_id is None or event.order_id == order_id
        ]

    def pending_timers(self, order_id: str) -> list[tuple[str, datetime]]:
        return sorted(
            ((t.action, t.due_at) for t in self.desk.timers(order_id) if t.done_at is None),
            key=lambda pair: (pair[1], pair[0]),
        )

    def assert_books_balance(self) -> None:
        """Per-order conservation and the ledger's own invariants both hold."""
        with self.storage() as uow:
            assert audit_orders(uow, DEFAULT_PROCESS) == []
            report = audit_ledger(uow.ledger)
            assert report.ok, report

    def escrow_of(self, order: Order) -> Amount | None:
        return self.balance(chart.order_escrow(order.id))

    # -- driving --

    def place(self, offer: Offer | None = None, *, buyer_id: str = BUYER_ID) -> Order:
        return self.desk.place(offer or make_offer(), buyer_id=buyer_id)

    def pay(self, order: Order, reference: str | None = None) -> Order:
        """Record the exact charge; the gateway reference is ``ch_<order id>``."""
        return self.desk.record_payment(
            order.id, order.price.total_charged, reference=reference or f"ch_{order.id}"
        )

    def start(self, order: Order, answers: dict[str, str] | None = None) -> Order:
        return self.desk.submit_requirements(
            order.id, buyer_id=order.buyer_id, answers=ANSWERS if answers is None else answers
        )

    def advance(self, delta: timedelta) -> datetime:
        return self.clock.advance(delta)

    def run_due_at(self, when: datetime, *, limit: int | None = None) -> DueRun:
        """The timer job at ``when``: the clock moves there first when it is
        later (a timer never runs before the clock says it is due)."""
        if when > self.clock.now():
            self.clock.set(when)
        return self.desk.run_due(when, limit=limit)

    def drive(
        self,
        state: str,
        *,
        offer: Offer | None = None,
        resume: str = "in_progress",
    ) -> Order:
        """A new order in ``state`` (one of :data:`STATES`), reached through
        the public commands. ``resume`` picks the state a cancellation request
        is made from (``awaiting_requirements``, ``in_progress`` or
        ``delivered``)."""
        desk = self.desk
        order = self.place(offer)
        if state == "pending_payment":
            return order
        if state == "expired":
            self.advance(self.desk.policy.payment_window)
            desk.run_due()
            return self._in(order, OrderState.EXPIRED)
        order = self.pay(order)
        if state == "awaiting_requirements":
            return order
        if state.startswith("cancellation_requested"):
            by = Actor.SELLER if state.endswith("_by_seller") else Actor.BUYER
            if resume != "awaiting_requirements":
                order = self.drive_on(order, resume)
            return desk.request_cancellation(
                order.id, by=by, account_id=order.party(by) or "", reason="no longer needed"
            )
        if state == "cancelled":
            order = desk.request_cancellation(order.id, by=Actor.BUYER, account_id=BUYER_ID)
            return desk.respond_to_cancellation(
                order.id, by=Actor.SELLER, account_id=SELLER_ID, accept=True
            )
        return self.drive_on(order, state)

    def drive_on(self, order: Order, state: str) -> Order:
        """From awaiting_requirements onward, along the happy path and its branches."""
        desk = self.desk
        order = self.start(order)
        if state == "in_progress":
            return order
        if state == "in_progress_late":
            assert order.due_at is not None
            self.clock.set(order.due_at + timedelta(hours=1))
            return order
        self.advance(timedelta(days=2))
        order = desk.deliver(order.id, seller_id=order.seller_id)
        if state == "delivered":
            return order
        if state == "completed":
            return desk.accept(order.id, buyer_id=order.buyer_id)
        order = desk.open_dispute(order.id, by=Actor.BUYER, account_id=order.buyer_id)
        if state == "disputed":
            return order
        if state == "resolved":
            return desk.resolve_dispute(order.id, DisputeResolution.split(order, 30, 70))
        raise ValueError(f"cannot drive an order to {state!r}")  # pragma: no cover

    def _in(self, order: Order, state: OrderState) -> Order:
        order = self.desk.get(order.id)
        assert order.state is state
        return order


WorldFactory = Callable[..., World]
