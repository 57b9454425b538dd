"""The order desk: commands that move orders, and the timers that move them when nobody does.

Every command is one unit of work: load the order, ask the process which
transition the action takes, check the actor and the guards, run the effects
(the ledger postings among them), save the order under an optimistic version
check, retire the old state's timers, arm the new state's, and append the
events to the outbox, then commit. A refused command raises before anything
is written, so it changes nothing, not even a timestamp.

Timers are data (:class:`~gigmarket.orders.model.ScheduledAction`). A host
calls :meth:`OrderDesk.run_due` from cron or a worker; each due timer is
executed in its own transaction *as of its due time*, in due order, and
marked done in that same transaction, so running it twice, late, or from two
workers at once changes nothing more.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta

import attrs

from gigmarket._kernel.runner import Handler, Runner
from gigmarket.clock import Clock, SystemClock, require_aware
from gigmarket.errors import (
    FutureInstant,
    GigmarketError,
    GuardFailed,
    OrderNotFound,
    ReviewNotAllowed,
    StorageError,
    TransitionNotAllowed,
    ValidationError,
    WrongActor,
    brief,
)
from gigmarket.escrow import chart
from gigmarket.escrow.fees import FeeContext
from gigmarket.escrow.flows import EscrowFlows
from gigmarket.escrow.transaction import LedgerTransaction
from gigmarket.idempotency import ScopedKey, internal_key
from gigmarket.ids import IdFactory, random_ids
from gigmarket.money import Amount, Money
from gigmarket.orders.commands import PlaceOrder
from gigmarket.orders.completed import refund_completed, tip_completed
from gigmarket.orders.events import OrderEvent
from gigmarket.orders.lifecycle import (
    DEFAULT_PROCESS,
    EFFECTS,
    ActionContext,
    DisputeResolution,
    parameters_of,
)
from gigmarket.orders.model import Actor, Offer, Order, OrderState, Review, ScheduledAction
from gigmarket.orders.policy import LifecyclePolicy
from gigmarket.orders.ports import (
    CardRefunds,
    OrdersUnitOfWork,
    OrdersUnitOfWorkFactory,
    SellerStanding,
    StandingByPredicate,
)
from gigmarket.orders.process import Process
from gigmarket.retry import retrying
from gigmarket.text import (
    NOTE_MAX,
    REVIEW_TEXT_MAX,
    SUB_RATING_NAME_MAX,
    check_id,
    check_limit,
    free_text,
)

__all__ = ["DueRun", "OrderDesk"]

SUB_RATINGS_MAX = 5

EVENTS_LIMIT_MAX = 100_000
"""The most events one :meth:`OrderDesk.pending_events` page returns or one
:meth:`OrderDesk.acknowledge` call marks."""
RUN_DUE_LIMIT_MAX = 1_000_000
"""The largest ``limit`` of one :meth:`OrderDesk.run_due` call."""

TIMER_ATTEMPTS = 8
"""How many times a failing timer's action is tried before it is given up."""
TIMER_RETRY_DELAY = timedelta(hours=1)
TIMER_RETRY_CAP = timedelta(days=1)


def _order_id(order: Order) -> str:
    return order.id


@attrs.frozen(kw_only=True)
class DueRun:
    """What one call of :meth:`OrderDesk.run_due` did."""

    executed: tuple[tuple[str, str, str], ...] = ()
    """(timer id, order id, outcome) for every timer retired, in due order."""

    @property
    def count(self) -> int:
        """How many timers the run retired (executed, found stale, or failed)."""
        return len(self.executed)


