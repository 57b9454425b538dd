"""The composition root: one object that wires gigmarket's parts together.

``Marketplace()`` with no arguments is a working marketplace on an embedded
SQLite file (``gigmarket.db``), the sandbox payment gateway and the
Fiverr-like policy; every part can be replaced explicitly::

    Marketplace(
        PostgresStorage(url),
        gateway=create_collection("acmepay", api_key=..., webhook_secret=...),
        policy=upwork_policy(gateway="acmepay"),
        clock=SystemClock(),
    )

It exposes the services a host needs (``catalog``, ``orders``, ``cashier``,
``ledger``) and the operations that span them: ``checkout`` reads a gig
version from the catalog and freezes it into an order, ``pay`` charges it,
``run_due`` fires the timers and sends the refunds they queued, ``reconcile``
settles what a crash or a lost answer left open. The services never import
each other; they meet here.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from gigmarket.cashier import (
    Cashier,
    CashierPolicy,
    CheckoutResult,
    PaymentOperation,
    ReconcileReport,
    WebhookOutcome,
    Withdrawal,
)
from gigmarket.cashier.audit import audit_payments
from gigmarket.catalog import (
    DEFAULT_LEVEL_POLICY,
    Catalog,
    CatalogTransaction,
    GigRules,
    GigVersion,
    SellerLevel,
    SellerLevelPolicy,
)
from gigmarket.clock import Clock, SystemClock
from gigmarket.errors import StorageError, UserNotFound, ValidationError
from gigmarket.escrow import chart
from gigmarket.escrow.audit import Violation, audit_ledger
from gigmarket.escrow.ledger import Ledger
from gigmarket.escrow.model import Balance
from gigmarket.gateways.protocols import CollectionGateway, DisbursementGateway
from gigmarket.gateways.sandbox import SandboxGateway
from gigmarket.gateways.secret import Secret
from gigmarket.ids import IdFactory, random_ids
from gigmarket.money import Amount
from gigmarket.orders import (
    DueRun,
    LifecyclePolicy,
    Offer,
    OfferedExtra,
    OfferedPackage,
    Order,
    OrderDesk,
    OrderEvent,
    OrdersUnitOfWork,
    RequirementQuestion,
    fiverr_policy,
)
from gigmarket.orders.audit import audit_orders
from gigmarket.ports import Storage, serves_every_port
from gigmarket.storage.sqlite.store import SQLiteStorage

__all__ = ["CatalogStanding", "Marketplace", "offer_from"]

DEFAULT_DATABASE = "gigmarket.db"
SANDBOX_API_KEY = "sk_sandbox_gigmarket"
"""The default sandbox's API key: a test key, worthless anywhere else."""
SANDBOX_WEBHOOK_SECRET = "whsec_sandbox_gigmarket"  # noqa: S105 -- a published test secret
"""The default sandbox's webhook secret (test only)."""


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
        if not serves_every_port(uow):
            raise StorageError(
                "seller levels are read in the order's own transaction: the store's unit of "
                "work has no catalog (see gigmarket.ports.UnitOfWork)"
            )
        catalog: CatalogTransaction = self._catalog.within(uow)
        try:
            return catalog.seller_level(seller_id, at) is SellerLevel.TOP_RATED
        except UserNotFound:
            # An order placed straight on the desk for a seller the catalog does
            # not know: not top-rated, and no reason to refuse the money it moves.
            return False


