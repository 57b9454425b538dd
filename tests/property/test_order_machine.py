"""The order lifecycle against a hand-written model, step by random step.

Hypothesis runs a marketplace of three sellers and three buyers on one
:class:`~gigmarket.orders.OrderDesk`: it places orders in two currencies at
random prices, pays them (sometimes with the wrong amount or a reused
reference), lets random actors with the right or a stranger's account try
random actions with valid and invalid parameters, tips, reviews, and moves a
manual clock by minutes to weeks, running the due timers (or, like a late
cron job, not yet).

The model is plain data: a table of who may take which action in which state,
written by hand from DESIGN §5 rather than read from ``DEFAULT_PROCESS``, each
order's expected state, money, deadlines and pending timers, and the expected
balance of every ledger account. After every step the desk must agree with the
model to the minor unit and the invariants of DESIGN §4 must hold: per order,
charged = seller net + fees + refunds + still held; terminal orders hold 0;
the ledger sums to zero per currency; no timer is due before it was armed. A
refused command must raise the exact :class:`~gigmarket.errors.GigmarketError`
the model predicts and change nothing stored.

Liveness: once the clock passes every timer and ``run_due`` has run, no order
holds money, every escrow account is empty and every seller's pending
earnings have cleared. A rule checks this late in a run, and ``teardown``
checks it at the end of every run.

The machine takes its store from ``make_storage`` and its marketplace from
``make_policy``; the Fiverr-like and the Upwork-like presets each run it.
"""

from __future__ import annotations

import itertools
import math
import sys
from collections import Counter, defaultdict
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from fractions import Fraction
from typing import Any, ClassVar

import attrs
import pytest
from hypothesis import event
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    invariant,
    multiple,
    precondition,
    rule,
)

from gigmarket.clock import ManualClock
from gigmarket.errors import (
    CurrencyMismatch,
    GigmarketError,
    GuardFailed,
    IdempotencyConflict,
    OrderNotFound,
    PaymentMismatch,
    ReviewNotAllowed,
    TransitionNotAllowed,
    ValidationError,
    WrongActor,
)
from gigmarket.escrow import chart
from gigmarket.escrow.audit import audit_ledger
from gigmarket.ids import sequential_ids
from gigmarket.money import Amount
from gigmarket.orders import (
    DEFAULT_PROCESS,
    Actor,
    DisputeResolution,
    LifecyclePolicy,
    Offer,
    OfferedExtra,
    OfferedPackage,
    Order,
    OrderDesk,
    OrderState,
    RefundDestination,
    RequirementQuestion,
    fiverr_policy,
    upwork_policy,
)
from gigmarket.orders.audit import audit_orders
from gigmarket.storage.memory import MemoryStorage

S = OrderState
BUYER, SELLER, OPERATOR, SYSTEM = Actor.BUYER, Actor.SELLER, Actor.OPERATOR, Actor.SYSTEM
PARTIES = frozenset({BUYER, SELLER})
START = datetime(2026, 1, 5, 9, tzinfo=UTC)
SELLERS = ("s0", "s1", "s2")
BUYERS = ("b0", "b1", "b2")
STRANGER = "mallory"
TOP_RATED = frozenset({"s0"})
MAX_ORDERS = 8
DRAIN_EVERY = 25
"""Invariant checks (≈ steps) before, and between, mid-run liveness checks."""

LEGAL: Mapping[tuple[OrderState, str], frozenset[Actor]] = {
    (S.PENDING_PAYMENT, "pay"): frozenset({SYSTEM}),
    (S.PENDING_PAYMENT, "expire"): frozenset({SYSTEM}),
    (S.AWAITING_REQUIREMENTS, "submit_requirements"): frozenset({BUYER}),
    (S.AWAITING_REQUIREMENTS, "abandon"): frozenset({SYSTEM}),
    (S.AWAITING_REQUIREMENTS, "request_cancellation"): PARTIES,
    (S.IN_PROGRESS, "deliver"): frozenset({SELLER}),
    (S.IN_PROGRESS, "cancel_late"): frozenset({BUYER}),
    (S.IN_PROGRESS, "abandon"): frozenset({SYSTEM}),
    (S.IN_PROGRESS, "request_cancellation"): PARTIES,
    (S.IN_PROGRESS, "open_dispute"): PARTIES,
    (S.DELIVERED, "request_revision"): frozenset({BUYER}),
    (S.DELIVERED, "accept"): frozenset({BUYER}),
    (S.DELIVERED, "auto_complete"): frozenset({SYSTEM}),
    (S.DELIVERED, "request_cancellation"): PARTIES,
    (S.DELIVERED, "open_dispute"): PARTIES,
    (S.CANCELLATION_REQUESTED, "accept_cancellation"): frozenset({BUYER, SELLER, SYSTEM}),
    (S.CANCELLATION_REQUESTED, "decline_cancellation"): PARTIES,
    (S.CANCELLATION_REQUESTED, "withdraw_cancellation"): PARTIES,
    (S.CANCELLATION_REQUESTED, "open_dispute"): PARTIES,
    (S.DISPUTED, "resolve_dispute"): frozenset({OPERATOR}),
    (S.DISPUTED, "dispute_timeout"): frozenset({SYSTEM}),
}
"""Who may take which action in which state: DESIGN §5 written out by hand, so
that a wrong ``DEFAULT_PROCESS`` disagrees with it."""

