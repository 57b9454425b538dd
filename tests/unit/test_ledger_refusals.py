"""What the ledger refuses, and what each refusal tells the caller.

``tests/unit/test_ledger.py`` shows that bad input is refused and changes
nothing; here each refusal is pinned down to the attributes a caller acts on
(which account, how much was available, which field, which key), at the exact
edges of the ledger's limits, and for every operation that takes an
idempotency key: a key replayed with the same request answers the first
result, a key reused for anything else in its scope (the operation) is refused.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
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
    UnbalancedEntry,
    ValidationError,
)
from gigmarket.escrow.ledger import MAX_BALANCE, Ledger
from gigmarket.escrow.model import Balance, HoldStatus, Posting
from gigmarket.ids import sequential_ids
from gigmarket.money import Amount, Money
from gigmarket.storage.memory.store import MemoryStorage

START = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


def usd(value: str) -> Amount:
    return Amount.of(value, "USD")


def jpy(value: int) -> Amount:
    return Amount.of(value, "JPY")


def nth(number: int) -> str:
    """The id of the ledger's ``number``-th entry or hold (ids count both)."""
    return f"e-{number:06d}"


PAID_IN, FIRST, SECOND, THIRD = nth(1), nth(2), nth(3), nth(4)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(START)


@pytest.fixture
def storage() -> MemoryStorage:
    return MemoryStorage()


@pytest.fixture
def ledger(storage: MemoryStorage, clock: ManualClock) -> Ledger:
    """alice holds 100.00 USD and bob nothing; world and yen-world may go negative."""
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


def _reserve_then(then: Callable[[Ledger, str], object]) -> Callable[[Ledger], object]:
    """Reserve 10.00 of alice's money for bob, then do ``then`` with the hold's id."""

    def call(ledger: Ledger) -> object:
        hold = ledger.reserve("alice", "bob", usd("10.00"))
        return then(ledger, hold.id)

    return call


def _overdraw_by_reversal(ledger: Ledger) -> object:
    paid = ledger.transfer("alice", "bob", usd("12.00"))
    ledger.transfer("bob", "world", usd("12.00"))
    return ledger.reverse(paid.id)


def _reverse_twice(ledger: Ledger) -> object:
    paid = ledger.transfer("alice", "bob", usd("12.00"))
    ledger.reverse(paid.id)
    return ledger.reverse(paid.id)


Refusal = tuple[str, Callable[[Ledger], object], type[GigmarketError], dict[str, object]]

