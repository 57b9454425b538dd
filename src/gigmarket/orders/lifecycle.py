"""The default order process, Fiverr-like, and the guards and effects it uses.

The process below is data; the functions above it are its vocabulary. A
guard reads an :class:`ActionContext` and says why an action may not be
taken (or ``None``). An effect takes the order as it will be after the
transition and returns it changed further, moving money through
:class:`~gigmarket.escrow.flows.EscrowFlows` and recording events and timers
on the context; the service commits all of it in one transaction.

The flow, with the policy field that times each timer::

    pending_payment ──pay──▶ awaiting_requirements ──submit_requirements──▶ in_progress
         │ expire (payment_window)      │ abandon (requirements_window)         │
         ▼                              ▼                                       │ deliver
      expired                       cancelled ◀── cancel_late / abandon ────────┤
                                                                                ▼
       completed ◀── accept / auto_complete (auto_complete_after) ──────── delivered
                                                 request_revision ──▶ in_progress

Mutual cancellation and disputes branch off in_progress and delivered; see
:data:`DEFAULT_PROCESS` and the generated diagram in the docs.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Self, TypeVar

import attrs

from gigmarket.errors import AmountOutOfRange, PaymentMismatch, ValidationError, brief
from gigmarket.escrow import chart
from gigmarket.escrow.flows import EscrowFlows
from gigmarket.idempotency import ScopedKey, internal_key
from gigmarket.money import Amount, allocate
from gigmarket.orders.model import (
    Actor,
    CancellationRequest,
    Order,
    OrderState,
    ScheduledAction,
)
from gigmarket.orders.policy import LifecyclePolicy, RefundDestination
from gigmarket.orders.process import Guard, Process, StateSpec, Timer, Transition
from gigmarket.text import ANSWER_MAX, CANCELLATION_REASON_MAX, ID_MAX, NOTE_MAX, free_text

__all__ = [
    "DEFAULT_PROCESS",
    "EFFECTS",
    "PARAMETERS",
    "ActionContext",
    "ActionParams",
    "CancellationParams",
    "DisputeParams",
    "DisputeResolution",
    "Effect",
    "PaymentParams",
    "RequirementsParams",
]

S = OrderState
BUYER, SELLER, OPERATOR, SYSTEM = Actor.BUYER, Actor.SELLER, Actor.OPERATOR, Actor.SYSTEM
PARTIES = frozenset({BUYER, SELLER})


def _note(value: object) -> str:
    return free_text(value, field="resolution.note", maximum=NOTE_MAX, multiline=True)


@attrs.frozen(kw_only=True)
class DisputeResolution:
    """An operator's decision: how much of the charge goes back to the buyer.

    ``refund`` is an amount of the order's currency between zero and what
    escrow holds; the rest is released to the seller and the platform in the
    proportion of the order's price (seller net : platform fees), split
    exactly by largest remainder. ``refund = 0`` is a full release, ``refund =
    held`` a full refund. ``note`` is free text (see :mod:`gigmarket.text`),
    at most :data:`~gigmarket.text.NOTE_MAX` characters.
    """

    refund: Amount = attrs.field()
    note: str = attrs.field(default="", converter=_note)

    @refund.validator
    def _check_refund(self, attribute: attrs.Attribute[Amount], value: object) -> None:
        if not isinstance(value, Amount):
            raise ValidationError("must be an Amount", field="resolution.refund")

    @classmethod
    def split(
        cls, order: Order, buyer_share: int, seller_share: int, note: str = ""
    ) -> DisputeResolution:
        """Refund ``buyer_share / (buyer_share + seller_share)`` of what escrow holds."""
        held = Amount(units=order.held, currency=order.currency)
        refund, _ = allocate(held, [buyer_share, seller_share])
        return cls(refund=refund, note=note)


P = TypeVar("P", bound="ActionParams")


@attrs.frozen(kw_only=True)
class ActionParams:
    """What an action reads from its caller, checked against the order.

    The base class is an action that reads nothing. Each action of the
    default process that reads something has its own subclass (see
    :data:`PARAMETERS`); :meth:`parse` turns the keywords a caller passed to
    :meth:`~gigmarket.orders.OrderDesk.act` into it, refusing what the
    effects could not use, and the effects read its attributes.
    """

    @classmethod
    def parse(cls, given: Mapping[str, object], order: Order) -> Self:
        return cls()


@attrs.frozen(kw_only=True)
class PaymentParams(ActionParams):
    """``pay``: the gateway's confirmed charge, part of it maybe from buyer credit."""

    amount: Amount
    reference: str
    credit: Amount
    credit_hold: str | None = None

    @classmethod
    def parse(cls, given: Mapping[str, object], order: Order) -> Self:
        amount, reference = given.get("amount"), given.get("reference")
        credit, hold = given.get("credit"), given.get("credit_hold")
        if not isinstance(reference, str) or not reference:
            raise ValidationError("a payment needs its gateway reference", field="reference")
        if not isinstance(amount, Amount) or amount != order.price.total_charged:
            raise PaymentMismatch(
                order_id=order.id, expected=str(order.price.total_charged), received=str(amount)
            )
        if credit is None:
            credit = Amount.zero(order.currency)
        if not isinstance(credit, Amount) or credit.currency != order.currency:
            raise ValidationError(f"credit is an Amount in {order.currency}", field="credit")
        if not 0 <= credit.units <= amount.units:
            raise ValidationError(f"credit must be between 0 and {amount}", field="credit")
        if hold is not None and (not isinstance(hold, str) or not credit.units):
            raise ValidationError(
                "a credit hold goes with the credit it reserved", field="credit_hold"
            )
        return cls(amount=amount, reference=reference, credit=credit, credit_hold=hold)