STATE_TIMERS: Mapping[OrderState, tuple[str, str]] = {
    S.PENDING_PAYMENT: ("expire", "payment_window"),
    S.AWAITING_REQUIREMENTS: ("abandon", "requirements_window"),
    S.IN_PROGRESS: ("abandon", "late_cancel_after"),  # counted from the due date
    S.DELIVERED: ("auto_complete", "auto_complete_after"),
    S.CANCELLATION_REQUESTED: ("accept_cancellation", "cancellation_response_window"),
    S.DISPUTED: ("dispute_timeout", "dispute_timeout"),
}
"""The one timer each waiting state arms, and the policy field that times it."""

FORWARD = frozenset(
    {
        "submit_requirements",
        "deliver",
        "accept",
        "request_revision",
        "decline_cancellation",
        "withdraw_cancellation",
        "resolve_dispute",
    }
)
"""The actions that move an order towards its end without a cancellation or a
dispute; ``move_on`` prefers them so that runs reach completion."""

TERMINAL = frozenset({S.COMPLETED, S.CANCELLED, S.RESOLVED, S.EXPIRED})
ACTIONS = (*sorted({action for _, action in LEGAL}), "teleport")

QUESTIONS = (
    RequirementQuestion(id="brand", text="Your brand name?"),
    RequirementQuestion(id="tone", text="Which tone?", required=False, choices=("calm", "loud")),
)

CLOCK_STEPS = st.one_of(
    st.sampled_from([timedelta(hours=h) for h in (1, 23, 24, 47, 48, 72)]),
    st.timedeltas(min_value=timedelta(minutes=1), max_value=timedelta(hours=12)),
    st.timedeltas(min_value=timedelta(hours=12), max_value=timedelta(days=4)),
    st.timedeltas(min_value=timedelta(days=4), max_value=timedelta(days=40)),
)
"""Minutes to 40 days, small steps as likely as large ones, and round figures
that land on the policies' deadlines."""


def half_up(value: Fraction) -> int:
    """Round a non-negative exact value half-up: the presets' rounding, done by hand."""
    return math.floor(value + Fraction(1, 2))


def largest_remainder(total: int, first: int, second: int) -> tuple[int, int]:
    """Split ``total`` in the proportion ``first : second``: each part gets the floor
    of its exact share and a leftover unit goes to the larger remainder, the first
    part on a tie."""
    exact = Fraction(total * first, first + second)
    parts = [math.floor(exact), math.floor(total - exact)]
    if sum(parts) < total:
        parts[0 if exact - parts[0] >= (total - exact) - parts[1] else 1] += 1
    return parts[0], parts[1]


@attrs.define
class ModelTimer:
    action: str
    due_at: datetime
    seq: int
    units: int | None = None
    seller: str | None = None


@attrs.define
class ModelOrder:
    """What one order should look like, kept by hand."""

    id: str
    buyer: str
    seller: str
    currency: str
    total: int
    net: int
    fees: int
    delivery_days: int
    revisions: int
    questions: tuple[RequirementQuestion, ...]
    state: OrderState = S.PENDING_PAYMENT
    charged: int = 0
    seller_net: int = 0
    platform_fees: int = 0
    refunded: int = 0
    tips: int = 0
    revisions_used: int = 0
    due_at: datetime | None = None
    completed_at: datetime | None = None
    requested_by: Actor | None = None
    resume: OrderState | None = None
    reference: str | None = None
    reviews: dict[Actor, bool] = attrs.Factory(dict)
    """Author → published."""
    timers: list[ModelTimer] = attrs.Factory(list)

    @property
    def held(self) -> int:
        return self.charged - self.seller_net - self.platform_fees - self.refunded

    def party(self, actor: object) -> str | None:
        return {BUYER: self.buyer, SELLER: self.seller}.get(actor)  # type: ignore[call-overload]

    def projection(self) -> tuple[object, ...]:
        return (
            self.state,
            self.charged,
            self.seller_net,
            self.platform_fees,
            self.refunded,
            self.tips,
            self.revisions_used,
            self.due_at,
            self.completed_at,
            self.requested_by,
            self.resume,
            self.reference,
            (self.total, self.net, self.fees),
        )


def projection(order: Order) -> tuple[object, ...]:
    """The fields of an order the model predicts, in the model's order."""
    s = order.settlement
    request = order.cancellation
    return (
        order.state,
        order.charged,
        s.seller_net,
        s.platform_fees,
        s.refunded,
        order.tips,
        order.revisions_used,
        order.due_at,
        order.completed_at,
        request.requested_by if request else None,
        request.resume_state if request else None,
        order.payment_reference,
        (
            order.price.total_charged.units,
            order.price.seller_net.units,
            order.price.platform_revenue.units,
        ),
    )


def answers_are_valid(questions: tuple[RequirementQuestion, ...], raw: object) -> bool:
    if not isinstance(raw, Mapping):
        return False
    known = {question.id: question for question in questions}
    for key, value in raw.items():
        if key not in known:
            return False
        if not isinstance(value, str) or not value.strip() or not value.isprintable():
            return False
        if known[key].choices and value not in known[key].choices:
            return False
    return all(question.id in raw for question in questions if question.required)


