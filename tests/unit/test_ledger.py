"""The ledger's public behaviour, on the in-memory store."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from gigmarket.clock import ManualClock
from gigmarket.errors import (
    AccountConflict,
    AccountNotFound,
    AlreadyReversed,
    AmountOutOfRange,
    CurrencyMismatch,
    EntryNotFound,
    GigmarketError,
    HoldAlreadyResolved,
    HoldExceeded,
    HoldNotFound,
    IdempotencyConflict,
    InsufficientFunds,
    InvalidAmount,
    LedgerError,
    PrecisionError,
    UnbalancedEntry,
    UnknownCurrency,
    ValidationError,
)
from gigmarket.escrow.audit import audit_ledger
from gigmarket.escrow.ledger import MAX_BALANCE, Ledger
from gigmarket.escrow.model import HoldStatus, Posting
from gigmarket.ids import sequential_ids
from gigmarket.money import Amount, Money
from gigmarket.storage.memory.store import MemoryStorage

START = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


def usd(value: str) -> Amount:
    return Amount.of(value, "USD")


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(START)


@pytest.fixture
def storage() -> MemoryStorage:
    return MemoryStorage()


@pytest.fixture
def ledger(storage: MemoryStorage, clock: ManualClock) -> Ledger:
    ledger = Ledger(storage, clock=clock, ids=sequential_ids("e"))
    ledger.open_account("world", "USD", allow_negative=True)
    ledger.open_account("alice", "USD")
    ledger.open_account("bob", "USD")
    ledger.open_account("yen", "JPY")
    ledger.open_account("yen-world", "JPY", allow_negative=True)
    ledger.transfer("world", "alice", usd("100.00"))
    return ledger


def snapshot(storage: MemoryStorage) -> tuple[object, ...]:
    with storage() as uow:
        codes = [account.code for account in uow.ledger.accounts()]
        return (
            tuple(uow.ledger.accounts()),
            tuple(sorted(uow.ledger.lock_balances(codes).items())),
            tuple(uow.ledger.iter_entries()),
            tuple(uow.ledger.pending_holds()),
        )


# -- accounts ---------------------------------------------------------------


def test_open_account_is_idempotent_with_the_same_settings(ledger: Ledger) -> None:
    first = ledger.account("alice")
    assert ledger.open_account("alice", "usd") == first


@pytest.mark.parametrize(
    ("currency", "allow_negative"), [("EUR", False), ("USD", True)], ids=["currency", "sign"]
)
def test_reopening_an_account_with_other_settings_is_refused(
    ledger: Ledger, currency: str, allow_negative: bool
) -> None:
    with pytest.raises(AccountConflict) as raised:
        ledger.open_account("alice", currency, allow_negative=allow_negative)
    assert raised.value.account == "alice"


def test_a_new_account_is_empty(ledger: Ledger) -> None:
    ledger.open_account("carol", "KWD")
    balance = ledger.balance("carol")
    assert balance.posted == balance.held == balance.available == Amount.zero("KWD")


# -- entries ----------------------------------------------------------------


def test_transfer_moves_money_and_records_one_entry(ledger: Ledger, clock: ManualClock) -> None:
    clock.advance(timedelta(hours=1))
    entry = ledger.transfer(
        "alice", "bob", usd("30.25"), memo="lunch", references=["order:1", "buyer:a"]
    )
    assert ledger.balance("alice").posted == usd("69.75")
    assert ledger.balance("bob").posted == usd("30.25")
    assert entry.postings == (Posting("alice", usd("-30.25")), Posting("bob", usd("30.25")))
    assert entry.created_at == START + timedelta(hours=1)
    assert entry.memo == "lunch"
    assert entry.amount_for("bob") == 3025
    assert ledger.entries_with_reference("order:1") == [entry]
    assert ledger.entries("bob") == [entry]
    assert ledger.entry(entry.id) == entry


def test_a_multi_leg_entry_moves_money_in_one_step(ledger: Ledger) -> None:
    ledger.open_account("fees", "USD")
    entry = ledger.post(
        [("alice", Money("-55.75", "USD")), ("bob", usd("40.00")), ("fees", usd("15.75"))]
    )
    assert [p.amount for p in entry.postings] == [usd("-55.75"), usd("40.00"), usd("15.75")]
    assert ledger.balance("fees").available.to_money() == Money("15.75", "USD")
    assert entry.postings[0].money == Money("-55.75", "USD")


def test_an_entry_may_span_currencies_if_each_balances(ledger: Ledger) -> None:
    ledger.open_account("yen-2", "JPY")
    ledger.transfer("yen-world", "yen", Amount.of(1000, "JPY"))
    entry = ledger.post(
        [
            ("alice", usd("-1.00")),
            ("bob", usd("1.00")),
            ("yen", Amount.of(-150, "JPY")),
            ("yen-2", Amount.of(150, "JPY")),
        ]
    )
    assert len(entry.postings) == 4
    assert ledger.balance("yen-2").posted == Amount.of(150, "JPY")


def test_accounts_that_may_go_negative_do(ledger: Ledger) -> None:
    assert ledger.balance("world").posted == usd("-100.00")


# -- holds ------------------------------------------------------------------


def test_a_hold_reserves_then_posts_part_and_releases_the_rest(ledger: Ledger) -> None:
    hold = ledger.reserve("alice", "bob", usd("60.00"), references=["payout:1"])
    balance = ledger.balance("alice")
    assert (balance.posted, balance.held, balance.available) == (
        usd("100.00"),
        usd("60.00"),
        usd("40.00"),
    )
    with pytest.raises(InsufficientFunds) as raised:
        ledger.transfer("alice", "bob", usd("40.01"))
    assert (raised.value.available, raised.value.requested) == (4000, 4001)
    entry = ledger.post_hold(hold.id, usd("45.00"))
    assert entry.hold_id == hold.id
    assert entry.references == ("payout:1",)
    assert ledger.balance("alice").available == usd("55.00")
    assert ledger.balance("alice").held == usd("0.00")
    assert ledger.balance("bob").posted == usd("45.00")
    posted = ledger.hold(hold.id)
    assert posted.status is HoldStatus.POSTED
    assert posted.posted_amount == usd("45.00")
    assert posted.entry_id == entry.id


def test_a_voided_hold_releases_everything(ledger: Ledger) -> None:
    hold = ledger.reserve("alice", "bob", usd("100.00"))
    voided = ledger.void_hold(hold.id)
    assert voided.status is HoldStatus.VOIDED
    assert ledger.balance("alice").available == usd("100.00")
    assert ledger.entries("bob") == []


@pytest.mark.parametrize("first", ["post", "void"])
@pytest.mark.parametrize("second", ["post", "void"])
def test_a_hold_is_resolved_at_most_once(ledger: Ledger, first: str, second: str) -> None:
    hold = ledger.reserve("alice", "bob", usd("10.00"))
    resolve = {"post": ledger.post_hold, "void": ledger.void_hold}
    resolve[first](hold.id)
    with pytest.raises(HoldAlreadyResolved) as raised:
        resolve[second](hold.id)
    assert raised.value.status == ("posted" if first == "post" else "voided")


def test_posting_more_than_a_hold_reserved_is_refused(ledger: Ledger) -> None:
    hold = ledger.reserve("alice", "bob", usd("10.00"))
    with pytest.raises(HoldExceeded) as raised:
        ledger.post_hold(hold.id, usd("10.01"))
    assert (raised.value.reserved, raised.value.requested) == (1000, 1001)


# -- reversals --------------------------------------------------------------


def test_a_reversal_is_a_new_entry_pointing_to_the_original(ledger: Ledger) -> None:
    original = ledger.transfer("alice", "bob", usd("12.00"), references=["order:9"])
    reversal = ledger.reverse(original.id, memo="wrong seller")
    assert reversal.reverses == original.id
    assert reversal.memo == "wrong seller"
    assert reversal.references == ("order:9",)
    assert [p.amount for p in reversal.postings] == [usd("12.00"), usd("-12.00")]
    assert ledger.entry(original.id) == original  # untouched
    assert ledger.reversal_of(original.id) == reversal
    assert ledger.balance("bob").posted == usd("0.00")
    with pytest.raises(AlreadyReversed) as raised:
        ledger.reverse(original.id)
    assert raised.value.reversal_id == reversal.id


def test_a_reversal_cannot_overdraw(ledger: Ledger) -> None:
    entry = ledger.transfer("alice", "bob", usd("12.00"))
    ledger.transfer("bob", "world", usd("12.00"))
    with pytest.raises(InsufficientFunds):
        ledger.reverse(entry.id)


def test_reversal_of_a_reversal_restores_the_original(ledger: Ledger) -> None:
    entry = ledger.transfer("alice", "bob", usd("12.00"))
    again = ledger.reverse(ledger.reverse(entry.id).id)
    assert [p.amount for p in again.postings] == [p.amount for p in entry.postings]
    assert ledger.balance("bob").posted == usd("12.00")


# -- idempotency ------------------------------------------------------------


def test_replaying_a_key_with_the_same_payload_returns_the_first_entry(
    ledger: Ledger, storage: MemoryStorage
) -> None:
    first = ledger.transfer("alice", "bob", usd("5.00"), idempotency_key="pay-1")
    before = snapshot(storage)
    assert ledger.transfer("alice", "bob", usd("5.00"), idempotency_key="pay-1") == first
    assert snapshot(storage) == before


@pytest.mark.parametrize(
    "other",
    [
        lambda ledger: ledger.transfer("alice", "bob", usd("5.01"), idempotency_key="pay-1"),
        lambda ledger: ledger.transfer("bob", "alice", usd("5.00"), idempotency_key="pay-1"),
        lambda ledger: ledger.transfer(
            "alice", "bob", usd("5.00"), memo="x", idempotency_key="pay-1"
        ),
    ],
    ids=["amount", "direction", "memo"],
)
def test_a_key_reused_for_something_else_is_refused(
    ledger: Ledger, storage: MemoryStorage, other: Callable[[Ledger], Any]
) -> None:
    ledger.transfer("alice", "bob", usd("5.00"), idempotency_key="pay-1")
    before = snapshot(storage)
    with pytest.raises(IdempotencyConflict) as raised:
        other(ledger)
    assert raised.value.key == "pay-1"
    assert snapshot(storage) == before


def test_a_key_is_scoped_by_its_operation(ledger: Ledger) -> None:
    """Keys are scoped by operation: a hold under an entry's key is a hold of its own."""
    entry = ledger.transfer("alice", "bob", usd("5.00"), idempotency_key="pay-1")
    hold = ledger.reserve("alice", "bob", usd("5.00"), idempotency_key="pay-1")
    assert hold.amount == usd("5.00")
    assert ledger.reserve("alice", "bob", usd("5.00"), idempotency_key="pay-1") == hold
    assert ledger.entry(entry.id).idempotency_key == "host:post pay-1"


