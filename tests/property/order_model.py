"""A hand-written model of a marketplace's orders, for the order state machine.

Plain data and arithmetic, written from DESIGN §4 and §5 rather than read
from :mod:`gigmarket.orders`: a table of who may take which action in which
state, each order's expected state, money, deadlines and pending timers, and
the expected balance of every ledger account. ``decide`` says what an action
should lead to (a state, or the exact error that refuses it); ``apply`` moves
the model as the action should have moved the order; ``run_due`` fires the
model's timers as ``OrderDesk.run_due`` should.

The only things taken from the library are its vocabulary (states, actors,
errors, chart-of-accounts names) and the policy's numbers.
"""

from __future__ import annotations

import itertools
import math
from collections import defaultdict
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from fractions import Fraction

import attrs

from gigmarket.errors import (
    CurrencyMismatch,
    GigmarketError,
    GuardFailed,
    IdempotencyConflict,
    PaymentMismatch,
    ReviewNotAllowed,
    TransitionNotAllowed,
    ValidationError,
    WrongActor,
)
from gigmarket.escrow import chart
from gigmarket.money import Amount
from gigmarket.orders import (
    Actor,
    DisputeResolution,
    LifecyclePolicy,
    Offer,
    Order,
    OrderState,
    RefundDestination,
    RequirementQuestion,
)

__all__ = [
    "ACTIONS",
    "LEGAL",
    "MONEY_TIMERS",
    "PARTIES",
    "STATE_TIMERS",
    "TERMINAL",
    "MarketModel",
    "ModelOrder",
    "half_up",
    "projection",
]

S = OrderState
BUYER, SELLER, OPERATOR, SYSTEM = Actor.BUYER, Actor.SELLER, Actor.OPERATOR, Actor.SYSTEM
PARTIES = frozenset({BUYER, SELLER})

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

TERMINAL = frozenset({S.COMPLETED, S.CANCELLED, S.RESOLVED, S.EXPIRED})
ACTIONS = (*sorted({action for _, action in LEGAL}), "teleport")
"""Every action of the table, and one that exists nowhere."""

MONEY_TIMERS = ("clear", "publish_reviews")
"""Timers that outlive a state: clearance of a seller's earnings, publishing reviews."""


def half_up(value: Fraction) -> int:
    """Round a non-negative exact value half-up: the presets' rounding, by hand."""
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


@attrs.define
class ModelTimer:
    action: str
    due_at: datetime
    seq: int
    units: int | None = None
    """For ``clear``: the seller's net it clears."""


@attrs.define
class ModelOrder:
    """What one order should look like."""

    id: str
    buyer: str
    seller: str
    currency: str
    total: int
    net: int
    fees: int
    delivery_days: int
    revisions: int | None
    """Included revisions; ``None`` is unlimited."""
    questions: tuple[RequirementQuestion, ...]
    state: OrderState = S.PENDING_PAYMENT
    entered_at: datetime | None = None
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
    resume_entered_at: datetime | None = None
    reference: str | None = None
    reviews: dict[Actor, bool] = attrs.Factory(dict)
    """Author → published."""
    timers: list[ModelTimer] = attrs.Factory(list)

    @property
    def held(self) -> int:
        return self.charged - self.seller_net - self.platform_fees - self.refunded

    def party(self, actor: object) -> str | None:
        return self.buyer if actor is BUYER else self.seller if actor is SELLER else None

    def projection(self) -> tuple[object, ...]:
        return (
            self.state,
            self.entered_at,
            self.charged,
            (self.seller_net, self.platform_fees, self.refunded),
            self.tips,
            self.revisions_used,
            self.due_at,
            self.completed_at,
            (self.requested_by, self.resume),
            self.reference,
            (self.total, self.net, self.fees),
        )

    def pending(self) -> list[tuple[str, datetime, int]]:
        return sorted((t.action, t.due_at, -1 if t.units is None else t.units) for t in self.timers)


def projection(order: Order) -> tuple[object, ...]:
    """The fields of a stored order the model predicts, as ``ModelOrder.projection``."""
    s = order.settlement
    request = order.cancellation
    return (
        order.state,
        order.state_entered_at,
        order.charged,
        (s.seller_net, s.platform_fees, s.refunded),
        order.tips,
        order.revisions_used,
        order.due_at,
        order.completed_at,
        (request.requested_by, request.resume_state) if request else (None, None),
        order.payment_reference,
        (
            order.price.total_charged.units,
            order.price.seller_net.units,
            order.price.platform_revenue.units,
        ),
    )


