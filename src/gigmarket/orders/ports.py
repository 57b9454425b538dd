"""The order lifecycle's storage port.

Orders, their armed timers, reviews and the outbox live behind these
protocols, in the same unit of work as the ledger: an order's transition, the
money it moves and the event it emits commit together or not at all.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Protocol

import attrs

from gigmarket.escrow.flows import EscrowFlows
from gigmarket.escrow.ports import LedgerUnitOfWork
from gigmarket.idempotency import ScopedKey
from gigmarket.money import Amount
from gigmarket.orders.events import Outbox
from gigmarket.orders.model import Actor, Order, Review, ScheduledAction

__all__ = [
    "CardRefunds",
    "OrderRepository",
    "OrdersUnitOfWork",
    "OrdersUnitOfWorkFactory",
    "SellerStanding",
    "StandingByPredicate",
]


class OrderRepository(Protocol):
    """Orders with optimistic concurrency, their timers and their reviews."""

    def get(self, order_id: str) -> Order | None:
        """The order ``order_id``, or ``None`` if there is none.

        An engine with row locks locks the order until the unit of work ends, so
        that a second command on the same order waits and reads the result.
        """
        ...

    def add(self, order: Order) -> None:
        """Store a new order; raise [StorageError][gigmarket.errors.StorageError]
        if an order with its id already exists."""
        ...

    def save(self, order: Order, *, expected_version: int) -> None:
        """Replace an order; raise :class:`~gigmarket.errors.ConcurrencyConflict`
        unless the stored version is ``expected_version``."""
        ...

    def orders(self) -> Sequence[Order]:
        """Every order (for audits and tests)."""
        ...

    def add_timer(self, timer: ScheduledAction) -> None:
        """Store a newly armed timer, indexed by its order, and pending while its
        ``done_at`` is ``None`` (for
        [next_due][gigmarket.orders.ports.OrderRepository.next_due])."""
        ...

    def save_timer(self, timer: ScheduledAction) -> None:
        """Replace a stored timer (retired, with its ``done_at`` and outcome, or
        with a new payload); a retired timer is no longer pending."""
        ...

    def timers_for(self, order_id: str) -> Sequence[ScheduledAction]:
        """Every timer of the order, pending and retired, oldest first (empty if
        it has none)."""
        ...

    def next_due(self, now: datetime) -> ScheduledAction | None:
        """The earliest pending timer due at or before ``now`` (ties by id)."""
        ...

    def add_review(self, review: Review) -> None:
        """Store one side's review of an order, keyed by the order and its author
        (each side reviews an order once)."""
        ...

    def save_review(self, review: Review) -> None:
        """Replace a stored review (when it is published)."""
        ...

    def reviews_for(self, order_id: str) -> Sequence[Review]:
        """The order's reviews in the order they were added (empty if none)."""
        ...

    def get_review(self, order_id: str, author: Actor) -> Review | None:
        """The review ``author`` wrote of the order, or ``None`` if that side has
        not reviewed it."""
        ...


class OrdersUnitOfWork(LedgerUnitOfWork, Protocol):
    """One transaction over the ledger, the orders and the outbox."""

    @property
    def orders(self) -> OrderRepository: ...

    @property
    def outbox(self) -> Outbox: ...


class OrdersUnitOfWorkFactory(Protocol):
    """Opens a fresh [OrdersUnitOfWork][gigmarket.orders.ports.OrdersUnitOfWork];
    a storage adapter is one of these."""

    def __call__(self) -> OrdersUnitOfWork: ...


class SellerStanding(Protocol):
    """Whether a seller is top-rated when their money is released (it shortens
    clearance). Asked inside the order's own unit of work, so an
    implementation reads the same consistent data the transition does; the
    catalog's seller levels are one implementation."""

    def is_top_rated(self, uow: OrdersUnitOfWork, seller_id: str, at: datetime) -> bool:
        """Whether ``seller_id`` is top-rated at ``at``, read through ``uow``
        (``False`` for a seller it knows nothing of)."""
        ...


@attrs.frozen
class StandingByPredicate:
    """A :class:`SellerStanding` from a plain predicate on the seller's id, for
    hosts that keep seller levels elsewhere (and for tests). By default no one
    is top-rated."""

    predicate: Callable[[str], bool] = lambda seller_id: False

    def is_top_rated(self, uow: OrdersUnitOfWork, seller_id: str, at: datetime) -> bool:
        """The predicate's answer for ``seller_id``; ``uow`` and ``at`` are not used."""
        return bool(self.predicate(seller_id))


class CardRefunds(Protocol):
    """Sends refunds back to buyers' cards, from inside an order's transition.

    A transition cannot wait for a gateway (its unit of work is open), so an
    implementation books the money out of escrow towards the card and queues
    the gateway call in the same unit of work; the payment service
    (:class:`~gigmarket.cashier.Cashier`) is the one gigmarket provides.
    Without one, refunds bound for the card go straight to the gateway's
    account, for a host that refunds cards itself.
    """

    def send(
        self,
        uow: OrdersUnitOfWork,
        flows: EscrowFlows,
        order: Order,
        amount: Amount,
        *,
        key: ScopedKey,
    ) -> None: ...
