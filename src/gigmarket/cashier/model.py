"""What the payment service records of every call it makes to a gateway.

A gateway call cannot share a transaction with the database: the charge is
made on someone else's computer, and either side can fail after the other
succeeded. So every call is written down *before* it is made, as a
:class:`PaymentOperation` in the ``started`` state, committed; the call is
made with the operation's id as its idempotency key; and the outcome is
written in a second transaction together with its ledger entries. A crash
between the two leaves a ``started`` operation behind, and
:meth:`~gigmarket.cashier.Cashier.reconcile` asks the gateway, by that key,
what became of it. Nothing is ever charged without a record that says so.

::

    queued ──▶ started ──▶ succeeded
                 │  ╲
                 │   ╲──▶ pending ──▶ succeeded | failed      (webhook, reconcile)
                 │
                 ├──▶ unknown ──▶ (status query) ──▶ any of the above
                 └──▶ failed

States only move forward (:data:`FORWARD`): a late or replayed answer from
the gateway can never undo a settled outcome.

No open state lasts for ever. What ends each:

- ``started``, ``unknown``: the gateway's word, found by a status query
  under the operation's key (``reconcile``); a call the gateway has no
  trace of is sent again under the same key, except a payment whose order can
  no longer take it (it expired): that one fails, its buyer credit is
  released, and a charge that turns up captured later is refunded;
- ``pending``: the gateway's word (a webhook, ``reconcile``); a charge still
  waiting for its buyer on an expired order is cancelled at the gateway;
- ``queued``: the refund job (``send_refunds``, ``reconcile``);
- any of them: an operator's recorded decision
  (:meth:`~gigmarket.cashier.Cashier.resolve`, ``gigmarket payments
  resolve``), booked through the same code as the gateway's answers.

One still open past :attr:`~gigmarket.cashier.CashierPolicy.attention_after`
is listed by ``reconcile`` and the audit as needing a person, with why.
"""

from __future__ import annotations

import enum
from datetime import datetime

import attrs

from gigmarket.errors import ValidationError
from gigmarket.money import Amount

__all__ = [
    "FORWARD",
    "OPEN_STATUSES",
    "OperationKind",
    "OperationStatus",
    "PaymentOperation",
]


class OperationKind(enum.StrEnum):
    """What a gateway call was for."""

    PAYMENT = "payment"
    """A buyer pays for an order (subject: the order)."""
    TIP = "tip"
    """A buyer tips a completed order (subject: the order)."""
    REFUND = "refund"
    """Money goes back to a buyer's card (subject: the order)."""
    PAYEE = "payee"
    """A seller's bank account is registered with the gateway (subject: the seller)."""
    PAYOUT = "payout"
    """A seller withdraws to their bank (subject: the seller)."""


class OperationStatus(enum.StrEnum):
    """Where a gateway call stands, as the platform knows it."""

    QUEUED = "queued"
    """Booked, not yet sent: a refund waiting for the gateway."""
    STARTED = "started"
    """Recorded and (perhaps) sent; no answer recorded yet."""
    UNKNOWN = "unknown"
    """Sent, and the answer was lost: only a status query can tell."""
    PENDING = "pending"
    """The gateway took it and will say later (a charge awaiting the buyer or
    the network, a payout on its way)."""
    SUCCEEDED = "succeeded"
    FAILED = "failed"


OPEN_STATUSES = frozenset(
    {
        OperationStatus.QUEUED,
        OperationStatus.STARTED,
        OperationStatus.UNKNOWN,
        OperationStatus.PENDING,
    }
)
"""Statuses that still wait for an outcome: what ``reconcile`` works through."""

FORWARD: dict[OperationStatus, frozenset[OperationStatus]] = {
    OperationStatus.QUEUED: frozenset(
        {OperationStatus.STARTED, OperationStatus.SUCCEEDED, OperationStatus.FAILED}
    ),
    OperationStatus.STARTED: frozenset(OperationStatus) - {OperationStatus.STARTED},
    OperationStatus.UNKNOWN: frozenset(OperationStatus) - {OperationStatus.UNKNOWN},
    OperationStatus.PENDING: frozenset({OperationStatus.SUCCEEDED, OperationStatus.FAILED}),
    OperationStatus.SUCCEEDED: frozenset(),
    OperationStatus.FAILED: frozenset(),
}
"""Which status may follow which. ``started`` and ``unknown`` may fall back to
``queued`` when the gateway never saw the call and it is to be sent again."""


def _amount(instance: PaymentOperation, attribute: attrs.Attribute[Amount], value: Amount) -> None:
    if not isinstance(value, Amount):
        raise ValidationError("an Amount", field=attribute.name)
    if value.units < 0 or (value.units == 0 and instance.kind is not OperationKind.PAYEE):
        raise ValidationError("must be positive", field=attribute.name)


@attrs.frozen(kw_only=True)
class PaymentOperation:
    """One call to a gateway, from before it is made until its outcome is known.

    ``id`` is also the idempotency key the gateway receives, so the record and
    the gateway's object can always be matched, even when the response that
    named the object was lost.
    """

    id: str
    kind: OperationKind = attrs.field(converter=OperationKind)
    gateway: str
    subject: str
    """The order (payments, tips, refunds) or the seller (payees, payouts)."""
    amount: Amount = attrs.field(validator=_amount)
    """What the gateway is asked to move (zero for a payee)."""
    status: OperationStatus = attrs.field(converter=OperationStatus)
    created_at: datetime
    updated_at: datetime
    version: int = 0
    gateway_ref: str | None = None
    """The gateway's id for what the call made (charge, refund, payee, payout)."""
    charge_ref: str | None = None
    """For a refund: the charge it gives back from."""
    hold_id: str | None = None
    """The ledger hold behind the call: buyer credit set aside for a payment,
    or the seller's reserved withdrawal for a payout."""
    credit: Amount | None = None
    """For a payment: buyer credit spent alongside the card."""
    failure: str | None = None
    """Why it failed (a normalized decline code or a reason), or a note on
    how it was settled."""
    source: str | None = None
    """For a payment or a tip: the payment-method token charged (the
    gateway's token, never card data), so that a call whose outcome is
    unknown can be sent again with the same key, which the gateway collapses
    into the first."""
    last_error: str | None = None
    """While open: the code of the last error that kept it open (a call sent
    again that the gateway refused, a status query it could not answer)."""
    resolved_by: str | None = None
    """The operator who decided its outcome, when a person did (not the gateway)."""
    resolved_at: datetime | None = None
    resolution: str | None = None
    """Why the operator decided as they did."""

    def __attrs_post_init__(self) -> None:
        if self.credit is not None and (
            not isinstance(self.credit, Amount) or self.credit.currency != self.amount.currency
        ):
            raise ValidationError(f"credit in {self.amount.currency}", field="credit")

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES

    def advance(self, status: OperationStatus, at: datetime, **changes: object) -> PaymentOperation:
        """This operation moved to ``status`` (which must follow its own)."""
        status = OperationStatus(status)
        if status is not self.status and status not in FORWARD[self.status]:
            raise ValidationError(
                f"payment operation {self.id} cannot go from {self.status.value} to {status.value}",
                field="status",
            )
        return attrs.evolve(
            self,
            status=status,
            updated_at=at,
            version=self.version + 1,
            **changes,  # type: ignore[arg-type]
        )