@attrs.frozen(kw_only=True)
class RequirementsParams(ActionParams):
    """``submit_requirements``: the buyer's answers, by question id."""

    answers: tuple[tuple[str, str], ...] = ()

    @classmethod
    def parse(cls, given: Mapping[str, object], order: Order) -> Self:
        raw = given.get("answers", {})
        if not isinstance(raw, Mapping):
            raise ValidationError("answers are a mapping of question id to text", field="answers")
        questions = {question.id: question for question in order.offer.questions}
        answers: dict[str, str] = {}
        for key, value in raw.items():
            if not isinstance(key, str) or key not in questions:
                where = key if isinstance(key, str) and len(key) <= ID_MAX else brief(key, 40)
                raise ValidationError(
                    f"no question {brief(key)} on this order", field=f"answers.{where}"
                )
            question = questions[key]
            # Choices are one line each; a free answer may run over several lines.
            text = free_text(
                value,
                field=f"answers.{key}",
                minimum=1,
                maximum=ANSWER_MAX,
                multiline=not question.choices,
            )
            picked = text.split(", ") if question.allow_multiple else [text]
            if question.choices and not set(picked) <= set(question.choices):
                raise ValidationError(
                    f"pick {'from' if question.allow_multiple else 'one of'} "
                    f"{list(question.choices)}",
                    field=f"answers.{key}",
                )
            answers[key] = text
        for question in order.offer.questions:
            if question.required and question.id not in answers:
                raise ValidationError(
                    "this question needs an answer", field=f"answers.{question.id}"
                )
        return cls(answers=tuple(sorted(answers.items())))


@attrs.frozen(kw_only=True)
class CancellationParams(ActionParams):
    """``request_cancellation``: why the party asks."""

    reason: str = ""

    @classmethod
    def parse(cls, given: Mapping[str, object], order: Order) -> Self:
        reason = free_text(
            given.get("reason", ""),
            field="reason",
            maximum=CANCELLATION_REASON_MAX,
            multiline=True,
        )
        return cls(reason=reason)


