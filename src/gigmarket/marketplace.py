"""The composition root: one object that wires gigmarket's parts together.

``Marketplace()`` with no arguments is a working marketplace on an embedded
SQLite file (``gigmarket.db``) with the Fiverr-like policy; every part can be
replaced explicitly::

    Marketplace(PostgresStorage(url), policy=upwork_policy(), clock=SystemClock())

It exposes the services a host needs (``catalog``, ``orders``, ``ledger``)
and the few operations that span them, such as checkout, which reads a gig
version from the catalog and freezes it into an order. The services never
import each other; they meet here.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from datetime import datetime
from typing import Any, cast

from gigmarket.catalog import Catalog, CatalogTransaction, GigVersion, SellerLevel
from gigmarket.catalog.ports import CatalogUnitOfWork
from gigmarket.clock import Clock, SystemClock
from gigmarket.errors import ValidationError
from gigmarket.escrow import chart
from gigmarket.escrow.ledger import Ledger
from gigmarket.escrow.model import Balance
from gigmarket.ids import IdFactory, random_ids
from gigmarket.money import Amount
from gigmarket.orders import (
    LifecyclePolicy,
    Offer,
    OfferedExtra,
    OfferedPackage,
    Order,
    OrderDesk,
    OrdersUnitOfWork,
    RequirementQuestion,
    fiverr_policy,
)
from gigmarket.storage.sqlite import SQLiteStorage

__all__ = ["CatalogStanding", "Marketplace", "offer_from"]

DEFAULT_DATABASE = "gigmarket.db"


def offer_from(
    version: GigVersion, package: str, extras: Sequence[str] = (), quantity: int = 1
) -> Offer:
    """Freeze what a buyer picks from one gig version into an order's offer.

    The catalog's :meth:`~gigmarket.catalog.GigVersion.quote` validates the
    choice (a package that exists, each extra once); the offer then keeps
    prices, days, revisions and questions exactly as this version states them.
    """
    version.quote(package, extras)
    chosen = version.package(package)
    content = version.content
    return Offer(
        gig_id=version.gig_id,
        gig_version=version.number,
        seller_id=version.seller_id,
        title=content.title,
        package=OfferedPackage(
            name=chosen.name,
            price=chosen.price,
            delivery_days=chosen.delivery_days,
            revisions=chosen.revisions,
        ),
        extras=tuple(
            OfferedExtra(
                name=extra.name,
                price=extra.price,
                extra_days=extra.delivery_days_delta,
                extra_revisions=extra.extra_revisions,
            )
            for extra in (version.extra(name) for name in extras)
        ),
        quantity=quantity,
        questions=tuple(
            RequirementQuestion(
                id=f"q{number}",
                text=question.text,
                required=question.required,
                choices=question.choices,
                allow_multiple=question.allow_multiple,
            )
            for number, question in enumerate(content.requirements, start=1)
        ),
    )


class CatalogStanding:
    """Seller standing from the catalog's seller levels, read in the order's
    own unit of work (every gigmarket storage serves both ports)."""

    def __init__(self, catalog: Catalog) -> None:
        self._catalog = catalog

    def is_top_rated(self, uow: OrdersUnitOfWork, seller_id: str, at: datetime) -> bool:
        catalog: CatalogTransaction = self._catalog.within(cast(CatalogUnitOfWork, uow))
        return catalog.seller_level(seller_id, at) is SellerLevel.TOP_RATED


class Marketplace:
    """A whole marketplace: catalog, orders and ledger on one storage."""

    def __init__(
        self,
        storage: Any = None,
        *,
        policy: LifecyclePolicy | None = None,
        clock: Clock | None = None,
        ids: IdFactory = random_ids,
    ) -> None:
        self.storage = storage if storage is not None else SQLiteStorage(DEFAULT_DATABASE)
        self.policy = policy if policy is not None else fiverr_policy()
        self.clock: Clock = clock if clock is not None else SystemClock()
        self.catalog = Catalog(self.storage, clock=self.clock, ids=ids)
        self.orders = OrderDesk(
            self.storage,
            policy=self.policy,
            clock=self.clock,
            ids=ids,
            standing=CatalogStanding(self.catalog),
        )
        self.ledger = Ledger(self.storage, clock=self.clock, ids=ids)

    @classmethod
    def at(cls, path: str | os.PathLike[str], **parts: Any) -> Marketplace:
        """A marketplace on the SQLite file at ``path``."""
        return cls(SQLiteStorage(path), **parts)

    def checkout(
        self,
        gig_id: str,
        *,
        buyer_id: str,
        package: str,
        extras: Sequence[str] = (),
        quantity: int = 1,
        idempotency_key: str | None = None,
    ) -> Order:
        """Place an order for the gig's current version, if it can be ordered now."""
        if isinstance(quantity, bool) or not isinstance(quantity, int):
            raise ValidationError("a whole number", field="quantity")
        version = self.catalog.ensure_orderable(gig_id, buyer_id=buyer_id)
        offer = offer_from(version, package, extras, quantity)
        return self.orders.place(offer, buyer_id=buyer_id, idempotency_key=idempotency_key)

    def seller_balance(self, seller_id: str, currency: str) -> dict[str, Amount]:
        """A seller's pending and available earnings (zero before the first)."""
        return {
            "pending": self._available(chart.seller_pending(seller_id, currency), currency),
            "available": self._available(chart.seller_available(seller_id, currency), currency),
        }

    def balance(self, account: str) -> Balance:
        """The ledger balance of one account (see :mod:`gigmarket.escrow.chart`)."""
        return self.ledger.balance(account)

    def _available(self, code: str, currency: str) -> Amount:
        with self.ledger.transaction() as tx:
            if tx.uow.ledger.get_account(code) is None:
                return Amount.zero(currency)
            return tx.balance(code).available
