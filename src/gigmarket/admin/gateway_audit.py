"""The audit's view of the gateway: what it made, compared with the books.

The books can be perfectly consistent with themselves and still wrong about
the world: a charge the gateway captured whose answer was lost and never
reconciled, a payout recorded as paid that the gateway never made. Only the
gateway can tell, so ``gigmarket audit --gateway NAME`` lists what it made
(the optional :class:`~gigmarket.gateways.protocols.ListsActivity` port) and
compares each charge, refund and payout with the payment operation whose id
is its idempotency key (``10-gateway``). And every operation still open
after a limit (a week, or ``--open-limit``) is reported (``9-stuck``): what
``reconcile`` should have settled and did not, and a person must now decide.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime, timedelta

import attrs

from gigmarket.cashier.audit import STUCK, PaymentEntries, needs_attention
from gigmarket.cashier.model import OperationKind, OperationStatus, PaymentOperation
from gigmarket.clock import SystemClock
from gigmarket.errors import UnsupportedOperation
from gigmarket.gateways.protocols import Capability, ListsActivity
from gigmarket.gateways.results import (
    Charge,
    ChargeStatus,
    Payout,
    PayoutStatus,
    Refund,
    RefundStatus,
)

__all__ = [
    "GATEWAY",
    "GRACE",
    "GatewayActivity",
    "Problem",
    "audit_gateway",
    "audit_open",
    "gateway_listing",
]

GATEWAY = "10-gateway"
GRACE = timedelta(minutes=5)
"""An operation changed this recently may still be waiting for its answer to be
booked (the call is made, the second transaction not yet committed): it is not
yet a disagreement with the gateway."""

S = OperationStatus
K = OperationKind
_GATEWAY_FAILED = frozenset({ChargeStatus.FAILED, ChargeStatus.CANCELLED})


@attrs.frozen(kw_only=True)
class GatewayActivity:
    """What a gateway listed, and when."""

    gateway: str
    listed_at: datetime
    since: datetime | None
    charges: tuple[Charge, ...]
    refunds: tuple[Refund, ...]
    payouts: tuple[Payout, ...]


@attrs.frozen(kw_only=True)
class Problem:
    """One disagreement: the invariant, what is wrong, and the operation concerned."""

    invariant: str
    message: str
    operation_id: str | None = None


def gateway_listing(
    gateway: ListsActivity, since: datetime | None, *, now: datetime | None = None
) -> GatewayActivity:
    """List what ``gateway`` made since ``since``; an adapter that does not
    declare ``list_activity`` is refused with
    :class:`~gigmarket.errors.UnsupportedOperation`."""
    if not isinstance(gateway, ListsActivity):
        raise UnsupportedOperation(
            "the gateway cannot list its charges, refunds and payouts",
            gateway=str(getattr(gateway, "name", type(gateway).__name__)),
            operation="list_charges",
            capability=Capability.LIST_ACTIVITY.value,
        )
    gateway.capabilities.require(
        Capability.LIST_ACTIVITY, gateway=gateway.name, operation="list_charges"
    )
    listed_at = now if now is not None else SystemClock().now()
    return GatewayActivity(
        gateway=gateway.name,
        listed_at=listed_at,
        since=since,
        charges=tuple(gateway.list_charges(since=since)),
        refunds=tuple(gateway.list_refunds(since=since)),
        payouts=tuple(gateway.list_payouts(since=since)),
    )


def _name(op: PaymentOperation) -> str:
    return f"{op.kind.value} {op.id} is {op.status.value}"


def audit_gateway(
    listed: GatewayActivity, operations: Sequence[PaymentOperation], entries: PaymentEntries
) -> list[Problem]:
    """Every disagreement between what the gateway made and the operations made on it."""
    mine = [op for op in operations if op.gateway == listed.gateway]
    by_id = {op.id: op for op in mine}
    settled_before = listed.listed_at - GRACE
    problems: list[Problem] = []

    def problem(message: str, op: PaymentOperation | None = None) -> None:
        problems.append(
            Problem(invariant=GATEWAY, message=message, operation_id=op.id if op else None)
        )

    def late(op: PaymentOperation) -> bool:
        """Whether ``op`` had time to book the gateway's answer."""
        return op.updated_at <= settled_before

    for charge in listed.charges:
        op = by_id.get(charge.idempotency_key)
        what = f"charge {charge.id} (captured {charge.captured})"
        if op is None:
            if charge.status is ChargeStatus.CAPTURED:
                problem(f"{what} at the gateway is recorded by no payment operation")
            continue
        if charge.status is ChargeStatus.CAPTURED:
            given_back = f"unwanted:{op.id}" in entries.by_key
            if op.status is not S.SUCCEEDED and not (op.status is S.FAILED and given_back):
                if late(op):
                    problem(f"{what} was never booked: {_name(op)}", op)
            elif op.gateway_ref not in (None, charge.id):
                problem(f"{what} is not the charge {op.gateway_ref} its operation booked", op)
            elif op.failure is None and charge.captured != op.amount:
                problem(f"{what}, but {op.kind.value} {op.id} booked {op.amount}", op)
        elif (
            charge.status in _GATEWAY_FAILED
            and op.status is S.SUCCEEDED
            and op.failure is None
            and op.gateway_ref == charge.id
        ):
            problem(f"charge {charge.id} is {charge.status.value} at the gateway, {_name(op)}", op)
    problems += _refunds(listed, by_id, late)
    problems += _payouts(listed, by_id, late)
    problems += _unknown_to_the_gateway(listed, mine)
    return problems


