"""The worker functions the integration tests run in other processes (and threads).

They live at module level in a module without test code so that a
forkserver child can import them cheaply. Each opens its own connections
from a :class:`~tests.integration.helpers.StoreSpec` and closes them.
"""

from __future__ import annotations

import contextlib
import functools
import random
import traceback
from collections.abc import Collection, Iterator, Sequence
from datetime import datetime, timedelta
from typing import Any

from gigmarket.clock import ManualClock
from gigmarket.errors import InsufficientFunds, TransitionNotAllowed
from gigmarket.escrow import chart
from gigmarket.escrow.flows import EscrowFlows
from gigmarket.escrow.ledger import Ledger
from gigmarket.escrow.model import AccountBalance
from gigmarket.escrow.transaction import LedgerTransaction
from gigmarket.ids import sequential_ids
from gigmarket.orders import Actor, DisputeResolution, OrderDesk, OrderState, fiverr_policy
from gigmarket.retry import retrying
from tests.integration.helpers import (
    BUYER_ID,
    START,
    WORKER_TIMEOUT,
    StoreSpec,
    make_offer,
    usd,
)

with contextlib.suppress(ImportError):  # preloaded by the forkserver when installed
    import gigmarket.storage.postgres.store  # noqa: F401

BARRIER_TIMEOUT = WORKER_TIMEOUT / 3


@contextlib.contextmanager
def _breaks(barrier: Any) -> Iterator[None]:
    """A worker that fails breaks the barrier, so the others fail at once
    instead of waiting out the timeout."""
    try:
        yield
    except BaseException:
        barrier.abort()
        raise


# -- (a) racing withdrawals ------------------------------------------------


class _StaleBalances:
    """A ledger repository that answers balance reads of some accounts with
    what was read in an *earlier* transaction, and does not lock them: the
    read-then-write race that a missing lock lets through."""

    def __init__(self, inner: Any, stale: dict[str, AccountBalance]) -> None:
        self._inner = inner
        self._stale = stale

    def lock_balances(self, codes: Collection[str]) -> dict[str, AccountBalance]:
        fresh = self._inner.lock_balances([code for code in codes if code not in self._stale])
        return {**fresh, **{code: b for code, b in self._stale.items() if code in codes}}

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


class _UncheckedTransaction(LedgerTransaction):
    """A ledger transaction without its balance check: the guard removed."""

    @staticmethod
    def _check_balance(account: Any, posted: int, held: int, requested: int) -> None:
        return None


def withdraw_attempts(
    storage: Any,
    *,
    worker: int,
    seller_id: str,
    amount: int,
    attempts: int,
    barrier: Any,
    guarded: bool = True,
) -> int:
    """Try ``attempts`` withdrawals of ``amount`` minor units, alternating a
    withdrawal request (a hold) and a direct transfer out; return how many
    succeeded. Before each attempt every worker reads the balance (as a UI
    would show it) and waits at ``barrier``, so all of them race each time.

    ``guarded=False`` removes the guard: the attempt writes from the balance
    read *before* the barrier, in another transaction, without a lock and
    without the balance check.
    """
    available = chart.seller_available(seller_id, "USD")
    value = usd(amount)

    def withdraw(seen: AccountBalance, by_hold: bool) -> None:
        with storage() as uow:
            if guarded:
                tx = LedgerTransaction(uow)
            else:
                uow.ledger = _StaleBalances(uow.ledger, {available: seen})
                tx = _UncheckedTransaction(uow)
            if by_hold:
                EscrowFlows(tx).request_withdrawal(seller_id, value)
            else:
                tx.transfer(available, chart.payouts_in_flight("USD"), value, memo="payout")
            uow.commit()

    succeeded = 0
    with _breaks(barrier):
        for attempt in range(attempts):
            with storage() as uow:
                seen = uow.ledger.lock_balances([available])[available]
            barrier.wait(timeout=BARRIER_TIMEOUT)
            by_hold = (worker + attempt) % 2 == 0
            try:
                retrying(functools.partial(withdraw, seen, by_hold))
            except InsufficientFunds:
                continue
            succeeded += 1
    return succeeded


def withdraw_worker(
    spec: StoreSpec,
    worker: int,
    seller_id: str,
    amount: int,
    attempts: int,
    barrier: Any,
    guarded: bool,
) -> int:
    storage = spec.open()
    try:
        return withdraw_attempts(
            storage,
            worker=worker,
            seller_id=seller_id,
            amount=amount,
            attempts=attempts,
            barrier=barrier,
            guarded=guarded,
        )
    finally:
        storage.close()


