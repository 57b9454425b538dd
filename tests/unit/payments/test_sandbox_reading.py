"""What a test or a teacher reads back from the sandbox through its public
surface: the objects it made (read-only snapshots), the optional listing port
(:class:`~gigmarket.gateways.protocols.ListsActivity`), and a fault plan that
can be cleared."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from gigmarket.clock import ManualClock
from gigmarket.errors import GatewayUnavailable
from gigmarket.gateways import SandboxGateway
from gigmarket.gateways.faults import Fault, FaultPlan
from gigmarket.gateways.protocols import (
    Capabilities,
    Capability,
    CollectionGateway,
    ListsActivity,
    Operation,
)
from gigmarket.gateways.results import ChargeStatus, PayoutStatus
from gigmarket.money import Amount

START = datetime(2026, 2, 1, 9, 0, tzinfo=UTC)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(START)


@pytest.fixture
def sandbox(clock: ManualClock) -> SandboxGateway:
    return SandboxGateway(api_key="sk_sandbox_read", webhook_secret="whsec_read", clock=clock)


def usd(text: str) -> Amount:
    return Amount.of(text, "USD")


def test_the_sandbox_declares_and_serves_the_listing_port(sandbox: SandboxGateway) -> None:
    assert isinstance(sandbox, ListsActivity)
    assert sandbox.capabilities.supports(Capability.LIST_ACTIVITY)
    assert not Capabilities(currencies={"USD"}).supports(Capability.LIST_ACTIVITY)
    assert not Operation.LIST_CHARGES.mutating


def test_a_collection_gateway_need_not_list() -> None:
    class Minimal:
        name = "minimal"

    assert not isinstance(Minimal(), ListsActivity)
    assert not isinstance(Minimal(), CollectionGateway)


def test_what_the_sandbox_made_is_read_back_oldest_first(
    sandbox: SandboxGateway, clock: ManualClock
) -> None:
    assert (sandbox.charges, sandbox.refunds, sandbox.payees, sandbox.payouts) == ((), (), (), ())
    first = sandbox.charge(amount=usd("55.75"), source="tok_visa", idempotency_key="k1")
    clock.advance(timedelta(hours=1))
    declined = sandbox.charge(
        amount=usd("10.00"), source="tok_decline_card_declined", idempotency_key="k2"
    )
    refund = sandbox.refund(first.id, idempotency_key="r1", amount=usd("5.75"))
    payee = sandbox.onboard_payee(
        reference="nadia", currency="USD", bank_token="bank_ok", idempotency_key="p1"
    )
    payout = sandbox.payout(payee_id=payee.id, amount=usd("40.00"), idempotency_key="o1")

    assert [c.id for c in sandbox.charges] == [first.id, declined.id]
    assert sandbox.charges[0].refunded == usd("5.75")  # as it stands now
    assert sandbox.charges[1].status is ChargeStatus.FAILED
    assert sandbox.refunds == (refund,)
    assert sandbox.payees == (payee,)
    assert sandbox.payouts == (payout,)
    snapshot = sandbox.payouts
    clock.advance(timedelta(days=3))
    sandbox.settle_pending()
    assert snapshot[0].status is PayoutStatus.PENDING  # a snapshot, not a live view
    assert sandbox.payouts[0].status is PayoutStatus.PAID

    assert sandbox.list_charges() == sandbox.charges
    assert [c.id for c in sandbox.list_charges(since=START + timedelta(minutes=30))] == [
        declined.id
    ]
    assert sandbox.list_refunds(since=START) == (refund,)
    assert sandbox.list_refunds(since=START + timedelta(days=1)) == ()
    assert sandbox.list_payouts() == sandbox.payouts


def test_a_listing_can_fail_like_any_read(sandbox: SandboxGateway) -> None:
    sandbox.faults.on(Operation.LIST_PAYOUTS, Fault.unavailable())
    with pytest.raises(GatewayUnavailable) as caught:
        sandbox.list_payouts()
    assert caught.value.operation == "list_payouts"
    assert sandbox.list_payouts() == ()


def test_a_fault_plan_can_be_cleared(sandbox: SandboxGateway) -> None:
    plan = sandbox.faults
    plan.on(Operation.CHARGE, Fault.unavailable(), Fault.lose_response())
    plan.on_webhook(Fault.duplicate())
    assert plan.pending() == 3
    assert plan.clear() is plan
    assert plan.pending() == 0
    charge = sandbox.charge(amount=usd("5.00"), source="tok_visa", idempotency_key="after")
    assert charge.status is ChargeStatus.CAPTURED
    assert FaultPlan().clear().pending() == 0
