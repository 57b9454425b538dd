"""What a gateway's answer means for the books.

One function per kind of gateway object, each run inside the caller's unit of
work with the operation as last recorded. They are the only place where a
gateway's answer becomes ledger entries and order changes, whoever brought
the answer: the call's own response, a webhook, or ``reconcile``'s status
query. So the three paths cannot disagree, and each is safe to repeat: states
only move forward, ledger legs carry idempotency keys derived from the
operation, and an answer that arrives after the outcome was settled changes
nothing (or, for money that arrived where nothing expected it, gives it back).
"""

from __future__ import annotations

from datetime import datetime

import attrs

from gigmarket.cashier.model import OperationKind, OperationStatus, PaymentOperation
from gigmarket.cashier.ports import CashierUnitOfWork, serves_payments
from gigmarket.clock import Clock
from gigmarket.errors import OrderError, StorageError
from gigmarket.escrow import chart
from gigmarket.escrow.flows import EscrowFlows
from gigmarket.escrow.ledger import LedgerTransaction
from gigmarket.escrow.model import HoldStatus
from gigmarket.gateways.results import (
    Charge,
    ChargeStatus,
    Payee,
    PayeeStatus,
    Payout,
    PayoutStatus,
    Refund,
    RefundStatus,
)
from gigmarket.idempotency import ScopedKey, internal_key
from gigmarket.ids import IdFactory
from gigmarket.money import Amount, sum_amounts
from gigmarket.orders.events import OrderEvent
from gigmarket.orders.model import Actor, Order, OrderState
from gigmarket.orders.ports import OrdersUnitOfWork
from gigmarket.orders.service import OrderDesk

__all__ = ["Books", "QueuedCardRefunds"]

S = OperationStatus
_WAITING = frozenset({ChargeStatus.PENDING, ChargeStatus.REQUIRES_ACTION, ChargeStatus.AUTHORIZED})


def _save(uow: CashierUnitOfWork, before: PaymentOperation, after: PaymentOperation) -> None:
    if after is not before:
        uow.payments.save_operation(after, expected_version=before.version)


@attrs.frozen
class QueuedCardRefunds:
    """Refunds bound for a card, booked and queued inside the order's transition.

    The part of a refund that the card paid goes to ``refunds:in_flight`` and a
    ``queued`` refund operation; buyer credit spent on the order, and anything
    beyond what the card still has to give back, returns as credit at once.
    The queued refund is sent by :meth:`~gigmarket.cashier.Cashier.send_refunds`
    (and by ``reconcile``).
    """

    gateway: str
    clock: Clock

    def send(
        self,
        store: OrdersUnitOfWork,
        flows: EscrowFlows,
        order: Order,
        amount: Amount,
        *,
        key: ScopedKey,
    ) -> None:
        """Book ``amount`` of the order's refund and queue the card's part.

        The card's part (at most what the order's payment has left to give back)
        moves to ``refunds:in_flight`` with a ``queued`` refund operation; the rest
        becomes buyer credit at once. ``key`` makes the booking idempotent.

        :raises StorageError: the store's unit of work holds no payment operations.
        """
        # The order's unit of work: every gigmarket storage serves both ports.
        if not serves_payments(store):
            raise StorageError(
                "refunds to a card are queued as payment operations: the store's unit of "
                "work has no payments repository (see gigmarket.ports.UnitOfWork)"
            )
        uow = store
        operations = uow.payments.operations_for(order.id)
        paid = [
            op
            for op in operations
            if op.kind is OperationKind.PAYMENT
            and op.status is S.SUCCEEDED
            and op.gateway_ref is not None
            and op.failure is None
        ]
        card = Amount.zero(order.currency)
        charge_ref = None
        if paid:
            payment = paid[-1]
            charge_ref = payment.gateway_ref
            given_back = sum_amounts(
                (
                    op.amount
                    for op in operations
                    if op.kind is OperationKind.REFUND
                    and op.charge_ref == charge_ref
                    and op.status is not S.FAILED
                ),
                order.currency,
            )
            card = min(amount, payment.amount - given_back)
        credit = amount - card
        shares = {}
        if card.units:
            shares[chart.refunds_in_flight(order.currency)] = card
        if credit.units:
            shares[chart.buyer_credit(order.buyer_id, order.currency)] = credit
        flows.settle(order.id, shares, memo=f"refund of order {order.id}", idempotency_key=key)
        if card.units:
            now = self.clock.now()
            uow.payments.add_operation(
                PaymentOperation(
                    id=f"refund:{key.key}",
                    kind=OperationKind.REFUND,
                    gateway=self.gateway,
                    subject=order.id,
                    amount=card,
                    status=S.QUEUED,
                    created_at=now,
                    updated_at=now,
                    charge_ref=charge_ref,
                )
            )