@attrs.frozen(kw_only=True)
class DisputeParams(ActionParams):
    """``resolve_dispute``: the operator's decision (``None`` when none was
    given: the transitions' guards refuse it)."""

    resolution: DisputeResolution | None = None

    @classmethod
    def parse(cls, given: Mapping[str, object], order: Order) -> Self:
        resolution = given.get("resolution")
        return cls(resolution=resolution if isinstance(resolution, DisputeResolution) else None)


PARAMETERS: Mapping[str, type[ActionParams]] = {
    "pay": PaymentParams,
    "submit_requirements": RequirementsParams,
    "request_cancellation": CancellationParams,
    "resolve_dispute": DisputeParams,
}
"""What each action of the default process reads from its caller (any
other action reads nothing)."""


def parameters_of(action: str) -> type[ActionParams]:
    return PARAMETERS.get(action, ActionParams)


@attrs.define
class ActionContext:
    """Everything a guard or an effect may look at or add to, for one action."""

    order: Order
    actor: Actor
    now: datetime
    policy: LifecyclePolicy
    flows: EscrowFlows
    ids: Callable[[], str]
    params: ActionParams = attrs.Factory(ActionParams)
    top_rated: bool = False
    refund_to_card: Callable[[Order, Amount, ScopedKey], None] | None = None
    """Sends a refund towards the buyer's card (given the order, the amount
    and an idempotency key), when a payment service is wired in; without one
    the money goes straight to the gateway's account, for a host that refunds
    cards itself."""
    events: list[tuple[str, dict[str, object]]] = attrs.Factory(list)
    timers: list[ScheduledAction] = attrs.Factory(list)

    def emit(self, event_type: str, **payload: object) -> None:
        """Add an event of ``event_type`` with ``payload``, appended to the outbox
        with the order's change, in the same transaction."""
        self.events.append((event_type, payload))

    def schedule(self, action: str, due_at: datetime, **payload: str) -> None:
        """Arm a timer that takes ``action`` on the order at ``due_at``, carrying
        ``payload``; it is stored with the order's change."""
        self.timers.append(
            ScheduledAction(
                id=self.ids(),
                order_id=self.order.id,
                action=action,
                due_at=due_at,
                payload=tuple(sorted(payload.items())),
            )
        )

    def amount(self, units: int) -> Amount:
        """``units`` minor units in the order's currency."""
        return Amount(units=units, currency=self.order.currency)

    def given(self, kind: type[P]) -> P:
        """The action's parameters, as the effect that reads them expects them."""
        if not isinstance(self.params, kind):
            raise ValidationError(f"expected {kind.__name__}", field="params")
        return self.params


Effect = Callable[[ActionContext, Order], Order]
"""An effect: given the context and the order as changed so far, the order as changed further."""


# -- guards -----------------------------------------------------------------


def _revisions_left(ctx: ActionContext) -> str | None:
    left = ctx.order.revisions_left
    return None if left is None or left > 0 else "no revisions are left"


def _late(ctx: ActionContext) -> str | None:
    due = ctx.order.due_at
    return None if ctx.order.is_late(ctx.now) else f"the order is not late (due {due})"


def _other_party(ctx: ActionContext) -> str | None:
    request = ctx.order.cancellation
    if request is not None and ctx.actor is request.requested_by:
        return "the party who asked cannot answer their own request"
    return None


def _requester(ctx: ActionContext) -> str | None:
    request = ctx.order.cancellation
    if request is None or ctx.actor is not request.requested_by:
        return "only the party who asked may withdraw the request"
    return None


def _resumes(state: OrderState) -> Guard[ActionContext]:
    def check(ctx: ActionContext) -> str | None:
        request = ctx.order.cancellation
        return None if request is not None and request.resume_state is state else "elsewhere"

    return Guard(f"resumes {state.value}", check)