# -- (b) the same order released twice ---------------------------------------


def complete_worker(
    spec: StoreSpec, how: str, orders: Sequence[tuple[str, datetime]], barrier: Any
) -> list[str]:
    """For each ``(order id, time)``, after the barrier: the buyer accepts
    (``how="accept"``) or the system runs due timers (``how="run_due"``)."""
    storage = spec.open()
    outcomes: list[str] = []
    try:
        with _breaks(barrier):
            for order_id, at in orders:
                desk = OrderDesk(storage, policy=fiverr_policy(), clock=ManualClock(at))
                barrier.wait(timeout=BARRIER_TIMEOUT)
                if how == "accept":
                    try:
                        desk.accept(order_id, buyer_id=BUYER_ID)
                    except TransitionNotAllowed as refused:
                        outcomes.append(f"refused: {refused.state}")
                    else:
                        outcomes.append("completed")
                else:
                    run = desk.run_due(at)
                    done = [outcome for _, oid, outcome in run.executed if oid == order_id]
                    outcomes.append("completed" if done == ["auto_complete"] else f"ran {done}")
    finally:
        storage.close()
    return outcomes


# -- (c) the same payment applied twice --------------------------------------


def pay_worker(
    spec: StoreSpec, payments: Sequence[tuple[str, int, str]], barrier: Any
) -> list[str]:
    """For each ``(order id, units, reference)``, after the barrier, record the payment."""
    storage = spec.open()
    desk = OrderDesk(storage, policy=fiverr_policy(), clock=ManualClock(START))
    outcomes: list[str] = []
    try:
        with _breaks(barrier):
            for order_id, units, reference in payments:
                barrier.wait(timeout=BARRIER_TIMEOUT)
                try:
                    desk.record_payment(order_id, usd(units), reference=reference)
                except TransitionNotAllowed as refused:
                    outcomes.append(f"refused: {refused.state}")
                else:
                    outcomes.append("paid")
    finally:
        storage.close()
    return outcomes


# -- migrations ----------------------------------------------------------------


def open_worker(spec: StoreSpec, barrier: Any) -> int:
    """Open (and so migrate) the store right after the barrier; its schema version."""
    with _breaks(barrier):
        barrier.wait(timeout=BARRIER_TIMEOUT)
    storage = spec.open(migrate=True)
    try:
        return int(storage.schema_version())
    finally:
        storage.close()


# -- the crash test's endless stream of operations ---------------------------

SELLERS = ("nadia", "omar")
BUYERS = ("rahim", "sumi", "tariq")


