"""The payment service: where gateways meet the ledger and the orders.

Every command follows one pattern, because a gateway call cannot be part of a
database transaction:

1. **record** the intended call as a ``started`` operation, with whatever it
   sets aside in the ledger (buyer credit, a withdrawal), and commit;
2. **call** the gateway with the operation's id as the idempotency key;
3. **apply** the answer in a second transaction
   (:class:`~gigmarket.cashier.outcomes.Books`): ledger entries, the order's
   transition and the operation's new status, together.

A crash after 1 leaves a ``started`` operation; an answer lost in 2 leaves an
``unknown`` one (:class:`~gigmarket.errors.OutcomeUnknown` reaches the
caller). Either way :meth:`Cashier.reconcile` asks the gateway by the key and
applies what it finds, through the same code as step 3. Money is never
charged without a record, and never recorded without the gateway's word.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from typing import TypeVar

import attrs

from gigmarket._kernel.runner import Handler, Runner
from gigmarket.cashier.model import OperationKind, OperationStatus, PaymentOperation
from gigmarket.cashier.outcomes import Books, QueuedCardRefunds
from gigmarket.cashier.policy import CashierPolicy
from gigmarket.cashier.ports import CashierUnitOfWork, CashierUnitOfWorkFactory
from gigmarket.cashier.reconcile import (
    ReconcileReport,
    WebhookOutcome,
    handle_webhook,
    reconcile,
    settle_order,
)
from gigmarket.cashier.resolve import resolution
from gigmarket.cashier.withdrawals import Withdraw, check_withdrawal, payee_of
from gigmarket.clock import Clock, SystemClock
from gigmarket.errors import (
    GatewayMisconfigured,
    OrderNotFound,
    OutcomeUnknown,
    PaymentError,
    PaymentInProgress,
    TransitionNotAllowed,
    ValidationError,
    WrongActor,
    brief,
)
from gigmarket.escrow import chart
from gigmarket.gateways.protocols import CollectionGateway, DisbursementGateway
from gigmarket.gateways.results import Charge, ChargeStatus, Payout
from gigmarket.gateways.secret import Secret
from gigmarket.gateways.webhooks import check_delivery
from gigmarket.ids import IdFactory, random_ids
from gigmarket.money import Amount, currency_code
from gigmarket.orders.model import Actor, Order, OrderState
from gigmarket.orders.service import OrderDesk
from gigmarket.text import check_id, check_limit

__all__ = ["Cashier", "CheckoutResult", "Withdrawal"]

BATCH_LIMIT_MAX = 1_000_000
"""The largest ``limit`` of one :meth:`Cashier.send_refunds` or :meth:`Cashier.reconcile`."""

S = OperationStatus
_CANCELLABLE = frozenset({ChargeStatus.REQUIRES_ACTION, ChargeStatus.AUTHORIZED})
T = TypeVar("T")


@attrs.frozen(kw_only=True)
class CheckoutResult:
    """What a checkout did: the order as it now stands, the payment operation
    and, when a card was charged, the gateway's charge."""

    order: Order
    operation: PaymentOperation
    charge: Charge | None = None

    @property
    def paid(self) -> bool:
        # A charge the order could not take (it expired meanwhile) succeeded at
        # the gateway but is being given back: that is not a paid order.
        return self.operation.status is S.SUCCEEDED and self.operation.failure is None

    @property
    def action_url(self) -> str | None:
        """Where to send the buyer when the card needs them (3-D Secure)."""
        return self.charge.action_url if self.charge is not None else None


@attrs.frozen(kw_only=True)
class Withdrawal:
    """A withdrawal as it stands: its operation and the gateway's payout."""

    operation: PaymentOperation
    payout: Payout | None = None


