"""Webhooks and reconciliation: the two ways a late answer reaches the books.

Both treat what the gateway *says now* as the truth and hand it to the same
:class:`~gigmarket.cashier.outcomes.Books` the original call used:

- a **webhook** is a hint. It is verified (the adapter's ``parse_webhook``),
  deduplicated by its event id in the same transaction as its effect, and
  then the object it names is *queried*: an old event delivered late, or two
  delivered out of order, can only ever move an operation forward to the
  state the gateway reports now.
- **reconcile** walks every operation still open: a ``started`` one older than
  the grace period (its process died mid-call) or an ``unknown`` one is
  looked up by its idempotency key; what the gateway made is applied, and a
  call the gateway has no trace of is sent again under the same key (the
  first attempt may still be on its way; the gateway collapses the two). Only
  a payee, whose bank token is never kept, and a payment whose order can no
  longer take the money (it expired), are failed instead. Pending ones are
  queried; queued refunds are sent. What is still open past
  :attr:`~gigmarket.cashier.CashierPolicy.attention_after` is reported as
  needing a person (:attr:`ReconcileReport.attention`).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Protocol, TypeVar, cast

import attrs

from gigmarket._kernel.runner import Runner
from gigmarket.cashier.audit import Attention, needs_attention
from gigmarket.cashier.model import OperationKind, OperationStatus, PaymentOperation
from gigmarket.cashier.outcomes import Books
from gigmarket.cashier.policy import CashierPolicy
from gigmarket.cashier.ports import CashierUnitOfWork
from gigmarket.clock import Clock
from gigmarket.errors import GigmarketError, PaymentError
from gigmarket.gateways.protocols import CollectionGateway, DisbursementGateway
from gigmarket.gateways.results import Charge, ChargeStatus, Payee, Payout, Refund
from gigmarket.gateways.webhooks import WebhookEvent
from gigmarket.idempotency import fingerprint, internal_key, remember
from gigmarket.orders.model import OrderState

T = TypeVar("T")


class PaymentService(Protocol):
    """What webhooks and reconciliation need of the payment service.

    :class:`~gigmarket.cashier.service.Cashier` provides it; naming it here,
    rather than importing the service, keeps this module below the service
    (which calls it) and off the service's private members.
    """

    collection: CollectionGateway
    disbursement: DisbursementGateway | None
    policy: CashierPolicy
    clock: Clock
    books: Books
    runner: Runner[CashierUnitOfWork, CashierUnitOfWork]

    def operation(self, operation_id: str) -> PaymentOperation: ...

    def resend(self, op: PaymentOperation) -> PaymentOperation: ...

    def send_refund(self, op_id: str, *, resend: bool = False) -> PaymentOperation: ...

    def payout_gateway(self) -> DisbursementGateway: ...

    def apply_to(
        self, operation_id: str, apply: Callable[[CashierUnitOfWork, PaymentOperation], T]
    ) -> T: ...


__all__ = [
    "ReconcileFix",
    "ReconcileReport",
    "WebhookOutcome",
    "handle_webhook",
    "reconcile",
    "settle_order",
]

S = OperationStatus


@attrs.frozen(kw_only=True)
class WebhookOutcome:
    """What one webhook delivery did."""

    event: WebhookEvent
    duplicate: bool = False
    """The event was seen before: nothing was done."""
    operations: tuple[PaymentOperation, ...] = ()
    """The operations it concerned, as they now stand (none: not one of ours)."""


@attrs.frozen(kw_only=True)
class ReconcileFix:
    """One operation reconcile moved: from what to what, and why."""

    operation_id: str
    kind: str
    before: str
    after: str
    note: str = ""


@attrs.frozen(kw_only=True)
class ReconcileReport:
    """What one run of ``reconcile`` looked at and changed."""

    checked: int = 0
    fixed: tuple[ReconcileFix, ...] = ()
    waiting: tuple[str, ...] = ()
    """Operations left open: still in flight, still pending at the gateway."""
    skipped: tuple[tuple[str, str], ...] = ()
    """(operation id, error code) for those the gateway could not answer now."""
    others: int = 0
    """Open operations of another gateway, left alone."""
    attention: tuple[Attention, ...] = ()
    """Operations still open past the policy's ``attention_after``: a person
    must look (and decide with :meth:`~gigmarket.cashier.Cashier.resolve`)."""

    @property
    def clean(self) -> bool:
        return not self.fixed and not self.skipped


# -- webhooks -----------------------------------------------------------------


def handle_webhook(
    cashier: PaymentService, payload: bytes, headers: Mapping[str, str]
) -> WebhookOutcome:
    """Verify, deduplicate and apply one webhook delivery."""
    gateway = cashier.collection
    kind_of = _event_kind(payload, headers, cashier)
    event, source = kind_of
    key = internal_key("webhook", event.gateway, event.id)
    if cashier.runner.read(lambda uow: uow.idempotency.get_idempotency(key.scope, key.key)):
        return WebhookOutcome(event=event, duplicate=True)
    family = event.type.split(".", 1)[0]
    truth: Charge | Payout | Payee | None
    if family == "charge":
        truth = gateway.get_charge(event.object_id)
    elif family == "payout" and source is not None:
        truth = source.get_payout(event.object_id)
    elif family == "payee" and source is not None:
        truth = source.get_payee(event.object_id)
    else:
        truth = None

    def apply(uow: CashierUnitOfWork) -> WebhookOutcome:
        if uow.idempotency.get_idempotency(key.scope, key.key) is not None:
            return WebhookOutcome(event=event, duplicate=True)
        touched = _apply_truth(cashier, uow, truth)
        digest = fingerprint({"type": event.type, "object": event.object_id})
        remember(uow.idempotency, key, "webhook", digest, event.object_id)
        return WebhookOutcome(event=event, operations=tuple(touched))

    return cashier.runner.transact(apply)


def _event_kind(
    payload: bytes, headers: Mapping[str, str], cashier: PaymentService
) -> tuple[WebhookEvent, DisbursementGateway | None]:
    """Parse with the collection gateway, or with the disbursement gateway when
    it is another adapter (each verifies with its own secret)."""
    source = cashier.disbursement
    if source is not None and source is not cast(object, cashier.collection):
        try:
            return cashier.collection.parse_webhook(payload, headers), source
        except PaymentError:
            return source.parse_webhook(payload, headers), source
    return cashier.collection.parse_webhook(payload, headers), source


def _apply_truth(
    cashier: PaymentService, uow: CashierUnitOfWork, truth: Charge | Payout | Payee | None
) -> list[PaymentOperation]:
    books = cashier.books
    touched: list[PaymentOperation] = []
    if truth is None:
        return touched
    op = uow.payments.get_operation(truth.idempotency_key)
    if isinstance(truth, Charge):
        if op is not None and op.kind in (OperationKind.PAYMENT, OperationKind.TIP):
            touched.append(books.charge(uow, op, truth))
        for refund in truth.refunds:
            refund_op = uow.payments.get_operation(refund.idempotency_key)
            if (
                refund_op is not None
                and refund_op.kind is OperationKind.REFUND
                and refund_op.status is not S.QUEUED
            ):
                touched.append(books.refund(uow, refund_op, refund))
    elif isinstance(truth, Payout):
        if op is not None and op.kind is OperationKind.PAYOUT:
            touched.append(books.payout(uow, op, truth))
    elif op is not None and op.kind is OperationKind.PAYEE:
        touched.append(books.payee(uow, op, truth))
    return touched


# -- reconcile ----------------------------------------------------------------


PAGE = 200
"""Open operations read at a time while ``reconcile`` walks them."""


def reconcile(
    cashier: PaymentService,
    *,
    limit: int | None = None,
    progress: Callable[[int], None] | None = None,
) -> ReconcileReport:
    """Settle every open operation the gateway can answer for now (at most
    ``limit`` of them, oldest first, when given).

    The walk goes past operations that stay open (a payment waiting for its
    buyer, a payout on its way), so one that is stuck never hides the ones
    behind it. Operations made on another gateway are left alone (reconcile
    them with a marketplace built on that gateway). ``progress(operations
    checked so far)`` is called after each page of :data:`PAGE`.
    """
    fixed: list[ReconcileFix] = []
    waiting: list[str] = []
    skipped: list[tuple[str, str]] = []
    still_open: list[PaymentOperation] = []
    checked = others = 0
    after: tuple[datetime, str] | None = None
    grace = cashier.policy.reconcile_grace
    ours = {cashier.collection.name}
    if cashier.disbursement is not None:
        ours.add(cashier.disbursement.name)
    while limit is None or checked < limit:
        size = PAGE if limit is None else min(PAGE, limit - checked)
        page = cashier.runner.read(functools.partial(_page, size=size, after=after))
        if not page:
            break
        after = (page[-1].created_at, page[-1].id)
        for op in page:
            if op.gateway not in ours:
                others += 1  # this gateway would find no trace of it and send it again
                continue
            checked += 1
            if op.status is S.STARTED and cashier.clock.now() - op.updated_at < grace:
                waiting.append(op.id)  # its call may still be under way
                still_open.append(op)
                continue
            try:
                after_op = _settle(cashier, op)
            except GigmarketError as error:
                # The gateway cannot answer now, or this one operation cannot be
                # settled as things stand: say so, and go on with the others.
                skipped.append((op.id, error.code))
                still_open.append(op)
                continue
            if after_op.status is not op.status:
                fixed.append(
                    ReconcileFix(
                        operation_id=op.id,
                        kind=op.kind.value,
                        before=op.status.value,
                        after=after_op.status.value,
                        note=after_op.failure or "",
                    )
                )
            if after_op.is_open:
                waiting.append(op.id)
                still_open.append(after_op)
        if len(page) < size:
            break
        if progress is not None:
            progress(checked)
    return ReconcileReport(
        checked=checked,
        fixed=tuple(fixed),
        waiting=tuple(waiting),
        skipped=tuple(skipped),
        others=others,
        attention=tuple(
            needs_attention(
                still_open, now=cashier.clock.now(), after=cashier.policy.attention_after
            )
        ),
    )


def _page(
    uow: CashierUnitOfWork, *, size: int, after: tuple[datetime, str] | None
) -> list[PaymentOperation]:
    return list(uow.payments.open_operations(size, after=after))


def settle_order(cashier: PaymentService, order_id: str) -> list[PaymentOperation]:
    """Settle an order's open payment attempts now (see
    :meth:`~gigmarket.cashier.Cashier.settle_order`)."""
    grace = cashier.policy.reconcile_grace
    attempts = cashier.runner.read(
        lambda uow: list(uow.payments.operations_for(order_id, OperationKind.PAYMENT))
    )
    settled: list[PaymentOperation] = []
    for op in attempts:
        if not op.is_open or op.gateway != cashier.collection.name:
            settled.append(op)
            continue
        if op.status is S.STARTED and cashier.clock.now() - op.updated_at < grace:
            settled.append(op)  # its call may still be under way: reconcile's, later
            continue
        try:
            settled.append(_settle(cashier, op))
        except GigmarketError:
            settled.append(cashier.operation(op.id))  # the gateway cannot say now: reconcile
    return settled


def _settle_refund(cashier: PaymentService, op: PaymentOperation) -> PaymentOperation:
    books = cashier.books
    if op.status is S.QUEUED:
        return cashier.send_refund(op.id)
    refund = _refund_for(cashier, op)
    if refund is None:
        if op.status is S.PENDING:  # pragma: no cover -- a pending refund the gateway forgot
            return op
        return cashier.resend(op)
    return cashier.apply_to(op.id, lambda uow, cur: books.refund(uow, cur, refund))


def _settle(cashier: PaymentService, op: PaymentOperation) -> PaymentOperation:
    books = cashier.books
    if op.kind is OperationKind.REFUND:
        return _settle_refund(cashier, op)
    found = _lookup(cashier, op)
    if found is None:
        if op.status is S.PENDING:  # pragma: no cover -- pending means the gateway named it
            return op
        return cashier.resend(op)
    if isinstance(found, Charge):
        found = _abandon(cashier, op, found)
        charge = found
        return cashier.apply_to(op.id, lambda uow, cur: books.charge(uow, cur, charge))
    if isinstance(found, Payout):
        payout = found
        return cashier.apply_to(op.id, lambda uow, cur: books.payout(uow, cur, payout))
    payee = found
    return cashier.apply_to(op.id, lambda uow, cur: books.payee(uow, cur, payee))


_CANCELLABLE = frozenset({ChargeStatus.REQUIRES_ACTION, ChargeStatus.AUTHORIZED})


def _abandon(cashier: PaymentService, op: PaymentOperation, charge: Charge) -> Charge:
    """A charge still waiting for its buyer (3-D Secure) on an order that can
    no longer be paid (it expired) is cancelled at the gateway, so that it
    neither stays open for ever nor takes money that would only be given back."""
    if charge.status not in _CANCELLABLE or op.kind is not OperationKind.PAYMENT:
        return charge
    order = cashier.runner.read(lambda uow: uow.orders.get(op.subject))
    if order is not None and order.state is OrderState.PENDING_PAYMENT:
        return charge
    return cashier.collection.cancel(charge.id, idempotency_key=f"cancel:{op.id}")


def _refund_for(cashier: PaymentService, op: PaymentOperation) -> Refund | None:
    if op.charge_ref is None:
        return None
    return cashier.collection.get_charge(op.charge_ref).refund_for(op.id)


def _lookup(cashier: PaymentService, op: PaymentOperation) -> Charge | Payout | Payee | None:
    """The gateway's object for ``op``: by id when known, else by idempotency key."""
    if op.kind in (OperationKind.PAYMENT, OperationKind.TIP):
        if op.gateway_ref is not None:
            return cashier.collection.get_charge(op.gateway_ref)
        return cashier.collection.find_charge(op.id)
    gateway = cashier.payout_gateway()
    if op.kind is OperationKind.PAYOUT:
        if op.gateway_ref is not None:
            return gateway.get_payout(op.gateway_ref)
        return gateway.find_payout(op.id)
    if op.gateway_ref is not None:
        return gateway.get_payee(op.gateway_ref)
    return gateway.find_payee(op.id)
