"""Fixtures for the cashier unit tests: a marketplace on memory storage, a
sandbox gateway on a manual clock, and the checks every test ends with.

The :class:`Shop` is the test driver. Test modules take it as a fixture and
import the class for type checking only (``if TYPE_CHECKING: from conftest
import Shop``): pytest injects it, and importing a conftest at run time is
something pytest advises against.

Prices (the Fiverr-like policy, USD): an order of 50.00 charges 55.75 (the
seller nets 40.00, the platform keeps 15.75); 20.00 charges 24.10 (16.00 net);
100.00 charges 105.50 (80.00 net).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import TypeVar

import pytest

from gigmarket.cashier import (
    CashierPolicy,
    CheckoutResult,
    OperationKind,
    OperationStatus,
    PaymentOperation,
    WebhookOutcome,
)
from gigmarket.cashier.audit import audit_payments
from gigmarket.catalog import CreateAccount
from gigmarket.clock import ManualClock
from gigmarket.errors import PaymentNotFound
from gigmarket.escrow import chart
from gigmarket.escrow.audit import audit_ledger
from gigmarket.gateways import Capabilities, SandboxGateway
from gigmarket.gateways.results import Charge, Payout, PayoutStatus
from gigmarket.ids import sequential_ids
from gigmarket.marketplace import Marketplace
from gigmarket.money import Amount, sum_amounts
from gigmarket.orders import Actor, Offer, OfferedPackage, Order, RefundDestination
from gigmarket.orders.policy import fiverr_policy
from gigmarket.storage.memory.store import MemoryStorage

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
API_KEY = "sk_sandbox_cashier_unit_7Hq2"
WEBHOOK_SECRET = "whsec_cashier_unit_k9Pz"
CURRENCY = "USD"

CLEARANCE = timedelta(days=14)
"""The Fiverr-like clearance period: released earnings become withdrawable after it."""

ShopFactory = Callable[..., "Shop"]
"""``make_shop(refund_to=..., capabilities=..., cashier_policy=...)``."""

_Made = TypeVar("_Made", Charge, Payout)


def usd(value: str) -> Amount:
    return Amount.of(value, CURRENCY)


class Shop:
    """One marketplace with a seller and two buyers, and the ways tests drive it.

    ``gateway`` is the :class:`SandboxGateway` itself (the marketplace knows it
    only as a protocol), so that tests can arm faults, play the buyer of a
    3-D Secure charge, settle pending work and deliver webhooks.
    """

    def __init__(
        self,
        clock: ManualClock,
        *,
        refund_to: RefundDestination = RefundDestination.GATEWAY,
        capabilities: Capabilities | None = None,
        cashier_policy: CashierPolicy | None = None,
    ) -> None:
        self.clock = clock
        self.gateway = SandboxGateway(
            api_key=API_KEY,
            webhook_secret=WEBHOOK_SECRET,
            clock=clock,
            capabilities=capabilities,
        )
        self.storage = MemoryStorage()
        self.market = Marketplace(
            self.storage,
            gateway=self.gateway,
            policy=fiverr_policy(refund_to=refund_to, gateway=self.gateway.name),
            cashier_policy=cashier_policy,
            clock=clock,
            ids=sequential_ids(),
        )
        self.cashier = self.market.cashier
        self.orders = self.market.orders
        self.seller = self._account("nadia")
        self.buyer = self._account("rahim")
        self.other_buyer = self._account("tanvir")

    def _account(self, username: str) -> str:
        return self.market.catalog.create_account(CreateAccount(username=username)).id

    # -- orders -------------------------------------------------------------

    def place(self, price: str = "50.00", *, buyer: str | None = None) -> Order:
        """An order for a gig of ``price`` (USD), waiting for payment."""
        offer = Offer(
            gig_id="gig-logo",
            gig_version=1,
            seller_id=self.seller,
            title="A logo",
            package=OfferedPackage(name="basic", price=usd(price), delivery_days=3, revisions=1),
        )
        return self.orders.place(offer, buyer_id=buyer or self.buyer)

    def checkout(self, order_id: str, source: str = "tok_visa") -> CheckoutResult:
        order = self.orders.get(order_id)
        return self.cashier.checkout(order_id, buyer_id=order.buyer_id, source=source)

    def paid_order(self, price: str = "50.00", source: str = "tok_visa") -> Order:
        """An order placed and paid (by credit first, then ``source``)."""
        order = self.place(price)
        result = self.checkout(order.id, source)
        assert result.paid, result
        return result.order

    def start_work(self, order_id: str) -> Order:
        order = self.orders.get(order_id)
        return self.orders.submit_requirements(order_id, buyer_id=order.buyer_id, answers={})

    def complete(self, order_id: str) -> Order:
        """The buyer sends requirements, the seller delivers, the buyer accepts."""
        order = self.start_work(order_id)
        self.orders.deliver(order_id, seller_id=order.seller_id)
        return self.orders.accept(order_id, buyer_id=order.buyer_id)

    def cancel(self, order_id: str) -> Order:
        """Cancelled by agreement: the buyer asks, the seller accepts."""
        order = self.orders.get(order_id)
        self.orders.request_cancellation(order_id, by=Actor.BUYER, account_id=order.buyer_id)
        return self.orders.respond_to_cancellation(
            order_id, by=Actor.SELLER, account_id=order.seller_id, accept=True
        )

    def earn(self, price: str = "50.00") -> Order:
        """Sell one order, complete it and wait out clearance: the seller's net
        (``order.price.seller_net``) is available."""
        order = self.paid_order(price)
        self.complete(order.id)
        self.clock.advance(CLEARANCE + timedelta(hours=1))
        self.orders.run_due()
        return self.orders.get(order.id)

    def onboard(self, bank_token: str = "bank_ok") -> PaymentOperation:
        return self.cashier.onboard_payee(self.seller, CURRENCY, bank_token=bank_token)

    # -- reading ------------------------------------------------------------

    def balance(self, account: str) -> Amount:
        """An account's posted balance; zero for an account never opened."""
        with self.storage() as uow:
            if uow.ledger.get_account(account) is None:
                return Amount.zero(CURRENCY)
        return self.market.balance(account).posted

    def held(self, account: str) -> Amount:
        """What pending holds reserve on an account."""
        with self.storage() as uow:
            if uow.ledger.get_account(account) is None:
                return Amount.zero(CURRENCY)
        return self.market.balance(account).held

    @property
    def gateway_account(self) -> str:
        return chart.gateway(self.gateway.name, CURRENCY)

    @property
    def credit_account(self) -> str:
        return chart.buyer_credit(self.buyer, CURRENCY)

    @property
    def available_account(self) -> str:
        return chart.seller_available(self.seller, CURRENCY)

    def available(self) -> Amount:
        return self.market.seller_balance(self.seller, CURRENCY)["available"]

    def operations(self, subject: str, kind: OperationKind | None = None) -> list[PaymentOperation]:
        return [op for op in self.cashier.operations(subject) if kind is None or op.kind is kind]

    def open_operations(self) -> list[PaymentOperation]:
        with self.storage() as uow:
            return list(uow.payments.open_operations(10_000))

    def charges(self) -> list[Charge]:
        """Every charge the sandbox made, oldest first (its ids count up)."""
        return list(_numbered(self.gateway.get_charge, "ch"))

    def payouts(self) -> list[Payout]:
        """Every payout the sandbox made, oldest first."""
        return list(_numbered(self.gateway.get_payout, "po"))

    def deliver_webhooks(self) -> list[WebhookOutcome]:
        """Deliver every webhook due now to the cashier, in the sandbox's order."""
        return [
            self.cashier.handle_webhook(delivery.payload, delivery.headers)
            for delivery in self.gateway.deliver_webhooks()
        ]

    # -- the closing checks -------------------------------------------------

    def assert_books_agree(self) -> None:
        """The ledger is sound and says what the gateway did.

        - the ledger's audit and the payment service's own find nothing wrong;
        - the gateway account is minus what the platform holds of the world's
          money: captured, less refunded, less payouts the bank confirmed;
        - ``refunds:in_flight`` holds exactly the refunds still open, and
          ``payouts:in_flight`` exactly the payouts sent and not yet settled.
        """
        with self.storage() as uow:
            assert audit_ledger(uow.ledger).violations == ()
            assert audit_payments(uow) == []
        charges = self.charges()
        captured = sum_amounts((c.captured for c in charges), CURRENCY)
        refunded = sum_amounts((c.refunded for c in charges), CURRENCY)
        paid_out = sum_amounts(
            (p.amount for p in self.payouts() if p.status is PayoutStatus.PAID), CURRENCY
        )
        assert self.balance(self.gateway_account) == -(captured - refunded - paid_out)
        open_ops = self.open_operations()
        refunds_open = sum_amounts(
            (op.amount for op in open_ops if op.kind is OperationKind.REFUND), CURRENCY
        )
        assert self.balance(chart.refunds_in_flight(CURRENCY)) == refunds_open
        payouts_sent = sum_amounts(
            (
                op.amount
                for op in open_ops
                if op.kind is OperationKind.PAYOUT and op.status is OperationStatus.PENDING
            ),
            CURRENCY,
        )
        assert self.balance(chart.payouts_in_flight(CURRENCY)) == payouts_sent


def _numbered(get: Callable[[str], _Made], prefix: str) -> Iterator[_Made]:
    number = 1
    while True:
        try:
            yield get(f"{prefix}_{number:06d}")
        except PaymentNotFound:
            return
        number += 1


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(T0)


@pytest.fixture
def make_shop(clock: ManualClock) -> ShopFactory:
    """Build a shop with other parts: ``make_shop(refund_to=..., capabilities=...,
    cashier_policy=...)``."""

    def make(
        *,
        refund_to: RefundDestination = RefundDestination.GATEWAY,
        capabilities: Capabilities | None = None,
        cashier_policy: CashierPolicy | None = None,
    ) -> Shop:
        return Shop(
            clock, refund_to=refund_to, capabilities=capabilities, cashier_policy=cashier_policy
        )

    return make


@pytest.fixture
def shop(clock: ManualClock) -> Shop:
    """Refunds go back to cards (``refund_to=GATEWAY``), as most tests here want."""
    return Shop(clock)