def _resolution(kind: str) -> Guard[ActionContext]:
    def check(ctx: ActionContext) -> str | None:
        resolution = ctx.given(DisputeParams).resolution
        if resolution is None:
            return "a dispute is resolved with a DisputeResolution"
        refund = resolution.refund.units
        actual = "refund" if refund == ctx.order.held else "release" if refund == 0 else "split"
        return None if actual == kind else "another outcome"

    return Guard(f"resolution is {kind}", check)


REVISIONS_LEFT = Guard("revisions left", _revisions_left)
LATE = Guard("order is late", _late)
OTHER_PARTY = Guard("the other party", _other_party)
REQUESTER = Guard("the requester", _requester)


# -- effects ----------------------------------------------------------------


def _record_payment(ctx: ActionContext, order: Order) -> Order:
    params = ctx.given(PaymentParams)
    amount, reference, credit = params.amount, params.reference, params.credit
    if credit.units:
        ctx.flows.spend_credit(
            order.id,
            order.buyer_id,
            credit,
            hold_id=params.credit_hold,
            idempotency_key=internal_key("credit", order.id, reference),
        )
    if amount.units - credit.units:
        ctx.flows.fund(
            order.id,
            amount - credit,
            gateway=ctx.policy.gateway,
            idempotency_key=internal_key("payment", reference),
        )
    ctx.emit("order.paid", amount=str(amount), reference=reference, credit=str(credit))
    return attrs.evolve(order, paid_at=ctx.now, payment_reference=reference, charged=amount.units)


def _start_work(ctx: ActionContext, order: Order) -> Order:
    answers = ctx.given(RequirementsParams).answers
    ctx.emit("order.requirements_submitted")
    return attrs.evolve(
        order,
        answers=answers,
        started_at=ctx.now,
        due_at=order.due_from(ctx.now),
    )


def _record_delivery(ctx: ActionContext, order: Order) -> Order:
    ctx.emit("order.delivered", delivery=order.deliveries + 1)
    return attrs.evolve(order, delivered_at=ctx.now, deliveries=order.deliveries + 1)


def _count_revision(ctx: ActionContext, order: Order) -> Order:
    left = order.revisions_left
    ctx.emit("order.revision_requested", revisions_left=None if left is None else left - 1)
    return attrs.evolve(
        order,
        revisions_used=order.revisions_used + 1,
        due_at=max(order.due_at or ctx.now, ctx.now + ctx.policy.revision_time),
    )


def _clearance(ctx: ActionContext) -> timedelta:
    policy = ctx.policy
    return policy.clearance_period_top_rated if ctx.top_rated else policy.clearance_period


def _release_to_seller(ctx: ActionContext, order: Order, net: int, fees: int, why: str) -> Order:
    """Escrow → seller pending (``net``) + platform revenue (``fees``), and a clearance timer."""
    if net + fees == 0:
        return order
    key = internal_key("release", order.id, str(ctx.order.version), why)
    if net:
        ctx.flows.release(
            order.id,
            seller_id=order.seller_id,
            seller_net=ctx.amount(net),
            platform_fees=ctx.amount(fees),
            idempotency_key=key,
        )
    else:  # a split of a few units can leave the seller's share at zero; the fees still go
        revenue = chart.platform_revenue(order.currency)
        ctx.flows.settle(order.id, {revenue: ctx.amount(fees)}, idempotency_key=key)
    ctx.emit("money.released", seller_net=str(ctx.amount(net)), platform_fees=str(ctx.amount(fees)))
    if net:
        ctx.schedule(
            "clear",
            ctx.now + _clearance(ctx),
            seller_id=order.seller_id,
            units=str(net),
            currency=order.currency,
        )
    settlement = order.settlement
    return attrs.evolve(
        order,
        settlement=attrs.evolve(
            settlement,
            seller_net=settlement.seller_net + net,
            platform_fees=settlement.platform_fees + fees,
        ),
    )