class Marketplace:
    """A whole marketplace: catalog, orders, payments and ledger on one storage.

    ``gateway`` takes buyers' money and ``payouts`` pays sellers (by default
    the gateway itself, when it can). The lifecycle ``policy`` books money on
    the gateway's account, so its ``gateway`` must be the gateway's name.
    ``catalog_rules`` says which currencies gigs are sold in and at what
    prices (:class:`~gigmarket.catalog.GigRules`: a marketplace selling in
    yen adds a ``JPY`` price range), ``level_policy`` how sellers earn their
    levels; both go to the :class:`~gigmarket.catalog.Catalog`.
    """

    def __init__(
        self,
        storage: Storage | None = None,
        *,
        gateway: CollectionGateway | None = None,
        payouts: DisbursementGateway | None = None,
        policy: LifecyclePolicy | None = None,
        cashier_policy: CashierPolicy | None = None,
        catalog_rules: GigRules | None = None,
        level_policy: SellerLevelPolicy | None = None,
        clock: Clock | None = None,
        ids: IdFactory = random_ids,
    ) -> None:
        self.storage: Storage = storage if storage is not None else SQLiteStorage(DEFAULT_DATABASE)
        self.clock: Clock = clock if clock is not None else SystemClock()
        if gateway is None:
            sandbox = SandboxGateway(
                api_key=SANDBOX_API_KEY, webhook_secret=SANDBOX_WEBHOOK_SECRET, clock=self.clock
            )
            gateway, payouts = sandbox, payouts if payouts is not None else sandbox
        elif payouts is None and isinstance(gateway, DisbursementGateway):
            payouts = gateway
        self.gateway = gateway
        self.payouts = payouts
        self.policy = policy if policy is not None else fiverr_policy(gateway=gateway.name)
        self.catalog = Catalog(
            self.storage,
            clock=self.clock,
            ids=ids,
            rules=catalog_rules,
            level_policy=level_policy if level_policy is not None else DEFAULT_LEVEL_POLICY,
        )
        self.orders = OrderDesk(
            self.storage,
            policy=self.policy,
            clock=self.clock,
            ids=ids,
            standing=CatalogStanding(self.catalog),
            card_refunds=Cashier.card_refunds_for(gateway, self.clock),
        )
        self.ledger = Ledger(self.storage, clock=self.clock, ids=ids)
        self.cashier = Cashier(
            self.storage,
            desk=self.orders,
            collection=gateway,
            disbursement=payouts,
            policy=cashier_policy,
            clock=self.clock,
            ids=ids,
        )

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

    # -- money ------------------------------------------------------------

    def pay(self, order_id: str, *, buyer_id: str, source: str) -> CheckoutResult:
        """Pay an order: buyer credit first, the rest charged to ``source`` (a
        payment-method token). See :meth:`gigmarket.cashier.Cashier.checkout`."""
        return self.cashier.checkout(order_id, buyer_id=buyer_id, source=source)

    def tip(self, order_id: str, amount: Amount, *, buyer_id: str, source: str) -> CheckoutResult:
        """Charge and book a tip on a completed order."""
        return self.cashier.tip(order_id, amount, buyer_id=buyer_id, source=source)

    def add_payout_account(
        self, seller_id: str, currency: str, *, bank_token: Secret | str
    ) -> PaymentOperation:
        """Register a seller's bank account (the gateway's token for it) for withdrawals."""
        return self.cashier.onboard_payee(seller_id, currency, bank_token=bank_token)

    def withdraw(
        self, seller_id: str, amount: Amount, *, idempotency_key: str | None = None
    ) -> Withdrawal:
        """Pay a seller's available earnings out to their bank, within the limits."""
        return self.cashier.withdraw(seller_id, amount, idempotency_key=idempotency_key)

    def handle_webhook(self, payload: bytes, headers: Mapping[str, str]) -> WebhookOutcome:
        """Verify, deduplicate and apply a gateway's webhook (raw body and headers)."""
        return self.cashier.handle_webhook(payload, headers)

    # -- the operators' jobs -----------------------------------------------

    def run_due(self, now: datetime | None = None) -> DueRun:
        """Fire every timer that is due (auto-completion, clearance, expiry...),
        then settle the payment attempts of the orders that expired and send
        the card refunds the timers queued. Safe to run from several cron
        workers at once.

        ``now`` defaults to the clock's now and may not be later: a timer
        never runs before it is due (:class:`~gigmarket.errors.FutureInstant`,
        and nothing runs). Advance the clock to let time pass."""
        done = self.orders.run_due(now)
        for _, order_id, outcome in done.executed:
            if outcome == "expire":
                self.cashier.settle_order(order_id)
        self.cashier.send_refunds()
        return done

    def reconcile(self, *, limit: int | None = None) -> ReconcileReport:
        """Settle every payment left open (lost answers, interrupted calls,
        pending charges and payouts, queued refunds) with the gateway's word."""
        return self.cashier.reconcile(limit=limit)

    def audit(self) -> list[Violation]:
        """Every broken invariant of the ledger, the orders and the payments, read
        in one unit of work (empty when all is well), and every payment
        operation open past the cashier policy's ``attention_after``
        (``9-stuck``: a person must decide it). For a SQL store in
        production, ``gigmarket audit`` reads a read-only snapshot instead."""
        with self.storage() as uow:
            violations = list(audit_ledger(uow.ledger).violations)
            violations += audit_orders(uow, self.orders.process)
            violations += audit_payments(
                uow,
                now=self.clock.now(),
                attention_after=self.cashier.policy.attention_after,
            )
            return violations

    # -- events -------------------------------------------------------------

    def events(self, limit: int = 100) -> list[OrderEvent]:
        """Events not yet acknowledged, oldest first (the outbox): deliver
        them (e-mails, webhooks to the host's own systems), then acknowledge."""
        return self.orders.pending_events(limit)

    def acknowledge(self, event_ids: Sequence[str]) -> None:
        """Mark events delivered; they are not returned by :meth:`events` again."""
        self.orders.acknowledge(event_ids)

    # -- balances -----------------------------------------------------------

    def buyer_credit(self, buyer_id: str, currency: str) -> Amount:
        """What a buyer can spend from refunds kept as credit."""
        return self._available(chart.buyer_credit(buyer_id, currency), currency)

    def seller_balance(self, seller_id: str, currency: str) -> dict[str, Amount]:
        """A seller's pending and available earnings (zero before the first)."""
        return {
            "pending": self._available(chart.seller_pending(seller_id, currency), currency),
            "available": self._available(chart.seller_available(seller_id, currency), currency),
            "debt": self._posted(chart.seller_debt(seller_id, currency), currency),
        }

    def balance(self, account: str, currency: str | None = None) -> Balance:
        """The ledger balance of one account (see :mod:`gigmarket.escrow.chart`).

        An account no money has touched yet reads zero, in the currency its
        code names (``seller:7:available:USD``) or, for a code that names none
        (``escrow:order:42``), in ``currency``. See
        :meth:`gigmarket.escrow.transaction.LedgerTransaction.balance`.
        """
        return self.ledger.balance(account, currency)

    def _posted(self, code: str, currency: str) -> Amount:
        with self.ledger.transaction() as tx:
            return tx.balance_or_zero(code, currency).posted

    def _available(self, code: str, currency: str) -> Amount:
        with self.ledger.transaction() as tx:
            return tx.balance_or_zero(code, currency).available