@attrs.frozen
class Books:
    """Applies gateway answers to operations, orders and the ledger."""

    desk: OrderDesk
    clock: Clock
    ids: IdFactory

    def flows(self, uow: CashierUnitOfWork) -> EscrowFlows:
        """The escrow flows over ``uow``'s ledger, so that the money an answer moves
        commits with the operation it settles."""
        return EscrowFlows(LedgerTransaction(uow, self.clock, self.ids))

    def emit(self, uow: CashierUnitOfWork, order_id: str, event: str, **payload: object) -> None:
        """An event on the order's outbox, in the same transaction as the change."""
        order = uow.orders.get(order_id)
        state = order.state.value if order is not None else ""
        uow.outbox.append(
            OrderEvent(
                id=self.ids(),
                type=event,
                order_id=order_id,
                occurred_at=self.clock.now(),
                payload={"state": state, **payload},
            )
        )

    def release_hold(self, uow: CashierUnitOfWork, hold_id: str | None) -> None:
        """Void a hold still pending (credit set aside, a withdrawal not sent)."""
        if hold_id is None:
            return
        flows = self.flows(uow)
        if flows.tx.hold(hold_id).status is HoldStatus.PENDING:
            flows.tx.void_hold(hold_id)

    # -- charges ----------------------------------------------------------

    def charge(
        self, uow: CashierUnitOfWork, op: PaymentOperation, charge: Charge
    ) -> PaymentOperation:
        """A payment's or a tip's charge, as the gateway reports it now."""
        now = self.clock.now()
        if charge.status is ChargeStatus.CAPTURED:
            if op.status is S.SUCCEEDED:
                return op
            if op.status is S.FAILED:  # written off as never sent; it arrived after all
                self._give_back(uow, op, charge, now)
                return op
            note = self._take(uow, op, charge, now)
            done = op.advance(S.SUCCEEDED, now, gateway_ref=charge.id, failure=note)
        elif charge.status in _WAITING:
            if op.status in (S.PENDING, S.SUCCEEDED, S.FAILED):
                return op
            done = op.advance(S.PENDING, now, gateway_ref=charge.id)
        else:
            if not op.is_open:
                return op
            self.release_hold(uow, op.hold_id)
            reason = charge.decline.code.value if charge.decline else charge.status.value
            done = op.advance(S.FAILED, now, gateway_ref=charge.id, failure=reason)
            self.emit(uow, op.subject, "payment.failed", operation=op.id, reason=reason)
        _save(uow, op, done)
        return done

    def _take(
        self, uow: CashierUnitOfWork, op: PaymentOperation, charge: Charge, now: datetime
    ) -> str | None:
        """Book a captured charge; ``None``, or why it was given back instead."""
        order = uow.orders.get(op.subject)
        if order is None or charge.captured != op.amount:
            self._give_back(uow, op, charge, now)
            return "not the order's payment: refunded"
        try:
            if op.kind is OperationKind.TIP:
                self.desk.tip_in(
                    uow,
                    order.id,
                    charge.captured,
                    buyer_id=order.buyer_id,
                    payment_reference=charge.id,
                )
                return None
            if order.state is not OrderState.PENDING_PAYMENT:
                raise OrderError(f"order {order.id} is {order.state.value}")
            self.desk.act_in(
                uow,
                order.id,
                "pay",
                actor=Actor.SYSTEM,
                amount=order.price.total_charged,
                reference=charge.id,
                credit=op.credit,
                credit_hold=op.hold_id,
            )
            return None
        except OrderError:
            # The order moved on while the buyer paid (it expired, it was
            # paid by another attempt): the money is not the order's to keep.
            self._give_back(uow, op, charge, now)
            return "the order could not take it: refunded"

    def _give_back(
        self, uow: CashierUnitOfWork, op: PaymentOperation, charge: Charge, now: datetime
    ) -> None:
        """Money captured that no order can take: book it, then queue its refund."""
        refund_id = f"refund:{op.id}"
        if uow.payments.get_operation(refund_id) is not None:
            return
        self.release_hold(uow, op.hold_id)
        flows = self.flows(uow)
        currency = charge.captured.currency
        flows.tx.open_account(chart.refunds_in_flight(currency), currency)
        world = chart.gateway(op.gateway, currency)
        flows.tx.open_account(world, currency, allow_negative=True)
        flows.tx.transfer(
            world,
            chart.refunds_in_flight(currency),
            charge.captured,
            memo=f"charge {charge.id} for {op.subject} cannot be kept: to be refunded",
            references=[f"order:{op.subject}"],
            idempotency_key=internal_key("unwanted", op.id),
        )
        uow.payments.add_operation(
            PaymentOperation(
                id=refund_id,
                kind=OperationKind.REFUND,
                gateway=op.gateway,
                subject=op.subject,
                amount=charge.captured,
                status=S.QUEUED,
                created_at=now,
                updated_at=now,
                charge_ref=charge.id,
            )
        )

    # -- refunds ----------------------------------------------------------

    def refund(
        self, uow: CashierUnitOfWork, op: PaymentOperation, refund: Refund | None, reason: str = ""
    ) -> PaymentOperation:
        """A queued refund's outcome (``None`` with a ``reason``: the gateway refused it)."""
        now = self.clock.now()
        if not op.is_open:
            return op
        flows = self.flows(uow)
        if refund is not None and refund.status is RefundStatus.SUCCEEDED:
            flows.refund_sent(
                op.amount, gateway=op.gateway, idempotency_key=internal_key("refunded", op.id)
            )
            done = op.advance(S.SUCCEEDED, now, gateway_ref=refund.id)
            self.emit(uow, op.subject, "refund.sent", operation=op.id, amount=str(op.amount))
        elif refund is not None and refund.status is RefundStatus.PENDING:
            if op.status is S.PENDING:
                return op
            done = op.advance(S.PENDING, now, gateway_ref=refund.id)
        else:
            why = reason or (
                refund.failure.code.value if refund and refund.failure else "refund failed"
            )
            order = uow.orders.get(op.subject)
            buyer = order.buyer_id if order is not None else op.subject
            flows.refund_to_credit(
                buyer, op.amount, idempotency_key=internal_key("refund-credit", op.id)
            )
            done = op.advance(S.FAILED, now, gateway_ref=refund.id if refund else None, failure=why)
            self.emit(
                uow, op.subject, "refund.failed", operation=op.id, amount=str(op.amount), reason=why
            )
        _save(uow, op, done)
        return done

    # -- payees and payouts -----------------------------------------------

    def payee(self, uow: CashierUnitOfWork, op: PaymentOperation, payee: Payee) -> PaymentOperation:
        """A seller's onboarding as the gateway reports it: succeeded once the payee
        is active, failed otherwise. An operation already settled is returned as it is."""
        if not op.is_open:
            return op
        now = self.clock.now()
        if payee.status is PayeeStatus.ACTIVE:
            done = op.advance(S.SUCCEEDED, now, gateway_ref=payee.id)
        else:
            reason = payee.decline.code.value if payee.decline else "rejected"
            done = op.advance(S.FAILED, now, gateway_ref=payee.id, failure=reason)
        _save(uow, op, done)
        return done

    def payout(
        self, uow: CashierUnitOfWork, op: PaymentOperation, payout: Payout
    ) -> PaymentOperation:
        """A withdrawal's payout: sent, paid, or failed (money back to the seller)."""
        if not op.is_open or op.hold_id is None:
            return op
        now = self.clock.now()
        flows = self.flows(uow)
        hold = flows.tx.hold(op.hold_id)
        if payout.status in (PayoutStatus.FAILED, PayoutStatus.CANCELLED):
            if hold.status is HoldStatus.PENDING:
                flows.withdrawal_cancelled(op.hold_id)
            elif hold.status is HoldStatus.POSTED:
                flows.payout_returned(op.hold_id)
            reason = payout.failure.code.value if payout.failure else payout.status.value
            done = op.advance(S.FAILED, now, gateway_ref=payout.id, failure=reason)
        else:
            if hold.status is HoldStatus.PENDING:
                flows.payout_sent(op.hold_id)
            if payout.status is PayoutStatus.PAID:
                flows.payout_paid(op.hold_id, gateway=op.gateway)
                done = op.advance(S.SUCCEEDED, now, gateway_ref=payout.id)
            elif op.status is S.PENDING:
                return op
            else:
                done = op.advance(S.PENDING, now, gateway_ref=payout.id)
        _save(uow, op, done)
        return done

    def never_sent(
        self,
        uow: CashierUnitOfWork,
        op: PaymentOperation,
        reason: str = "never reached the gateway",
    ) -> PaymentOperation:
        """The gateway has no trace of a call that cannot (or must not) be sent
        again (a payee, whose bank token is never kept; a charge without its
        token, or for an order that can no longer be paid): it failed, and what
        it set aside is released. A charge that turns up captured later is
        given back (:meth:`charge`)."""
        if not op.is_open:
            return op
        now = self.clock.now()
        self.release_hold(uow, op.hold_id)
        done = op.advance(S.FAILED, now, failure=reason)
        if op.kind in (OperationKind.PAYMENT, OperationKind.TIP):
            self.emit(uow, op.subject, "payment.failed", operation=op.id, reason=done.failure)
        _save(uow, op, done)
        return done