def refund_buyer(ctx: ActionContext, order: Order, units: int) -> Order:
    """Escrow → the buyer (credit or card, by policy)."""
    if units == 0:
        return order
    key = internal_key("refund", order.id, str(ctx.order.version))
    if ctx.policy.refund_to is RefundDestination.GATEWAY and ctx.refund_to_card is not None:
        ctx.refund_to_card(order, ctx.amount(units), key)
    else:
        if ctx.policy.refund_to is RefundDestination.CREDIT:
            destination = chart.buyer_credit(order.buyer_id, order.currency)
        else:
            destination = chart.gateway(ctx.policy.gateway, order.currency)
        ctx.flows.settle(
            order.id,
            {destination: ctx.amount(units)},
            memo=f"refund of order {order.id}",
            idempotency_key=key,
        )
    ctx.emit("money.refunded", amount=str(ctx.amount(units)), to=ctx.policy.refund_to.value)
    settlement = order.settlement
    return attrs.evolve(
        order, settlement=attrs.evolve(settlement, refunded=settlement.refunded + units)
    )


def _release_all(ctx: ActionContext, order: Order) -> Order:
    price = order.price
    if order.held != price.total_charged.units:  # pragma: no cover -- guarded by the process
        raise AmountOutOfRange(f"order {order.id} does not hold its whole charge", value=order.held)
    return _release_to_seller(
        ctx, order, price.seller_net.units, price.platform_revenue.units, "completion"
    )


def _refund_all(ctx: ActionContext, order: Order) -> Order:
    order = refund_buyer(ctx, order, order.held)
    return attrs.evolve(order, closed_at=ctx.now)


def _split(ctx: ActionContext, order: Order) -> Order:
    resolution = ctx.given(DisputeParams).resolution
    if resolution is None:  # pragma: no cover -- guarded
        raise ValidationError("expected a DisputeResolution", field="resolution")
    resolution.refund.require_currency(order.currency)
    refund = resolution.refund.units
    if not 0 <= refund <= order.held:
        raise ValidationError(
            f"a refund must be between 0 and {ctx.amount(order.held)}", field="resolution.refund"
        )
    price = order.price
    net, fees = allocate(
        ctx.amount(order.held - refund), [price.seller_net.units, price.platform_revenue.units]
    )
    order = refund_buyer(ctx, order, refund)
    order = _release_to_seller(ctx, order, net.units, fees.units, "split")
    ctx.emit(
        "order.dispute_resolved",
        refund=str(ctx.amount(refund)),
        seller_net=str(net),
        platform_fees=str(fees),
        note=resolution.note,
    )
    return attrs.evolve(order, closed_at=ctx.now)


def _complete(ctx: ActionContext, order: Order) -> Order:
    ctx.emit("order.completed", by=ctx.actor.value)
    ctx.schedule("publish_reviews", ctx.now + ctx.policy.review_window)
    return attrs.evolve(order, completed_at=ctx.now, closed_at=ctx.now)


def _open_cancellation(ctx: ActionContext, order: Order) -> Order:
    reason = ctx.given(CancellationParams).reason
    ctx.emit("order.cancellation_requested", by=ctx.actor.value, reason=reason)
    request = CancellationRequest(
        requested_by=ctx.actor,
        requested_at=ctx.now,
        resume_state=ctx.order.state,
        resume_entered_at=ctx.order.state_entered_at,
        reason=reason,
    )
    return attrs.evolve(order, cancellation=request)


def _clear_cancellation(ctx: ActionContext, order: Order) -> Order:
    return attrs.evolve(order, cancellation=None)


def _resume(ctx: ActionContext, order: Order) -> Order:
    """Back to the state the request interrupted, with that state's clock:
    its timers count from when it was first entered, not from now."""
    request = ctx.order.cancellation
    entered = request.resume_entered_at if request is not None else None
    return attrs.evolve(order, cancellation=None, state_entered_at=entered or ctx.now)