# Holds and entries share one sequence of ids: the fixture's transfer is
# PAID_IN, so the first object a row makes is FIRST, the next SECOND.
REFUSALS: list[Refusal] = [
    # not enough money: who, in what, how much there was and how much was asked
    (
        "transfer one cent too many",
        lambda lg: lg.transfer("alice", "bob", usd("100.01")),
        InsufficientFunds,
        {"account": "alice", "currency": "USD", "available": 10000, "requested": 10001},
    ),
    (
        "multi-leg entry one cent too many",
        lambda lg: lg.post([("alice", usd("-100.01")), ("bob", usd("99.01")), ("world", usd("1"))]),
        InsufficientFunds,
        {"account": "alice", "currency": "USD", "available": 10000, "requested": 10001},
    ),
    (
        "transfer past a hold",
        _reserve_then(lambda lg, _: lg.transfer("alice", "bob", usd("90.01"))),
        InsufficientFunds,
        {"account": "alice", "currency": "USD", "available": 9000, "requested": 9001},
    ),
    (
        "hold one cent too many",
        lambda lg: lg.reserve("alice", "bob", usd("100.01")),
        InsufficientFunds,
        {"account": "alice", "currency": "USD", "available": 10000, "requested": 10001},
    ),
    (
        "second hold one cent too many",
        _reserve_then(lambda lg, _: lg.reserve("alice", "bob", usd("90.01"))),
        InsufficientFunds,
        {"account": "alice", "currency": "USD", "available": 9000, "requested": 9001},
    ),
    (
        "reversal of money already spent",
        _overdraw_by_reversal,
        InsufficientFunds,
        {"account": "bob", "currency": "USD", "available": 0, "requested": 1200},
    ),
    # holds
    (
        "posting more than the hold",
        _reserve_then(lambda lg, hold: lg.post_hold(hold, usd("10.01"))),
        HoldExceeded,
        {"hold_id": FIRST, "reserved": 1000, "requested": 1001},
    ),
    (
        "posting a voided hold",
        _reserve_then(lambda lg, hold: (lg.void_hold(hold), lg.post_hold(hold))),
        HoldAlreadyResolved,
        {"hold_id": FIRST, "status": "voided"},
    ),
    (
        "voiding a posted hold",
        _reserve_then(lambda lg, hold: (lg.post_hold(hold), lg.void_hold(hold))),
        HoldAlreadyResolved,
        {"hold_id": FIRST, "status": "posted"},
    ),
    ("posting an unknown hold", lambda lg: lg.post_hold("h-9"), HoldNotFound, {"hold_id": "h-9"}),
    ("voiding an unknown hold", lambda lg: lg.void_hold("h-9"), HoldNotFound, {"hold_id": "h-9"}),
    ("reading an unknown hold", lambda lg: lg.hold("h-9"), HoldNotFound, {"hold_id": "h-9"}),
    (
        "posting a hold in another currency",
        _reserve_then(lambda lg, hold: lg.post_hold(hold, jpy(5))),
        CurrencyMismatch,
        {"expected": "USD", "actual": "JPY"},
    ),
    (
        "hold into an account of another currency",
        lambda lg: lg.reserve("alice", "yen", usd("1.00")),
        CurrencyMismatch,
        {"expected": "JPY", "actual": "USD"},
    ),
    (
        "hold out of an account of another currency",
        lambda lg: lg.reserve("yen", "alice", usd("1.00")),
        CurrencyMismatch,
        {"expected": "JPY", "actual": "USD"},
    ),
    (
        "hold from an unknown account",
        lambda lg: lg.reserve("nobody", "bob", usd("1.00")),
        AccountNotFound,
        {"account": "nobody"},
    ),
    (
        "hold for an unknown account",
        lambda lg: lg.reserve("alice", "nobody", usd("1.00")),
        AccountNotFound,
        {"account": "nobody"},
    ),
    (
        "hold within one account",
        lambda lg: lg.reserve("alice", "alice", usd("1.00")),
        ValidationError,
        {"field": "destination"},
    ),
    (
        "hold of nothing",
        lambda lg: lg.reserve("alice", "bob", usd("0")),
        AmountOutOfRange,
        {"value": usd("0")},
    ),
    # entries
    (
        "transfer to an unknown account",
        lambda lg: lg.transfer("alice", "nobody", usd("1.00")),
        AccountNotFound,
        {"account": "nobody"},
    ),
    (
        "transfer into another currency",
        lambda lg: lg.transfer("alice", "yen", usd("1.00")),
        CurrencyMismatch,
        {"expected": "JPY", "actual": "USD"},
    ),
    (
        "unbalanced entry",
        lambda lg: lg.post([("alice", usd("-1")), ("bob", usd("2"))]),
        UnbalancedEntry,
        {"imbalance": {"USD": 100}},
    ),
    (
        "unbalanced in each currency",
        lambda lg: lg.post([("alice", usd("-1")), ("yen", jpy(3))]),
        UnbalancedEntry,
        {"imbalance": {"USD": -100, "JPY": 3}},
    ),
    (
        "balanced in one currency only",
        lambda lg: lg.post(
            [("alice", usd("-1")), ("bob", usd("1")), ("yen", jpy(3)), ("yen-world", jpy(-2))]
        ),
        UnbalancedEntry,
        {"imbalance": {"JPY": 1}},
    ),
    ("one posting", lambda lg: lg.post([("alice", usd("-1"))]), UnbalancedEntry, {"imbalance": {}}),
    ("no postings", lambda lg: lg.post(()), UnbalancedEntry, {"imbalance": {}}),
    (
        "transfer within one account",
        lambda lg: lg.transfer("alice", "alice", usd("1")),
        UnbalancedEntry,
        {"imbalance": {}},
    ),
    (
        "a posting of nothing",
        lambda lg: lg.post([("alice", usd("0")), ("bob", usd("0"))]),
        AmountOutOfRange,
        {"value": Posting("alice", usd("0"))},
    ),
    (
        "transfer of nothing",
        lambda lg: lg.transfer("alice", "bob", usd("0")),
        AmountOutOfRange,
        {"value": usd("0")},
    ),
    # reversals
    (
        "reversing an unknown entry",
        lambda lg: lg.reverse("e-9"),
        EntryNotFound,
        {"entry_id": "e-9"},
    ),
    ("reading an unknown entry", lambda lg: lg.entry("e-9"), EntryNotFound, {"entry_id": "e-9"}),
    (
        "the reversal of an unknown entry",
        lambda lg: lg.reversal_of("e-9"),
        EntryNotFound,
        {"entry_id": "e-9"},
    ),
    (
        "reversing twice",
        _reverse_twice,
        AlreadyReversed,
        {"entry_id": FIRST, "reversal_id": SECOND},
    ),
    # accounts
    # never touched and no currency in its code: the zero it reads needs one
    ("balance of nobody", lambda lg: lg.balance("nobody"), ValidationError, {"field": "currency"}),
    ("entries of nobody", lambda lg: lg.entries("nobody"), AccountNotFound, {"account": "nobody"}),
    ("account nobody", lambda lg: lg.account("nobody"), AccountNotFound, {"account": "nobody"}),
    (
        "reopening in another currency",
        lambda lg: lg.open_account("alice", "EUR"),
        AccountConflict,
        {"account": "alice", "message": "account 'alice' is open as USD"},
    ),
    (
        "reopening without the overdraft",
        lambda lg: lg.open_account("world", "USD"),
        AccountConflict,
        {"account": "world", "message": "account 'world' is open as USD (may go negative)"},
    ),
    (
        "reopening with an overdraft",
        lambda lg: lg.open_account("alice", "USD", allow_negative=True),
        AccountConflict,
        {"account": "alice", "message": "account 'alice' is open as USD"},
    ),
]


