"""The rules a withdrawal must pass before any money is reserved.

Checked in the unit of work that then reserves the money, so that two
withdrawals racing for one balance, or for one day's allowance, cannot both
pass: the second sees the first's operation and hold.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta

import attrs

from gigmarket._kernel.runner import Command
from gigmarket.cashier.model import OperationKind, OperationStatus
from gigmarket.cashier.policy import WithdrawalLimits
from gigmarket.cashier.ports import CashierUnitOfWork
from gigmarket.errors import WithdrawalRefused
from gigmarket.escrow import chart
from gigmarket.escrow.ledger import LedgerTransaction
from gigmarket.money import Amount

__all__ = ["check_withdrawal", "payee_of", "withdrawal_fingerprint"]

S = OperationStatus


def check_withdrawal(
    uow: CashierUnitOfWork,
    ledger: LedgerTransaction,
    *,
    withdrawals: Mapping[str, WithdrawalLimits],
    seller_id: str,
    value: Amount,
    now: datetime,
) -> str:
    """The payee to pay ``value`` to, or :class:`~gigmarket.errors.WithdrawalRefused`
    saying why not: limits, the window's allowance, debt, no bank account,
    not enough available."""
    limits = withdrawals.get(value.currency)
    if limits is None:
        raise WithdrawalRefused(
            f"no withdrawal limits are set for {value.currency}",
            seller_id=seller_id,
            reason="no_limits",
        )
    if value < limits.minimum:
        raise WithdrawalRefused(
            f"the minimum is {limits.minimum}", seller_id=seller_id, reason="below_minimum"
        )
    if value > limits.maximum:
        raise WithdrawalRefused(
            f"the maximum is {limits.maximum}", seller_id=seller_id, reason="above_maximum"
        )
    since = now - limits.window
    recent = [
        op
        for op in uow.payments.operations_for(seller_id, OperationKind.PAYOUT)
        if op.created_at > since
        and op.status is not S.FAILED
        and op.amount.currency == value.currency
    ]
    if len(recent) >= limits.per_window:
        raise WithdrawalRefused(
            f"{_count(limits.per_window, 'withdrawal')} per {_duration(limits.window)} "
            "already made",
            seller_id=seller_id,
            reason="too_many",
        )
    owed = ledger.balance_or_zero(chart.seller_debt(seller_id, value.currency), value.currency)
    if owed.posted.units < 0:
        raise WithdrawalRefused(
            f"{-owed.posted} is owed to the marketplace; it is repaid from the next earnings",
            seller_id=seller_id,
            reason="in_debt",
        )
    payee_id = payee_of(uow, seller_id, value.currency)
    if payee_id is None:
        raise WithdrawalRefused(
            f"no bank account is set up for {value.currency}",
            seller_id=seller_id,
            reason="no_payee",
        )
    code = chart.seller_available(seller_id, value.currency)
    available = ledger.balance_or_zero(code, value.currency).available
    if value > available:
        raise WithdrawalRefused(
            f"only {available} is available", seller_id=seller_id, reason="insufficient_funds"
        )
    return payee_id


def withdrawal_fingerprint(value: Amount) -> str:
    """What a keyed withdrawal's key is checked against: its amount.

    Plain text rather than a digest, so that the schema migration that moved
    withdrawal keys into the idempotency table could write it in SQL.
    """
    return f"amount:{value.units} {value.currency}"


def payee_of(uow: CashierUnitOfWork, seller_id: str, currency: str) -> str | None:
    """The gateway's id of the seller's latest active payee in ``currency``."""
    active = [
        op.gateway_ref
        for op in uow.payments.operations_for(seller_id, OperationKind.PAYEE)
        if op.status is S.SUCCEEDED and op.amount.currency == currency
    ]
    return active[-1] if active else None


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def _duration(delta: timedelta) -> str:
    """``24 hours``, ``7 days``, ``90 minutes``: a window as an operator says it."""
    seconds = int(delta.total_seconds())
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds % size == 0 and seconds >= size and not (unit == "day" and seconds < 2 * size):
            return _count(seconds // size, unit)
    return _count(seconds, "second")


@attrs.frozen(kw_only=True)
class Withdraw(Command):
    """Pay ``amount`` of a seller's available earnings out (a host's key is
    scoped to the seller)."""

    OPERATION = "withdraw"
    PARTY = "seller_id"

    seller_id: str
    amount: Amount

    def fingerprint(self) -> str:
        return withdrawal_fingerprint(self.amount)

    def payload(self) -> object:
        return {"amount": [self.amount.units, self.amount.currency]}
