"""A host killed around a gateway call recovers by ``reconcile`` (record → call → apply).

Every payment command commits a ``started`` operation, calls the gateway with
the operation's id as the idempotency key, then applies the answer in a
second transaction (:mod:`gigmarket.cashier.service`). Here a worker process
runs one command on a SQLite file and is SIGKILLed at one point of that
sequence:

- ``before_call``: the operation is committed, the gateway never called;
- ``after_call``: the gateway did the work and answered, nothing applied;
- ``after_commit``: the answer applied and committed (the control case);

for a checkout (``charge``), a withdrawal (``payout``) and a card refund
after a mutual cancellation (``refund``). The gateway outlives the worker
(it stands for a remote provider): one sandbox, with its clock, in a
manager process (:mod:`tests.integration.payment_workers`).

The test then does what a restarted host does: reopens the file, waits out
``CashierPolicy().reconcile_grace`` (a ``started`` operation younger than it
may still be mid-call, and ``reconcile`` leaves it alone), and reconciles,
twice: the second run must change nothing at all. The ledger must pass its
audit and agree with the gateway to the cent.
"""

from __future__ import annotations

import contextlib
import secrets
import signal
import sqlite3
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from gigmarket.cashier import (
    CashierPolicy,
    OperationKind,
    OperationStatus,
    PaymentOperation,
    ReconcileReport,
)
from gigmarket.catalog import CreateAccount
from gigmarket.clock import ManualClock
from gigmarket.escrow import chart
from gigmarket.escrow.audit import audit_ledger
from gigmarket.escrow.model import HoldStatus
from gigmarket.gateways.results import ChargeStatus, PayoutStatus, RefundStatus
from gigmarket.marketplace import Marketplace
from gigmarket.money import Amount, sum_amounts
from gigmarket.orders import Actor, Order, OrderState
from gigmarket.storage.sqlite.store import SQLiteStorage
from tests.integration.helpers import START, make_offer, mp_context, store_violations
from tests.integration.payment_workers import (
    GatewayManager,
    GatewayWorld,
    Job,
    KillPoint,
    RemoteGateway,
    build_market,
    crash_worker,
    open_world,
)

S = OperationStatus
CURRENCY = "USD"
GATEWAY_ACCOUNT = chart.gateway("sandbox", CURRENCY)
REFUNDS_IN_FLIGHT = chart.refunds_in_flight(CURRENCY)
PAYOUTS_IN_FLIGHT = chart.payouts_in_flight(CURRENCY)
TOTAL = Amount.of("55.75", CURRENCY)
"""What an order of 50.00 charges (the Fiverr-like fees)."""
NET = Amount.of("40.00", CURRENCY)
"""What its seller earns."""
GRACE = CashierPolicy().reconcile_grace
CLEARANCE = timedelta(days=14)
PAYOUT_ARRIVES = timedelta(hours=1) + timedelta(days=2)
"""The sandbox's payouts: in transit after an hour, paid two days later."""
CHILD_TIMEOUT = 30.0
POINTS = list(KillPoint)


class Scene:
    """The test process: the shared gateway, the clock it agrees on with
    it, the SQLite file, and the host's life before and after the crash."""

    def __init__(
        self, manager: GatewayManager, authkey: bytes, db_path: Path, failure_file: Path
    ) -> None:
        self.manager = manager
        self.authkey = authkey
        self.world: GatewayWorld = manager.world()
        self.gateway = RemoteGateway.of(manager)
        self.clock = ManualClock(self.world.now())
        self.db_path = db_path
        self.failure_file = failure_file
        self.lives = 0

    def advance(self, delta: timedelta) -> None:
        """Move both clocks: the host's and the gateway's."""
        self.clock.advance(delta)
        assert self.world.set_time(self.clock.now()) == self.clock.now()

    @contextlib.contextmanager
    def host(self) -> Iterator[Marketplace]:
        """A host process's life on the file (a fresh storage object, as after a restart)."""
        self.lives += 1
        storage = SQLiteStorage(self.db_path)
        try:
            yield build_market(storage, self.gateway, self.clock, ids_prefix=f"life{self.lives}")
        finally:
            storage.close()

    def crash(self, job: Job) -> None:
        """Run ``job`` in a worker and check that it died by SIGKILL."""
        context = mp_context()
        child = context.Process(
            target=crash_worker,
            args=(
                str(self.db_path),
                self.manager.address,
                self.authkey,
                job,
                self.clock.now(),
                str(self.failure_file),
            ),
        )
        child.start()
        try:
            child.join(CHILD_TIMEOUT)
        finally:
            if child.exitcode is None:
                child.kill()
                child.join()
            exitcode = child.exitcode
            child.close()
        failure = (
            self.failure_file.read_text(encoding="utf-8") if self.failure_file.exists() else ""
        )
        assert exitcode == -signal.SIGKILL, f"the worker ended with {exitcode}\n{failure}"
        assert failure == ""

    def dump(self) -> dict[str, list[str]]:
        """Every row of every table, read past the storage layer."""
        with contextlib.closing(sqlite3.connect(f"file:{self.db_path}?mode=ro", uri=True)) as db:
            tables = [
                row[0]
                for row in db.execute(
                    "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name"
                )
            ]
            return {
                table: sorted(repr(row) for row in db.execute(f'SELECT * FROM "{table}"'))
                for table in tables
            }

    def recover(self, market: Marketplace) -> ReconcileReport:
        """Reconcile twice; the second run finds and changes nothing."""
        first = market.reconcile()
        assert first.skipped == ()
        before = self.dump()
        second = market.reconcile()
        assert second.fixed == ()
        assert second.skipped == ()
        assert self.dump() == before, "a second reconcile changed the store"
        return first