class OrderMachine(RuleBasedStateMachine):
    orders = Bundle("orders")

    currencies: tuple[str, ...] = ("USD",)

    def make_storage(self) -> Any:
        return MemoryStorage()

    def make_policy(self) -> LifecyclePolicy:
        raise NotImplementedError

    def buyer_fee(self, subtotal: int, currency: str) -> int:
        """The buyer service fee on ``subtotal`` minor units, worked out by hand."""
        raise NotImplementedError

    def commission(self, units: int) -> int:
        """The seller commission on ``units``, worked out by hand."""
        raise NotImplementedError

    def __init__(self) -> None:
        super().__init__()
        self.storage = self.make_storage()
        self.clock = ManualClock(START)
        self.policy = self.make_policy()
        self.desk = OrderDesk(
            self.storage,
            policy=self.policy,
            clock=self.clock,
            ids=sequential_ids("id"),
            top_rated=lambda seller_id: seller_id in TOP_RATED,
        )
        self.model: dict[str, ModelOrder] = {}
        self.balances: dict[str, int] = defaultdict(int)
        self.payment_refs: dict[str, str] = {}
        self.tip_refs: dict[str, tuple[str, int]] = {}
        self.place_keys: dict[str, tuple[Offer, str, str]] = {}
        self.counter = itertools.count()
        self.checks = 0
        self.last_drain = 0

    # -- the model --------------------------------------------------------

    def decide(
        self,
        mo: ModelOrder,
        action: str,
        actor: object,
        account_id: str | None,
        params: Mapping[str, object],
        now: datetime,
    ) -> type[GigmarketError] | OrderState:
        """The state ``action`` leads to, or the error that refuses it."""
        if not isinstance(actor, Actor):
            return WrongActor
        allowed = LEGAL.get((mo.state, action))
        if allowed is None:
            return TransitionNotAllowed
        if actor not in allowed:
            return WrongActor
        if actor in PARTIES and account_id != mo.party(actor):
            return WrongActor
        late = mo.due_at is not None and now > mo.due_at
        request = mo.requested_by
        match action:
            case "pay":
                reference = params.get("reference")
                if not isinstance(reference, str) or not reference:
                    return ValidationError
                if params.get("amount") != Amount(units=mo.total, currency=mo.currency):
                    return PaymentMismatch
                if self.payment_refs.get(reference, mo.id) != mo.id:
                    return IdempotencyConflict
                return S.AWAITING_REQUIREMENTS
            case "expire":
                return S.EXPIRED
            case "submit_requirements":
                valid = answers_are_valid(mo.questions, params.get("answers", {}))
                return S.IN_PROGRESS if valid else ValidationError
            case "abandon" if mo.state is S.IN_PROGRESS:
                return S.CANCELLED if late else GuardFailed
            case "cancel_late":
                return S.CANCELLED if late else GuardFailed
            case "abandon" | "dispute_timeout":
                return S.CANCELLED
            case "deliver":
                return S.DELIVERED
            case "request_revision":
                return S.IN_PROGRESS if mo.revisions_used < mo.revisions else GuardFailed
            case "accept" | "auto_complete":
                return S.COMPLETED
            case "request_cancellation":
                reason = params.get("reason", "")
                valid = isinstance(reason, str) and len(reason) <= 1000
                return S.CANCELLATION_REQUESTED if valid else ValidationError
            case "accept_cancellation":
                return GuardFailed if actor is request else S.CANCELLED
            case "decline_cancellation":
                return GuardFailed if actor is request or mo.resume is None else mo.resume
            case "withdraw_cancellation":
                return GuardFailed if actor is not request or mo.resume is None else mo.resume
            case "open_dispute":
                return S.DISPUTED
            case "resolve_dispute":
                resolution = params.get("resolution")
                if not isinstance(resolution, DisputeResolution):
                    return GuardFailed
                refund = resolution.refund
                if refund.currency != mo.currency:
                    return CurrencyMismatch
                if not 0 <= refund.units <= mo.held:
                    return ValidationError
                if refund.units == mo.held:
                    return S.CANCELLED
                return S.COMPLETED if refund.units == 0 else S.RESOLVED
        raise AssertionError(f"the model does not know {action!r}")  # pragma: no cover

    def apply(
        self,
        mo: ModelOrder,
        action: str,
        actor: Actor,
        params: Mapping[str, object],
        now: datetime,
        target: OrderState,
    ) -> None:
        """Move the model as ``action`` should have moved the order."""
        source = mo.state
        if action == "pay":
            reference = params["reference"]
            assert isinstance(reference, str)
            mo.charged, mo.reference = mo.total, reference
            self.payment_refs[reference] = mo.id
            self.balances[chart.gateway(self.policy.gateway, mo.currency)] -= mo.total
            self.balances[chart.order_escrow(mo.id)] += mo.total
        elif action == "submit_requirements":
            mo.due_at = now + timedelta(days=mo.delivery_days)
        elif action == "request_revision":
            mo.revisions_used += 1
            assert mo.due_at is not None
            mo.due_at = max(mo.due_at, now + self.policy.revision_time)
        elif action == "request_cancellation":
            mo.requested_by, mo.resume = actor, source
        elif action == "resolve_dispute":
            resolution = params["resolution"]
            assert isinstance(resolution, DisputeResolution)
            refund = resolution.refund.units
            net, fees = largest_remainder(mo.held - refund, mo.net, mo.fees)
            self.refund(mo, refund)
            self.release(mo, net, fees, now)
        elif action in ("accept", "auto_complete"):
            self.release(mo, mo.net, mo.fees, now)
        elif target is S.CANCELLED:
            self.refund(mo, mo.held)
        if source is S.CANCELLATION_REQUESTED:
            mo.requested_by = mo.resume = None
        if target is S.COMPLETED:
            mo.completed_at = now
            self.schedule(mo, "publish_reviews", now + self.policy.review_window)
        self.enter(mo, target, now)

    def enter(self, mo: ModelOrder, state: OrderState, now: datetime) -> None:
        mo.timers = [t for t in mo.timers if t.action in ("clear", "publish_reviews")]
        mo.state = state
        if state in STATE_TIMERS:
            action, after = STATE_TIMERS[state]
            delay: timedelta = getattr(self.policy, after)
            anchor = mo.due_at if state is S.IN_PROGRESS and mo.due_at else now
            # A timer is never due before it was armed: an order back in progress
            # that is already long overdue is abandoned at once, not in the past.
            self.schedule(mo, action, max(anchor + delay, now))

    def schedule(
        self, mo: ModelOrder, action: str, due_at: datetime, units: int | None = None
    ) -> None:
        seller = mo.seller if units is not None else None
        mo.timers.append(ModelTimer(action, due_at, next(self.counter), units, seller))

    def clearance(self, seller: str) -> timedelta:
        policy = self.policy
        return policy.clearance_period_top_rated if seller in TOP_RATED else policy.clearance_period

    def release(self, mo: ModelOrder, net: int, fees: int, now: datetime) -> None:
        mo.seller_net += net
        mo.platform_fees += fees
        self.balances[chart.order_escrow(mo.id)] -= net + fees
        self.balances[chart.seller_pending(mo.seller, mo.currency)] += net
        self.balances[chart.platform_revenue(mo.currency)] += fees
        if net:
            self.schedule(mo, "clear", now + self.clearance(mo.seller), units=net)

    def refund(self, mo: ModelOrder, units: int) -> None:
        mo.refunded += units
        self.balances[chart.order_escrow(mo.id)] -= units
        if self.policy.refund_to is RefundDestination.CREDIT:
            self.balances[chart.buyer_credit(mo.buyer, mo.currency)] += units
        else:
            self.balances[chart.gateway(self.policy.gateway, mo.currency)] += units

    def model_run_due(self, until: datetime) -> list[tuple[str, str]]:
        """Every model timer due by ``until``, earliest first, as ``run_due`` should."""
        executed: list[tuple[str, str]] = []
        while True:
            due = [(t.due_at, t.seq, mo, t) for mo in self.model.values() for t in mo.timers]
            due = [item for item in due if item[0] <= until]
            if not due:
                return executed
            _, _, mo, timer = min(due, key=lambda item: (item[0], item[1]))
            mo.timers.remove(timer)
            if timer.action == "clear":
                assert timer.units is not None
                assert timer.seller is not None
                self.balances[chart.seller_pending(timer.seller, mo.currency)] -= timer.units
                self.balances[chart.seller_available(timer.seller, mo.currency)] += timer.units
                executed.append((mo.id, "cleared"))
            elif timer.action == "publish_reviews":
                mo.reviews = dict.fromkeys(mo.reviews, True)
                executed.append((mo.id, "published"))
            else:
                target = self.decide(mo, timer.action, SYSTEM, None, {}, timer.due_at)
                assert isinstance(target, OrderState), (mo.id, timer.action, target)
                self.apply(mo, timer.action, SYSTEM, {}, timer.due_at, target)
                executed.append((mo.id, timer.action))

    # -- talking to the desk ----------------------------------------------

    def snapshot(self) -> tuple[object, ...]:
        """Everything a refused command must leave as it was."""
        with self.storage() as uow:
            orders = sorted(uow.orders.orders(), key=lambda order: order.id)
            accounts = [account.code for account in uow.ledger.accounts()]
            return (
                tuple(orders),
                tuple(t for order in orders for t in uow.orders.timers_for(order.id)),
                tuple(r for order in orders for r in uow.orders.reviews_for(order.id)),
                tuple(event.id for event in uow.outbox.pending(10**9)),
                tuple(sorted(uow.ledger.lock_balances(accounts).items())),
                tuple(entry.id for entry in uow.ledger.iter_entries()),
            )

    def refused(self, expected: type[GigmarketError], call: Callable[[], object]) -> None:
        """``call`` must raise exactly ``expected`` and change nothing."""
        before = self.snapshot()
        with pytest.raises(GigmarketError) as raised:
            call()
        assert type(raised.value) is expected, (expected, raised.value)
        assert self.snapshot() == before

    def events(self) -> int:
        with self.storage() as uow:
            return len(uow.outbox.pending(10**9))

    def attempt(
        self,
        order_id: str,
        action: str,
        actor: Any,
        account_id: str | None,
        params: dict[str, object],
    ) -> None:
        """``desk.act`` once, checked against the model either way."""
        mo = self.model[order_id]
        now = self.clock.now()
        outcome = self.decide(mo, action, actor, account_id, params, now)

        def call() -> Order:
            return self.desk.act(order_id, action, actor=actor, account_id=account_id, **params)

        if not isinstance(outcome, OrderState):
            self.refused(outcome, call)
            return
        events = self.events()
        order = call()
        self.apply(mo, action, actor, params, now, outcome)
        assert projection(order) == mo.projection()
        assert self.events() > events

    def run_due(self) -> int:
        """``desk.run_due`` at the clock's time, checked against the model."""
        now = self.clock.now()
        run = self.desk.run_due()
        expected = self.model_run_due(now)
        assert Counter((oid, outcome) for _, oid, outcome in run.executed) == Counter(expected)
        with self.storage() as uow:
            timers = {
                t.id: t for oid in self.model for t in uow.orders.timers_for(oid) if t.done_at
            }
        dues = [timers[timer_id].due_at for timer_id, _, _ in run.executed]
        assert dues == sorted(dues), "timers run in due order"
        assert all(due <= now for due in dues)
        assert all(timers[timer_id].outcome == outcome for timer_id, _, outcome in run.executed)
        return run.count

    def draw_resolution(self, data: st.DataObject, mo: ModelOrder) -> DisputeResolution:
        held = max(mo.held, 0)
        units = data.draw(
            st.sampled_from([0, held, 1, held - 1, held - 2, held + 1, -1])
            | st.integers(min_value=0, max_value=held),
            label="refund",
        )
        other = next(c for c in ("USD", "JPY") if c != mo.currency)
        currency = data.draw(st.sampled_from([mo.currency] * 9 + [other]), label="currency")
        return DisputeResolution(refund=Amount(units=units, currency=currency))

    def draw_answers(self, data: st.DataObject, mo: ModelOrder, valid: bool) -> object:
        answers = {"brand": "Acme"} if any(q.id == "brand" for q in mo.questions) else {}
        if any(q.id == "tone" for q in mo.questions) and data.draw(st.booleans(), label="tone"):
            answers["tone"] = "calm"
        if valid:
            return answers
        spoil = data.draw(
            st.sampled_from(["missing", "unknown", "choice", "blank", "control", "list"]),
            label="spoil",
        )
        match spoil:
            case "missing":
                answers.pop("brand", None)
            case "unknown":
                answers["budget"] = "lots"
            case "choice":
                answers["tone"] = "sarcastic"
            case "blank":
                answers["brand"] = "  "
            case "control":
                answers["brand"] = "Acme\x00"
            case _:
                return list(answers.items())
        return answers

    def params_for(self, data: st.DataObject, mo: ModelOrder, action: str, valid: bool) -> dict:
        match action:
            case "submit_requirements":
                return {"answers": self.draw_answers(data, mo, valid)}
            case "request_cancellation":
                return {"reason": "changed my mind" if valid else "x" * 1001}
            case "resolve_dispute":
                return {"resolution": self.draw_resolution(data, mo)} if valid else {}
            case "pay":
                if not valid:
                    return {}
                amount = Amount(units=mo.total, currency=mo.currency)
                return {"amount": amount, "reference": f"ch-{next(self.counter)}"}
        return {}

    # -- rules: checkout and payment --------------------------------------

    @precondition(lambda self: len(self.model) < MAX_ORDERS)
    @rule(
        target=orders,
        data=st.data(),
        seller=st.sampled_from(SELLERS),
        buyer=st.sampled_from(BUYERS),
        price=st.one_of(
            st.integers(min_value=1, max_value=600),
            st.integers(min_value=1, max_value=2_000_000),
            st.sampled_from([9_999, 10_000, 10_001, 999_999, 1_000_000]),
        ),
        days=st.integers(min_value=1, max_value=10),
        revisions=st.integers(min_value=0, max_value=2),
        questions=st.sampled_from([(), QUESTIONS[:1], QUESTIONS[1:], QUESTIONS]),
        quantity=st.integers(min_value=1, max_value=3),
        key=st.sampled_from(["none", "new", "new", "replay", "misuse"]),
        pay_now=st.integers(0, 3),
    )
    def checkout(
        self,
        data: st.DataObject,
        seller: str,
        buyer: str,
        price: int,
        days: int,
        revisions: int,
        questions: tuple[RequirementQuestion, ...],
        quantity: int,
        key: str,
        pay_now: int,
    ) -> Any:
        """Place an order (replaying or misusing a checkout key now and then), and
        most of the time pay for it at once."""
        if key in ("replay", "misuse") and self.place_keys:
            self.replay_checkout(min(self.place_keys), same=key == "replay")
            return multiple()
        currency = data.draw(st.sampled_from(self.currencies), label="currency")
        extras: tuple[OfferedExtra, ...] = ()
        if data.draw(st.booleans(), label="with an extra"):
            extras = (
                OfferedExtra(
                    name="express",
                    price=Amount(units=data.draw(st.integers(1, 5_000)), currency=currency),
                    extra_days=data.draw(st.integers(-3, 3)),
                    extra_revisions=data.draw(st.integers(0, 1)),
                ),
            )
        offer = Offer(
            gig_id=f"gig-{seller}",
            gig_version=1,
            seller_id=seller,
            package=OfferedPackage(
                name="Basic",
                price=Amount(units=price, currency=currency),
                delivery_days=days,
                revisions=revisions,
            ),
            extras=extras,
            quantity=quantity,
            questions=questions,
        )
        if data.draw(st.integers(0, 19), label="buyer is the seller") == 0:
            self.refused(ValidationError, lambda: self.desk.place(offer, buyer_id=seller))
            return multiple()
        idempotency_key = f"place-{next(self.counter)}" if key == "new" else None
        events = self.events()
        order = self.desk.place(offer, buyer_id=buyer, idempotency_key=idempotency_key)
        assert self.events() == events + 1
        subtotal = (price + sum(e.price.units for e in extras)) * quantity
        fee, commission = self.buyer_fee(subtotal, currency), self.commission(subtotal)
        mo = ModelOrder(
            id=order.id,
            buyer=buyer,
            seller=seller,
            currency=currency,
            total=subtotal + fee,
            net=subtotal - commission,
            fees=fee + commission,
            delivery_days=max(1, days + sum(e.extra_days for e in extras)),
            revisions=revisions + sum(e.extra_revisions for e in extras),
            questions=questions,
        )
        self.model[order.id] = mo
        self.enter(mo, S.PENDING_PAYMENT, self.clock.now())
        assert projection(order) == mo.projection()
        if idempotency_key is not None:
            self.place_keys[idempotency_key] = (offer, buyer, order.id)
        if pay_now:
            self.record_payment(order.id, "right", 0)
        return order.id

    def replay_checkout(self, key: str, *, same: bool) -> None:
        offer, buyer, order_id = self.place_keys[key]
        if same:
            before = self.snapshot()
            assert self.desk.place(offer, buyer_id=buyer, idempotency_key=key).id == order_id
            assert self.snapshot() == before
        else:
            other = next(b for b in BUYERS if b != buyer)
            self.refused(
                IdempotencyConflict,
                lambda: self.desk.place(offer, buyer_id=other, idempotency_key=key),
            )

    @rule(
        order_id=orders,
        how=st.sampled_from(["right", "wrong", "currency", "replay", "foreign"]),
        delta=st.integers(min_value=1, max_value=10_000),
    )
    def pay(self, order_id: str, how: str, delta: int) -> None:
        self.record_payment(order_id, how, delta)

    def record_payment(self, order_id: str, how: str, delta: int) -> None:
        """The gateway reports a charge: the right one, a wrong amount or currency,
        a replay of the order's own reference, or another order's reference."""
        mo = self.model[order_id]
        amount = Amount(units=mo.total, currency=mo.currency)
        reference = f"ch-{next(self.counter)}"
        if how == "wrong":
            units = max(mo.total - delta, 1) if delta % 2 else mo.total + delta
            amount = Amount(units=units if units != mo.total else units + 1, currency=mo.currency)
        elif how == "currency":
            other = next(c for c in ("USD", "JPY") if c != mo.currency)
            amount = Amount(units=mo.total, currency=other)
        elif how == "replay" and mo.reference is not None:
            reference = mo.reference
        elif how == "foreign" and set(self.payment_refs.values()) - {mo.id}:
            reference = min(r for r, oid in self.payment_refs.items() if oid != mo.id)

        def call() -> Order:
            return self.desk.record_payment(order_id, amount, reference=reference)

        if reference == mo.reference and amount == Amount(units=mo.total, currency=mo.currency):
            before = self.snapshot()
            assert projection(call()) == mo.projection(), "a replayed payment changes nothing"
            assert self.snapshot() == before
            return
        params = {"amount": amount, "reference": reference}
        outcome = self.decide(mo, "pay", SYSTEM, None, params, self.clock.now())
        if not isinstance(outcome, OrderState):
            self.refused(outcome, call)
            return
        order = call()
        self.apply(mo, "pay", SYSTEM, params, self.clock.now(), outcome)
        assert projection(order) == mo.projection()

    # -- rules: the lifecycle ---------------------------------------------

    def pick(self, data: st.DataObject, states: frozenset[OrderState] | None = None) -> str | None:
        """An order from the model, in one of ``states`` when there is one."""
        ids = sorted(self.model)
        wanted = [oid for oid in ids if states is None or self.model[oid].state in states]
        if not ids:
            return None
        return data.draw(st.sampled_from(wanted or ids), label="order")

    @rule(data=st.data())
    def move_on(self, data: st.DataObject) -> None:
        """A party (or the operator) takes an action open to them on an order still
        in play, mostly with valid parameters: the rule that walks orders deep into
        the lifecycle."""
        order_id = self.pick(data, frozenset(STATE_TIMERS) - {S.PENDING_PAYMENT})
        if order_id is None:
            return
        mo = self.model[order_id]
        moves = sorted(
            (
                (action, actor)
                for (state, action), actors in LEGAL.items()
                if state is mo.state
                for actor in actors
                if actor is not SYSTEM
            ),
            key=lambda move: (move[0], move[1].value),
        )
        if not moves:
            return
        forward = [move for move in moves if move[0] in FORWARD]
        if forward and data.draw(st.integers(0, 3), label="forward") > 0:
            moves = forward
        action, actor = data.draw(st.sampled_from(moves), label="move")
        valid = data.draw(st.integers(0, 9), label="valid params") > 0
        params = self.params_for(data, mo, action, valid)
        self.attempt(order_id, action, actor, mo.party(actor), params)

    @rule(
        order_id=orders,
        data=st.data(),
        action=st.sampled_from(ACTIONS),
        actor=st.sampled_from([*Actor, "buyer"]),
        who=st.sampled_from(["party", "party", "other", "stranger", "none"]),
        valid=st.booleans(),
    )
    def anyone_tries_anything(
        self, order_id: str, data: st.DataObject, action: str, actor: Any, who: str, valid: bool
    ) -> None:
        mo = self.model[order_id]
        if data.draw(st.integers(0, 19), label="no such order") == 0:
            self.refused(
                OrderNotFound, lambda: self.desk.act(f"{order_id}-gone", action, actor=actor)
            )
            return
        account_id = {
            "party": mo.party(actor),
            "other": mo.party(SELLER if actor is BUYER else BUYER),
            "stranger": STRANGER,
            "none": None,
        }[who]
        self.attempt(order_id, action, actor, account_id, self.params_for(data, mo, action, valid))

    @rule(
        data=st.data(),
        units=st.integers(min_value=1, max_value=50_000),
        honest=st.integers(0, 5),
        right_currency=st.integers(0, 9),
        replay=st.sampled_from(["fresh", "fresh", "same", "other"]),
    )
    def tip(
        self, data: st.DataObject, units: int, honest: int, right_currency: int, replay: str
    ) -> None:
        order_id = self.pick(data, frozenset({S.COMPLETED}))
        if order_id is None:
            return
        mo = self.model[order_id]
        currency = mo.currency
        if not right_currency:
            currency = next(c for c in ("USD", "JPY") if c != mo.currency)
        buyer = mo.buyer if honest else STRANGER
        reference = f"tip-{next(self.counter)}"
        mine = sorted(r for r, (oid, _) in self.tip_refs.items() if oid == order_id)
        if replay == "same" and mine:
            reference = mine[0]
            units = self.tip_refs[reference][1]
        elif replay == "other" and self.tip_refs:
            reference = min(self.tip_refs)
            units += 1 if self.tip_refs[reference] == (order_id, units) else 0
        amount = Amount(units=units, currency=currency)

        def call() -> Order:
            return self.desk.tip(order_id, amount, buyer_id=buyer, payment_reference=reference)

        previous = self.tip_refs.get(reference)
        if mo.state is not S.COMPLETED:
            self.refused(TransitionNotAllowed, call)
        elif buyer != mo.buyer:
            self.refused(WrongActor, call)
        elif currency != mo.currency:
            self.refused(CurrencyMismatch, call)
        elif previous is not None and previous != (order_id, units):
            self.refused(IdempotencyConflict, call)
        elif previous is not None:
            before = self.snapshot()
            assert projection(call()) == mo.projection(), "a replayed tip changes nothing"
            assert self.snapshot() == before
        else:
            order = call()
            fee = self.commission(units)
            self.tip_refs[reference] = (order_id, units)
            mo.charged += units
            mo.tips += units
            self.balances[chart.gateway(self.policy.gateway, mo.currency)] -= units
            self.balances[chart.order_escrow(mo.id)] += units
            self.release(mo, units - fee, fee, self.clock.now())
            assert projection(order) == mo.projection()

    @rule(
        data=st.data(),
        by=st.sampled_from([BUYER, BUYER, SELLER, SELLER, OPERATOR]),
        honest=st.integers(0, 5),
        rating=st.integers(min_value=1, max_value=5) | st.sampled_from([0, 6]),
    )
    def review(self, data: st.DataObject, by: Actor, honest: int, rating: int) -> None:
        order_id = self.pick(data, frozenset({S.COMPLETED}))
        if order_id is None:
            return
        mo = self.model[order_id]
        account_id = mo.party(by) if honest else STRANGER
        now = self.clock.now()

        def call() -> object:
            return self.desk.review(order_id, by=by, account_id=account_id or "", rating=rating)

        if not 1 <= rating <= 5:
            self.refused(ValidationError, call)
        elif (
            by not in PARTIES
            or account_id != mo.party(by)
            or mo.state is not S.COMPLETED
            or mo.completed_at is None
            or now > mo.completed_at + self.policy.review_window
            or by in mo.reviews
            or (by is SELLER and BUYER not in mo.reviews)
        ):
            self.refused(ReviewNotAllowed, call)
        else:
            events = self.events()
            call()
            assert self.events() > events
            mo.reviews[by] = by is SELLER
            if by is SELLER:
                mo.reviews = dict.fromkeys(mo.reviews, True)

    # -- rules: time ------------------------------------------------------

    @rule(delta=CLOCK_STEPS, twice=st.integers(0, 4))
    def time_passes(self, delta: timedelta, twice: int) -> None:
        """The clock moves on and cron runs the due timers (now and then twice: the
        second run must find nothing to do)."""
        self.clock.advance(delta)
        self.run_due()
        if not twice:
            before = self.snapshot()
            assert self.desk.run_due().count == 0
            assert self.snapshot() == before

    @precondition(lambda self: any(mo.timers for mo in self.model.values()))
    @rule()
    def time_passes_to_the_next_timer(self) -> None:
        """Land exactly on a due time, where off-by-one comparisons live."""
        due = min(t.due_at for mo in self.model.values() for t in mo.timers)
        self.clock.set(max(due, self.clock.now()))
        self.run_due()

    @rule(delta=CLOCK_STEPS)
    def cron_is_late(self, delta: timedelta) -> None:
        """Time passes and nobody runs the timers yet: people act on overdue orders."""
        self.clock.advance(delta)

    @precondition(
        lambda self: self.checks >= DRAIN_EVERY and self.checks - self.last_drain >= DRAIN_EVERY
    )
    @rule()
    def everyone_walks_away(self) -> None:
        self.walk_away()
        self.last_drain = self.checks

    def walk_away(self) -> None:
        """Liveness: with nobody acting, every timer fires and all money moves on."""
        for _ in range(5):
            self.clock.advance(timedelta(days=400))
            if self.run_due() == 0:
                break
        else:  # pragma: no cover -- a timer that re-arms itself forever
            raise AssertionError("run_due never ran out of timers")
        assert not any(mo.timers for mo in self.model.values())
        with self.storage() as uow:
            for order in uow.orders.orders():
                assert not DEFAULT_PROCESS.spec(order.state).holds_escrow, order
                assert [t for t in uow.orders.timers_for(order.id) if t.done_at is None] == []
                assert all(r.published_at is not None for r in uow.orders.reviews_for(order.id))
            for account in uow.ledger.accounts():
                if account.code.startswith("escrow:order:") or ":pending:" in account.code:
                    balance = uow.ledger.lock_balances([account.code])[account.code]
                    assert balance.posted == 0, account.code
        self.check_everything()

    # -- invariants -------------------------------------------------------

    @invariant()
    def everything_agrees(self) -> None:
        self.check_everything()
        self.checks += 1

    def check_everything(self) -> None:
        with self.storage() as uow:
            assert audit_orders(uow, self.desk.process) == []
            report = audit_ledger(uow.ledger)
            assert report.ok, report.violations
            accounts = uow.ledger.accounts()
            stored = uow.ledger.lock_balances([account.code for account in accounts])
            totals: dict[str, int] = defaultdict(int)
            for account in accounts:
                totals[account.currency] += stored[account.code].posted
            assert not any(totals.values()), totals
            actual = {code: b.posted for code, b in stored.items() if b.posted}
            assert actual == {code: units for code, units in self.balances.items() if units}
            orders = uow.orders.orders()
            assert sorted(order.id for order in orders) == sorted(self.model)
            for order in orders:
                mo = self.model[order.id]
                assert order.charged == mo.charged
                assert projection(order) == mo.projection()
                if order.state in TERMINAL:
                    assert order.held == 0
                pending = [t for t in uow.orders.timers_for(order.id) if t.done_at is None]
                for timer in pending:
                    if timer.armed_in is not None:
                        assert timer.armed_in is order.state
                        assert timer.armed_version == order.version
                        assert order.state_entered_at is not None
                        assert timer.due_at >= order.state_entered_at, "due before it was armed"
                    else:
                        assert order.closed_at is not None
                        assert timer.due_at >= order.closed_at
                assert sorted(
                    (t.action, t.due_at, int(dict(t.payload).get("units", -1))) for t in pending
                ) == sorted(
                    (t.action, t.due_at, -1 if t.units is None else t.units) for t in mo.timers
                )
                reviews = {
                    r.author: r.published_at is not None for r in uow.orders.reviews_for(order.id)
                }
                assert reviews == mo.reviews

    def teardown(self) -> None:
        # Hypothesis calls teardown from a ``finally``: after a failed step, let
        # that failure speak for itself instead of burying it under this one.
        if sys.exc_info()[1] is None:
            event("steps", self.checks // 10 * 10)
            for mo in self.model.values():
                event("reached", mo.state.value)
            self.walk_away()


class FiverrOrderMachine(OrderMachine):
    """Fiverr-like: 5.5% + a small-order fee from the buyer, 20% from the seller,
    refunds as marketplace credit; in dollars and taka."""

    currencies = ("USD", "BDT")
    SMALL_ORDER: ClassVar[Mapping[str, tuple[int, int]]] = {
        "USD": (300, 10_000),
        "BDT": (30_000, 1_000_000),
    }

    def make_policy(self) -> LifecyclePolicy:
        return fiverr_policy()

    def buyer_fee(self, subtotal: int, currency: str) -> int:
        surcharge, under = self.SMALL_ORDER[currency]
        return half_up(Fraction(subtotal * 55, 1000) + (surcharge if subtotal < under else 0))

    def commission(self, units: int) -> int:
        return half_up(Fraction(units, 5))


class UpworkOrderMachine(OrderMachine):
    """Upwork-like: 10% from the seller, no buyer fee, refunds to the card; in
    dollars and yen (no minor unit)."""

    currencies = ("USD", "JPY")

    def make_policy(self) -> LifecyclePolicy:
        return upwork_policy(refund_to=RefundDestination.GATEWAY)

    def buyer_fee(self, subtotal: int, currency: str) -> int:
        return 0

    def commission(self, units: int) -> int:
        return half_up(Fraction(units, 10))


TestFiverrOrderMachine = FiverrOrderMachine.TestCase
TestUpworkOrderMachine = UpworkOrderMachine.TestCase


def test_the_hand_table_is_the_process() -> None:
    """The model's table and ``DEFAULT_PROCESS`` agree on every state and action,
    so the machine's verdicts are verdicts on the process too."""
    for state in OrderState:
        for action in ACTIONS:
            actors = frozenset().union(
                *(t.actors for t in DEFAULT_PROCESS.candidates(state, action))
            )
            assert actors == LEGAL.get((state, action), frozenset()), (state, action)
    timers = {timer.state: (timer.action, timer.after) for timer in DEFAULT_PROCESS.timers}
    assert timers == STATE_TIMERS
    assert {s.state for s in DEFAULT_PROCESS.states if s.terminal} == TERMINAL