class OrderDesk:
    """Orders from checkout to settlement, on one storage and one policy.

    ``standing`` answers whether a seller is top-rated when their money is
    released (it shortens clearance): the marketplace passes the catalog's
    seller levels; :class:`~gigmarket.orders.ports.StandingByPredicate` wraps
    any other source.
    """

    def __init__(
        self,
        storage: OrdersUnitOfWorkFactory,
        *,
        policy: LifecyclePolicy,
        process: Process[ActionContext] = DEFAULT_PROCESS,
        clock: Clock | None = None,
        ids: IdFactory = random_ids,
        standing: SellerStanding | None = None,
        card_refunds: CardRefunds | None = None,
    ) -> None:
        self._storage = storage
        self._runner: Runner[OrdersUnitOfWork, OrdersUnitOfWork] = Runner(storage)
        self.card_refunds = card_refunds
        self.policy = policy
        self.process = process
        self.clock: Clock = clock if clock is not None else SystemClock()
        self.ids = ids
        self.standing: SellerStanding = standing if standing is not None else StandingByPredicate()
        self._place_handler = Handler(self._place, _order_id, self._recorded)

    def _recorded(self, uow: OrdersUnitOfWork, order_id: str, command: object) -> Order:
        return self._load(uow, order_id)

    # -- reading ----------------------------------------------------------

    def get(self, order_id: str) -> Order:
        """The order as it is now (any caller: reading changes nothing).

        :param order_id: the id [place][gigmarket.orders.service.OrderDesk.place] returned.
        :raises ValidationError: ``order_id`` is not a well-formed id.
        :raises OrderNotFound: no order has this id.
        """
        with self._storage() as uow:
            return self._load(uow, order_id)

    def reviews(self, order_id: str, *, include_hidden: bool = False) -> list[Review]:
        """Published reviews of an order (all of them for operators)."""
        with self._storage() as uow:
            self._load(uow, order_id)
            return [
                review
                for review in uow.orders.reviews_for(order_id)
                if include_hidden or review.published_at is not None
            ]

    def timers(self, order_id: str) -> list[ScheduledAction]:
        """Every timer armed for an order, done or not (for operators and tests).

        A timer is retired, not deleted: ``done_at`` and ``outcome`` say when and
        how. An id no order has gives an empty list.

        :raises ValidationError: ``order_id`` is not a well-formed id.
        """
        check_id(order_id, "order_id")
        with self._storage() as uow:
            return list(uow.orders.timers_for(order_id))

    def pending_events(self, limit: int = 100) -> list[OrderEvent]:
        """Events not yet acknowledged, oldest first (``limit`` from 1 to
        :data:`EVENTS_LIMIT_MAX`)."""
        check_limit(limit, "limit", maximum=EVENTS_LIMIT_MAX)
        with self._storage() as uow:
            return uow.outbox.pending(limit)

    def acknowledge(self, event_ids: Sequence[str]) -> None:
        """Mark events delivered; unknown or repeated ids are ignored.

        ``event_ids`` is a sequence (not a single ``str``) of at most
        :data:`EVENTS_LIMIT_MAX` ids."""
        given: object = event_ids
        if isinstance(given, str | bytes) or not isinstance(given, Sequence):
            raise ValidationError("a sequence of event ids", field="event_ids")
        check_limit(len(given), "event_ids", minimum=0, maximum=EVENTS_LIMIT_MAX)
        ids = [check_id(event_id, "event_ids") for event_id in given]
        self._runner.transact(lambda uow: uow.outbox.acknowledge(ids))

    # -- checkout ---------------------------------------------------------

    def place(
        self,
        offer: Offer,
        *,
        buyer_id: str,
        context: FeeContext | None = None,
        idempotency_key: str | None = None,
    ) -> Order:
        """Freeze an offer into an order awaiting payment, priced under the
        fee policy in force now."""
        if not isinstance(offer, Offer):
            raise ValidationError("expected an Offer", field="offer")
        if context is not None and not isinstance(context, FeeContext):
            raise ValidationError("expected a FeeContext or None", field="context")
        if not isinstance(buyer_id, str) or not buyer_id or buyer_id == offer.seller_id:
            raise ValidationError("a buyer other than the seller is required", field="buyer_id")
        # Refunds and releases go to accounts named after these ids: an id that
        # cannot name an account would trap the order's money in escrow for good.
        chart.check_party(buyer_id, "buyer_id")
        chart.check_party(offer.seller_id, "offer.seller_id")
        if isinstance(offer.quantity, bool) or not 1 <= offer.quantity <= 100:
            raise ValidationError("between 1 and 100", field="offer.quantity")
        now = self.clock.now()
        price = self.policy.fees.price(offer.subtotal, placed_at=now, context=context)
        command = PlaceOrder(offer=offer, buyer_id=buyer_id, price=price, placed_at=now)
        return self._runner.run(self._place_handler, command, key=idempotency_key)

    def _place(self, command: PlaceOrder, uow: OrdersUnitOfWork) -> Order:
        now, buyer_id, price = command.placed_at, command.buyer_id, command.price
        order = Order(
            id=self.ids(),
            buyer_id=buyer_id,
            offer=command.offer,
            price=price,
            state=self.process.initial,
            placed_at=now,
            state_entered_at=now,
        )
        uow.orders.add(order)
        self._arm(uow, order, now)
        self._append(
            uow,
            order,
            now,
            [("order.placed", {"total_charged": str(price.total_charged), "buyer": buyer_id})],
        )
        return order

    # -- named commands ---------------------------------------------------

    def record_payment(self, order_id: str, amount: Amount | Money, *, reference: str) -> Order:
        """The gateway confirmed the charge: fund escrow (system actor).

        Replaying the same reference is harmless: an order already paid with
        it is returned unchanged.
        """
        if not isinstance(reference, str) or not reference:
            # Checked first: a missing reference would otherwise look like the
            # replay of an unpaid order's (missing) reference.
            raise ValidationError("a payment needs its gateway reference", field="reference")
        check_id(reference, "reference")
        value = Amount.of(amount)

        def pay(uow: OrdersUnitOfWork) -> Order:
            order = self._load(uow, order_id)
            # ``charged`` grows with tips; the payment itself is the order's price.
            if order.payment_reference == reference and value == order.price.total_charged:
                return order
            params = {"amount": value, "reference": reference}
            return self._transition(
                uow,
                order,
                "pay",
                actor=Actor.SYSTEM,
                account_id=None,
                now=self.clock.now(),
                params=params,
            )

        return self._runner.transact(pay)

    def submit_requirements(
        self, order_id: str, *, buyer_id: str, answers: Mapping[str, str]
    ) -> Order:
        """The buyer answers the gig's requirement questions; work starts.

        Taken by the buyer ``buyer_id`` on an order *awaiting requirements*
        (paid); it moves to *in progress* and its delivery deadline
        ([due_at][gigmarket.orders.model.Order.due_at]) starts counting now.

        :param answers: the answers keyed by question id, as the offer's
            [questions][gigmarket.orders.model.Offer.questions] name them (``q1``, ``q2``...);
            every required question needs an answer, a choice question one of its
            choices (several joined by ``", "`` when it allows multiple).
        :raises OrderNotFound: no order has this id.
        :raises WrongActor: ``buyer_id`` is not this order's buyer.
        :raises TransitionNotAllowed: the order is not awaiting requirements.
        :raises ValidationError: an answer to no question of the order, a missing
            required answer, or a choice the question does not offer.
        """
        return self.act(
            order_id, "submit_requirements", actor=Actor.BUYER, account_id=buyer_id, answers=answers
        )

    def deliver(self, order_id: str, *, seller_id: str) -> Order:
        """The seller delivers the work; the buyer now reviews it.

        Taken by the seller ``seller_id`` on an order *in progress*; it moves to
        *delivered*, and the auto-complete timer starts: if the buyer neither
        accepts nor asks for a revision within the policy's
        ``auto_complete_after``, the order completes by itself.

        :raises OrderNotFound: no order has this id.
        :raises WrongActor: ``seller_id`` is not this order's seller.
        :raises TransitionNotAllowed: the order is not in progress.
        """
        return self.act(order_id, "deliver", actor=Actor.SELLER, account_id=seller_id)

    def request_revision(self, order_id: str, *, buyer_id: str) -> Order:
        """The buyer sends a delivery back for another round of work.

        Taken by the buyer ``buyer_id`` on a *delivered* order; it goes back to
        *in progress* and one of the package's revisions is used up.

        :raises OrderNotFound: no order has this id.
        :raises WrongActor: ``buyer_id`` is not this order's buyer.
        :raises TransitionNotAllowed: the order is not delivered.
        :raises GuardFailed: no revisions are left
            ([revisions_left][gigmarket.orders.model.Order.revisions_left] is 0).
        """
        return self.act(order_id, "request_revision", actor=Actor.BUYER, account_id=buyer_id)

    def accept(self, order_id: str, *, buyer_id: str) -> Order:
        """The buyer accepts a delivery: the order completes and escrow is released.

        Taken by the buyer ``buyer_id`` on a *delivered* order; it moves to
        *completed*, the platform takes its fees and the seller's net is
        credited as pending, to clear after the policy's clearance period
        (shorter for a top-rated seller). Reviews may be left from now on.

        :raises OrderNotFound: no order has this id.
        :raises WrongActor: ``buyer_id`` is not this order's buyer.
        :raises TransitionNotAllowed: the order is not delivered.
        """
        return self.act(order_id, "accept", actor=Actor.BUYER, account_id=buyer_id)

    def cancel_late(self, order_id: str, *, buyer_id: str) -> Order:
        """The buyer cancels an order the seller has not delivered in time.

        Taken by the buyer ``buyer_id`` on an order *in progress* past its
        [due_at][gigmarket.orders.model.Order.due_at]; it moves to *cancelled* and
        everything escrow holds is refunded to the buyer.

        :raises OrderNotFound: no order has this id.
        :raises WrongActor: ``buyer_id`` is not this order's buyer.
        :raises TransitionNotAllowed: the order is not in progress.
        :raises GuardFailed: the order is not late yet.
        """
        return self.act(order_id, "cancel_late", actor=Actor.BUYER, account_id=buyer_id)

    def request_cancellation(
        self, order_id: str, *, by: Actor, account_id: str, reason: str = ""
    ) -> Order:
        """A party asks to cancel the order by mutual agreement.

        Taken by the buyer or the seller (``by``, with their ``account_id``) on
        an order *awaiting requirements*, *in progress* or *delivered*; it moves
        to *cancellation requested*. The other party answers with
        [respond_to_cancellation][gigmarket.orders.service.OrderDesk.respond_to_cancellation];
        the one who asked may
        [withdraw_cancellation][gigmarket.orders.service.OrderDesk.withdraw_cancellation];
        silence past the policy's
        ``cancellation_response_window`` accepts it.

        :param reason: free text shown to the other party.
        :raises OrderNotFound: no order has this id.
        :raises WrongActor: ``by`` is not the buyer or the seller, or
            ``account_id`` is not this order's party of that kind.
        :raises TransitionNotAllowed: the order is in no state that can be
            cancelled this way.
        :raises ValidationError: ``reason`` is too long or not text.
        """
        return self.act(
            order_id, "request_cancellation", actor=by, account_id=account_id, reason=reason
        )

    def respond_to_cancellation(
        self, order_id: str, *, by: Actor, account_id: str, accept: bool
    ) -> Order:
        """The other party accepts or declines a cancellation request.

        Taken by the party who did *not* ask (``by``, with their
        ``account_id``) on an order in *cancellation requested*. Accepted, the
        order is *cancelled* and escrow is refunded to the buyer; declined, it
        goes back to the state it was asked in.

        :param accept: ``True`` to cancel, ``False`` to carry on.
        :raises OrderNotFound: no order has this id.
        :raises WrongActor: ``account_id`` is not this order's party ``by``.
        :raises TransitionNotAllowed: no cancellation is requested.
        :raises GuardFailed: ``by`` is the party who asked.
        """
        action = "accept_cancellation" if accept else "decline_cancellation"
        return self.act(order_id, action, actor=by, account_id=account_id)

    def withdraw_cancellation(self, order_id: str, *, by: Actor, account_id: str) -> Order:
        """The party who asked to cancel takes the request back.

        Taken by the requester (``by``, with their ``account_id``) on an order in
        *cancellation requested*; it goes back to the state it was asked in.

        :raises OrderNotFound: no order has this id.
        :raises WrongActor: ``account_id`` is not this order's party ``by``.
        :raises TransitionNotAllowed: no cancellation is requested.
        :raises GuardFailed: ``by`` is not the party who asked.
        """
        return self.act(order_id, "withdraw_cancellation", actor=by, account_id=account_id)

    def open_dispute(self, order_id: str, *, by: Actor, account_id: str) -> Order:
        """A party hands the order to an operator to decide.

        Taken by the buyer or the seller (``by``, with their ``account_id``) on
        an order *in progress*, *delivered* or in *cancellation requested*; it
        moves to *disputed* and the money stays in escrow until
        [resolve_dispute][gigmarket.orders.service.OrderDesk.resolve_dispute] (or the policy's
        ``dispute_timeout``, which
        refunds the buyer).

        :raises OrderNotFound: no order has this id.
        :raises WrongActor: ``by`` is not the buyer or the seller, or
            ``account_id`` is not this order's party of that kind.
        :raises TransitionNotAllowed: the order is in no state that can be
            disputed.
        """
        return self.act(order_id, "open_dispute", actor=by, account_id=account_id)

    def resolve_dispute(self, order_id: str, resolution: DisputeResolution) -> Order:
        """An operator settles a dispute: how much goes back to the buyer.

        Taken by an operator on a *disputed* order. A full refund cancels it, a
        zero refund completes it (a release, as
        [accept][gigmarket.orders.service.OrderDesk.accept] would), anything
        between resolves it with a split (see
        [DisputeResolution][gigmarket.orders.DisputeResolution]).

        :raises OrderNotFound: no order has this id.
        :raises TransitionNotAllowed: the order is not disputed.
        :raises GuardFailed: ``resolution`` is not a
            [DisputeResolution][gigmarket.orders.DisputeResolution].
        :raises ValidationError: the refund is more than escrow holds.
        :raises CurrencyMismatch: the refund is in another currency than the order.
        """
        return self.act(order_id, "resolve_dispute", actor=Actor.OPERATOR, resolution=resolution)

    # -- the engine -------------------------------------------------------

    def act(
        self,
        /,
        order_id: str,
        action: str,
        *,
        actor: Actor,
        account_id: str | None = None,
        **params: object,
    ) -> Order:
        """Take ``action`` on an order as ``actor`` (the account ``account_id``
        for a buyer or a seller). Every named command goes through here."""
        return self._runner.transact(
            lambda uow: self.act_in(
                uow, order_id, action, actor=actor, account_id=account_id, **params
            )
        )

    def act_in(
        self,
        uow: OrdersUnitOfWork,
        /,
        order_id: str,
        action: str,
        *,
        actor: Actor,
        account_id: str | None = None,
        **params: object,
    ) -> Order:
        """:meth:`act` inside a unit of work the caller owns (and commits).

        For services that must change an order together with their own
        records, atomically: the payment service records a confirmed charge
        and pays the order in one transaction.
        """
        now = self.clock.now()  # never the caller's: time guards and deadlines depend on it
        order = self._load(uow, order_id)
        return self._transition(
            uow, order, action, actor=actor, account_id=account_id, now=now, params=params
        )

    def _transition(
        self,
        uow: OrdersUnitOfWork,
        order: Order,
        action: str,
        *,
        actor: Actor,
        account_id: str | None,
        now: datetime,
        params: Mapping[str, object],
    ) -> Order:
        refusal = {
            "order_id": order.id,
            "action": action,
            "state": order.state.value,
            "actor": actor.value if isinstance(actor, Actor) else brief(actor),
        }
        if not isinstance(action, str):
            raise ValidationError(f"an action name, not {brief(action)}", field="action")
        if not isinstance(actor, Actor):
            raise WrongActor(**refusal, reason="not an Actor")
        candidates = self.process.candidates(order.state, action)
        if not candidates:
            raise TransitionNotAllowed(**refusal)
        allowed = [t for t in candidates if actor in t.actors]
        if not allowed:
            raise WrongActor(**refusal, reason="another party takes this action")
        if actor in (Actor.BUYER, Actor.SELLER) and account_id != order.party(actor):
            raise WrongActor(
                **refusal, reason=f"{brief(account_id)} is not this order's {actor.value}"
            )
        unknown = sorted(set(params).difference(*(t.parameters for t in allowed)))
        if unknown:
            raise ValidationError(f"{action} takes no {brief(unknown[0])}", field=unknown[0])
        if actor is Actor.SYSTEM and (early := self._not_yet_due(order, action, now)):
            raise GuardFailed(**refusal, reason=early)
        typed = parameters_of(action).parse(params, order)
        ledger = LedgerTransaction(uow, self.clock, self.ids)
        ctx = ActionContext(
            order=order,
            actor=actor,
            now=now,
            policy=self.policy,
            flows=EscrowFlows(ledger),
            ids=self.ids,
            params=typed,
            top_rated=self.standing.is_top_rated(uow, order.seller_id, now),
            refund_to_card=self._card_refunds(uow, ledger),
        )
        reasons: list[str] = []
        for transition in allowed:
            failed = [reason for guard in transition.guards if (reason := guard.check(ctx))]
            if failed:
                reasons.append(failed[0])
                continue
            changed = attrs.evolve(
                order,
                state=transition.target,
                version=order.version + 1,
                state_entered_at=now,
            )
            for effect in transition.effects:
                changed = EFFECTS[effect](ctx, changed)
            uow.orders.save(changed, expected_version=order.version)
            self._retire_state_timers(uow, order, now, superseded_by=action)
            self._arm(uow, changed, now)
            for timer in ctx.timers:
                uow.orders.add_timer(timer)
            self._append(uow, changed, now, ctx.events)
            return changed
        raise GuardFailed(**refusal, reason="; ".join(reasons))

    # -- after completion -------------------------------------------------

    def refund_completed(
        self,
        order_id: str,
        amount: Amount | Money,
        *,
        reason: str = "",
        idempotency_key: str | None = None,
    ) -> Order:
        """Refund part or all of a completed order (an operator's decision).

        The platform and the seller give back their shares; what the seller no
        longer has becomes debt that later earnings repay first. See
        :mod:`gigmarket.orders.completed`.
        """
        reason = free_text(reason, field="reason", maximum=NOTE_MAX, multiline=True)
        return self._runner.transact(
            lambda uow: refund_completed(
                self,
                uow,
                order_id,
                Amount.of(amount),
                reason=reason,
                idempotency_key=idempotency_key,
            )
        )

    # -- tips and reviews -------------------------------------------------

    def tip(
        self, order_id: str, amount: Amount | Money, *, buyer_id: str, payment_reference: str
    ) -> Order:
        """A confirmed tip on a completed order: commission applies, then clearance."""
        return self._runner.transact(
            lambda uow: self.tip_in(
                uow, order_id, amount, buyer_id=buyer_id, payment_reference=payment_reference
            )
        )

    def tip_in(
        self,
        uow: OrdersUnitOfWork,
        order_id: str,
        amount: Amount | Money,
        *,
        buyer_id: str,
        payment_reference: str,
    ) -> Order:
        """:meth:`tip` inside a unit of work the caller owns (and commits)."""
        if isinstance(payment_reference, str) and payment_reference:
            check_id(payment_reference, "payment_reference")
        return tip_completed(
            self,
            uow,
            order_id,
            Amount.of(amount),
            buyer_id=buyer_id,
            payment_reference=payment_reference,
        )

    def review(
        self,
        order_id: str,
        *,
        by: Actor,
        account_id: str,
        rating: int,
        sub_ratings: Mapping[str, int] | None = None,
        text: str = "",
    ) -> Review:
        """Leave a review: buyer first, then seller; hidden until both are in
        or the review window closes."""
        now = self.clock.now()
        given: object = {} if sub_ratings is None else sub_ratings
        if not isinstance(given, Mapping) or len(given) > SUB_RATINGS_MAX:
            raise ValidationError(
                f"at most {SUB_RATINGS_MAX} named sub-ratings", field="sub_ratings"
            )
        ratings = {
            free_text(name, field="sub_ratings", minimum=1, maximum=SUB_RATING_NAME_MAX): value
            for name, value in given.items()
        }
        if len(ratings) != len(given):
            raise ValidationError("a sub-rating is named twice", field="sub_ratings")
        for name, value in {
            "rating": rating,
            **{f"sub_ratings.{k}": v for k, v in ratings.items()},
        }.items():
            if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 5:
                raise ValidationError("a rating is a whole number from 1 to 5", field=name)
        text = free_text(text, field="text", maximum=REVIEW_TEXT_MAX, multiline=True)

        def write(uow: OrdersUnitOfWork) -> Review:
            order = self._load(uow, order_id)

            def refuse(message: str) -> ReviewNotAllowed:
                return ReviewNotAllowed(
                    message,
                    order_id=order.id,
                    author=by.value if isinstance(by, Actor) else brief(by),
                )

            if by not in (Actor.BUYER, Actor.SELLER) or account_id != order.party(by):
                raise refuse(f"{brief(account_id)} is not a party to order {order.id!r}")
            if order.state is not OrderState.COMPLETED or order.completed_at is None:
                raise refuse(f"order {order.id!r} was not completed; it is {order.state.value}")
            # The window is half-open: at its end the publish_reviews timer is
            # due, and a review accepted then would stay hidden for good.
            if now >= order.completed_at + self.policy.review_window:
                raise refuse("the review window has closed")
            if uow.orders.get_review(order.id, by) is not None:
                raise refuse(f"the {by.value} already reviewed order {order.id!r}")
            buyer_review = uow.orders.get_review(order.id, Actor.BUYER)
            if by is Actor.SELLER and buyer_review is None:
                raise refuse("the buyer reviews first")
            subject = order.seller_id if by is Actor.BUYER else order.buyer_id
            review = Review(
                order_id=order.id,
                author=by,
                author_id=account_id,
                subject_id=subject,
                rating=rating,
                sub_ratings=tuple(sorted(ratings.items())),
                text=text,
                submitted_at=now,
            )
            uow.orders.add_review(review)
            events: list[tuple[str, dict[str, object]]] = [("review.submitted", {"by": by.value})]
            if buyer_review is not None:
                review = self._publish(uow, order, now, events)[-1]
            self._append(uow, order, now, events)
            return review

        return self._runner.transact(write)

    def _publish(
        self,
        uow: OrdersUnitOfWork,
        order: Order,
        now: datetime,
        events: list[tuple[str, dict[str, object]]],
    ) -> list[Review]:
        published = []
        for stored in uow.orders.reviews_for(order.id):
            review = stored
            if review.published_at is None:
                review = attrs.evolve(stored, published_at=now)
                uow.orders.save_review(review)
                events.append(
                    ("review.published", {"by": review.author.value, "rating": review.rating})
                )
            published.append(review)
        return published

    # -- timers -----------------------------------------------------------

    def run_due(self, now: datetime | None = None, *, limit: int | None = None) -> DueRun:
        """Execute every timer due at or before ``now`` (default: the clock's
        now), each once, in due order.

        ``now`` may be earlier than the clock (a worker catching up to a
        moment), never later: a timer never runs before it is due, so an
        instant past the clock's now is refused with
        :class:`~gigmarket.errors.FutureInstant` and nothing runs. (It is
        refused rather than clamped to the clock: a caller who passes a future
        instant expects timers due by then to have run, and a silent clamp
        would leave them believing so.) To simulate time passing, advance the
        injected clock (:class:`~gigmarket.clock.ManualClock`)."""
        clock_now = self.clock.now()
        until = require_aware(now, "now") if now is not None else clock_now
        if until > clock_now:
            raise FutureInstant(instant=until, now=clock_now)
        if limit is not None:
            check_limit(limit, "limit", maximum=RUN_DUE_LIMIT_MAX)
        executed: list[tuple[str, str, str]] = []

        def run_next() -> tuple[str, str, str] | None:
            while True:
                with self._storage() as uow:
                    timer = uow.orders.next_due(until)
                    if timer is None:
                        return None
                    try:
                        outcome = self._execute(uow, timer)
                    except GigmarketError as error:
                        if isinstance(error, StorageError):
                            raise  # the store itself is failing: stop, do not record anything
                        failure = error
                    else:
                        uow.orders.save_timer(attrs.evolve(timer, done_at=until, outcome=outcome))
                        uow.commit()
                        return (timer.id, timer.order_id, outcome)
                recorded = self._record_failure(timer, failure, until)
                if recorded is not None:
                    return recorded
                # another worker retired the same timer in between: find the next one

        while limit is None or len(executed) < limit:
            done = retrying(run_next)
            if done is None:
                break
            executed.append(done)
        return DueRun(executed=tuple(executed))

    def _record_failure(
        self, timer: ScheduledAction, error: GigmarketError, until: datetime
    ) -> tuple[str, str, str] | None:
        """Retire a timer whose action was refused, try it again later, and tell
        the operators.

        Its transaction was rolled back, so nothing of the action happened;
        the timer is marked ``failed: <code>``, so one bad timer cannot block
        every timer due after it. Because a timer is often the only thing that
        moves an order's money, the same action is armed again with a growing
        delay (1 h, 2 h, 4 h ... at most a day, :data:`TIMER_ATTEMPTS` times);
        each failure emits a ``timer.failed`` event saying when it will be
        retried, or that it was given up. ``None`` if another worker retired
        the timer first.
        """
        outcome = f"failed: {error.code}"
        payload = dict(timer.payload)
        attempt = int(payload.get("attempt", "1"))
        retry_at = until + min(TIMER_RETRY_DELAY * 2 ** (attempt - 1), TIMER_RETRY_CAP)
        with self._storage() as uow:
            stored = [t for t in uow.orders.timers_for(timer.order_id) if t.id == timer.id]
            if not stored or stored[0].done_at is not None:
                return None
            order = self._load(uow, timer.order_id)
            uow.orders.save_timer(attrs.evolve(timer, done_at=until, outcome=outcome))
            retrying_again = attempt < TIMER_ATTEMPTS
            if retrying_again:
                uow.orders.add_timer(
                    attrs.evolve(
                        timer,
                        id=self.ids(),
                        due_at=retry_at,
                        done_at=None,
                        outcome=None,
                        payload=tuple(sorted({**payload, "attempt": str(attempt + 1)}.items())),
                    )
                )
            self._append(
                uow,
                order,
                until,
                [
                    (
                        "timer.failed",
                        {
                            "action": timer.action,
                            "error": error.code,
                            "reason": str(error),
                            "attempt": attempt,
                            "retry_at": retry_at.isoformat() if retrying_again else None,
                        },
                    )
                ],
            )
            uow.commit()
        return (timer.id, timer.order_id, outcome)

    def _execute(self, uow: OrdersUnitOfWork, timer: ScheduledAction) -> str:
        order = self._load(uow, timer.order_id)
        when = timer.due_at
        if timer.action == "clear":
            payload = dict(timer.payload)
            amount = Amount(units=int(payload["units"]), currency=payload["currency"])
            EscrowFlows(LedgerTransaction(uow, self.clock, self.ids)).clear(
                payload["seller_id"], amount, idempotency_key=internal_key("clear", timer.id)
            )
            self._append(
                uow,
                order,
                when,
                [("money.cleared", {"amount": str(amount), "seller": payload["seller_id"]})],
            )
            return "cleared"
        if timer.action == "publish_reviews":
            events: list[tuple[str, dict[str, object]]] = []
            self._publish(uow, order, when, events)
            self._append(uow, order, when, events)
            return "published"
        if order.state is not timer.armed_in or order.version != timer.armed_version:
            return "stale"
        self._transition(
            uow, order, timer.action, actor=Actor.SYSTEM, account_id=None, now=when, params={}
        )
        return timer.action

    def _arm(self, uow: OrdersUnitOfWork, order: Order, now: datetime) -> None:
        for timer in self.process.timers_for(order.state):
            anchor = self._anchor(order, timer.anchor) or now
            delay: timedelta = getattr(self.policy, timer.after)
            uow.orders.add_timer(
                ScheduledAction(
                    id=self.ids(),
                    order_id=order.id,
                    action=timer.action,
                    # A deadline that passed while the order was elsewhere (a declined
                    # cancellation, a late order back from a revision) falls due now:
                    # run_due acts as of due_at, and must not act before this moment.
                    due_at=max(anchor + delay, now),
                    armed_in=order.state,
                    armed_version=order.version,
                )
            )

    @staticmethod
    def _anchor(order: Order, anchor: str) -> datetime | None:
        """The instant a timer of the order's current state counts from."""
        return order.due_at if anchor == "due" else order.state_entered_at

    def _not_yet_due(self, order: Order, action: str, now: datetime) -> str | None:
        """Why the system may not take a timer's action yet, or ``None``.

        Timer actions belong to the clock: the system takes them when their
        timer is due (``run_due`` passes the due time), never earlier, so a
        misdirected call cannot complete or cancel an order ahead of time.
        """
        for timer in self.process.timers_for(order.state):
            if timer.action != action:
                continue
            anchor = self._anchor(order, timer.anchor)
            due = None if anchor is None else anchor + getattr(self.policy, timer.after)
            if due is not None and now < due:
                return f"its timer is due at {due.isoformat()}"
        return None

    def _retire_state_timers(
        self, uow: OrdersUnitOfWork, order: Order, now: datetime, *, superseded_by: str
    ) -> None:
        for timer in uow.orders.timers_for(order.id):
            if timer.done_at is None and timer.armed_in is not None:
                uow.orders.save_timer(
                    attrs.evolve(timer, done_at=now, outcome=f"superseded by {superseded_by}")
                )

    # -- plumbing ---------------------------------------------------------

    def _card_refunds(
        self, uow: OrdersUnitOfWork, ledger: LedgerTransaction
    ) -> Callable[[Order, Amount, ScopedKey], None] | None:
        if self.card_refunds is None:
            return None
        sink, flows = self.card_refunds, EscrowFlows(ledger)

        def send(order: Order, amount: Amount, key: ScopedKey) -> None:
            sink.send(uow, flows, order, amount, key=key)

        return send

    def _load(self, uow: OrdersUnitOfWork, order_id: str) -> Order:
        order = uow.orders.get(check_id(order_id, "order_id"))
        if order is None:
            raise OrderNotFound(order_id)
        return order

    def _append(
        self,
        uow: OrdersUnitOfWork,
        order: Order,
        now: datetime,
        events: Sequence[tuple[str, Mapping[str, object]]],
    ) -> None:
        for event_type, payload in events:
            uow.outbox.append(
                OrderEvent(
                    id=self.ids(),
                    type=event_type,
                    order_id=order.id,
                    occurred_at=now,
                    payload={"state": order.state.value, **payload},
                )
            )