@pytest.fixture
def scene(tmp_path: Path) -> Iterator[Scene]:
    """A fresh SQLite file and a fresh gateway world, at ``START``."""
    authkey = secrets.token_bytes(16)
    manager = GatewayManager(authkey=authkey, ctx=mp_context())
    manager.start(initializer=open_world, initargs=(START,))
    try:
        yield Scene(manager, authkey, tmp_path / "market.db", tmp_path / "worker-failure.txt")
    finally:
        manager.shutdown()


# -- reading the books --------------------------------------------------------


def posted(market: Marketplace, account: str) -> Amount:
    """An account's posted balance; zero for one never opened."""
    with market.storage() as uow:
        if uow.ledger.get_account(account) is None:
            return Amount.zero(CURRENCY)
    return market.balance(account).posted


def all_operations(market: Marketplace) -> list[PaymentOperation]:
    """Every payment operation: those of every order and of every party to one."""
    with market.storage() as uow:
        orders = list(uow.orders.orders())
        subjects = sorted(
            {o.id for o in orders} | {o.buyer_id for o in orders} | {o.seller_id for o in orders}
        )
        return [op for subject in subjects for op in uow.payments.operations_for(subject)]


def only(market: Marketplace, subject: str, kind: OperationKind) -> PaymentOperation:
    found = [op for op in market.cashier.operations(subject) if op.kind is kind]
    assert len(found) == 1, found
    return found[0]


def assert_books_agree(market: Marketplace, world: GatewayWorld) -> None:
    """The ledger is sound and says, to the cent, what the gateway says it did.

    The gateway is asked by the operations' own keys (``find_charge``,
    ``find_payout``); and it holds nothing that no operation asked for.
    """
    storage: SQLiteStorage = market.storage
    with storage() as uow:
        assert audit_ledger(uow.ledger).violations == ()
    assert store_violations(storage) == []

    operations = all_operations(market)
    gateway = market.gateway
    payouts = market.payouts
    assert payouts is not None
    charges = [
        charge
        for op in operations
        if op.kind in (OperationKind.PAYMENT, OperationKind.TIP)
        and (charge := gateway.find_charge(op.id)) is not None
    ]
    sent = [
        payout
        for op in operations
        if op.kind is OperationKind.PAYOUT and (payout := payouts.find_payout(op.id)) is not None
    ]
    captured = sum_amounts((c.captured for c in charges), CURRENCY)
    refunded = sum_amounts((c.refunded for c in charges), CURRENCY)
    paid_out = sum_amounts((p.amount for p in sent if p.status is PayoutStatus.PAID), CURRENCY)
    assert posted(market, GATEWAY_ACCOUNT) == -(captured - refunded - paid_out)

    keys = {op.id for op in operations}
    made = world.charges()
    assert {c.idempotency_key for c in made} <= keys, "a charge no operation asked for"
    assert sorted(c.id for c in made) == sorted(c.id for c in charges)
    refund_keys = {op.id for op in operations if op.kind is OperationKind.REFUND}
    assert {r.idempotency_key for c in made for r in c.refunds} <= refund_keys
    assert {p.idempotency_key for p in world.payouts()} <= keys, "a payout nobody asked for"

    still_open = [op for op in operations if op.is_open]
    assert posted(market, REFUNDS_IN_FLIGHT) == sum_amounts(
        (op.amount for op in still_open if op.kind is OperationKind.REFUND), CURRENCY
    )
    assert posted(market, PAYOUTS_IN_FLIGHT) == sum_amounts(
        (
            op.amount
            for op in still_open
            if op.kind is OperationKind.PAYOUT and op.status is S.PENDING
        ),
        CURRENCY,
    )