@pytest.mark.parametrize(
    ("call", "error", "attributes"), [pytest.param(*row[1:], id=row[0]) for row in REFUSALS]
)
def test_a_refusal_names_what_the_caller_must_fix(
    ledger: Ledger,
    call: Callable[[Ledger], object],
    error: type[GigmarketError],
    attributes: dict[str, object],
) -> None:
    with pytest.raises(GigmarketError) as raised:
        call(ledger)

    assert type(raised.value) is error, f"{type(raised.value).__name__}: {raised.value}"
    for name, expected in attributes.items():
        assert getattr(raised.value, name) == expected, name


def test_a_refused_operation_after_others_changes_nothing(
    ledger: Ledger, storage: MemoryStorage
) -> None:
    """The rows above write before they fail; this one checks that the failing
    step itself leaves every stored thing as it was."""
    hold = ledger.reserve("alice", "bob", usd("10.00"))
    before = snapshot(storage)
    for refused in (
        lambda: ledger.transfer("alice", "bob", usd("90.01")),
        lambda: ledger.reserve("alice", "bob", usd("90.01")),
        lambda: ledger.post_hold(hold.id, usd("10.01")),
    ):
        with pytest.raises(GigmarketError):
            refused()
        assert snapshot(storage) == before


# -- which field was wrong -------------------------------------------------------

ID_AT_THE_LIMIT = "i" * 200
TEXT_AT_THE_LIMIT = "m" * 500
CODE_AT_THE_LIMIT = "c" * 200

