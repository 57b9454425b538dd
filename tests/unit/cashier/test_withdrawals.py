"""Withdrawals: a seller registers a bank account and pays their earnings out to it.

The money is reserved on ``seller:<id>:available`` before the gateway is
called, moves to ``payouts:in_flight`` when the gateway accepts the payout,
leaves for the world when the bank confirms it, and comes back to the seller
when the payout fails.
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING

import pytest

from gigmarket.cashier import CashierPolicy, OperationKind, OperationStatus, WithdrawalLimits
from gigmarket.errors import (
    GatewayUnavailable,
    IdempotencyConflict,
    OutcomeUnknown,
    WithdrawalRefused,
)
from gigmarket.escrow import chart
from gigmarket.gateways import Fault, Operation, PayeeStatus, PayoutStatus
from gigmarket.money import Amount
from gigmarket.orders import Order

if TYPE_CHECKING:
    from conftest import Shop, ShopFactory

S = OperationStatus
PAYOUTS_IN_FLIGHT = chart.payouts_in_flight("USD")
IN_TRANSIT_AFTER = timedelta(hours=1)
ARRIVES_AFTER = timedelta(days=2)
"""The sandbox's payout timing: in transit after an hour, at the bank two days later."""


def usd(value: str) -> Amount:
    return Amount.of(value, "USD")


def ready_to_withdraw(shop: Shop, bank_token: str = "bank_ok") -> Order:
    """The seller completed an order of 50.00, its 40.00 cleared, and registered
    a bank account; the completed order."""
    order = shop.earn("50.00")
    assert shop.onboard(bank_token).status is S.SUCCEEDED
    assert shop.available() == order.price.seller_net == usd("40.00")
    return order


def snapshot(shop: Shop) -> tuple[object, ...]:
    """Everything a withdrawal could change."""
    return (
        shop.balance(shop.available_account),
        shop.held(shop.available_account),
        shop.balance(PAYOUTS_IN_FLIGHT),
        shop.operations(shop.seller, OperationKind.PAYOUT),
        shop.payouts(),
    )


def refused(shop: Shop, amount: Amount) -> str:
    """Try a withdrawal the rules refuse; check it changed nothing; return why."""
    before = snapshot(shop)
    with pytest.raises(WithdrawalRefused) as refusal:
        shop.cashier.withdraw(shop.seller, amount)
    assert snapshot(shop) == before
    return refusal.value.reason


# -- payees -------------------------------------------------------------------


def test_a_valid_bank_account_becomes_the_sellers_active_payee(shop: Shop) -> None:
    op = shop.onboard("bank_ok")

    assert (op.id, op.kind, op.status, op.amount) == (
        f"payee:{shop.seller}:USD:1",
        OperationKind.PAYEE,
        S.SUCCEEDED,
        usd("0.00"),
    )
    assert op.gateway_ref is not None
    assert shop.gateway.get_payee(op.gateway_ref).status is PayeeStatus.ACTIVE
    assert shop.cashier.payee_of(shop.seller, "USD") == op.gateway_ref


def test_a_rejected_bank_account_fails_with_the_decline_code(shop: Shop) -> None:
    op = shop.onboard("bank_invalid")

    assert (op.status, op.failure) == (S.FAILED, "invalid_bank_account")
    assert shop.cashier.payee_of(shop.seller, "USD") is None
    assert shop.onboard("bank_ok").id == f"payee:{shop.seller}:USD:2"  # a second try


# -- refusals -----------------------------------------------------------------


def test_without_a_payee_a_withdrawal_is_refused(shop: Shop) -> None:
    shop.earn("50.00")
    shop.onboard("bank_invalid")

    assert refused(shop, usd("10.00")) == "no_payee"


def test_a_currency_without_limits_is_refused(make_shop: ShopFactory) -> None:
    usd_only = CashierPolicy(
        withdrawals={"USD": WithdrawalLimits.of("USD", minimum="5.00", maximum="5000.00")}
    )
    shop = make_shop(cashier_policy=usd_only)
    ready_to_withdraw(shop)

    assert refused(shop, Amount.of("10.00", "EUR")) == "no_limits"


@pytest.mark.parametrize(
    ("amount", "reason"),
    [
        ("4.99", "below_minimum"),
        ("5000.01", "above_maximum"),
        ("40.01", "insufficient_funds"),
    ],
)
def test_a_withdrawal_outside_the_limits_or_the_balance_is_refused(
    shop: Shop, amount: str, reason: str
) -> None:
    ready_to_withdraw(shop)

    assert refused(shop, usd(amount)) == reason
    shop.assert_books_agree()


def test_the_limits_themselves_are_allowed(shop: Shop) -> None:
    ready_to_withdraw(shop)

    minimum = shop.cashier.withdraw(shop.seller, usd("5.00"))

    assert minimum.operation.status is S.PENDING
    assert shop.available() == usd("35.00")