def _open_dispute(ctx: ActionContext, order: Order) -> Order:
    ctx.emit("order.dispute_opened", by=ctx.actor.value)
    return attrs.evolve(order, dispute_opened_by=ctx.actor, cancellation=None)


def _close(ctx: ActionContext, order: Order) -> Order:
    return attrs.evolve(order, closed_at=ctx.now)


def _event(event_type: str) -> Effect:
    def emit(ctx: ActionContext, order: Order) -> Order:
        ctx.emit(event_type, by=ctx.actor.value)
        return order

    return emit


EFFECTS: Mapping[str, Effect] = {
    "record_payment": _record_payment,
    "start_work": _start_work,
    "record_delivery": _record_delivery,
    "count_revision": _count_revision,
    "complete": _complete,
    "release_all": _release_all,
    "refund_all": _refund_all,
    "split": _split,
    "open_cancellation": _open_cancellation,
    "clear_cancellation": _clear_cancellation,
    "resume": _resume,
    "open_dispute": _open_dispute,
    "close": _close,
    "cancelled": _event("order.cancelled"),
    "expired": _event("order.expired"),
    "cancellation_withdrawn": _event("order.cancellation_withdrawn"),
    "cancellation_declined": _event("order.cancellation_declined"),
}
"""Every effect a process may name, by name."""


# -- the process ------------------------------------------------------------


def _t(
    action: str,
    source: OrderState,
    target: OrderState,
    actors: frozenset[Actor] | Actor,
    *,
    guards: tuple[Guard[ActionContext], ...] = (),
    effects: tuple[str, ...] = (),
    description: str = "",
) -> Transition[ActionContext]:
    who = actors if isinstance(actors, frozenset) else frozenset({actors})
    return Transition(
        action=action,
        source=source,
        target=target,
        actors=who,
        guards=guards,
        effects=effects,
        parameters=frozenset(attrs.fields_dict(parameters_of(action))),
        description=description,
    )


_CANCELLABLE = (S.AWAITING_REQUIREMENTS, S.IN_PROGRESS, S.DELIVERED)