class MarketModel:
    """Every order of one marketplace, the ledger's balances, and the references
    and keys already used."""

    def __init__(
        self,
        policy: LifecyclePolicy,
        *,
        buyer_fee: Callable[[int, str], int],
        commission: Callable[[int], int],
        top_rated: frozenset[str],
    ) -> None:
        self.policy = policy
        self.buyer_fee = buyer_fee
        self.commission = commission
        self.top_rated = top_rated
        self.orders: dict[str, ModelOrder] = {}
        self.balances: dict[str, int] = defaultdict(int)
        self.payment_refs: dict[str, str] = {}
        self.tip_refs: dict[str, tuple[str, int]] = {}
        self.taken: set[str] = set()
        """What happened at least once, for Hypothesis' statistics."""
        self._seq = itertools.count()

    # -- checkout, tips, reviews ------------------------------------------

    def place(self, order_id: str, offer: Offer, buyer: str, now: datetime) -> ModelOrder:
        package, extras = offer.package, offer.extras
        currency = package.price.currency
        subtotal = (package.price.units + sum(e.price.units for e in extras)) * offer.quantity
        fee, commission = self.buyer_fee(subtotal, currency), self.commission(subtotal)
        mo = ModelOrder(
            id=order_id,
            buyer=buyer,
            seller=offer.seller_id,
            currency=currency,
            total=subtotal + fee,
            net=subtotal - commission,
            fees=fee + commission,
            delivery_days=max(1, package.delivery_days + sum(e.extra_days for e in extras)),
            revisions=None
            if package.revisions is None
            else package.revisions + sum(e.extra_revisions for e in extras),
            questions=offer.questions,
        )
        self.orders[order_id] = mo
        self.enter(mo, S.PENDING_PAYMENT, now)
        return mo

    def tip_outcome(
        self, mo: ModelOrder, buyer: str, amount: Amount, reference: str
    ) -> type[GigmarketError] | str:
        """The error that refuses a tip, ``"replay"`` for a repeated one, or ``"tip"``."""
        previous = self.tip_refs.get(reference)
        if mo.state is not S.COMPLETED:
            return TransitionNotAllowed
        if buyer != mo.buyer:
            return WrongActor
        if amount.currency != mo.currency:
            return CurrencyMismatch
        if previous is not None:
            return "replay" if previous == (mo.id, amount.units) else IdempotencyConflict
        return "tip"

    def tip(self, mo: ModelOrder, units: int, reference: str, now: datetime) -> None:
        self.taken.add("tip")
        self.tip_refs[reference] = (mo.id, units)
        fee = self.commission(units)
        mo.charged += units
        mo.tips += units
        self.balances[chart.gateway(self.policy.gateway, mo.currency)] -= units
        self.balances[chart.order_escrow(mo.id)] += units
        self.release(mo, units - fee, fee, now)

    def review_refusal(
        self, mo: ModelOrder, by: Actor, account_id: str | None, rating: int, now: datetime
    ) -> type[GigmarketError] | None:
        if not 1 <= rating <= 5:
            return ValidationError
        if (
            by not in PARTIES
            or account_id != mo.party(by)
            or mo.state is not S.COMPLETED
            or mo.completed_at is None
            # half-open: at the window's end the publish timer is due
            or now >= mo.completed_at + self.policy.review_window
            or by in mo.reviews
            or (by is SELLER and BUYER not in mo.reviews)
        ):
            return ReviewNotAllowed
        return None

    def review(self, mo: ModelOrder, by: Actor) -> None:
        """Hidden until the other side has reviewed too (the buyer goes first)."""
        self.taken.add(f"review by the {by.value}")
        mo.reviews[by] = False
        if by is SELLER:
            mo.reviews = dict.fromkeys(mo.reviews, True)

    # -- the lifecycle ----------------------------------------------------

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
        if actor is SYSTEM and any(t.action == action and now < t.due_at for t in mo.timers):
            return GuardFailed  # the clock's actions wait for their timer
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
                left = mo.revisions is None or mo.revisions_used < mo.revisions
                return S.IN_PROGRESS if left else GuardFailed
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
        self.taken.add(action if actor is not SYSTEM or action == "pay" else f"{action} (timer)")
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
            mo.requested_by, mo.resume, mo.resume_entered_at = actor, source, mo.entered_at
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
        entered = now
        if action in ("decline_cancellation", "withdraw_cancellation"):
            # Back where it was, on that state's clock: asking to cancel does
            # not postpone an auto-completion or an abandonment.
            assert mo.resume_entered_at is not None
            entered = mo.resume_entered_at
        if source is S.CANCELLATION_REQUESTED:
            mo.requested_by = mo.resume = mo.resume_entered_at = None
        if target is S.COMPLETED:
            mo.completed_at = now
            self.schedule(mo, "publish_reviews", now + self.policy.review_window)
        self.enter(mo, target, now, entered)

    def enter(
        self, mo: ModelOrder, state: OrderState, now: datetime, entered: datetime | None = None
    ) -> None:
        mo.timers = [t for t in mo.timers if t.action in MONEY_TIMERS]
        mo.state = state
        mo.entered_at = entered or now
        if state in STATE_TIMERS:
            action, after = STATE_TIMERS[state]
            delay: timedelta = getattr(self.policy, after)
            anchor = mo.due_at if state is S.IN_PROGRESS and mo.due_at else mo.entered_at
            # Never due before it is armed: a deadline that passed while the order
            # was elsewhere falls due at once, not in the past.
            self.schedule(mo, action, max(anchor + delay, now))

    def schedule(
        self, mo: ModelOrder, action: str, due_at: datetime, units: int | None = None
    ) -> None:
        mo.timers.append(ModelTimer(action, due_at, next(self._seq), units))

    # -- money ------------------------------------------------------------

    def release(self, mo: ModelOrder, net: int, fees: int, now: datetime) -> None:
        mo.seller_net += net
        mo.platform_fees += fees
        self.balances[chart.order_escrow(mo.id)] -= net + fees
        self.balances[chart.seller_pending(mo.seller, mo.currency)] += net
        self.balances[chart.platform_revenue(mo.currency)] += fees
        if net:
            policy = self.policy
            clearance = (
                policy.clearance_period_top_rated
                if mo.seller in self.top_rated
                else policy.clearance_period
            )
            self.schedule(mo, "clear", now + clearance, units=net)

    def refund(self, mo: ModelOrder, units: int) -> None:
        mo.refunded += units
        self.balances[chart.order_escrow(mo.id)] -= units
        if self.policy.refund_to is RefundDestination.CREDIT:
            self.balances[chart.buyer_credit(mo.buyer, mo.currency)] += units
        else:
            self.balances[chart.gateway(self.policy.gateway, mo.currency)] += units

    # -- timers -----------------------------------------------------------

    def next_due(self) -> datetime | None:
        return min((t.due_at for mo in self.orders.values() for t in mo.timers), default=None)

    def run_due(self, until: datetime) -> list[tuple[str, str]]:
        """Fire every timer due by ``until``, earliest first, each as of its due
        time; return ``(order id, outcome)`` for each."""
        executed: list[tuple[str, str]] = []
        while True:
            due = [(t.due_at, t.seq, mo, t) for mo in self.orders.values() for t in mo.timers]
            due = [item for item in due if item[0] <= until]
            if not due:
                return executed
            _, _, mo, timer = min(due, key=lambda item: (item[0], item[1]))
            mo.timers.remove(timer)
            if timer.action == "clear":
                assert timer.units is not None
                self.balances[chart.seller_pending(mo.seller, mo.currency)] -= timer.units
                self.balances[chart.seller_available(mo.seller, mo.currency)] += timer.units
                executed.append((mo.id, "cleared"))
            elif timer.action == "publish_reviews":
                mo.reviews = dict.fromkeys(mo.reviews, True)
                executed.append((mo.id, "published"))
            else:
                target = self.decide(mo, timer.action, SYSTEM, None, {}, timer.due_at)
                assert isinstance(target, OrderState), (mo.id, timer.action, target)
                self.apply(mo, timer.action, SYSTEM, {}, timer.due_at, target)
                executed.append((mo.id, timer.action))
