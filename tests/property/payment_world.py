"""A marketplace wired to a fault-injecting sandbox gateway, and what must hold of its money.

The payment fault machine (:mod:`tests.property.test_payment_faults`) drives a
:class:`PaymentWorld`: a :class:`~gigmarket.marketplace.Marketplace` on a
:class:`~gigmarket.storage.memory.store.MemoryStorage`, a
:class:`~gigmarket.clock.ManualClock` and a
:class:`~gigmarket.gateways.sandbox.SandboxGateway` whose
:class:`~gigmarket.gateways.faults.FaultPlan` the machine arms. This module
holds everything that is not a rule:

- **the gateway's side of the story**, read only through the sandbox's public
  API: every charge, refund and payout the cashier can have caused is found by
  its idempotency key, which is always the cashier's operation id
  (``find_charge``, ``find_payout``, ``Charge.refund_for``);
- **webhook delivery** as a gateway does it: a delivery the receiver refuses
  (a bad signature, a 5xx because the gateway could not be queried) is
  attempted again later. The sandbox's ``tamper`` fault changes the genuine
  delivery itself; the world hands the refused body to the cashier (which
  must refuse it and change nothing) and then redelivers the genuine event,
  re-signed, as the gateway's retry would;
- **settling**: the clock far ahead, ``run_due``, ``settle_pending``,
  webhooks, ``send_refunds`` and ``reconcile``, round after round, until no
  operation is open and nothing is left to deliver. A gateway that keeps
  refusing the charges reconcile sends again (``stubborn``) leaves some open:
  each must be on reconcile's list of what needs a person once it is past the
  limit, and the documented way out ends it (an order's expiry, an
  operator's decision read off the gateway, :meth:`PaymentWorld.decide`);
- **the invariants**: :meth:`PaymentWorld.check_step` (after every step:
  the marketplace's own audit of ledger, orders and payments, and what can be
  held against the gateway while things are in flight) and
  :meth:`PaymentWorld.check_settled` (everything the issue asks for, once
  settled).
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta

import pytest

from gigmarket.cashier import OperationKind, OperationStatus, PaymentOperation
from gigmarket.cashier.audit import STUCK, Attention
from gigmarket.catalog import CreateAccount
from gigmarket.clock import ManualClock
from gigmarket.errors import GatewayUnavailable, WebhookVerificationFailed
from gigmarket.escrow import chart
from gigmarket.gateways.faults import Fault
from gigmarket.gateways.protocols import Operation
from gigmarket.gateways.results import (
    Charge,
    ChargeStatus,
    Payout,
    PayoutStatus,
    RefundStatus,
)
from gigmarket.gateways.sandbox import SandboxGateway
from gigmarket.gateways.secret import Secret
from gigmarket.gateways.webhooks import SIGNATURE_HEADER, sign
from gigmarket.ids import sequential_ids
from gigmarket.marketplace import Marketplace
from gigmarket.money import Amount
from gigmarket.orders import Offer, OfferedPackage, Order, OrderState, RefundDestination
from gigmarket.orders.policy import fiverr_policy
from gigmarket.storage.memory.store import MemoryStorage

__all__ = [
    "BUYERS",
    "CURRENCY",
    "MINIMUM_WITHDRAWAL",
    "READS",
    "SELLERS",
    "START",
    "PaymentWorld",
    "card_part",
    "kept",
    "offer",
    "totals",
]

S = OperationStatus
START = datetime(2026, 3, 2, 9, tzinfo=UTC)
CURRENCY = "USD"
MINIMUM_WITHDRAWAL = 500
"""The Fiverr-like limits' smallest withdrawal, in cents."""
SELLERS = ("s0", "s1")
BUYERS = ("b0", "b1")
API_KEY = "sk_sandbox_fault_machine"
WEBHOOK_SECRET = "whsec_sandbox_fault_machine"

READS = (
    Operation.GET_CHARGE,
    Operation.FIND_CHARGE,
    Operation.GET_PAYEE,
    Operation.FIND_PAYEE,
    Operation.GET_PAYOUT,
    Operation.FIND_PAYOUT,
)
"""Status queries: armed only around reconcile and webhook handling, and
drained before the world reads the gateway for its own checks."""