DEFAULT_PROCESS: Process[ActionContext] = Process(
    name="fiverr-like",
    initial=S.PENDING_PAYMENT,
    states=(
        StateSpec(S.PENDING_PAYMENT, description="placed, waiting for the charge"),
        StateSpec(
            S.AWAITING_REQUIREMENTS, holds_escrow=True, description="paid; the buyer owes the brief"
        ),
        StateSpec(S.IN_PROGRESS, holds_escrow=True, description="the seller is working"),
        StateSpec(S.DELIVERED, holds_escrow=True, description="the buyer is reviewing a delivery"),
        StateSpec(
            S.CANCELLATION_REQUESTED, holds_escrow=True, description="one side asked to cancel"
        ),
        StateSpec(S.DISPUTED, holds_escrow=True, description="an operator decides"),
        StateSpec(S.COMPLETED, terminal=True, description="released to the seller"),
        StateSpec(S.CANCELLED, terminal=True, description="refunded to the buyer"),
        StateSpec(S.RESOLVED, terminal=True, description="split by an operator"),
        StateSpec(S.EXPIRED, terminal=True, description="never paid"),
    ),
    transitions=(
        _t("pay", S.PENDING_PAYMENT, S.AWAITING_REQUIREMENTS, SYSTEM, effects=("record_payment",)),
        _t("expire", S.PENDING_PAYMENT, S.EXPIRED, SYSTEM, effects=("close", "expired")),
        _t(
            "submit_requirements",
            S.AWAITING_REQUIREMENTS,
            S.IN_PROGRESS,
            BUYER,
            effects=("start_work",),
        ),
        _t(
            "abandon",
            S.AWAITING_REQUIREMENTS,
            S.CANCELLED,
            SYSTEM,
            effects=("refund_all", "cancelled"),
        ),
        _t("deliver", S.IN_PROGRESS, S.DELIVERED, SELLER, effects=("record_delivery",)),
        _t(
            "cancel_late",
            S.IN_PROGRESS,
            S.CANCELLED,
            BUYER,
            guards=(LATE,),
            effects=("refund_all", "cancelled"),
        ),
        _t(
            "abandon",
            S.IN_PROGRESS,
            S.CANCELLED,
            SYSTEM,
            guards=(LATE,),
            effects=("refund_all", "cancelled"),
        ),
        _t(
            "request_revision",
            S.DELIVERED,
            S.IN_PROGRESS,
            BUYER,
            guards=(REVISIONS_LEFT,),
            effects=("count_revision",),
        ),
        _t("accept", S.DELIVERED, S.COMPLETED, BUYER, effects=("complete", "release_all")),
        _t("auto_complete", S.DELIVERED, S.COMPLETED, SYSTEM, effects=("complete", "release_all")),
        *(
            _t(
                "request_cancellation",
                source,
                S.CANCELLATION_REQUESTED,
                PARTIES,
                effects=("open_cancellation",),
            )
            for source in _CANCELLABLE
        ),
        _t(
            "accept_cancellation",
            S.CANCELLATION_REQUESTED,
            S.CANCELLED,
            frozenset({BUYER, SELLER, SYSTEM}),
            guards=(OTHER_PARTY,),
            effects=("refund_all", "clear_cancellation", "cancelled"),
        ),
        *(
            _t(
                "decline_cancellation",
                S.CANCELLATION_REQUESTED,
                source,
                PARTIES,
                guards=(OTHER_PARTY, _resumes(source)),
                effects=("resume", "cancellation_declined"),
            )
            for source in _CANCELLABLE
        ),
        *(
            _t(
                "withdraw_cancellation",
                S.CANCELLATION_REQUESTED,
                source,
                PARTIES,
                guards=(REQUESTER, _resumes(source)),
                effects=("resume", "cancellation_withdrawn"),
            )
            for source in _CANCELLABLE
        ),
        *(
            _t("open_dispute", source, S.DISPUTED, PARTIES, effects=("open_dispute",))
            for source in (S.IN_PROGRESS, S.DELIVERED, S.CANCELLATION_REQUESTED)
        ),
        _t(
            "resolve_dispute",
            S.DISPUTED,
            S.CANCELLED,
            OPERATOR,
            guards=(_resolution("refund"),),
            effects=("split", "cancelled"),
        ),
        _t(
            "resolve_dispute",
            S.DISPUTED,
            S.COMPLETED,
            OPERATOR,
            guards=(_resolution("release"),),
            effects=("complete", "split"),
        ),
        _t(
            "resolve_dispute",
            S.DISPUTED,
            S.RESOLVED,
            OPERATOR,
            guards=(_resolution("split"),),
            effects=("split",),
        ),
        _t("dispute_timeout", S.DISPUTED, S.CANCELLED, SYSTEM, effects=("refund_all", "cancelled")),
    ),
    timers=(
        Timer(
            name="payment expiry", state=S.PENDING_PAYMENT, after="payment_window", action="expire"
        ),
        Timer(
            name="requirements timeout",
            state=S.AWAITING_REQUIREMENTS,
            after="requirements_window",
            action="abandon",
        ),
        Timer(
            name="late cancellation",
            state=S.IN_PROGRESS,
            after="late_cancel_after",
            action="abandon",
            anchor="due",
        ),
        Timer(
            name="auto-complete",
            state=S.DELIVERED,
            after="auto_complete_after",
            action="auto_complete",
        ),
        Timer(
            name="silence accepts",
            state=S.CANCELLATION_REQUESTED,
            after="cancellation_response_window",
            action="accept_cancellation",
        ),
        Timer(
            name="dispute timeout",
            state=S.DISPUTED,
            after="dispute_timeout",
            action="dispute_timeout",
        ),
    ),
)
"""The Fiverr-like process every preset runs; the numbers come from the policy."""
