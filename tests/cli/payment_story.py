"""A story told through the cashier and a shared sandbox, for the tamper suite.

Nadia sells a 50.00 USD logo; Rahim pays 55.75 by card for three orders.
The first completes, clears, and Nadia withdraws her 40.00 to her bank (the
payout is paid). The second is cancelled by both and refunded to the card.
The third is paid and in progress, its 55.75 in escrow. Every payment
operation therefore has its entries: a charge, a card refund, a payout.

The story runs on a manual clock 30 days in the past, so that every
operation is older than any grace period by the real clock, and the sandbox
is registered at run time under :data:`GATEWAY` so that ``gigmarket audit
--gateway`` in this process lists what it made.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import attrs

from gigmarket.catalog import CreateAccount
from gigmarket.clock import ManualClock
from gigmarket.escrow import chart
from gigmarket.gateways import SandboxGateway
from gigmarket.ids import sequential_ids
from gigmarket.marketplace import Marketplace
from gigmarket.money import Amount
from gigmarket.orders import Actor, Offer, OfferedPackage, RefundDestination, fiverr_policy

GATEWAY = "tamper_sandbox"
API_KEY = "sk_sandbox_tamper_7Qe2"
WEBHOOK_SECRET = "whsec_tamper_x81"


@attrs.frozen(kw_only=True)
class PaymentStory:
    seller_id: str
    buyer_id: str
    completed_order: str
    refunded_order: str
    open_order: str
    payout_id: str
    """The payout operation's id."""
    payout_hold: str
    refund_id: str
    open_payment: str
    """The open order's payment operation."""
    open_charge: str
    """The gateway's charge of the open order."""

    @property
    def available(self) -> str:
        return chart.seller_available(self.seller_id, "USD")

    @property
    def gateway_account(self) -> str:
        return chart.gateway(GATEWAY, "USD")


def new_sandbox(clock: ManualClock) -> SandboxGateway:
    return SandboxGateway(api_key=API_KEY, webhook_secret=WEBHOOK_SECRET, clock=clock, name=GATEWAY)


def tell_payments(storage: Any, sandbox: SandboxGateway, clock: ManualClock) -> PaymentStory:
    market = Marketplace(
        storage,
        gateway=sandbox,
        policy=fiverr_policy(gateway=GATEWAY, refund_to=RefundDestination.GATEWAY),
        clock=clock,
        ids=sequential_ids("id"),
    )
    seller = market.catalog.create_account(CreateAccount(username="nadia")).id
    buyer = market.catalog.create_account(CreateAccount(username="rahim")).id
    offer = Offer(
        gig_id="gig-logo",
        gig_version=1,
        seller_id=seller,
        title="A minimalist logo",
        package=OfferedPackage(
            name="Basic", price=Amount.of("50.00", "USD"), delivery_days=3, revisions=1
        ),
    )

    def paid_order() -> str:
        order_id = market.orders.place(offer, buyer_id=buyer).id
        if not market.pay(order_id, buyer_id=buyer, source="tok_visa").paid:  # pragma: no cover
            raise AssertionError("the story's card was declined")
        return order_id

    completed = paid_order()
    market.orders.submit_requirements(completed, buyer_id=buyer, answers={})
    market.orders.deliver(completed, seller_id=seller)
    market.orders.accept(completed, buyer_id=buyer)
    clock.advance(timedelta(days=15))
    market.run_due()
    market.add_payout_account(seller, "USD", bank_token="bank_ok")
    withdrawal = market.withdraw(seller, Amount.of("40.00", "USD"))
    clock.advance(timedelta(days=3))
    sandbox.settle_pending()
    sandbox.settle_pending()
    market.reconcile()

    refunded = paid_order()
    market.orders.request_cancellation(refunded, by=Actor.BUYER, account_id=buyer)
    market.orders.respond_to_cancellation(refunded, by=Actor.SELLER, account_id=seller, accept=True)
    market.run_due()  # sends the queued card refund
    (refund,) = market.cashier.operations(refunded)[1:]

    open_order = paid_order()
    market.orders.submit_requirements(open_order, buyer_id=buyer, answers={})
    payment = market.cashier.operations(open_order)[0]
    payout = market.cashier.operation(withdrawal.operation.id)
    story = PaymentStory(
        seller_id=seller,
        buyer_id=buyer,
        completed_order=completed,
        refunded_order=refunded,
        open_order=open_order,
        payout_id=payout.id,
        payout_hold=payout.hold_id or "",
        refund_id=refund.id,
        open_payment=payment.id,
        open_charge=payment.gateway_ref or "",
    )
    if market.audit():  # pragma: no cover -- the story itself must be clean
        raise AssertionError(f"the payment story is not clean: {market.audit()}")
    return story


def story_clock() -> ManualClock:
    return ManualClock(datetime.now(UTC).replace(microsecond=0) - timedelta(days=30))