def test_hold_operations_replay_by_key(ledger: Ledger, storage: MemoryStorage) -> None:
    hold = ledger.reserve("alice", "bob", usd("5.00"), idempotency_key="h")
    assert ledger.reserve("alice", "bob", usd("5.00"), idempotency_key="h") == hold
    entry = ledger.post_hold(hold.id, idempotency_key="p")
    assert ledger.post_hold(hold.id, idempotency_key="p") == entry
    other = ledger.reserve("alice", "bob", usd("1.00"), idempotency_key="h2")
    voided = ledger.void_hold(other.id, idempotency_key="v")
    before = snapshot(storage)
    assert ledger.void_hold(other.id, idempotency_key="v") == voided
    reversal = ledger.reverse(entry.id, idempotency_key="r")
    assert ledger.reverse(entry.id, idempotency_key="r") == reversal
    assert snapshot(storage) != before


# -- atomicity --------------------------------------------------------------


def test_a_transaction_commits_all_or_nothing(ledger: Ledger, storage: MemoryStorage) -> None:
    before = snapshot(storage)

    def pay_twice() -> None:
        with ledger.transaction() as tx:
            tx.transfer("alice", "bob", usd("60.00"))
            tx.transfer("alice", "bob", usd("60.00"))

    with pytest.raises(InsufficientFunds):
        pay_twice()
    assert snapshot(storage) == before
    with ledger.transaction() as tx:
        tx.transfer("alice", "bob", usd("60.00"))
        tx.transfer("bob", "alice", usd("10.00"))
    assert ledger.balance("bob").posted == usd("50.00")