# -- the world before the crash ------------------------------------------------


def open_shop(market: Marketplace) -> tuple[str, str]:
    """A seller and a buyer: ``(seller_id, buyer_id)``."""
    seller = market.catalog.create_account(CreateAccount(username="nadia")).id
    buyer = market.catalog.create_account(CreateAccount(username="rahim")).id
    return seller, buyer


def paid_order(market: Marketplace, seller: str, buyer: str) -> Order:
    order = market.orders.place(make_offer("50.00", seller_id=seller), buyer_id=buyer)
    result = market.pay(order.id, buyer_id=buyer, source="tok_visa")
    assert result.paid, result
    return result.order


def check_within_grace(scene: Scene, market: Marketplace, op_id: str, point: KillPoint) -> None:
    """Before the grace period is over, reconcile leaves an interrupted call alone."""
    before = scene.dump()
    early = market.reconcile()
    assert early.fixed == ()
    assert early.skipped == ()
    if point is not KillPoint.AFTER_COMMIT:
        assert op_id in early.waiting
    assert scene.dump() == before


# -- checkout ------------------------------------------------------------------


@pytest.mark.parametrize("point", POINTS)
def test_checkout_killed_around_the_charge(scene: Scene, point: KillPoint) -> None:
    with scene.host() as market:
        seller, buyer = open_shop(market)
        order = market.orders.place(make_offer("50.00", seller_id=seller), buyer_id=buyer)
        assert order.price.total_charged == TOTAL

    scene.crash(Job(command="checkout", point=point, order_id=order.id, buyer_id=buyer))

    with scene.host() as market:
        op = only(market, order.id, OperationKind.PAYMENT)
        charge = scene.gateway.find_charge(op.id)
        if point is KillPoint.BEFORE_CALL:
            assert (op.status, charge) == (S.STARTED, None)
        elif point is KillPoint.AFTER_CALL:
            assert op.status is S.STARTED
            assert charge is not None
            assert charge.status is ChargeStatus.CAPTURED
        else:
            assert op.status is S.SUCCEEDED
        check_within_grace(scene, market, op.id, point)

        scene.advance(GRACE + timedelta(minutes=1))
        report = scene.recover(market)
        assert_books_agree(market, scene.world)
        after = market.cashier.operation(op.id)
        paid = market.orders.get(order.id)
        escrow = posted(market, chart.order_escrow(order.id))

        # Before the call the gateway has no trace of it, and reconcile sends it
        # again under the same key; after it, reconcile finds the charge by that
        # key. Either way the order is paid exactly once.
        if point is not KillPoint.AFTER_COMMIT:
            assert [(f.before, f.after) for f in report.fixed] == [("started", "succeeded")]
        else:
            assert report.fixed == ()
        assert after.status is S.SUCCEEDED
        assert after.failure is None
        made = scene.world.charges()
        assert [(c.idempotency_key, c.captured) for c in made] == [(op.id, TOTAL)]
        assert after.gateway_ref == made[0].id
        assert paid.state is OrderState.AWAITING_REQUIREMENTS
        assert paid.charged == TOTAL.units
        assert escrow == TOTAL
        assert posted(market, GATEWAY_ACCOUNT) == -TOTAL


# -- withdrawal ----------------------------------------------------------------


