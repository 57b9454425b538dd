"""Every storage port in one place: what a gigmarket store must do.

A reader who asks "what must a store do?" finds the answer here, the way
APScheduler 4 keeps every abstract port of its scheduler in one ``abc``
module. Two protocols state the whole store:

* :class:`UnitOfWork`: one atomic transaction over every repository a
  gigmarket store serves (the ledger, the idempotency records, the orders
  with their timers and reviews, the outbox, the catalog and the payment
  operations), plus ``commit()`` and ``rollback()``;
* :class:`Storage`: the factory of those transactions (``storage()`` opens
  one), with ``close()``, ``schema_version()`` and ``migrate()``.

:class:`~gigmarket.marketplace.Marketplace`, the operators' commands
(:mod:`gigmarket.admin.operations`) and the store audit take a :class:`Storage`;
:mod:`gigmarket.storage` holds the adapters that serve it (memory, SQLite,
PostgreSQL), and :mod:`gigmarket.testing.storage` the suite that checks one.

**Why the domain keeps its narrower ports.** Each service asks for no more
than it uses: the ledger a :class:`LedgerUnitOfWork`, the order desk an
:class:`OrdersUnitOfWork`, the cashier a :class:`CashierUnitOfWork`, the
catalog a :class:`CatalogUnitOfWork`. Those protocols stay beside the models
they name (``gigmarket.escrow.ports`` and its siblings), because defining
them here would make the escrow import orders and the catalog to reach its own
port, and the ledger must stand alone. This module sits one layer above the
domain: it composes the narrow ports into the whole store and re-exports
every one of them, so an adapter author imports from here and nothing else of
the core. It imports no adapter, and no driver.

A store may also bring an indexed gig search of its own
(:class:`GigSearchProvider`, as the SQL adapters do); without one the catalog
scans. That is optional, so it is not part of :class:`Storage`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, TypeGuard

from gigmarket.cashier.model import PaymentOperation
from gigmarket.cashier.ports import (
    CashierUnitOfWork,
    CashierUnitOfWorkFactory,
    PaymentOperationRepository,
)
from gigmarket.catalog.ports import CatalogRepository, CatalogUnitOfWork, CatalogUnitOfWorkFactory
from gigmarket.catalog.search import GigSearch, GigSearchProvider
from gigmarket.escrow.ports import LedgerRepository, LedgerUnitOfWork, UnitOfWorkFactory
from gigmarket.idempotency import IdempotencyRepository
from gigmarket.orders.events import Outbox
from gigmarket.orders.ports import OrderRepository, OrdersUnitOfWork, OrdersUnitOfWorkFactory
from gigmarket.unit_of_work import UnitOfWork as Transaction

__all__ = [
    "CashierUnitOfWork",
    "CashierUnitOfWorkFactory",
    "CatalogRepository",
    "CatalogUnitOfWork",
    "CatalogUnitOfWorkFactory",
    "GigSearch",
    "GigSearchProvider",
    "IdempotencyRepository",
    "LedgerRepository",
    "LedgerUnitOfWork",
    "OrderRepository",
    "OrdersUnitOfWork",
    "OrdersUnitOfWorkFactory",
    "Outbox",
    "PaymentOperationRepository",
    "PaymentRepository",
    "Storage",
    "Transaction",
    "UnitOfWork",
    "UnitOfWorkFactory",
    "serves_every_port",
]


class PaymentRepository(PaymentOperationRepository, Protocol):
    """The payment operations as a whole store keeps them: the cashier's port,
    and the listing of every operation that an audit reads."""

    def all_operations(self) -> Sequence[PaymentOperation]:
        """Every operation, oldest first (by creation time, then id)."""
        ...


class UnitOfWork(CashierUnitOfWork, CatalogUnitOfWork, Protocol):
    """One atomic transaction over every repository of a gigmarket store.

    It is every service's unit of work at once (ledger, orders, cashier and
    catalog), because one command spans them: a confirmed charge records the
    payment operation, pays the order, posts the journal entry that funds
    escrow and appends the event, and these commit together or not at all.
    Leaving the ``with`` block without ``commit()`` (or by an exception)
    rolls back everything written since the last commit.
    """

    @property
    def payments(self) -> PaymentRepository:
        """The payment operations, inside this transaction."""
        ...


class Storage(Protocol):
    """A gigmarket store: the factory of its units of work, and its schema.

    ``with storage() as uow: ...; uow.commit()``. The caller that opened a
    store closes it.
    """

    def __call__(self) -> UnitOfWork:
        """Open a new unit of work (a transaction begins when it is entered)."""
        ...

    def close(self) -> None:
        """Close what this store holds open for the calling thread (its
        connections); it may be used again afterwards."""
        ...

    def schema_version(self) -> int:
        """The version of gigmarket's schema the store holds (0: none yet)."""
        ...

    def migrate(self) -> int:
        """Bring the schema forward to this code's version; return the version."""
        ...


def serves_every_port(uow: Transaction) -> TypeGuard[UnitOfWork]:
    """Whether a service's unit of work is a whole store's, so that code which
    joins two services (seller levels read inside an order's transition) can
    use the other's repositories in the same transaction.

    Every gigmarket adapter's is; a host's own narrower store is not, and the
    caller says so rather than failing on a missing attribute.
    """
    return all(
        getattr(uow, name, None) is not None
        for name in ("ledger", "idempotency", "orders", "outbox", "catalog", "payments")
    )