def test_a_refused_operation_leaves_the_open_transaction_usable(
    ledger: Ledger, storage: MemoryStorage
) -> None:
    """Every operation checks before it writes, so a caught error stages nothing."""
    with ledger.transaction() as tx:
        tx.transfer("alice", "bob", usd("1.00"))
        with pytest.raises(InsufficientFunds):
            tx.post([("alice", usd("-500.00")), ("bob", usd("500.00"))])
        tx.transfer("alice", "bob", usd("2.00"))
    assert ledger.balance("bob").posted == usd("3.00")
    with storage() as uow:
        assert audit_ledger(uow.ledger).ok


# -- bad input: refused with a gigmarket error, nothing changes -------------


BAD_INPUTS: list[tuple[str, Callable[[Ledger], Any], type[GigmarketError]]] = [
    ("float amount", lambda lg: lg.transfer("alice", "bob", 1.5), ValidationError),
    ("str amount", lambda lg: lg.transfer("alice", "bob", "1.50"), ValidationError),
    ("Decimal amount", lambda lg: lg.transfer("alice", "bob", Decimal(1)), ValidationError),
    (
        "extra decimals in Money",
        lambda lg: lg.transfer("alice", "bob", Money("0.001", "USD")),
        PrecisionError,
    ),
    ("NaN in Money", lambda lg: lg.transfer("alice", "bob", Money("NaN", "USD")), InvalidAmount),
    (
        "infinite Money",
        lambda lg: lg.transfer("alice", "bob", Money("Infinity", "USD")),
        InvalidAmount,
    ),
    ("zero amount", lambda lg: lg.transfer("alice", "bob", usd("0")), AmountOutOfRange),
    ("negative amount", lambda lg: lg.transfer("alice", "bob", usd("-1")), AmountOutOfRange),
    (
        "absurd amount",
        lambda lg: lg.transfer("world", "bob", Money("1e20", "USD")),
        AmountOutOfRange,
    ),
    ("mixed currencies", lambda lg: lg.transfer("alice", "yen", usd("1")), CurrencyMismatch),
    (
        "wrong currency",
        lambda lg: lg.transfer("alice", "bob", Amount.of(1, "EUR")),
        CurrencyMismatch,
    ),
    ("unknown account", lambda lg: lg.transfer("alice", "nobody", usd("1")), AccountNotFound),
    ("bad account code", lambda lg: lg.transfer("alice", "no spaces", usd("1")), ValidationError),
    ("same account", lambda lg: lg.transfer("alice", "alice", usd("1")), UnbalancedEntry),
    ("overdraft", lambda lg: lg.transfer("alice", "bob", usd("100.01")), InsufficientFunds),
    ("unbalanced", lambda lg: lg.post([("alice", usd("-1")), ("bob", usd("2"))]), UnbalancedEntry),
    ("one posting", lambda lg: lg.post([("alice", usd("-1"))]), UnbalancedEntry),
    ("no postings", lambda lg: lg.post([]), UnbalancedEntry),
    (
        "zero posting",
        lambda lg: lg.post([("alice", usd("0")), ("bob", usd("0"))]),
        AmountOutOfRange,
    ),
    ("not a posting", lambda lg: lg.post([("alice",), ("bob",)]), ValidationError),
    (
        "imbalance in each currency",
        lambda lg: lg.post([("alice", usd("-1")), ("yen", Amount.of(1, "JPY"))]),
        UnbalancedEntry,
    ),
    (
        "posting in the wrong currency",
        lambda lg: lg.post([("alice", usd("-1")), ("yen", usd("1"))]),
        CurrencyMismatch,
    ),
    (
        "unprintable memo",
        lambda lg: lg.transfer("alice", "bob", usd("1"), memo="a\x00b"),
        ValidationError,
    ),
    (
        "long memo",
        lambda lg: lg.transfer("alice", "bob", usd("1"), memo="m" * 501),
        ValidationError,
    ),
    (
        "str references",
        lambda lg: lg.transfer("alice", "bob", usd("1"), references="order:1"),
        ValidationError,
    ),
    (
        "empty reference",
        lambda lg: lg.transfer("alice", "bob", usd("1"), references=[""]),
        ValidationError,
    ),
    (
        "empty key",
        lambda lg: lg.transfer("alice", "bob", usd("1"), idempotency_key=""),
        ValidationError,
    ),
    (
        "long key",
        lambda lg: lg.transfer("alice", "bob", usd("1"), idempotency_key="k" * 256),
        ValidationError,
    ),
    ("unknown currency", lambda lg: lg.open_account("x", "ZZZ"), UnknownCurrency),
    ("bad code", lambda lg: lg.open_account("", "USD"), ValidationError),
    ("conflicting open", lambda lg: lg.open_account("alice", "EUR"), AccountConflict),
    ("hold overdraft", lambda lg: lg.reserve("alice", "bob", usd("100.01")), InsufficientFunds),
    ("hold same account", lambda lg: lg.reserve("alice", "alice", usd("1")), ValidationError),
    ("hold currency", lambda lg: lg.reserve("alice", "yen", usd("1")), CurrencyMismatch),
    ("hold zero", lambda lg: lg.reserve("alice", "bob", usd("0")), AmountOutOfRange),
    ("unknown hold", lambda lg: lg.post_hold("nope"), HoldNotFound),
    ("unknown hold void", lambda lg: lg.void_hold("nope"), HoldNotFound),
    ("unknown entry", lambda lg: lg.reverse("nope"), EntryNotFound),
    ("balance of unknown, no currency", lambda lg: lg.balance("nope"), ValidationError),
    ("balance of a malformed code", lambda lg: lg.balance("no pe", "USD"), ValidationError),
    ("entries of unknown", lambda lg: lg.entries("nope"), AccountNotFound),
    ("unknown entry lookup", lambda lg: lg.entry("nope"), EntryNotFound),
    ("unknown hold lookup", lambda lg: lg.hold("nope"), HoldNotFound),
]


@pytest.mark.parametrize(
    ("call", "error"), [row[1:] for row in BAD_INPUTS], ids=[row[0] for row in BAD_INPUTS]
)
def test_bad_input_is_refused_and_changes_nothing(
    ledger: Ledger,
    storage: MemoryStorage,
    call: Callable[[Ledger], Any],
    error: type[GigmarketError],
) -> None:
    before = snapshot(storage)
    with pytest.raises(error) as raised:
        call(ledger)
    assert isinstance(raised.value, GigmarketError)
    assert raised.value.code
    assert str(raised.value)
    assert snapshot(storage) == before


def test_a_balance_beyond_the_bound_is_refused(ledger: Ledger) -> None:
    ledger.open_account("big-world", "JPY", allow_negative=True)
    ledger.open_account("big", "JPY")
    step = Amount(units=10**15, currency="JPY")
    for _ in range(MAX_BALANCE // 10**15):
        ledger.transfer("big-world", "big", step)
    with pytest.raises(AmountOutOfRange):
        ledger.transfer("big-world", "big", Amount(units=1, currency="JPY"))


def test_ledger_errors_share_a_root() -> None:
    assert issubclass(InsufficientFunds, LedgerError)
    assert issubclass(AccountNotFound, LookupError)