FIELD_REFUSALS: list[tuple[str, Callable[[Ledger], object], str]] = [
    ("float amount", lambda lg: lg.transfer("alice", "bob", 1.5), "amount"),
    ("str amount", lambda lg: lg.reserve("alice", "bob", "1.50"), "amount"),
    ("int amount in a hold posting", _reserve_then(lambda lg, h: lg.post_hold(h, 1)), "amount"),
    ("account with a space", lambda lg: lg.transfer("alice", "no one", usd("1")), "account"),
    ("account code too long", lambda lg: lg.open_account("c" * 201, "USD"), "account"),
    ("empty account code", lambda lg: lg.open_account("", "USD"), "account"),
    ("account code not a str", lambda lg: lg.post([(7, usd("-1")), ("bob", usd("1"))]), "account"),
    ("hold source code", lambda lg: lg.reserve("a b", "bob", usd("1")), "account"),
    ("hold destination code", lambda lg: lg.reserve("alice", "b\tob", usd("1")), "account"),
    (
        "overdraft as a string",
        lambda lg: lg.open_account("x", "USD", allow_negative="false"),
        "allow_negative",
    ),
    (
        "overdraft as an int",
        lambda lg: lg.open_account("x", "USD", allow_negative=1),
        "allow_negative",
    ),
    ("postings as a str", lambda lg: lg.post("alice"), "postings"),
    ("postings as bytes", lambda lg: lg.post(b"alice"), "postings"),
    ("postings as None", lambda lg: lg.post(None), "postings"),
    ("a posting of one item", lambda lg: lg.post([("alice",), ("bob",)]), "postings"),
    ("a posting of three items", lambda lg: lg.post([("alice", usd("1"), "x")]), "postings"),
    (
        "a posting as a list",
        lambda lg: lg.post([["alice", usd("-1")], ["bob", usd("1")]]),
        "postings",
    ),
    (
        "a Posting of Money",
        lambda lg: lg.post([Posting("alice", Money("-1", "USD")), ("bob", usd("1"))]),
        "postings",
    ),
    ("memo too long", lambda lg: lg.transfer("alice", "bob", usd("1"), memo="m" * 501), "memo"),
    (
        "memo not printable",
        lambda lg: lg.post([("alice", usd("-1")), ("bob", usd("1"))], memo="\n"),
        "memo",
    ),
    ("memo not a str", lambda lg: lg.transfer("alice", "bob", usd("1"), memo=None), "memo"),
    ("hold memo", lambda lg: lg.reserve("alice", "bob", usd("1"), memo="\x1b[31m"), "memo"),
    ("hold posting memo", _reserve_then(lambda lg, h: lg.post_hold(h, memo="m" * 501)), "memo"),
    ("reversal memo", lambda lg: lg.reverse(PAID_IN, memo="\u2028"), "memo"),
    ("memo with a lone surrogate", lambda lg: lg.reverse(PAID_IN, memo="a\udc80"), "memo"),
    (
        "references as a str",
        lambda lg: lg.transfer("alice", "bob", usd("1"), references="o:1"),
        "references",
    ),
    (
        "references as None",
        lambda lg: lg.transfer("alice", "bob", usd("1"), references=None),
        "references",
    ),
    (
        "an empty reference",
        lambda lg: lg.transfer("alice", "bob", usd("1"), references=["o", ""]),
        "references",
    ),
    (
        "a reference not a str",
        lambda lg: lg.reserve("alice", "bob", usd("1"), references=[1]),
        "references",
    ),
    (
        "a reference too long",
        lambda lg: lg.reserve("alice", "bob", usd("1"), references=["r" * 501]),
        "references",
    ),
    (
        "an empty key",
        lambda lg: lg.transfer("alice", "bob", usd("1"), idempotency_key=""),
        "idempotency_key",
    ),
    (
        "a hold key",
        lambda lg: lg.reserve("alice", "bob", usd("1"), idempotency_key="k" * 256),
        "idempotency_key",
    ),
    (
        "a void key",
        _reserve_then(lambda lg, h: lg.void_hold(h, idempotency_key="\x00")),
        "idempotency_key",
    ),
    ("a reversal key", lambda lg: lg.reverse(PAID_IN, idempotency_key=""), "idempotency_key"),
    ("empty entry id", lambda lg: lg.reverse(""), "entry_id"),
    ("entry id too long", lambda lg: lg.entry("i" * 201), "entry_id"),
    ("entry id not a str", lambda lg: lg.reversal_of(1), "entry_id"),
    ("entry id not printable", lambda lg: lg.entry("e\n1"), "entry_id"),
    ("entry id with a surrogate", lambda lg: lg.entry("e\ud8001"), "entry_id"),
    ("empty hold id", lambda lg: lg.post_hold(""), "hold_id"),
    ("hold id too long", lambda lg: lg.void_hold("i" * 201), "hold_id"),
    ("hold id not printable", lambda lg: lg.hold("h\x7f"), "hold_id"),
    ("hold id not a str", lambda lg: lg.hold(None), "hold_id"),
    ("empty reference lookup", lambda lg: lg.entries_with_reference(""), "reference"),
    ("reference lookup not printable", lambda lg: lg.entries_with_reference("o\r"), "reference"),
    (
        "reference lookup with a surrogate",
        lambda lg: lg.entries_with_reference("\udfff"),
        "reference",
    ),
]