class _Stream:
    """Random valid operations on one store, chosen by a seeded generator."""

    def __init__(self, storage: Any, seed: int, start: datetime) -> None:
        self.storage = storage
        self.rng = random.Random(seed)
        self.clock = ManualClock(start)
        ids = sequential_ids(f"s{seed}")
        self.desk = OrderDesk(storage, policy=fiverr_policy(), clock=self.clock, ids=ids)
        self.ledger = Ledger(storage, clock=self.clock, ids=ids)
        self.seed = seed
        self.serial = 0

    def ids_in(self, state: OrderState) -> list[str]:
        with self.storage():  # the query runs in the unit of work's transaction
            rows = self.storage.connection().all(
                "SELECT id FROM orders WHERE state = ? ORDER BY id", (state.value,)
            )
        return [row[0] for row in rows]

    def pick(self, state: OrderState) -> str | None:
        found = self.ids_in(state)
        return self.rng.choice(found) if found else None

    def step(self) -> None:
        actions = (
            (self.place, 3),
            (self.pay, 4),
            (self.start, 3),
            (self.deliver, 3),
            (self.accept, 2),
            (self.cancel, 1),
            (self.revise, 1),
            (self.dispute, 1),
            (self.tip, 1),
            (self.run_due, 2),
            (self.withdraw, 2),
            (self.settle_payouts, 1),
        )
        action = self.rng.choices([a for a, _ in actions], weights=[w for _, w in actions])[0]
        action()

    def place(self) -> None:
        price = f"{self.rng.randint(5, 150)}.{self.rng.randint(0, 99):02d}"
        self.desk.place(
            make_offer(price, seller_id=self.rng.choice(SELLERS)),
            buyer_id=self.rng.choice(BUYERS),
        )

    def pay(self) -> None:
        if order_id := self.pick(OrderState.PENDING_PAYMENT):
            order = self.desk.get(order_id)
            self.desk.record_payment(
                order_id, order.price.total_charged, reference=f"ch_{order_id}"
            )

    def start(self) -> None:
        if order_id := self.pick(OrderState.AWAITING_REQUIREMENTS):
            order = self.desk.get(order_id)
            self.desk.submit_requirements(order_id, buyer_id=order.buyer_id, answers={})

    def deliver(self) -> None:
        if order_id := self.pick(OrderState.IN_PROGRESS):
            self.desk.deliver(order_id, seller_id=self.desk.get(order_id).seller_id)

    def accept(self) -> None:
        if order_id := self.pick(OrderState.DELIVERED):
            self.desk.accept(order_id, buyer_id=self.desk.get(order_id).buyer_id)

    def cancel(self) -> None:
        if order_id := self.pick(OrderState.CANCELLATION_REQUESTED):
            order = self.desk.get(order_id)
            assert order.cancellation is not None
            by = Actor.SELLER if order.cancellation.requested_by is Actor.BUYER else Actor.BUYER
            self.desk.respond_to_cancellation(
                order_id, by=by, account_id=order.party(by) or "", accept=True
            )
        elif order_id := self.pick(OrderState.IN_PROGRESS):
            order = self.desk.get(order_id)
            self.desk.request_cancellation(order_id, by=Actor.BUYER, account_id=order.buyer_id)

    def revise(self) -> None:
        if order_id := self.pick(OrderState.DELIVERED):
            order = self.desk.get(order_id)
            if order.revisions_left:
                self.desk.request_revision(order_id, buyer_id=order.buyer_id)

    def dispute(self) -> None:
        """Resolve an open dispute with a random split, or open one."""
        if order_id := self.pick(OrderState.DISPUTED):
            order = self.desk.get(order_id)
            buyer_share = self.rng.choice((0, 1, 3, 50, 99, 100))
            resolution = DisputeResolution.split(order, buyer_share, 100 - buyer_share)
            self.desk.resolve_dispute(order_id, resolution)
        elif order_id := self.pick(self.rng.choice((OrderState.IN_PROGRESS, OrderState.DELIVERED))):
            order = self.desk.get(order_id)
            by = self.rng.choice((Actor.BUYER, Actor.SELLER))
            self.desk.open_dispute(order_id, by=by, account_id=order.party(by) or "")

    def tip(self) -> None:
        if order_id := self.pick(OrderState.COMPLETED):
            self.serial += 1
            self.desk.tip(
                order_id,
                usd(self.rng.randint(100, 2000)),
                buyer_id=self.desk.get(order_id).buyer_id,
                payment_reference=f"tip_{self.seed}_{self.serial}",
            )

    def run_due(self) -> None:
        self.clock.advance(timedelta(hours=self.rng.randint(1, 36)))
        self.desk.run_due()

    def withdraw(self) -> None:
        """A withdrawal request; half the time sent and confirmed in the same transaction."""
        seller_id = self.rng.choice(SELLERS)
        available = chart.seller_available(seller_id, "USD")
        with self.storage() as uow:
            if uow.ledger.get_account(available) is None:
                return
            balance = uow.ledger.lock_balances([available])[available]
        spendable = balance.posted - balance.held
        if spendable <= 0:
            return
        amount = usd(self.rng.randint(1, spendable))
        with self.ledger.transaction() as tx:
            flows = EscrowFlows(tx)
            hold = flows.request_withdrawal(seller_id, amount)
            if self.rng.random() < 0.5:
                flows.payout_sent(hold.id)
                flows.payout_paid(hold.id, gateway="sandbox")

    def settle_payouts(self) -> None:
        """Every pending withdrawal is either paid out or cancelled, in one transaction."""
        with self.ledger.transaction() as tx:
            flows = EscrowFlows(tx)
            for hold in tx.uow.ledger.pending_holds():
                if self.rng.random() < 0.7:
                    flows.payout_sent(hold.id)
                    flows.payout_paid(hold.id, gateway="sandbox")
                else:
                    flows.withdrawal_cancelled(hold.id)


def stream_worker(
    spec: StoreSpec, seed: int, start: datetime, progress: Any, failure_file: str
) -> None:
    """Run random valid operations until killed; ``progress.value`` counts the
    operations finished (a lock-free shared integer, safe to abandon). An
    operation that fails by itself is written to ``failure_file`` (a killed
    process has nobody to report to, and its stderr may go nowhere)."""
    storage = spec.open()
    stream = _Stream(storage, seed, start)
    try:
        while True:
            stream.step()
            progress.value += 1
    except BaseException:
        with open(failure_file, "w", encoding="utf-8") as out:
            out.write(traceback.format_exc())
        raise