TERMINAL = frozenset({OrderState.COMPLETED, OrderState.CANCELLED, OrderState.EXPIRED})
SETTLE_ROUNDS = 12
SETTLE_STEP = timedelta(days=20)
"""Longer than every timer and gateway delay involved (clearance 14 days,
payouts 2 days, cancellation answers 48 hours, charges 10 minutes), so that a
handful of rounds reaches a standstill."""


def kept(op: PaymentOperation) -> bool:
    """A payment or tip the books took as the order's (not given back)."""
    return op.status is S.SUCCEEDED and op.failure is None


def card_part(op: PaymentOperation) -> int:
    """What a kept payment took from the card (a credit-only payment took nothing)."""
    return op.amount.units if op.gateway_ref is not None else 0


class PaymentWorld:
    """One marketplace and its sandbox gateway, with the readers and checks the machine needs."""

    def __init__(self, refund_to: RefundDestination, *, stubborn: bool = False) -> None:
        self.stubborn = stubborn
        """The gateway refuses, to the end, every charge reconcile sends again."""
        self.decisions = 0
        """Operator decisions taken while settling (the way out of what the gateway never ends)."""
        self.clock = ManualClock(START)
        self.storage = MemoryStorage()
        self.gateway = SandboxGateway(
            api_key=API_KEY, webhook_secret=WEBHOOK_SECRET, clock=self.clock
        )
        self.market = Marketplace(
            self.storage,
            gateway=self.gateway,
            policy=fiverr_policy(gateway=self.gateway.name, refund_to=refund_to),
            clock=self.clock,
            ids=sequential_ids("id"),
        )
        self.cashier = self.market.cashier
        self.desk = self.market.orders
        self.people = {
            name: self.market.catalog.create_account(CreateAccount(username=f"user_{name}")).id
            for name in (*SELLERS, *BUYERS)
        }
        self.orders: list[str] = []
        self.retries: list[bytes] = []
        """Webhook bodies the cashier refused, to be delivered again (re-signed)."""
        self.handled: set[str] = set()
        """Ids of the webhook events the cashier accepted."""

    def complete(self, buyer_id: str, seller_id: str, units: int) -> str:
        """An order paid by card and completed, without a fault: earlier business."""
        order_id = self.desk.place(offer(seller_id, units), buyer_id=buyer_id).id
        self.orders.append(order_id)
        paid = self.cashier.checkout(order_id, buyer_id=buyer_id, source="tok_visa")
        assert paid.paid, paid
        self.desk.submit_requirements(order_id, buyer_id=buyer_id, answers={})
        self.desk.deliver(order_id, seller_id=seller_id)
        self.desk.accept(order_id, buyer_id=buyer_id)
        return order_id

    # -- faults -----------------------------------------------------------

    def arm(self, operation: Operation, *faults: Fault | None) -> None:
        """Queue ``faults`` for the next calls of ``operation`` (``None``: none),
        after dropping any left over; the calls after them go through."""
        self.disarm(operation)
        self.gateway.faults.on(operation, *(fault for fault in faults if fault is not None))

    def disarm(self, *operations: Operation) -> None:
        """Drop the faults still queued for ``operations`` (all calls when none are named)."""
        plan = self.gateway.faults
        for operation in operations or tuple(Operation):
            while plan.take(operation) is not None:
                pass

    # -- reading the store ------------------------------------------------

    @property
    def subjects(self) -> list[str]:
        return [*self.orders, *(self.people[name] for name in SELLERS)]

    def order(self, order_id: str) -> Order:
        return self.desk.get(order_id)

    def some_order_in(self, state: OrderState) -> bool:
        return any(self.order(order_id).state is state for order_id in self.orders)

    def some_earnings(self) -> bool:
        """Whether a seller has enough cleared earnings for a withdrawal (5.00)."""
        for seller in SELLERS:
            posted, held = self.balance(chart.seller_available(self.people[seller], CURRENCY))
            if posted - held >= MINIMUM_WITHDRAWAL:
                return True
        return False

    def operations(self, subject: str) -> list[PaymentOperation]:
        return self.cashier.operations(subject)

    def all_operations(self) -> list[PaymentOperation]:
        return [op for subject in self.subjects for op in self.operations(subject)]

    def open_operations(self) -> list[PaymentOperation]:
        return [op for op in self.all_operations() if op.is_open]

    def balance(self, code: str) -> tuple[int, int]:
        """(posted, held) of a ledger account, in minor units ((0, 0) before it is opened)."""
        with self.storage() as uow:
            if uow.ledger.get_account(code) is None:
                return 0, 0
            stored = uow.ledger.lock_balances([code])[code]
            return stored.posted, stored.held

    def snapshot(self) -> tuple[object, ...]:
        """Everything a refused call must leave as it was."""
        subjects = self.subjects
        with self.storage() as uow:
            accounts = [account.code for account in uow.ledger.accounts()]
            return (
                tuple(sorted(uow.orders.orders(), key=lambda order: order.id)),
                tuple(op for subject in subjects for op in uow.payments.operations_for(subject)),
                tuple(sorted(uow.ledger.lock_balances(accounts).items())),
                tuple(entry.id for entry in uow.ledger.iter_entries()),
                tuple(hold.id for hold in uow.ledger.pending_holds()),
                len(uow.outbox.pending(10**9)),
            )

    # -- reading the gateway (public API, by idempotency key) --------------

    def charge_of(self, op: PaymentOperation) -> Charge | None:
        """The charge a payment or tip operation made at the gateway, if any."""
        return self.gateway.find_charge(op.id)

    def payout_of(self, op: PaymentOperation) -> Payout | None:
        """The payout a withdrawal made at the gateway, if any."""
        return self.gateway.find_payout(op.id)

    def charges(self, order_id: str) -> Iterator[tuple[PaymentOperation, Charge]]:
        for op in self.operations(order_id):
            if op.kind in (OperationKind.PAYMENT, OperationKind.TIP):
                charge = self.charge_of(op)
                if charge is not None:
                    yield op, charge

    # -- webhooks ---------------------------------------------------------

    def deliver_webhooks(self) -> int:
        """Deliver what the gateway has due, and the retries of refused
        deliveries; check what each did. Returns how many were delivered."""
        retries, self.retries = self.retries, []
        now = self.clock.now()
        deliveries = [(d.payload, dict(d.headers)) for d in self.gateway.deliver_webhooks()]
        secret = Secret(WEBHOOK_SECRET)
        deliveries += [(body, {SIGNATURE_HEADER: sign(secret, now, body)}) for body in retries]
        for payload, headers in deliveries:
            self._deliver(payload, headers)
        return len(deliveries)

    def _deliver(self, payload: bytes, headers: dict[str, str]) -> None:
        body = json.loads(payload)
        before = self.snapshot()
        if "tampered" in body["data"]:
            with pytest.raises(WebhookVerificationFailed):
                self.cashier.handle_webhook(payload, headers)
            assert self.snapshot() == before, "a tampered webhook changed something"
            del body["data"]["tampered"]  # the genuine event, as the gateway will retry it
            self.retries.append(json.dumps(body, sort_keys=True, separators=(",", ":")).encode())
            return
        try:
            outcome = self.cashier.handle_webhook(payload, headers)
        except GatewayUnavailable:  # answered 5xx: the gateway delivers it again
            assert self.snapshot() == before, "a webhook that failed changed something"
            self.retries.append(payload)
            return
        if body["id"] in self.handled:
            assert outcome.duplicate, f"event {body['id']} was applied twice"
            assert self.snapshot() == before, "a duplicate webhook changed something"
        else:
            assert not outcome.duplicate, f"event {body['id']} is new, not a duplicate"
            self.handled.add(body["id"])

    # -- settling ---------------------------------------------------------

    def settle(self) -> None:
        """Let everything finish: no more faults on calls (but a ``stubborn``
        gateway's refusals of charges sent again), buyers who never
        authenticate give up, the clock runs far ahead, and the jobs run until
        no operation is open and nothing is left to deliver.

        No stuck money: whatever reconcile leaves open past the policy's limit
        is on its list of what needs a person (and on the audit's), and an
        operator decides it from what the gateway shows; an order that expired
        with its charge unknown has that charge settled by ``run_due``."""
        self.disarm()
        for _ in range(SETTLE_ROUNDS):
            self.abandon_authentications()
            self.clock.advance(SETTLE_STEP)
            self.market.run_due()
            self.gateway.settle_pending()
            delivered = self.deliver_webhooks()
            self.cashier.send_refunds()
            if self.stubborn:
                self.gateway.faults.on(Operation.CHARGE, *[Fault.refuse()] * 50)
            try:
                report = self.cashier.reconcile()
            finally:
                self.disarm(Operation.CHARGE)
            self.check_reported(report.attention)
            delivered += self.deliver_webhooks()
            for stuck in report.attention:
                decided = self.decide(self.cashier.operation(stuck.operation_id))
                self.decisions += decided
                delivered += decided
            quiet = not delivered and report.clean and not report.waiting and not self.retries
            if quiet and not self.open_operations() and self._orders_at_rest():
                return
        open_ops = [(op.id, op.status.value) for op in self.open_operations()]
        raise AssertionError(f"no standstill after {SETTLE_ROUNDS} rounds; still open: {open_ops}")

    def overdue(self) -> set[str]:
        """The operations open for longer than the policy's limit."""
        limit = self.cashier.policy.attention_after
        now = self.clock.now()
        return {op.id for op in self.open_operations() if now - op.created_at > limit}

    def check_reported(self, attention: Sequence[Attention]) -> None:
        """Every operation open past the limit is on reconcile's list, and the audit's."""
        overdue = self.overdue()
        listed = {item.operation_id for item in attention}
        assert overdue <= listed, f"open past the limit, not reported: {overdue - listed}"
        self.check_audit_reports()

    def check_audit_reports(self) -> None:
        """The audit lists exactly the operations open past the limit (9-stuck)."""
        overdue = self.overdue()
        audited = [v.message for v in self.market.audit() if v.invariant == STUCK]
        listed = {line.split(" ", 2)[1] for line in audited}
        assert listed == overdue, (audited, overdue)

    def decide(self, op: PaymentOperation) -> int:
        """An operator settles ``op`` as the gateway's dashboard shows it: a
        charge captured succeeded (with its id), one the gateway never made or
        that failed did not; a payout or a refund only once the gateway has
        settled it (one still held there could be paid after all). Returns 1
        when a decision was recorded."""
        outcome, reference = self.dashboard(op)
        if outcome is None or not op.is_open:
            return 0
        decided = self.cashier.resolve(
            op.id,
            outcome=outcome,
            reason="as the gateway's dashboard shows it",
            operator="ops",
            reference=reference,
        )
        assert not decided.is_open
        assert (decided.resolved_by, decided.resolved_at) == ("ops", self.clock.now())
        return 1

    def dashboard(self, op: PaymentOperation) -> tuple[str | None, str | None]:
        """What the gateway shows of ``op``: (outcome to record, its id there),
        or ``(None, None)`` when it cannot be told yet."""
        if op.kind in (OperationKind.PAYMENT, OperationKind.TIP):
            charge = self.charge_of(op)
            if charge is None:
                return "failed", None  # one that lands later is refunded when it turns up
            if charge.status is ChargeStatus.CAPTURED:
                return "succeeded", charge.id
            if charge.status in (ChargeStatus.FAILED, ChargeStatus.CANCELLED):
                return "failed", charge.id
            return None, None
        if op.kind is OperationKind.PAYOUT:
            payout = self.payout_of(op)
            if payout is not None and payout.status is PayoutStatus.PAID:
                return "succeeded", payout.id
            if payout is not None and payout.status in (
                PayoutStatus.FAILED,
                PayoutStatus.CANCELLED,
            ):
                return "failed", payout.id
            return None, None
        if op.kind is OperationKind.REFUND and op.charge_ref is not None:
            refund = self.gateway.get_charge(op.charge_ref).refund_for(op.id)
            if refund is not None and refund.status is RefundStatus.SUCCEEDED:
                return "succeeded", refund.id
            if refund is not None and refund.status is RefundStatus.FAILED:
                return "failed", refund.id
        return None, None

    def abandon_authentications(self) -> None:
        """Buyers who never finish 3-D Secure: their charges fail."""
        for order_id in self.orders:
            for _, charge in self.charges(order_id):
                if charge.status is ChargeStatus.REQUIRES_ACTION:
                    self.gateway.complete_action(charge.id, succeed=False)

    def _orders_at_rest(self) -> bool:
        return all(self.order(order_id).state in TERMINAL for order_id in self.orders)

    # -- invariants -------------------------------------------------------

    def check_step(self) -> None:
        """What must hold after every step, whatever is still in flight."""
        # the ledger, the orders, the payments (8-payments); what is open past
        # the limit (9-stuck) is a report for a person, checked by check_reported
        violations = [v for v in self.market.audit() if v.invariant != STUCK]
        assert not violations, violations
        self.check_audit_reports()
        for order_id in self.orders:
            self._check_order_now(order_id)
        for seller in SELLERS:
            for op in self.operations(self.people[seller]):
                if op.kind is OperationKind.PAYOUT:
                    self._check_payout_now(op)

    def _check_order_now(self, order_id: str) -> None:
        order = self.order(order_id)
        escrow, _ = self.balance(chart.order_escrow(order_id))
        if order.state in TERMINAL or order.state is OrderState.PENDING_PAYMENT:
            assert escrow == 0, f"{order.state.value} order {order_id} holds {escrow} in escrow"
        else:
            assert escrow == order.held, (order_id, order.state.value, escrow, order.held)
        ops = self.operations(order_id)
        payments = [op for op in ops if op.kind is OperationKind.PAYMENT and kept(op)]
        assert len(payments) <= 1, f"order {order_id} kept {len(payments)} payments: {payments}"
        if order.state in (OrderState.PENDING_PAYMENT, OrderState.EXPIRED):
            assert not payments, f"{order.state.value} order {order_id} kept a payment"
        else:
            assert len(payments) == 1, f"paid order {order_id} has no kept payment"
            (payment,) = payments
            credit = payment.credit.units if payment.credit is not None else 0
            assert card_part(payment) + credit == order.price.total_charged.units
            tips = sum(op.amount.units for op in ops if op.kind is OperationKind.TIP and kept(op))
            assert order.charged == order.price.total_charged.units + tips
            assert order.payment_reference in (payment.gateway_ref, payment.id)
        for op in ops:
            if op.kind is not OperationKind.REFUND or op.charge_ref is None:
                continue
            refund = self.gateway.get_charge(op.charge_ref).refund_for(op.id)
            if op.status is S.SUCCEEDED:
                assert refund is not None, f"refund {op.id} is booked as sent, the gateway has none"
                assert refund.status is RefundStatus.SUCCEEDED
                assert refund.amount == op.amount
                assert op.gateway_ref == refund.id
            elif op.status is S.FAILED:  # given to the buyer as credit instead
                assert refund is None or refund.status is not RefundStatus.SUCCEEDED, (
                    f"refund {op.id} went to the card and to buyer credit"
                )

    def _check_payout_now(self, op: PaymentOperation) -> None:
        payout = self.payout_of(op)
        if op.status is S.FAILED:
            alive = payout is not None and payout.status not in (
                PayoutStatus.FAILED,
                PayoutStatus.CANCELLED,
            )
            assert not alive, (
                f"withdrawal {op.id} is failed in the books ({op.failure}: the money is the "
                f"seller's again), but the gateway has payout {payout} for it"
            )
        if op.status is S.SUCCEEDED:
            assert payout is not None, f"withdrawal {op.id} is booked as paid, the gateway has none"
            assert payout.status is PayoutStatus.PAID
            assert op.gateway_ref == payout.id
            assert payout.amount == op.amount

    def check_settled(self) -> None:
        """Once nothing is open: the books and the gateway agree to the cent."""
        self.check_step()
        assert not self.open_operations()
        captured = refunded = paid_out = 0
        for order_id in self.orders:
            order = self.order(order_id)
            assert order.state in TERMINAL, (order_id, order.state.value)
            c, r = self._check_order_settled(order_id)
            captured += c
            refunded += r
        paid_ops = 0
        for seller in SELLERS:
            for op in self.operations(self.people[seller]):
                if op.kind is not OperationKind.PAYOUT:
                    continue
                payout = self.payout_of(op)
                if payout is not None:
                    assert payout.status in (PayoutStatus.PAID, PayoutStatus.FAILED), (
                        f"payout {payout.id} still moving with nothing open"
                    )
                    if payout.status is PayoutStatus.PAID:
                        paid_out += payout.amount.units
                if op.status is S.SUCCEEDED:
                    paid_ops += op.amount.units
        assert paid_out == paid_ops, (
            f"the gateway paid sellers {paid_out}, the books say {paid_ops}: "
            "a withdrawal was paid twice or paid without being booked"
        )
        world, _ = self.balance(chart.gateway(self.gateway.name, CURRENCY))
        assert world == -(captured - refunded - paid_out), (
            f"ledger {chart.gateway(self.gateway.name, CURRENCY)} is {world}; the gateway "
            f"captured {captured}, refunded {refunded}, paid out {paid_out}: "
            f"expected {-(captured - refunded - paid_out)}"
        )
        assert self.balance(chart.refunds_in_flight(CURRENCY)) == (0, 0)
        assert self.balance(chart.payouts_in_flight(CURRENCY)) == (0, 0)
        with self.storage() as uow:
            assert not uow.ledger.pending_holds(), "a hold outlived every operation"

    def _check_order_settled(self, order_id: str) -> tuple[int, int]:
        """One order against the gateway: every charge either kept by the
        books or given back, every refund booked once; returns what the
        gateway captured and refunded for it."""
        ops = self.operations(order_id)
        by_id = {op.id: op for op in ops}
        captured = refunded = 0
        net_payments = []
        for op, charge in self.charges(order_id):
            captured += charge.captured.units
            refunded += charge.refunded.units
            if charge.status is not ChargeStatus.CAPTURED:
                continue
            if op.kind is OperationKind.PAYMENT and charge.refundable.units:
                net_payments.append(charge.id)
            if kept(op):
                assert op.gateway_ref == charge.id
                assert charge.captured == op.amount
            else:  # captured, not the order's: must have been given back
                give_back = by_id.get(f"refund:{op.id}")
                assert give_back is not None, (
                    f"charge {charge.id} ({op.id}, {op.status.value}: {op.failure}) was "
                    f"captured but is neither booked for order {order_id} nor given back"
                )
                assert give_back.amount == charge.captured
        assert len(net_payments) <= 1, f"order {order_id} is charged by {net_payments}"
        for op, charge in self.charges(order_id):
            for refund in charge.refunds:
                mine = by_id.get(refund.idempotency_key)
                assert mine is not None, f"refund {refund.id} of {charge.id} is not ours"
                assert mine.kind is OperationKind.REFUND
                if refund.status is RefundStatus.SUCCEEDED:
                    assert mine.status is S.SUCCEEDED, (op.id, mine, refund)
                    assert mine.amount == refund.amount, (op.id, mine, refund)
        books = sum(card_part(op) for op in ops if op.kind is not OperationKind.REFUND and kept(op))
        books += sum(op.amount.units for op in ops if op.id.startswith("refund:pay:"))
        books += sum(op.amount.units for op in ops if op.id.startswith("refund:tip:"))
        books -= sum(
            op.amount.units
            for op in ops
            if op.kind is OperationKind.REFUND and op.status is S.SUCCEEDED
        )
        assert captured - refunded == books, (
            f"order {order_id}: the gateway holds {captured - refunded}, the books {books}"
        )
        return captured, refunded


def offer(seller_id: str, units: int) -> Offer:
    return Offer(
        gig_id=f"gig-{seller_id}",
        gig_version=1,
        seller_id=seller_id,
        title="Logo",
        package=OfferedPackage(
            name="basic", price=Amount(units=units, currency=CURRENCY), delivery_days=3, revisions=1
        ),
    )


def totals(ops: Sequence[PaymentOperation]) -> dict[str, int]:
    """Operation counts by kind and status (for Hypothesis' statistics)."""
    counts: dict[str, int] = defaultdict(int)
    for op in ops:
        counts[f"{op.kind.value}:{op.status.value}"] += 1
    return dict(counts)