@pytest.mark.parametrize(
    ("call", "field"), [pytest.param(call, field, id=name) for name, call, field in FIELD_REFUSALS]
)
def test_bad_input_names_its_field(
    ledger: Ledger, call: Callable[[Ledger], Any], field: str
) -> None:
    with pytest.raises(ValidationError) as raised:
        call(ledger)

    assert raised.value.field == field


def test_ids_codes_and_texts_at_their_exact_limits_are_accepted(ledger: Ledger) -> None:
    ledger.open_account(CODE_AT_THE_LIMIT, "USD")
    entry = ledger.transfer(
        "alice",
        CODE_AT_THE_LIMIT,
        usd("1.00"),
        memo=TEXT_AT_THE_LIMIT,
        references=[TEXT_AT_THE_LIMIT],
        idempotency_key="k" * 255,
    )

    assert entry.memo == TEXT_AT_THE_LIMIT
    assert ledger.entries_with_reference(TEXT_AT_THE_LIMIT) == [entry]
    assert ledger.balance(CODE_AT_THE_LIMIT).posted == usd("1.00")
    with pytest.raises(EntryNotFound) as missing_entry:
        ledger.entry(ID_AT_THE_LIMIT)
    assert missing_entry.value.entry_id == ID_AT_THE_LIMIT
    with pytest.raises(HoldNotFound) as missing_hold:
        ledger.hold(ID_AT_THE_LIMIT)
    assert missing_hold.value.hold_id == ID_AT_THE_LIMIT


def test_references_are_kept_once_each_in_the_callers_order(ledger: Ledger) -> None:
    entry = ledger.transfer(
        "alice", "bob", usd("1.00"), references=iter(["order:2", "buyer:1", "order:2"])
    )
    hold = ledger.reserve("alice", "bob", usd("1.00"), references=("p:1", "p:1"))

    assert entry.references == ("order:2", "buyer:1")
    assert hold.references == ("p:1",)
    assert ledger.post_hold(hold.id).references == ("p:1",)


# -- balances at the bound -------------------------------------------------------


