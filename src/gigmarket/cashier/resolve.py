"""An operator's decision on a payment operation the gateway cannot settle.

The gateway's word ends almost every open operation (a status query, a
webhook, a call sent again under the same key). What is left is rare and
needs a person: a call sent again that the gateway refuses outright while the
first attempt may still land, a gateway that never answers for an object. The
operator looks at the gateway's dashboard (or asks its support) and records
what they found: ``succeeded`` (with the gateway's id for what was made) or
``failed``. :class:`Resolution` turns that into the gateway answer it stands
for and hands it to the same :class:`~gigmarket.cashier.outcomes.Books` a
real answer goes to, so the ledger, the order and the operation agree as if
the gateway had said so; the decision itself (who, when, why) is recorded on
the operation and, for an order's operations, as a ``payment.resolved``
event.

A decision can only settle an open operation: states only move forward, and
a settled one is refused with :class:`~gigmarket.errors.OperationSettled`.
"""

from __future__ import annotations

import attrs

from gigmarket.cashier.model import OperationKind, OperationStatus, PaymentOperation
from gigmarket.cashier.outcomes import Books
from gigmarket.cashier.ports import CashierUnitOfWork
from gigmarket.errors import OperationSettled, ValidationError
from gigmarket.gateways.results import (
    Charge,
    ChargeStatus,
    Decline,
    DeclineCode,
    Payee,
    PayeeStatus,
    Payout,
    PayoutStatus,
    Refund,
    RefundStatus,
)

__all__ = ["OUTCOMES", "Resolution", "resolution"]

S = OperationStatus
OUTCOMES = frozenset({S.SUCCEEDED, S.FAILED})
"""What an operator may decide."""
_NEEDS_REFERENCE = frozenset({OperationKind.PAYMENT, OperationKind.TIP, OperationKind.PAYOUT})
_ORDERS = frozenset({OperationKind.PAYMENT, OperationKind.TIP, OperationKind.REFUND})
_LONGEST_TEXT = 500


def _text(value: object, field: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValidationError("required, and not blank", field=field)
    if len(value) > _LONGEST_TEXT:
        raise ValidationError(f"at most {_LONGEST_TEXT} characters", field=field)
    return value.strip()


def resolution(
    operation_id: str,
    *,
    outcome: OperationStatus | str,
    reason: str,
    operator: str,
    reference: str | None = None,
) -> Resolution:
    """An operator's decision, checked (everything but the operation itself)."""
    try:
        decided = OperationStatus(outcome)
    except ValueError:
        decided = None
    if decided not in OUTCOMES:
        raise ValidationError("'succeeded' or 'failed'", field="outcome")
    return Resolution(
        operation_id=_text(operation_id, "operation_id"),
        outcome=decided,
        reason=_text(reason, "reason"),
        operator=_text(operator, "operator"),
        reference=None if reference is None else _text(reference, "reference"),
    )


@attrs.frozen(kw_only=True)
class Resolution:
    """One decision: ``operation_id`` ended as ``outcome``, by ``operator``, because ``reason``."""

    operation_id: str
    outcome: OperationStatus
    reason: str
    operator: str
    reference: str | None = None
    """The gateway's id for what the call made (a charge, a payout, a payee, a refund)."""

    def apply(self, uow: CashierUnitOfWork, books: Books) -> PaymentOperation:
        """Check the decision against the operation, then book it (in ``uow``)."""
        op = uow.payments.get_operation(self.operation_id)
        if op is None:
            raise ValidationError(
                f"no payment operation {self.operation_id!r}", field="operation_id"
            )
        if not op.is_open:
            raise OperationSettled(operation_id=op.id, status=op.status.value)
        reference = self.reference if self.reference is not None else op.gateway_ref
        if (
            self.outcome is S.SUCCEEDED
            and reference is None
            and (op.kind in _NEEDS_REFERENCE or op.kind is OperationKind.PAYEE)
        ):
            raise ValidationError(
                f"a {op.kind.value} that succeeded made something at the gateway: give its id",
                field="reference",
            )
        done = self._book(uow, books, op, reference)
        if done.is_open:  # pragma: no cover -- every kind's books settle a definite answer
            raise ValidationError(f"{op.id} cannot be decided", field="operation_id")
        now = books.clock.now()
        decided = attrs.evolve(
            done,
            version=done.version + 1,
            updated_at=now,
            failure=f"decided by {self.operator}" if done.status is S.FAILED else done.failure,
            resolved_by=self.operator,
            resolved_at=now,
            resolution=self.reason,
        )
        uow.payments.save_operation(decided, expected_version=done.version)
        if op.kind in _ORDERS:
            books.emit(
                uow,
                op.subject,
                "payment.resolved",
                operation=op.id,
                outcome=decided.status.value,
                operator=self.operator,
                reason=self.reason,
            )
        return decided

    def _book(
        self, uow: CashierUnitOfWork, books: Books, op: PaymentOperation, reference: str | None
    ) -> PaymentOperation:
        now = books.clock.now()
        ref = reference or ""
        why = f"decided by {self.operator}"
        if op.kind in (OperationKind.PAYMENT, OperationKind.TIP):
            if self.outcome is S.FAILED:
                return books.never_sent(uow, op, reason=why)
            charge = Charge(
                id=ref,
                gateway=op.gateway,
                status=ChargeStatus.CAPTURED,
                amount=op.amount,
                captured=op.amount,
                manual_capture=False,
                idempotency_key=op.id,
                created_at=now,
                description=why,
            )
            return books.charge(uow, op, charge)
        if op.kind is OperationKind.REFUND:
            if self.outcome is S.FAILED:
                return books.refund(uow, op, None, why)
            refund = Refund(
                id=reference if reference is not None else f"decided:{op.id}",
                charge_id=op.charge_ref or "",
                amount=op.amount,
                status=RefundStatus.SUCCEEDED,
                idempotency_key=op.id,
                created_at=now,
                reason=why,
            )
            return books.refund(uow, op, refund)
        failed = self.outcome is S.FAILED
        decline = Decline(code=DeclineCode.OTHER, raw_code="operator", message=why)
        if op.kind is OperationKind.PAYOUT:
            payout = Payout(
                id=ref or f"decided:{op.id}",
                gateway=op.gateway,
                payee_id="",
                amount=op.amount,
                status=PayoutStatus.FAILED if failed else PayoutStatus.PAID,
                idempotency_key=op.id,
                created_at=now,
                failure=decline if failed else None,
            )
            return books.payout(uow, op, payout)
        payee = Payee(
            id=ref or f"decided:{op.id}",
            gateway=op.gateway,
            reference=op.subject,
            currency=op.amount.currency,
            status=PayeeStatus.REJECTED if failed else PayeeStatus.ACTIVE,
            idempotency_key=op.id,
            created_at=now,
            decline=decline if failed else None,
        )
        return books.payee(uow, op, payee)
