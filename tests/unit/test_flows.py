"""The escrow flows, told as the seed story with exact amounts."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from gigmarket.admin.demo import run_demo
from gigmarket.clock import ManualClock
from gigmarket.errors import InsufficientFunds, ValidationError
from gigmarket.escrow import chart
from gigmarket.escrow.audit import audit_ledger
from gigmarket.escrow.flows import EscrowFlows
from gigmarket.escrow.ledger import Ledger
from gigmarket.escrow.model import HoldStatus
from gigmarket.money import Amount
from gigmarket.storage.memory.store import MemoryStorage


def usd(value: str) -> Amount:
    return Amount.of(value, "USD")


@pytest.fixture
def storage() -> MemoryStorage:
    return MemoryStorage()


@pytest.fixture
def ledger(storage: MemoryStorage) -> Ledger:
    return Ledger(storage, clock=ManualClock(datetime(2026, 5, 1, tzinfo=UTC)))


def balance(ledger: Ledger, code: str) -> Amount:
    return ledger.balance(code).available


def test_fund_release_clear_withdraw(ledger: Ledger, storage: MemoryStorage) -> None:
    with ledger.transaction() as tx:
        EscrowFlows(tx).fund("7", usd("55.75"), gateway="card")
    assert balance(ledger, chart.order_escrow("7")) == usd("55.75")
    assert balance(ledger, chart.gateway("card", "USD")) == usd("-55.75")

    with ledger.transaction() as tx:
        EscrowFlows(tx).release(
            "7", seller_id="s", seller_net=usd("40.00"), platform_fees=usd("15.75")
        )
    assert balance(ledger, chart.order_escrow("7")) == usd("0.00")
    assert balance(ledger, chart.seller_pending("s", "USD")) == usd("40.00")
    assert balance(ledger, chart.platform_revenue("USD")) == usd("15.75")

    with ledger.transaction() as tx:
        EscrowFlows(tx).clear("s", usd("40.00"))
        hold = EscrowFlows(tx).request_withdrawal("s", usd("40.00"))
    assert ledger.balance(chart.seller_available("s", "USD")).held == usd("40.00")
    with pytest.raises(InsufficientFunds), ledger.transaction() as tx:
        EscrowFlows(tx).request_withdrawal("s", usd("0.01"))

    with ledger.transaction() as tx:
        flows = EscrowFlows(tx)
        with pytest.raises(ValidationError):
            flows.payout_paid(hold.id, gateway="card")
        flows.payout_sent(hold.id)
        flows.payout_paid(hold.id, gateway="card")
    assert balance(ledger, chart.seller_available("s", "USD")) == usd("0.00")
    assert balance(ledger, chart.payouts_in_flight("USD")) == usd("0.00")
    assert balance(ledger, chart.gateway("card", "USD")) == usd("-15.75")
    assert [e.id for e in ledger.entries_with_reference("order:7")] == [
        e.id for e in ledger.entries(chart.order_escrow("7"))
    ]
    with storage() as uow:
        assert audit_ledger(uow.ledger).ok


def test_a_cancelled_withdrawal_makes_the_money_available_again(ledger: Ledger) -> None:
    with ledger.transaction() as tx:
        flows = EscrowFlows(tx)
        flows.fund("8", usd("10.00"), gateway="card")
        release = flows.release("8", seller_id="s", seller_net=usd("10.00"), platform_fees=usd("0"))
        assert len(release.postings) == 2  # no zero posting to the platform
        flows.clear("s", usd("10.00"))
        hold = flows.request_withdrawal("s", usd("10.00"))
        assert flows.withdrawal_cancelled(hold.id).status is HoldStatus.VOIDED
    assert balance(ledger, chart.seller_available("s", "USD")) == usd("10.00")


def test_a_dispute_split_settles_to_both_sides(ledger: Ledger) -> None:
    with ledger.transaction() as tx:
        flows = EscrowFlows(tx)
        flows.fund("9", usd("55.75"), gateway="card")
        flows.settle(
            "9",
            {
                chart.buyer_credit("b", "USD"): usd("16.73"),
                chart.seller_pending("s", "USD"): usd("39.02"),
            },
        )
    assert balance(ledger, chart.order_escrow("9")) == usd("0.00")


def test_a_settlement_cannot_take_more_than_escrow_holds(ledger: Ledger) -> None:
    with ledger.transaction() as tx:
        EscrowFlows(tx).fund("10", usd("5.00"), gateway="card")
    with pytest.raises(InsufficientFunds), ledger.transaction() as tx:
        EscrowFlows(tx).settle("10", {chart.seller_pending("s", "USD"): usd("5.01")})
    with pytest.raises(ValidationError), ledger.transaction() as tx:
        EscrowFlows(tx).settle("10", {})


@pytest.mark.parametrize(
    ("currency", "charged", "platform"),
    [("USD", "55.75", "15.75"), ("BDT", "5575.00", "1575.00")],
)
def test_the_demo_ends_with_the_golden_balances(
    currency: str, charged: str, platform: str, tmp_path: Path
) -> None:
    out = io.StringIO()
    result = run_demo(out, currency=currency, db=tmp_path / "demo.db")
    assert result.breakdown.total_charged == Amount.of(charged, currency)
    assert result.balances["platform revenue"] == Amount.of(platform, currency)
    assert result.balances["payment gateway (world)"] == -Amount.of(platform, currency)
    for label in ("order escrow", "Nadia: pending", "Nadia: available"):
        assert result.balances[label] == Amount.zero(currency)
    assert result.available_at - result.delivered_at >= timedelta(days=17)
    assert result.available_at - result.delivered_at < timedelta(days=18)
    assert "withdraws" in out.getvalue()
    assert (tmp_path / "demo.db").exists()


def test_the_demo_refuses_an_existing_database(tmp_path: Path) -> None:
    existing = tmp_path / "old.db"
    existing.write_bytes(b"")
    with pytest.raises(ValidationError) as refused:
        run_demo(io.StringIO(), db=existing)
    assert refused.value.field == "db"


def test_a_payout_confirmed_twice_moves_the_money_once(ledger: Ledger) -> None:
    """A duplicated confirmation must not take another seller's money in flight."""
    with ledger.transaction() as tx:
        flows = EscrowFlows(tx)
        for order, seller in (("20", "alice"), ("21", "bob")):
            flows.fund(order, usd("40.00"), gateway="card")
            flows.release(order, seller_id=seller, seller_net=usd("40.00"), platform_fees=usd("0"))
            flows.clear(seller, usd("40.00"))
        alice = flows.request_withdrawal("alice", usd("40.00"))
        bob = flows.request_withdrawal("bob", usd("40.00"))
        flows.payout_sent(alice.id)
        flows.payout_sent(bob.id)
        first = flows.payout_paid(alice.id, gateway="card")
    with ledger.transaction() as tx:
        assert EscrowFlows(tx).payout_paid(alice.id, gateway="card") == first
    assert balance(ledger, chart.payouts_in_flight("USD")) == usd("40.00")  # bob's, untouched
    with ledger.transaction() as tx:
        EscrowFlows(tx).payout_paid(bob.id, gateway="card")
    assert balance(ledger, chart.payouts_in_flight("USD")) == usd("0.00")
