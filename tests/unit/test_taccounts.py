"""T-accounts: the ledger's postings on the textbook's debit and credit sides."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from gigmarket.clock import ManualClock
from gigmarket.escrow import chart
from gigmarket.escrow.flows import EscrowFlows
from gigmarket.escrow.ledger import Ledger
from gigmarket.escrow.model import Hold, HoldStatus, JournalEntry, LedgerAccount, Posting
from gigmarket.escrow.taccounts import (
    BENGALI,
    ENGLISH,
    TAccount,
    build_t_accounts,
    render_t_account,
    render_trial_balance,
    t_accounts,
)
from gigmarket.money import Amount
from gigmarket.storage.memory.store import MemoryStorage

START = datetime(2026, 11, 2, 10, 0, tzinfo=UTC)


def the_story(currency: str = "USD") -> Ledger:
    """Fund, release, clear and withdraw one order, leaving the payout in flight."""
    clock = ManualClock(START)
    ledger = Ledger(MemoryStorage(), clock=clock)
    big = currency == "BDT"
    charged, net, fees = ("5575.00", "4000.00", "1575.00") if big else ("55.75", "40.00", "15.75")
    with ledger.transaction() as tx:
        EscrowFlows(tx).fund("1001", Amount.of(charged, currency), gateway="sandbox")
    clock.advance(timedelta(days=5))
    with ledger.transaction() as tx:
        EscrowFlows(tx).release(
            "1001",
            seller_id="nadia",
            seller_net=Amount.of(net, currency),
            platform_fees=Amount.of(fees, currency),
        )
    clock.advance(timedelta(days=14))
    with ledger.transaction() as tx:
        EscrowFlows(tx).clear("nadia", Amount.of(net, currency))
        EscrowFlows(tx).request_withdrawal("nadia", Amount.of(net, currency))
    return ledger


def by_code(accounts: list[TAccount]) -> dict[str, TAccount]:
    return {account.code: account for account in accounts}


def test_every_balance_equals_the_ledgers() -> None:
    ledger = the_story()
    accounts = t_accounts(ledger)
    assert accounts
    for account in accounts:
        assert account.balance == ledger.balance(account.code).posted


def test_cash_in_is_a_debit_and_what_the_platform_owes_is_a_credit() -> None:
    accounts = by_code(t_accounts(the_story()))
    gateway = accounts[chart.gateway("sandbox", "USD")]
    escrow = accounts[chart.order_escrow("1001")]
    revenue = accounts[chart.platform_revenue("USD")]
    # The card's 55.75 arriving at the gateway is written on the debit side,
    # as a textbook writes cash received; the escrow that now owes it, on the credit side.
    assert [str(line.amount) for line in gateway.debits] == ["55.75 USD"]
    assert gateway.credits == ()
    assert (gateway.side, str(gateway.closing)) == ("Dr", "55.75 USD")
    assert [str(line.amount) for line in escrow.credits] == ["55.75 USD"]
    assert [str(line.amount) for line in escrow.debits] == ["55.75 USD"]
    assert escrow.side is None
    assert (revenue.side, str(revenue.closing)) == ("Cr", "15.75 USD")


def test_lines_name_their_entry_and_the_other_side() -> None:
    accounts = by_code(t_accounts(the_story()))
    (funded,) = accounts[chart.gateway("sandbox", "USD")].debits
    assert funded.number == 1
    assert funded.counterparts == (chart.order_escrow("1001"),)
    (released,) = accounts[chart.order_escrow("1001")].debits
    assert released.number == 2
    assert set(released.counterparts) == {
        chart.seller_pending("nadia", "USD"),
        chart.platform_revenue("USD"),
    }


def test_accounts_come_in_story_order_and_only_limits_them() -> None:
    ledger = the_story()
    codes = [account.code for account in t_accounts(ledger)]
    assert codes[0] == chart.gateway("sandbox", "USD")
    assert codes[1] == chart.order_escrow("1001")
    assert codes[-1] == chart.platform_revenue("USD")
    wanted = [chart.platform_revenue("USD"), chart.order_escrow("1001")]
    assert [account.code for account in t_accounts(ledger, wanted)] == wanted


def test_pending_holds_are_reported_not_posted() -> None:
    accounts = by_code(t_accounts(the_story()))
    available = accounts[chart.seller_available("nadia", "USD")]
    assert str(available.held) == "40.00 USD"
    assert str(available.balance) == "40.00 USD"


def test_empty_accounts_only_when_asked() -> None:
    ledger = the_story()
    ledger.open_account(chart.buyer_credit("rahim", "USD"), "USD")
    assert chart.buyer_credit("rahim", "USD") not in by_code(t_accounts(ledger))
    empty = by_code(t_accounts(ledger, include_empty=True))[chart.buyer_credit("rahim", "USD")]
    assert (empty.debits, empty.credits, empty.side) == ((), (), None)


def test_the_trial_balance_balances() -> None:
    table = render_trial_balance(t_accounts(the_story()))
    assert table.splitlines()[0] == "| Account | Dr. (USD) | Cr. (USD) |"
    assert table.splitlines()[-1] == "| **Total** | **55.75** | **55.75** |"


def test_a_trial_balance_is_drawn_in_one_currency() -> None:
    accounts = t_accounts(the_story()) + t_accounts(the_story("BDT"))
    with pytest.raises(ValueError, match="one currency"):
        render_trial_balance(accounts)


def test_a_t_account_is_balanced_the_textbook_way() -> None:
    revenue = by_code(t_accounts(the_story()))[chart.platform_revenue("USD")]
    assert render_t_account(revenue, names={"1001": "#1001"}).splitlines() == [
        "**Dr.** &emsp; **Platform revenue A/c** &emsp; **Cr.**",
        "",
        "| Date | Particulars | J.F. | Amount (USD) | Date | Particulars | J.F. | Amount (USD) |",
        "|---|---|---:|---:|---|---|---:|---:|",
        "| | | | | 7 Nov | By Escrow of order #1001 A/c | 2 | 15.75 |",
        "| | Balance c/d | | 15.75 | | | | |",
        "| | **Total** | | **15.75** | | **Total** | | **15.75** |",
        "| | | | | | Balance b/d | | 15.75 |",
    ]


def test_bengali_labels_digits_and_lakh_grouping() -> None:
    gateway = by_code(t_accounts(the_story("BDT")))[chart.gateway("sandbox", "BDT")]
    lines = render_t_account(gateway, BENGALI).splitlines()
    assert lines[0] == ("**ডেবিট (Dr.)** &emsp; **নগদান হিসাব (sandbox)** &emsp; **ক্রেডিট (Cr.)**")
    assert lines[2] == "| তারিখ | বিবরণ | জাঃ পৃঃ | টাকা | তারিখ | বিবরণ | জাঃ পৃঃ | টাকা |"
    assert lines[4] == "| ২ নভেম্বর | অর্ডার 1001-এর এসক্রো হিসাব | ১ | ৫,৫৭৫.০০ | | | | |"
    # A debit balance is carried down on the credit side and brought down on the debit side.
    assert lines[5] == "| | | | | | উদ্বৃত্ত নি/নি | | ৫,৫৭৫.০০ |"
    assert lines[-1] == "| | উদ্বৃত্ত নি/আ | | ৫,৫৭৫.০০ | | | | |"
    assert BENGALI.number(Amount.of("1234567.5", "BDT")) == "১২,৩৪,৫৬৭.৫০"
    assert ENGLISH.number(Amount.of("1234567.5", "BDT")) == "1,234,567.50"
    assert ENGLISH.number(Amount.of("-1234", "JPY")) == "1,234"
    assert BENGALI.number(Amount.of("0.005", "KWD")) == "০.০০৫"


def test_labels_can_be_changed_and_unknown_codes_are_shown_as_they_are() -> None:
    plain = attrs.evolve(ENGLISH, debit="Debit", credit="Credit")
    assert plain.title("suspense:1") == "suspense:1"
    assert plain.title("seller:s1:debt:USD", {"s1": "Nadia"}) == "Nadia: debt A/c"
    assert BENGALI.title("seller:s1:available:BDT", {"s1": "নাদিয়া"}) == ("নাদিয়া: উত্তোলনযোগ্য আয় হিসাব")


@given(st.lists(st.integers(min_value=-(10**9), max_value=10**9), min_size=1, max_size=8))
def test_debits_and_credits_add_up_to_the_postings(amounts: list[int]) -> None:
    accounts = [LedgerAccount(code=f"a{i}", currency="USD") for i in range(len(amounts))]
    accounts.append(LedgerAccount(code="gateway:g:USD", currency="USD", allow_negative=True))
    entries = [
        JournalEntry(
            id=f"e{i}",
            created_at=START,
            postings=(
                Posting(f"a{i}", Amount(units=units, currency="USD")),
                Posting("gateway:g:USD", Amount(units=-units, currency="USD")),
            ),
        )
        for i, units in enumerate(amounts)
    ]
    built = build_t_accounts(accounts, entries, include_empty=True)
    debits = sum(account.debit_total.units for account in built)
    credits = sum(account.credit_total.units for account in built)
    assert debits == credits
    for account in built:
        expected = sum(e.amount_for(account.code) for e in entries)
        assert account.balance.units == expected
        assert all(line.amount.units >= 0 for line in account.debits + account.credits)


def test_every_kind_of_account_has_a_title() -> None:
    assert ENGLISH.title("buyer:b1:credit:USD", {"b1": "Rahim"}) == "Rahim: buyer credit A/c"
    assert BENGALI.title("buyer:b1:credit:BDT", {"b1": "রহিম"}) == "রহিম: ক্রেতার জমা হিসাব"
    assert ENGLISH.title("refunds:in_flight:USD") == "Refunds in flight A/c"
    assert BENGALI.title("refunds:in_flight:BDT") == "পথে থাকা রিফান্ড হিসাব"
    assert BENGALI.title("payouts:in_flight:BDT") == "পথে থাকা পেআউট হিসাব"


def test_only_pending_holds_count_as_held() -> None:
    account = LedgerAccount(code="seller:s:available:USD", currency="USD")
    usd = Amount.of("5.00", "USD")
    holds = [
        Hold(id="h1", source=account.code, destination="x", amount=usd, created_at=START),
        Hold(
            id="h2",
            source=account.code,
            destination="x",
            amount=usd,
            created_at=START,
            status=HoldStatus.VOIDED,
        ),
    ]
    (built,) = build_t_accounts([account], [], holds, include_empty=True)
    assert str(built.held) == "5.00 USD"