def test_a_negative_balance_beyond_the_bound_is_refused_too(ledger: Ledger) -> None:
    """The bound is on the magnitude: an account that may go negative stops at
    minus the bound, as a positive one stops at the bound."""
    ledger.open_account("deep", "JPY", allow_negative=True)
    ledger.open_account("sink", "JPY", allow_negative=True)
    step = jpy(10**15)
    for _ in range(MAX_BALANCE // 10**15):
        ledger.transfer("deep", "sink", step)

    with pytest.raises(AmountOutOfRange) as raised:
        ledger.post([("deep", jpy(-1)), ("yen-world", jpy(1))])

    assert raised.value.value == -MAX_BALANCE - 1
    assert str(raised.value) == "account 'deep' would exceed the balance bound"


# -- the transaction's own reads -------------------------------------------------


def test_balance_or_zero_reads_an_account_not_opened_yet_as_zero(ledger: Ledger) -> None:
    with ledger.transaction() as tx:
        assert tx.balance_or_zero("carol:credit", "kwd") == Balance(
            account="carol:credit", posted=Amount.zero("KWD"), held=Amount.zero("KWD")
        )
        tx.reserve("alice", "bob", usd("30.00"))
        opened = tx.balance_or_zero("alice", "USD")
    assert (opened.account, opened.posted, opened.held) == ("alice", usd("100.00"), usd("30.00"))
    with pytest.raises(AccountNotFound):
        ledger.account("carol:credit")  # reading did not open it


def test_a_hold_records_when_and_how_it_was_resolved(ledger: Ledger, clock: ManualClock) -> None:
    hold = ledger.reserve("alice", "bob", usd("10.00"), memo="payout", references=["p:1"])
    assert (hold.status, hold.created_at, hold.resolved_at) == (HoldStatus.PENDING, START, None)
    clock.advance(timedelta(hours=2))
    entry = ledger.post_hold(hold.id, usd("4.00"))
    other = ledger.reserve("alice", "bob", usd("1.00"))
    clock.advance(timedelta(hours=1))
    voided = ledger.void_hold(other.id)

    posted = ledger.hold(hold.id)
    assert (posted.status, posted.resolved_at) == (HoldStatus.POSTED, START + timedelta(hours=2))
    assert (posted.posted_amount, posted.entry_id) == (usd("4.00"), entry.id)
    assert entry.memo == "payout"
    assert entry.postings == (Posting("alice", usd("-4.00")), Posting("bob", usd("4.00")))
    assert voided == ledger.hold(other.id)
    assert (voided.status, voided.resolved_at) == (HoldStatus.VOIDED, START + timedelta(hours=3))
    assert voided.posted_amount is None
    assert ledger.balance("alice").held == usd("0.00")
    assert ledger.balance("alice").posted == usd("96.00")


# -- idempotency keys, operation by operation --------------------------------------

HOLD, PAYMENT = FIRST, SECOND


@pytest.fixture
def keyed_ledger(ledger: Ledger) -> Ledger:
    """The ledger with a pending hold HOLD of 10.00 from alice to bob, and a
    PAYMENT of 20.00 from alice to bob that may be reversed."""
    assert ledger.reserve("alice", "bob", usd("10.00"), memo="m", references=["r"]).id == HOLD
    assert ledger.transfer("alice", "bob", usd("20.00")).id == PAYMENT
    return ledger


def _another_hold(ledger: Ledger) -> str:
    return ledger.reserve("alice", "bob", usd("10.00"), memo="m", references=["r"]).id


def _another_payment(ledger: Ledger) -> str:
    return ledger.transfer("alice", "bob", usd("1.00")).id


KeyedCall = Callable[[Ledger, str], object]
FOUR = usd("4")


def _post(
    lg: Ledger,
    key: str,
    *,
    to: str = "bob",
    units: str = "5",
    memo: str = "m",
    refs: tuple[str, ...] = ("r",),
) -> object:
    postings = [("alice", -usd(units)), (to, usd(units))]
    return lg.post(postings, memo=memo, references=refs, idempotency_key=key)


def _transfer(lg: Ledger, key: str, *, source: str = "alice", to: str = "bob") -> object:
    return lg.transfer(source, to, usd("5"), memo="m", references=["r"], idempotency_key=key)


def _reserve(
    lg: Ledger,
    key: str,
    *,
    source: str = "alice",
    to: str = "bob",
    amount: Amount | None = None,
    memo: str = "m",
    refs: tuple[str, ...] = ("r",),
) -> object:
    amount = usd("5") if amount is None else amount
    return lg.reserve(source, to, amount, memo=memo, references=refs, idempotency_key=key)


def _post_hold(
    lg: Ledger, key: str, *, hold: str = HOLD, amount: Amount | None = FOUR, memo: str = "m"
) -> object:
    return lg.post_hold(hold, amount, memo=memo, idempotency_key=key)


def _void_hold(lg: Ledger, key: str, *, hold: str = HOLD) -> object:
    return lg.void_hold(hold, idempotency_key=key)


def _reverse(lg: Ledger, key: str, *, entry: str = PAYMENT, memo: str = "m") -> object:
    return lg.reverse(entry, memo=memo, idempotency_key=key)


FIRST_USES: dict[str, KeyedCall] = {
    "post": _post,
    "transfer": _transfer,
    "reserve": _reserve,
    "post_hold": _post_hold,
    "void_hold": _void_hold,
    "reverse": _reverse,
}

# A first use, then a request under the same key that differs in one respect,
# and the operation the refusal names (the second request's).
REUSES: list[tuple[str, str, KeyedCall, str]] = [
    ("post", "amount", lambda lg, k: _post(lg, k, units="6"), "post"),
    ("post", "account", lambda lg, k: _post(lg, k, to="world"), "post"),
    ("post", "memo", lambda lg, k: _post(lg, k, memo="n"), "post"),
    ("post", "references", lambda lg, k: _post(lg, k, refs=("s",)), "post"),
    ("transfer", "direction", lambda lg, k: _transfer(lg, k, source="bob", to="alice"), "post"),
    ("reserve", "source", lambda lg, k: _reserve(lg, k, source="world"), "reserve"),
    ("reserve", "destination", lambda lg, k: _reserve(lg, k, to="world"), "reserve"),
    ("reserve", "amount", lambda lg, k: _reserve(lg, k, amount=usd("5.01")), "reserve"),
    (
        "reserve",
        "currency",
        lambda lg, k: _reserve(lg, k, source="yen", to="yen-world", amount=jpy(500)),
        "reserve",
    ),
    ("reserve", "memo", lambda lg, k: _reserve(lg, k, memo=""), "reserve"),
    ("reserve", "references", lambda lg, k: _reserve(lg, k, refs=("r", "s")), "reserve"),
    ("post_hold", "amount", lambda lg, k: _post_hold(lg, k, amount=usd("4.01")), "post_hold"),
    ("post_hold", "whole amount", lambda lg, k: _post_hold(lg, k, amount=None), "post_hold"),
    ("post_hold", "memo", lambda lg, k: _post_hold(lg, k, memo=""), "post_hold"),
    ("post_hold", "hold", lambda lg, k: _post_hold(lg, k, hold=_another_hold(lg)), "post_hold"),
    ("void_hold", "hold", lambda lg, k: _void_hold(lg, k, hold=_another_hold(lg)), "void_hold"),
    ("reverse", "memo", lambda lg, k: _reverse(lg, k, memo="n"), "reverse"),
    ("reverse", "entry", lambda lg, k: _reverse(lg, k, entry=_another_payment(lg)), "reverse"),
]


@pytest.mark.parametrize("operation", list(FIRST_USES))
def test_a_key_replayed_with_the_same_request_answers_the_first_result(
    keyed_ledger: Ledger, storage: MemoryStorage, operation: str
) -> None:
    first = FIRST_USES[operation](keyed_ledger, "key-1")
    before = snapshot(storage)

    assert FIRST_USES[operation](keyed_ledger, "key-1") == first
    assert snapshot(storage) == before


@pytest.mark.parametrize(
    ("first_use", "reuse", "refused_operation"),
    [
        pytest.param(FIRST_USES[first], reuse, refused, id=f"{first}: {what}")
        for first, what, reuse, refused in REUSES
    ],
)
def test_a_key_reused_for_another_request_is_refused(
    keyed_ledger: Ledger,
    storage: MemoryStorage,
    first_use: KeyedCall,
    reuse: KeyedCall,
    refused_operation: str,
) -> None:
    first_use(keyed_ledger, "key-1")

    with pytest.raises(IdempotencyConflict) as raised:
        reuse(keyed_ledger, "key-1")

    assert (raised.value.key, raised.value.operation, raised.value.scope) == (
        "key-1",
        refused_operation,
        f"host:{refused_operation}",
    )


def test_without_a_key_the_same_request_twice_is_two_requests(ledger: Ledger) -> None:
    first = ledger.transfer("alice", "bob", usd("5.00"))
    second = ledger.transfer("alice", "bob", usd("5.00"))
    hold = ledger.reserve("alice", "bob", usd("5.00"))
    other = ledger.reserve("alice", "bob", usd("5.00"))

    assert first.id != second.id
    assert hold.id != other.id
    assert ledger.balance("bob").posted == usd("10.00")
    assert ledger.balance("alice").held == usd("10.00")


# -- what a refusal says -----------------------------------------------------------

MESSAGES: list[tuple[str, Callable[[Ledger], object], str]] = [
    (
        "account code",
        lambda lg: lg.transfer("alice", "no one", usd("1")),
        "account: 'no one' is not an account code (letters, digits and _.:@/+- , at most 200)",
    ),
    ("id", lambda lg: lg.entry(""), "entry_id: must be an id of at most 200 printable characters"),
    (
        "text",
        lambda lg: lg.transfer("alice", "bob", usd("1"), memo="\n"),
        "memo: must be printable text of at most 500 characters",
    ),
    (
        "references as a str",
        lambda lg: lg.transfer("alice", "bob", usd("1"), references="o:1"),
        "references: pass a sequence of references",
    ),
    (
        "an empty reference",
        lambda lg: lg.reserve("alice", "bob", usd("1"), references=[""]),
        "references: a reference must not be empty",
    ),
    (
        "an empty reference lookup",
        lambda lg: lg.entries_with_reference(""),
        "reference: a reference must not be empty",
    ),
    (
        "postings as a str",
        lambda lg: lg.post("alice"),
        "postings: pass a sequence of postings",
    ),
    (
        "a posting of one item",
        lambda lg: lg.post([("alice",)]),
        "postings: ('alice',) is neither a Posting nor an (account, amount) pair",
    ),
    (
        "a Posting of Money",
        lambda lg: lg.post([Posting("alice", Money("-1", "USD"))]),
        "postings: a posting's amount must be an Amount",
    ),
    (
        "an amount without a currency",
        lambda lg: lg.transfer("alice", "bob", 1),
        "amount: ledger amounts must carry their currency: pass an Amount or Money",
    ),
    (
        "an overdraft as a string",
        lambda lg: lg.open_account("x", "USD", allow_negative="no"),
        "allow_negative: must be True or False",
    ),
    (
        "a hold within one account",
        lambda lg: lg.reserve("bob", "bob", usd("1")),
        "destination: a hold needs two different accounts",
    ),
    (
        "a posting of nothing",
        lambda lg: lg.post([("alice", usd("0")), ("bob", usd("0"))]),
        "a posting to alice moves nothing",
    ),
    (
        "one posting",
        lambda lg: lg.post([("alice", usd("-1"))]),
        "an entry needs at least two postings",
    ),
    (
        "unbalanced",
        lambda lg: lg.post([("alice", usd("-1")), ("bob", usd("2"))]),
        "postings do not sum to zero: {'USD': 100} (minor units)",
    ),
    (
        "one account",
        lambda lg: lg.transfer("bob", "bob", usd("1")),
        "an entry must touch at least two accounts",
    ),
    (
        "another currency",
        lambda lg: lg.transfer("alice", "yen", usd("1")),
        "account 'yen' holds JPY, not USD",
    ),
    (
        "overdraft",
        lambda lg: lg.transfer("alice", "bob", usd("100.01")),
        "account 'alice' has 10000 minor units of USD available, 10001 were requested",
    ),
]


@pytest.mark.parametrize(
    ("call", "message"), [pytest.param(call, text, id=name) for name, call, text in MESSAGES]
)
def test_a_refusal_says_what_is_wrong(
    ledger: Ledger, call: Callable[[Ledger], object], message: str
) -> None:
    with pytest.raises(GigmarketError) as raised:
        call(ledger)

    assert str(raised.value) == message


def test_the_transactions_own_defaults(ledger: Ledger) -> None:
    """Defaults the auto-committing Ledger never uses: an account that may not
    go negative, no memo, and a reversal that says what it reverses."""
    with ledger.transaction() as tx:
        assert tx.open_account("carol", "USD").allow_negative is False
        paid = tx.transfer("alice", "bob", usd("1.00"))
        hold = tx.reserve("alice", "bob", usd("2.00"))
        posted = tx.post_hold(hold.id)
        entry = tx.post([("alice", usd("-3.00")), ("bob", usd("3.00"))])
        reversal = tx.reverse(paid.id)

    assert (paid.memo, hold.memo, posted.memo, entry.memo) == ("", "", "", "")
    assert reversal.memo == f"reversal of {paid.id}"


def test_postings_to_one_account_add_up(ledger: Ledger) -> None:
    entry = ledger.post(
        [("alice", usd("-1.00")), ("alice", usd("-2.50")), ("bob", usd("3.50"))],
        idempotency_key="split-1",
    )

    assert entry.amount_for("alice") == -350
    assert entry.idempotency_key == "host:post split-1"
    assert ledger.balance("alice").posted == usd("96.50")
    assert ledger.balance("bob").posted == usd("3.50")