@pytest.mark.parametrize("point", POINTS)
def test_withdrawal_killed_around_the_payout(scene: Scene, point: KillPoint) -> None:
    with scene.host() as market:
        seller, buyer = open_shop(market)
        order = paid_order(market, seller, buyer)
        market.orders.submit_requirements(order.id, buyer_id=buyer, answers={})
        market.orders.deliver(order.id, seller_id=seller)
        market.orders.accept(order.id, buyer_id=buyer)
        scene.advance(CLEARANCE + timedelta(hours=1))
        market.run_due()
        assert market.seller_balance(seller, CURRENCY)["available"] == NET
        payee = market.add_payout_account(seller, CURRENCY, bank_token="bank_ok")
        assert payee.status is S.SUCCEEDED
        assert_books_agree(market, scene.world)

    scene.crash(Job(command="withdrawal", point=point, seller_id=seller, amount=NET))

    with scene.host() as market:
        op = only(market, seller, OperationKind.PAYOUT)
        assert op.hold_id is not None
        hold = market.ledger.hold(op.hold_id)
        payout = scene.gateway.find_payout(op.id)
        if point is KillPoint.BEFORE_CALL:
            assert (op.status, payout, hold.status) == (S.STARTED, None, HoldStatus.PENDING)
        elif point is KillPoint.AFTER_CALL:
            assert (op.status, hold.status) == (S.STARTED, HoldStatus.PENDING)
            assert payout is not None
        else:
            assert (op.status, hold.status) == (S.PENDING, HoldStatus.POSTED)
        check_within_grace(scene, market, op.id, point)

        scene.advance(GRACE + timedelta(minutes=1))
        report = scene.recover(market)
        assert_books_agree(market, scene.world)
        after = market.cashier.operation(op.id)
        hold = market.ledger.hold(op.hold_id)
        available = market.seller_balance(seller, CURRENCY)["available"]

        # Before the call, reconcile sends the payout under its key; after it,
        # reconcile finds it. Either way exactly one payout is on its way.
        if point is not KillPoint.AFTER_COMMIT:
            assert [(f.before, f.after) for f in report.fixed] == [("started", "pending")]
        else:
            assert report.fixed == ()
        assert after.status is S.PENDING
        made = scene.world.payouts()
        assert [(p.idempotency_key, p.amount, p.status) for p in made] == [
            (op.id, NET, PayoutStatus.PENDING)
        ]
        assert after.gateway_ref == made[0].id
        assert hold.status is HoldStatus.POSTED
        assert posted(market, PAYOUTS_IN_FLIGHT) == NET
        assert available == Amount.zero(CURRENCY)

        # The bank confirms: the money leaves the platform.
        scene.advance(PAYOUT_ARRIVES + timedelta(minutes=1))
        report = scene.recover(market)
        assert [(f.before, f.after) for f in report.fixed] == [("pending", "succeeded")]
        assert_books_agree(market, scene.world)
        assert market.cashier.operation(op.id).status is S.SUCCEEDED
        assert [p.status for p in scene.world.payouts()] == [PayoutStatus.PAID]
        assert posted(market, PAYOUTS_IN_FLIGHT) == Amount.zero(CURRENCY)
        assert posted(market, GATEWAY_ACCOUNT) == -(TOTAL - NET)
        assert market.seller_balance(seller, CURRENCY)["available"] == Amount.zero(CURRENCY)


# -- card refund ---------------------------------------------------------------


@pytest.mark.parametrize("point", POINTS)
def test_card_refund_killed_around_the_refund(scene: Scene, point: KillPoint) -> None:
    with scene.host() as market:
        seller, buyer = open_shop(market)
        order = paid_order(market, seller, buyer)
        market.orders.request_cancellation(order.id, by=Actor.BUYER, account_id=buyer)
        cancelled = market.orders.respond_to_cancellation(
            order.id, by=Actor.SELLER, account_id=seller, accept=True
        )
        assert cancelled.state is OrderState.CANCELLED
        queued = only(market, order.id, OperationKind.REFUND)
        assert (queued.status, queued.amount) == (S.QUEUED, TOTAL)
        assert posted(market, REFUNDS_IN_FLIGHT) == TOTAL
        assert_books_agree(market, scene.world)

    scene.crash(Job(command="refund", point=point))

    with scene.host() as market:
        op = only(market, order.id, OperationKind.REFUND)
        assert op.charge_ref is not None
        refunds = scene.gateway.get_charge(op.charge_ref).refunds
        if point is KillPoint.BEFORE_CALL:
            assert (op.status, refunds) == (S.STARTED, ())
        elif point is KillPoint.AFTER_CALL:
            assert op.status is S.STARTED
            assert [r.idempotency_key for r in refunds] == [op.id]
        else:
            assert op.status is S.SUCCEEDED
        check_within_grace(scene, market, op.id, point)

        scene.advance(GRACE + timedelta(minutes=1))
        report = scene.recover(market)
        assert_books_agree(market, scene.world)
        after = market.cashier.operation(op.id)

        if point is KillPoint.AFTER_COMMIT:
            assert report.fixed == ()
        else:  # at BEFORE_CALL, reconcile sent it: the gateway had never seen it
            assert [(f.before, f.after) for f in report.fixed] == [("started", "succeeded")]
        assert after.status is S.SUCCEEDED
        charge = scene.gateway.get_charge(op.charge_ref)
        assert [(r.idempotency_key, r.amount, r.status) for r in charge.refunds] == [
            (op.id, TOTAL, RefundStatus.SUCCEEDED)
        ]
        assert after.gateway_ref == charge.refunds[0].id
        assert len(scene.world.charges()) == 1
        assert posted(market, REFUNDS_IN_FLIGHT) == Amount.zero(CURRENCY)
        assert posted(market, GATEWAY_ACCOUNT) == Amount.zero(CURRENCY)
        assert posted(market, chart.order_escrow(order.id)) == Amount.zero(CURRENCY)