class Cashier:
    """Charges buyers, refunds cards, pays sellers out; keeps the books straight.

    ``collection`` takes buyers' money; ``disbursement`` (often the same
    adapter) pays sellers. Build the :class:`~gigmarket.orders.OrderDesk`
    with ``card_refunds=Cashier.card_refunds_for(collection, clock)`` so that
    refunds bound for cards go through this service (the
    :class:`~gigmarket.marketplace.Marketplace` does).
    """

    def __init__(
        self,
        storage: CashierUnitOfWorkFactory,
        *,
        desk: OrderDesk,
        collection: CollectionGateway,
        disbursement: DisbursementGateway | None = None,
        policy: CashierPolicy | None = None,
        clock: Clock | None = None,
        ids: IdFactory = random_ids,
    ) -> None:
        if desk.policy.gateway != collection.name:
            raise GatewayMisconfigured(
                f"orders are booked on gateway {desk.policy.gateway!r}: "
                "set the lifecycle policy's gateway to the collection gateway's name",
                gateway=collection.name,
                operation="configure",
            )
        self._storage = storage
        self.runner: Runner[CashierUnitOfWork, CashierUnitOfWork] = Runner(storage)
        self.desk = desk
        self.collection = collection
        self.disbursement = disbursement
        self.policy = policy if policy is not None else CashierPolicy()
        self.clock: Clock = clock if clock is not None else SystemClock()
        self.ids = ids
        self.books = Books(desk=desk, clock=self.clock, ids=ids)

    @staticmethod
    def card_refunds_for(collection: CollectionGateway, clock: Clock) -> QueuedCardRefunds:
        """The refund channel an :class:`~gigmarket.orders.OrderDesk` needs to
        send card refunds through this service."""
        return QueuedCardRefunds(gateway=collection.name, clock=clock)

    # -- plumbing ---------------------------------------------------------

    def apply_to(
        self, operation_id: str, apply: Callable[[CashierUnitOfWork, PaymentOperation], T]
    ) -> T:
        """Run ``apply(uow, operation)`` on a recorded operation, in one committed
        unit of work (how a gateway's answer reaches the books)."""
        check_id(operation_id, "operation_id")
        if not callable(apply):
            raise ValidationError(
                "a callable taking the unit of work and the operation", field="apply"
            )

        def work(uow: CashierUnitOfWork) -> T:
            op = uow.payments.get_operation(operation_id)
            if op is None:  # pragma: no cover -- recorded before any call
                raise ValidationError(f"no payment operation {operation_id!r}", field="operation")
            return apply(uow, op)

        return self.runner.transact(work)

    def _record(self, op: PaymentOperation) -> None:
        def work(uow: CashierUnitOfWork) -> None:
            uow.payments.add_operation(op)

        self.runner.transact(work)

    def _new(
        self,
        kind: OperationKind,
        op_id: str,
        subject: str,
        amount: Amount,
        gateway: str,
        **more: object,
    ) -> PaymentOperation:
        now = self.clock.now()
        return PaymentOperation(
            id=op_id,
            kind=kind,
            gateway=gateway,
            subject=subject,
            amount=amount,
            status=S.STARTED,
            created_at=now,
            updated_at=now,
            **more,  # type: ignore[arg-type]
        )

    def _lost(self, op_id: str, error: str | None = None) -> None:
        """The call's answer was lost: mark it for a status query (and say why,
        when a call sent again was refused: ``error``)."""

        def mark(uow: CashierUnitOfWork, op: PaymentOperation) -> None:
            if op.status in (S.STARTED, S.QUEUED) or (
                op.status is S.UNKNOWN and error is not None and op.last_error != error
            ):
                uow.payments.save_operation(
                    op.advance(S.UNKNOWN, self.clock.now(), last_error=error),
                    expected_version=op.version,
                )

        self.apply_to(op_id, mark)

    def operation(self, operation_id: str) -> PaymentOperation:
        """One payment operation, as recorded."""
        check_id(operation_id, "operation_id")
        with self._storage() as uow:
            op = uow.payments.get_operation(operation_id)
        if op is None:
            raise ValidationError(f"no payment operation {operation_id!r}", field="operation_id")
        return op

    def operations(self, subject: str) -> list[PaymentOperation]:
        """An order's or a seller's payment operations, oldest first."""
        check_id(subject, "subject")
        with self._storage() as uow:
            return list(uow.payments.operations_for(subject))

    # -- checkout ---------------------------------------------------------

    def checkout(self, order_id: str, *, buyer_id: str, source: str) -> CheckoutResult:
        """Pay an order: buyer credit first (by policy), the rest charged to ``source``.

        ``source`` is a payment-method token from the gateway's front-end
        library. A declined card leaves the order waiting for payment (the
        result says why; check out again with another card). A charge that
        needs the buyer (``result.action_url``) or the network completes
        later, through a webhook or ``reconcile``; a buyer who gives up on
        3-D Secure may check out again with another card, and the abandoned
        charge is cancelled at the gateway first. While an attempt's outcome is
        unknown (or the network is still settling it), another is refused with
        :class:`~gigmarket.errors.PaymentInProgress`.
        """
        if not isinstance(source, str) or not source:
            raise ValidationError("a payment source token is required", field="source")
        self._abandon_waiting(order_id, buyer_id)

        def start(uow: CashierUnitOfWork) -> tuple[Order, PaymentOperation]:
            order, attempts = self._may_check_out(uow, order_id, buyer_id)
            total = order.price.total_charged
            credit = self._usable_credit(uow, order) if self.policy.use_credit_first else None
            op_id = f"pay:{order.id}:{len(attempts) + 1}"
            flows = self.books.flows(uow)
            if credit is not None and credit == total:  # no card needed
                paid = self.desk.act_in(
                    uow,
                    order.id,
                    "pay",
                    actor=Actor.SYSTEM,
                    amount=total,
                    reference=op_id,
                    credit=credit,
                )
                op = self._new(
                    OperationKind.PAYMENT,
                    op_id,
                    order.id,
                    total,
                    self.collection.name,
                    credit=credit,
                )
                op = attrs.evolve(op, status=S.SUCCEEDED)
                uow.payments.add_operation(op)
                return paid, op
            hold_id = None
            if credit is not None:
                hold_id = flows.reserve_credit(order.id, order.buyer_id, credit).id
            op = self._new(
                OperationKind.PAYMENT,
                op_id,
                order.id,
                total - credit if credit is not None else total,
                self.collection.name,
                credit=credit,
                hold_id=hold_id,
                source=source,
            )
            uow.payments.add_operation(op)
            return order, op

        order, op = self.runner.transact(start)
        if op.status is S.SUCCEEDED:
            return CheckoutResult(order=order, operation=op)
        return self._charge(op, order)

    def _charge(
        self, op: PaymentOperation, order: Order, *, resend: bool = False
    ) -> CheckoutResult:
        """Send (or send again, under the same key) a payment's or a tip's
        charge, and apply the answer."""
        if op.source is None:  # pragma: no cover -- recorded with every charge
            raise ValidationError(f"payment {op.id} has no source to charge", field="source")
        what = "tip on order" if op.kind is OperationKind.TIP else "order"
        charge = self._call(
            op,
            lambda: self.collection.charge(
                amount=op.amount,
                source=op.source or "",
                idempotency_key=op.id,
                description=f"{what} {op.subject}",  # the same each time: the key's parameters
            ),
            resend=resend,
        )

        def apply(uow: CashierUnitOfWork, current: PaymentOperation) -> CheckoutResult:
            done = self.books.charge(uow, current, charge)
            changed = uow.orders.get(order.id)
            return CheckoutResult(order=changed or order, operation=done, charge=charge)

        return self.apply_to(op.id, apply)

    def _may_check_out(
        self,
        uow: CashierUnitOfWork,
        order_id: str,
        buyer_id: str,
        *,
        waiting: frozenset[str] = frozenset(),
    ) -> tuple[Order, list[PaymentOperation]]:
        """Every reason to refuse a checkout, checked before anything is done:
        the order, its buyer, an attempt under way or kept (other than those in
        ``waiting``, which the checkout is about to settle), the order's state.
        Returns the order and its payment attempts."""
        order = uow.orders.get(check_id(order_id, "order_id"))
        if order is None:
            raise OrderNotFound(order_id)
        refusal = {"order_id": order.id, "action": "checkout", "state": order.state.value}
        if buyer_id != order.buyer_id:
            raise WrongActor(
                **refusal, actor="buyer", reason=f"{brief(buyer_id)} is not this order's buyer"
            )
        attempts = uow.payments.operations_for(order.id, OperationKind.PAYMENT)
        for attempt in attempts:
            in_the_way = attempt.is_open and attempt.id not in waiting
            if in_the_way or (attempt.status is S.SUCCEEDED and attempt.failure is None):
                raise PaymentInProgress(
                    order_id=order.id, operation_id=attempt.id, status=attempt.status.value
                )
        if order.state is not OrderState.PENDING_PAYMENT:
            raise TransitionNotAllowed(**refusal, actor="buyer")
        return order, list(attempts)

    def _abandon_waiting(self, order_id: str, buyer_id: str) -> None:
        """Cancel an earlier attempt of this buyer that still waits for them
        (3-D Secure): a new checkout means they gave up on it.

        Check first, then act: when the checkout is to be refused anyway (the
        order expired, another attempt is under way or kept, a waiting charge
        was captured meanwhile or is being settled by the network), this
        raises that refusal before anything is cancelled or written."""
        check_id(order_id, "order_id")
        with self._storage() as uow:
            attempts = uow.payments.operations_for(order_id, OperationKind.PAYMENT)
            waiting = [op for op in attempts if op.status is S.PENDING and op.gateway_ref]
            self._may_check_out(uow, order_id, buyer_id, waiting=frozenset(op.id for op in waiting))
        if not waiting:
            return
        charges = [(op, self.collection.get_charge(op.gateway_ref or "")) for op in waiting]
        for op, charge in charges:
            if charge.status in (ChargeStatus.PENDING, ChargeStatus.CAPTURED):
                # The network is settling it, or it was paid: it stays in the way,
                # and its outcome reaches the books by a webhook or reconcile.
                raise PaymentInProgress(
                    order_id=op.subject, operation_id=op.id, status=op.status.value
                )
        for op, charge in charges:
            settled = charge
            if charge.status in _CANCELLABLE:
                settled = self.collection.cancel(charge.id, idempotency_key=f"cancel:{op.id}")
            self.apply_to(op.id, functools.partial(self._settle_charge, charge=settled))

    def _settle_charge(
        self, uow: CashierUnitOfWork, op: PaymentOperation, *, charge: Charge
    ) -> PaymentOperation:
        return self.books.charge(uow, op, charge)

    def _usable_credit(self, uow: CashierUnitOfWork, order: Order) -> Amount | None:
        code = chart.buyer_credit(order.buyer_id, order.currency)
        available = self.books.flows(uow).tx.balance_or_zero(code, order.currency).available
        usable = min(available, order.price.total_charged)
        return usable if usable.units > 0 else None

    def _call(self, op: PaymentOperation, call: Callable[[], T], *, resend: bool = False) -> T:
        """Make a gateway call for ``op``; record a failure before raising it.

        A failure of a call sent *again* (``resend``) proves nothing about the
        first attempt, which may still be held at the gateway and land later:
        the operation stays unknown, for the next ``reconcile``, rather than
        failed with its money released.
        """
        try:
            return call()
        except OutcomeUnknown:
            self._lost(op.id)
            raise
        except PaymentError as error:
            if resend:
                self._lost(op.id, error.code)
                raise
            code = error.code

            # Surely not processed (unavailable, refused as invalid, unsupported):
            # the attempt is over and whatever it set aside is released.
            def failed(uow: CashierUnitOfWork, current: PaymentOperation) -> None:
                if current.is_open:
                    self.books.release_hold(uow, current.hold_id)
                    if current.kind in (OperationKind.PAYMENT, OperationKind.TIP):
                        self.books.emit(
                            uow,
                            current.subject,
                            "payment.failed",
                            operation=current.id,
                            reason=code,
                        )
                    uow.payments.save_operation(
                        current.advance(S.FAILED, self.clock.now(), failure=code),
                        expected_version=current.version,
                    )

            self.apply_to(op.id, failed)
            raise

    # -- tips -------------------------------------------------------------

    def tip(self, order_id: str, amount: Amount, *, buyer_id: str, source: str) -> CheckoutResult:
        """Charge a tip on a completed order and book it (commission applies)."""
        value = Amount.of(amount).require_positive("a tip")
        if not isinstance(source, str) or not source:
            raise ValidationError("a payment source token is required", field="source")

        def start(uow: CashierUnitOfWork) -> tuple[Order, PaymentOperation]:
            order = uow.orders.get(check_id(order_id, "order_id"))
            if order is None:
                raise OrderNotFound(order_id)
            refusal = {"order_id": order.id, "action": "tip", "state": order.state.value}
            if order.state is not OrderState.COMPLETED:
                raise TransitionNotAllowed(**refusal, actor="buyer")
            if buyer_id != order.buyer_id:
                raise WrongActor(
                    **refusal, actor="buyer", reason=f"{brief(buyer_id)} is not this order's buyer"
                )
            value.require_currency(order.currency)
            tips = uow.payments.operations_for(order.id, OperationKind.TIP)
            op = self._new(
                OperationKind.TIP,
                f"tip:{order.id}:{len(tips) + 1}",
                order.id,
                value,
                self.collection.name,
                source=source,
            )
            uow.payments.add_operation(op)
            return order, op

        order, op = self.runner.transact(start)
        return self._charge(op, order)

    # -- refunds ----------------------------------------------------------

    def send_refunds(self, *, limit: int = 100) -> list[PaymentOperation]:
        """Send queued card refunds to the gateway; return them as they end up.

        A refused refund (a card closed since) is given to the buyer as
        credit instead; an unreachable gateway leaves it queued for next time.
        """
        check_limit(limit, "limit", maximum=BATCH_LIMIT_MAX)
        with self._storage() as uow:
            queued = [
                op
                for op in uow.payments.open_operations(limit, status=S.QUEUED)
                if op.kind is OperationKind.REFUND
            ]
        return [self.send_refund(op.id) for op in queued]

    def send_refund(self, op_id: str, *, resend: bool = False) -> PaymentOperation:
        """Send one queued card refund (or, with ``resend``, one whose answer was
        lost) and book the gateway's answer; ``send_refunds`` sends them all."""
        check_id(op_id, "op_id")

        def claim(uow: CashierUnitOfWork, op: PaymentOperation) -> PaymentOperation | None:
            if resend:  # under its own key again: the gateway collapses the attempts
                return op if op.status in (S.STARTED, S.UNKNOWN) else None
            if op.status is not S.QUEUED:
                return None  # someone else is sending it
            started = op.advance(S.STARTED, self.clock.now())
            uow.payments.save_operation(started, expected_version=op.version)
            return started

        op = self.apply_to(op_id, claim)
        if op is None:
            return self.operation(op_id)
        if op.charge_ref is None:  # paid entirely with credit: nothing to give back to a card
            return self.apply_to(
                op.id, lambda uow, cur: self.books.refund(uow, cur, None, "no card charge")
            )
        try:
            refund = self.collection.refund(
                op.charge_ref, idempotency_key=op.id, amount=op.amount, reason=f"order {op.subject}"
            )
        except PaymentError as error:
            return self._refund_not_sent(op, error, resend=resend)
        return self.apply_to(op.id, lambda uow, cur: self.books.refund(uow, cur, refund))

    def _refund_not_sent(
        self, op: PaymentOperation, error: PaymentError, *, resend: bool
    ) -> PaymentOperation:
        """A refund call that gave no answer to book. Lost, or sent again (the
        first attempt may still land): only the gateway can tell, later.
        Surely not processed: back in the queue. Refused: the buyer gets credit."""
        if resend or isinstance(error, OutcomeUnknown):
            self._lost(op.id, error.code if resend else None)
            return self.operation(op.id)
        if error.should_retry:
            return self.apply_to(op.id, self._requeue)
        code = error.code
        return self.apply_to(op.id, lambda uow, cur: self.books.refund(uow, cur, None, code))

    def _requeue(self, uow: CashierUnitOfWork, op: PaymentOperation) -> PaymentOperation:
        if op.status is not S.STARTED:
            return op
        queued = op.advance(S.QUEUED, self.clock.now())
        uow.payments.save_operation(queued, expected_version=op.version)
        return queued

    # -- late answers -----------------------------------------------------

    def handle_webhook(self, payload: bytes, headers: Mapping[str, str]) -> WebhookOutcome:
        """Verify, deduplicate and apply one webhook delivery (the raw body and
        headers, as received). A bad signature raises
        :class:`~gigmarket.errors.WebhookVerificationFailed`: answer 400. A
        gateway that cannot be queried now raises a
        :class:`~gigmarket.errors.PaymentError`: answer 5xx, and it redelivers."""
        body, headers = check_delivery(payload, headers, gateway=self.collection.name)
        return handle_webhook(self, body, headers)

    def reconcile(
        self, *, limit: int | None = None, progress: Callable[[int], None] | None = None
    ) -> ReconcileReport:
        """Settle operations left open: lost answers, interrupted calls,
        pending charges and payouts, queued refunds. Safe to run repeatedly
        and concurrently with everything else."""
        if limit is not None:
            check_limit(limit, "limit", maximum=BATCH_LIMIT_MAX)
        if progress is not None and not callable(progress):
            raise ValidationError("a callable taking the count checked", field="progress")
        return reconcile(self, limit=limit, progress=progress)

    # -- sellers: payees and withdrawals ----------------------------------

    def payout_gateway(self) -> DisbursementGateway:
        """The disbursement gateway, or :class:`~gigmarket.errors.GatewayMisconfigured`."""
        if self.disbursement is None:
            raise GatewayMisconfigured(
                "no disbursement gateway is configured", gateway="none", operation="payout"
            )
        return self.disbursement

    def onboard_payee(
        self, seller_id: str, currency: str, *, bank_token: Secret | str
    ) -> PaymentOperation:
        """Register a seller's bank account (as the gateway's token) for payouts in ``currency``."""
        gateway = self.payout_gateway()
        chart.check_party(seller_id, "seller_id")
        if not isinstance(bank_token, Secret | str) or not bank_token:
            raise ValidationError("the gateway's token for the bank account", field="bank_token")
        code = chart.seller_available(seller_id, currency).rsplit(":", 1)[1]

        def start(uow: CashierUnitOfWork) -> PaymentOperation:
            earlier = uow.payments.operations_for(seller_id, OperationKind.PAYEE)
            op = self._new(
                OperationKind.PAYEE,
                f"payee:{seller_id}:{code}:{len(earlier) + 1}",
                seller_id,
                Amount.zero(code),
                gateway.name,
            )
            uow.payments.add_operation(op)
            return op

        op = self.runner.transact(start)
        payee = self._call(
            op,
            lambda: gateway.onboard_payee(
                reference=seller_id, currency=code, bank_token=bank_token, idempotency_key=op.id
            ),
        )
        return self.apply_to(op.id, lambda uow, cur: self.books.payee(uow, cur, payee))

    def payee_of(self, seller_id: str, currency: str) -> str | None:
        """The gateway's id of the seller's active payee in ``currency``, if any."""
        check_id(seller_id, "seller_id")
        currency = currency_code(currency)
        with self._storage() as uow:
            return payee_of(uow, seller_id, currency)

    def withdraw(
        self, seller_id: str, amount: Amount, *, idempotency_key: str | None = None
    ) -> Withdrawal:
        """Pay ``amount`` of a seller's available earnings out to their bank.

        The limits of :attr:`CashierPolicy.withdrawals` apply; the money is
        reserved before the gateway is called, moves to ``payouts:in_flight``
        when the gateway accepts the payout, leaves when the bank confirms it
        and returns to the seller if the payout fails.

        With an ``idempotency_key`` (scoped to the seller), the same request
        again returns the first withdrawal and pays nothing more, and the
        same key for another amount is an
        :class:`~gigmarket.errors.IdempotencyConflict`. Without one, every
        call is a new withdrawal.
        """
        gateway = self.payout_gateway()
        value = Amount.of(amount).require_positive("a withdrawal")
        chart.check_party(seller_id, "seller_id")
        command = Withdraw(seller_id=seller_id, amount=value)

        def start(command: Withdraw, uow: CashierUnitOfWork) -> tuple[PaymentOperation, str | None]:
            op_id = f"payout:{seller_id}:{self.ids()}"
            payee_id = check_withdrawal(
                uow,
                self.books.flows(uow).tx,
                withdrawals=self.policy.withdrawals,
                seller_id=seller_id,
                value=value,
                now=self.clock.now(),
            )
            hold = self.books.flows(uow).request_withdrawal(seller_id, value)
            op = self._new(
                OperationKind.PAYOUT, op_id, seller_id, value, gateway.name, hold_id=hold.id
            )
            uow.payments.add_operation(op)
            return op, payee_id

        def replay(
            uow: CashierUnitOfWork, op_id: str, command: Withdraw
        ) -> tuple[PaymentOperation, str | None]:
            op = uow.payments.get_operation(op_id)
            if op is None:  # pragma: no cover -- recorded with its key
                raise ValidationError(f"no payment operation {op_id!r}", field="operation")
            return op, None

        handler = Handler(start, lambda started: started[0].id, replay)
        op, payee_id = self.runner.run(handler, command, key=idempotency_key)
        if payee_id is None:  # a replay: report, do not pay again
            return Withdrawal(operation=op)
        return self._pay_out(op, payee_id)

    def _pay_out(self, op: PaymentOperation, payee_id: str, *, resend: bool = False) -> Withdrawal:
        """Send (or send again, under the same key) a withdrawal's payout, and apply the answer."""
        gateway = self.payout_gateway()
        payout = self._call(
            op,
            lambda: gateway.payout(
                payee_id=payee_id,
                amount=op.amount,
                idempotency_key=op.id,
                description=f"withdrawal {op.id}",
            ),
            resend=resend,
        )
        done = self.apply_to(op.id, lambda uow, cur: self.books.payout(uow, cur, payout))
        return Withdrawal(operation=done, payout=payout)

    def resend(self, op: PaymentOperation) -> PaymentOperation:
        """Send a call the gateway has no trace of again, under its own key.

        What ``reconcile`` does with an operation left ``started`` or
        ``unknown`` that the gateway cannot find: the first attempt may still
        be on its way, and the gateway's idempotency collapses the two into
        one, so sending again is the only way to be sure either way. A payee
        cannot be sent again (the bank token is never kept): it fails, and
        the seller adds the account again.
        """
        if not isinstance(op, PaymentOperation):
            raise ValidationError(f"expected a PaymentOperation, not {brief(op)}", field="op")
        books = self.books
        if op.kind is OperationKind.REFUND:
            return self.send_refund(op.id, resend=True)
        if op.kind is OperationKind.PAYOUT:
            with self._storage() as uow:
                payee_id = payee_of(uow, op.subject, op.amount.currency)
            if payee_id is not None:
                return self._pay_out(op, payee_id, resend=True).operation
        elif op.kind in (OperationKind.PAYMENT, OperationKind.TIP) and op.source is not None:
            with self._storage() as uow:
                order = uow.orders.get(op.subject)
            payable = order is not None and (
                op.kind is OperationKind.TIP or order.state is OrderState.PENDING_PAYMENT
            )
            if order is not None and payable:
                return self._charge(op, order, resend=True).operation
            if order is not None:
                # Charging again for an order that can no longer take the money
                # would only take it to give it back: the attempt is over. If the
                # first one lands after all, its charge is refunded when it turns up.
                why = f"order {order.id} is {order.state.value}: not charged again"
                return self.apply_to(op.id, functools.partial(books.never_sent, reason=why))
        return self.apply_to(op.id, books.never_sent)

    def settle_order(self, order_id: str) -> list[PaymentOperation]:
        """Settle an order's open payment attempts now, with the gateway's word,
        as ``reconcile`` would (:meth:`Marketplace.run_due
        <gigmarket.marketplace.Marketplace.run_due>` calls it for every order
        that expired). An attempt of an order that can no longer be paid is
        over: a charge still waiting for its buyer is cancelled at the gateway,
        one the gateway has no trace of fails (its buyer credit is released),
        one captured is refunded. A call younger than the reconcile grace, or a
        gateway that cannot answer now, is left to ``reconcile``. Returns the
        attempts as they now stand."""
        return settle_order(self, check_id(order_id, "order_id"))

    # -- operators' decisions ---------------------------------------------

    def resolve(
        self,
        operation_id: str,
        *,
        outcome: OperationStatus | str,
        reason: str,
        operator: str,
        reference: str | None = None,
    ) -> PaymentOperation:
        """Settle an open operation by an operator's decision, when the gateway
        cannot (a resend it refuses, an answer it never gives).

        ``outcome`` is ``succeeded`` (the gateway did it: for a charge, a
        payout or a payee, ``reference`` is its id there, unless the
        operation already knows it) or ``failed`` (it did not, and never
        will). The decision is applied through the same
        :class:`~gigmarket.cashier.outcomes.Books` as a gateway's answer, so
        the ledger and the orders agree (a charge decided captured pays its
        order, or is refunded if the order can no longer take it; a payout
        decided failed returns the money to the seller), and recorded on the
        operation: ``resolved_by``, ``resolved_at``, ``resolution``. An
        operation already settled is refused with
        :class:`~gigmarket.errors.OperationSettled`, and nothing changes.
        """
        decision = resolution(
            operation_id, outcome=outcome, reason=reason, operator=operator, reference=reference
        )
        return self.runner.transact(lambda uow: decision.apply(uow, self.books))