def test_one_withdrawal_per_day_and_another_once_the_day_is_over(shop: Shop) -> None:
    ready_to_withdraw(shop)
    shop.cashier.withdraw(shop.seller, usd("10.00"))

    assert refused(shop, usd("10.00")) == "too_many"
    shop.clock.advance(timedelta(hours=23, minutes=59))
    assert refused(shop, usd("10.00")) == "too_many"

    shop.clock.advance(timedelta(minutes=1))
    second = shop.cashier.withdraw(shop.seller, usd("10.00"))

    assert second.operation.status is S.PENDING
    assert shop.available() == usd("20.00")


def test_money_reserved_by_a_withdrawal_cannot_be_withdrawn_again(
    make_shop: ShopFactory,
) -> None:
    twice_a_day = CashierPolicy(
        withdrawals={
            "USD": WithdrawalLimits.of("USD", minimum="5.00", maximum="5000.00", per_window=2)
        }
    )
    shop = make_shop(cashier_policy=twice_a_day)
    ready_to_withdraw(shop)
    shop.cashier.withdraw(shop.seller, usd("30.00"))

    assert refused(shop, usd("10.01")) == "insufficient_funds"
    assert shop.cashier.withdraw(shop.seller, usd("10.00")).operation.status is S.PENDING
    assert shop.available() == usd("0.00")


# -- the payout's life ----------------------------------------------------------


def test_a_payout_goes_out_and_reconcile_books_its_arrival(shop: Shop) -> None:
    ready_to_withdraw(shop)

    withdrawal = shop.cashier.withdraw(shop.seller, usd("40.00"))

    op, payout = withdrawal.operation, withdrawal.payout
    assert payout is not None
    assert op.id.startswith(f"payout:{shop.seller}:")
    assert (op.status, op.amount, op.gateway_ref) == (
        S.PENDING,
        usd("40.00"),
        payout.id,
    )
    assert (payout.status, payout.amount) == (PayoutStatus.PENDING, usd("40.00"))
    assert shop.balance(shop.available_account) == usd("0.00")
    assert shop.held(shop.available_account) == usd("0.00")
    assert shop.balance(PAYOUTS_IN_FLIGHT) == usd("40.00")
    shop.assert_books_agree()

    shop.clock.advance(IN_TRANSIT_AFTER)
    assert shop.cashier.reconcile().waiting == (op.id,)  # in transit: still on its way
    shop.clock.advance(ARRIVES_AFTER)
    report = shop.cashier.reconcile()

    assert [(f.operation_id, f.before, f.after) for f in report.fixed] == [
        (op.id, "pending", "succeeded")
    ]
    assert shop.gateway.get_payout(payout.id).status is PayoutStatus.PAID
    assert shop.balance(PAYOUTS_IN_FLIGHT) == usd("0.00")
    # 55.75 came in for the order; 40.00 went out to the seller's bank.
    assert shop.balance(shop.gateway_account) == usd("-15.75")
    shop.assert_books_agree()


def test_webhooks_book_a_payouts_arrival(shop: Shop) -> None:
    ready_to_withdraw(shop)
    shop.deliver_webhooks()  # the order's and the payee's: nothing to do
    withdrawal = shop.cashier.withdraw(shop.seller, usd("40.00"))

    shop.clock.advance(IN_TRANSIT_AFTER + ARRIVES_AFTER)
    outcomes = shop.deliver_webhooks()

    assert [o.event.type for o in outcomes] == [
        "payout.pending",
        "payout.in_transit",
        "payout.paid",
    ]
    assert [o.operations[0].status for o in outcomes] == [S.SUCCEEDED] * 3  # the truth, queried
    assert shop.cashier.operation(withdrawal.operation.id).status is S.SUCCEEDED
    assert shop.balance(PAYOUTS_IN_FLIGHT) == usd("0.00")
    assert shop.cashier.reconcile().checked == 0
    shop.assert_books_agree()


def test_a_payout_the_bank_returns_gives_the_money_back_to_the_seller(shop: Shop) -> None:
    ready_to_withdraw(shop, bank_token="bank_fails")
    withdrawal = shop.cashier.withdraw(shop.seller, usd("40.00"))
    assert shop.balance(PAYOUTS_IN_FLIGHT) == usd("40.00")

    shop.clock.advance(IN_TRANSIT_AFTER + ARRIVES_AFTER)
    report = shop.cashier.reconcile()

    assert [(f.before, f.after, f.note) for f in report.fixed] == [
        ("pending", "failed", "bank_account_closed")
    ]
    assert withdrawal.payout is not None
    assert shop.gateway.get_payout(withdrawal.payout.id).status is PayoutStatus.FAILED
    assert shop.available() == usd("40.00")
    assert shop.balance(PAYOUTS_IN_FLIGHT) == usd("0.00")
    assert shop.balance(shop.gateway_account) == usd("-55.75")  # nothing left the platform
    shop.assert_books_agree()
    # A failed withdrawal does not count against the daily limit.
    assert shop.cashier.withdraw(shop.seller, usd("40.00")).operation.status is S.PENDING