def _refunds(
    listed: GatewayActivity,
    by_id: dict[str, PaymentOperation],
    late: Callable[[PaymentOperation], bool],
) -> list[Problem]:
    problems: list[Problem] = []
    for refund in listed.refunds:
        op = by_id.get(refund.idempotency_key)
        what = f"refund {refund.id} ({refund.amount})"
        if op is None:
            if refund.status is RefundStatus.SUCCEEDED:
                message = f"{what} at the gateway is recorded by no refund operation"
                problems.append(Problem(invariant=GATEWAY, message=message))
            continue
        message = ""
        if refund.status is RefundStatus.SUCCEEDED and op.status is not S.SUCCEEDED:
            if op.status is S.FAILED:
                message = f"{what} was made, but {_name(op)}: the buyer was also given credit"
            elif late(op):
                message = f"{what} was made, but {_name(op)}"
        elif refund.status is RefundStatus.FAILED and op.status is S.SUCCEEDED:
            message = f"{what} failed at the gateway, but {_name(op)}"
        elif refund.amount != op.amount:
            message = f"{what} is not the {op.amount} that {op.id} booked"
        if message:
            problems.append(Problem(invariant=GATEWAY, message=message, operation_id=op.id))
    return problems


def _payouts(
    listed: GatewayActivity,
    by_id: dict[str, PaymentOperation],
    late: Callable[[PaymentOperation], bool],
) -> list[Problem]:
    problems: list[Problem] = []
    for payout in listed.payouts:
        op = by_id.get(payout.idempotency_key)
        what = f"payout {payout.id} ({payout.amount}, {payout.status.value})"
        if op is None:
            message = f"{what} at the gateway is recorded by no payout operation"
            problems.append(Problem(invariant=GATEWAY, message=message))
            continue
        message = ""
        if payout.status is PayoutStatus.PAID and op.status is not S.SUCCEEDED:
            if op.status is S.FAILED:
                message = f"{what} reached the bank, but {_name(op)}: the seller was paid back"
            elif late(op):
                message = f"{what} reached the bank, but {_name(op)}"
        elif payout.status in (PayoutStatus.FAILED, PayoutStatus.CANCELLED) and (
            op.status is S.SUCCEEDED
        ):
            message = f"{what} never reached the bank, but {_name(op)}"
        elif payout.amount != op.amount:
            message = f"{what} is not the {op.amount} that {op.id} booked"
        if message:
            problems.append(Problem(invariant=GATEWAY, message=message, operation_id=op.id))
    return problems


def _unknown_to_the_gateway(
    listed: GatewayActivity, mine: Sequence[PaymentOperation]
) -> list[Problem]:
    """Operations booked as done with the gateway that it has no trace of."""
    made = {
        K.PAYMENT: {c.idempotency_key for c in listed.charges},
        K.TIP: {c.idempotency_key for c in listed.charges},
        K.REFUND: {r.idempotency_key for r in listed.refunds},
        K.PAYOUT: {p.idempotency_key for p in listed.payouts},
    }
    problems: list[Problem] = []
    for op in mine:
        keys = made.get(op.kind)
        if keys is None or op.status not in (S.SUCCEEDED, S.PENDING):
            continue
        if op.kind is K.PAYMENT and op.gateway_ref is None:
            continue  # paid with buyer credit alone: the gateway was never called
        if listed.since is not None and op.created_at < listed.since:
            continue  # before the listing's window
        if op.created_at > listed.listed_at or op.id in keys:
            continue
        problems.append(
            Problem(
                invariant=GATEWAY,
                message=f"{_name(op)}, but the gateway made no {op.kind.value} with its key"
                + (f" (it booked {op.gateway_ref})" if op.gateway_ref else ""),
                operation_id=op.id,
            )
        )
    return problems


def audit_open(
    operations: Sequence[PaymentOperation], *, open_limit: timedelta, now: datetime | None = None
) -> list[Problem]:
    """Every payment operation open for longer than ``open_limit`` at ``now``."""
    moment = now if now is not None else SystemClock().now()
    return [
        Problem(invariant=STUCK, message=stuck.detail, operation_id=stuck.operation_id)
        for stuck in needs_attention(operations, now=moment, after=open_limit)
    ]