def test_an_unreachable_gateway_releases_the_reserved_money(shop: Shop) -> None:
    ready_to_withdraw(shop)
    shop.gateway.faults.on(Operation.PAYOUT, Fault.unavailable())

    with pytest.raises(GatewayUnavailable):
        shop.cashier.withdraw(shop.seller, usd("40.00"))

    [failed] = shop.operations(shop.seller, OperationKind.PAYOUT)
    assert (failed.status, failed.failure) == (S.FAILED, "gateway_unavailable")
    assert shop.payouts() == []
    assert shop.available() == usd("40.00")
    assert shop.held(shop.available_account) == usd("0.00")
    shop.assert_books_agree()


def test_a_replayed_withdrawal_returns_the_first_without_paying_twice(shop: Shop) -> None:
    ready_to_withdraw(shop)
    first = shop.cashier.withdraw(shop.seller, usd("25.00"), idempotency_key="w-7")

    replay = shop.cashier.withdraw(shop.seller, usd("25.00"), idempotency_key="w-7")

    assert replay.operation.id == first.operation.id
    assert replay.operation.status is S.PENDING
    assert replay.payout is None  # reported, not paid again
    assert len(shop.payouts()) == 1
    assert shop.available() == usd("15.00")
    with pytest.raises(IdempotencyConflict) as conflict:
        shop.cashier.withdraw(shop.seller, usd("26.00"), idempotency_key="w-7")
    assert (conflict.value.key, conflict.value.scope) == ("w-7", f"host:withdraw:{shop.seller}")
    assert len(shop.payouts()) == 1
    shop.assert_books_agree()


def test_a_payout_whose_answer_was_lost_is_settled_once_by_reconcile(shop: Shop) -> None:
    ready_to_withdraw(shop)
    shop.gateway.faults.on(Operation.PAYOUT, Fault.lose_response())

    with pytest.raises(OutcomeUnknown):
        shop.cashier.withdraw(shop.seller, usd("40.00"))

    [lost] = shop.operations(shop.seller, OperationKind.PAYOUT)
    assert (lost.status, lost.gateway_ref) == (S.UNKNOWN, None)
    assert shop.held(shop.available_account) == usd("40.00")  # reserved, not yet sent
    assert len(shop.payouts()) == 1  # but the gateway took it

    report = shop.cashier.reconcile()

    assert [(f.before, f.after) for f in report.fixed] == [("unknown", "pending")]
    assert shop.held(shop.available_account) == usd("0.00")
    assert shop.balance(PAYOUTS_IN_FLIGHT) == usd("40.00")
    shop.assert_books_agree()

    shop.clock.advance(IN_TRANSIT_AFTER + ARRIVES_AFTER)
    shop.cashier.reconcile()

    assert shop.cashier.operation(lost.id).status is S.SUCCEEDED
    assert [p.status for p in shop.payouts()] == [PayoutStatus.PAID]
    assert shop.balance(PAYOUTS_IN_FLIGHT) == usd("0.00")
    assert shop.balance(shop.gateway_account) == usd("-15.75")
    shop.assert_books_agree()


def test_a_seller_in_debt_cannot_withdraw_and_a_returned_payout_repays_the_debt(
    shop: Shop,
) -> None:
    """While a seller owes the platform nothing leaves; money that comes back
    to them (here a payout the bank returned after a claw-back) repays the
    debt before it is theirs to spend."""
    order = ready_to_withdraw(shop, bank_token="bank_fails")
    shop.cashier.withdraw(shop.seller, usd("40.00"))  # sent: 40.00 in flight
    shop.orders.refund_completed(order.id, usd("55.75"), reason="chargeback lost")
    assert shop.balance(chart.seller_debt(shop.seller, "USD")) == usd("-40.00")
    [refund] = shop.cashier.send_refunds()
    assert (refund.status, refund.amount) == (S.SUCCEEDED, usd("55.75"))

    shop.clock.advance(timedelta(hours=25))  # past the one-a-day limit, still in transit
    assert refused(shop, usd("5.00")) == "in_debt"

    shop.clock.advance(IN_TRANSIT_AFTER + ARRIVES_AFTER)
    shop.cashier.reconcile()  # the bank returns the payout

    assert shop.available() == usd("0.00")
    assert shop.balance(chart.seller_debt(shop.seller, "USD")) == usd("0.00")
    assert shop.balance(chart.payouts_in_flight("USD")) == usd("0.00")
    shop.assert_books_agree()
