"""Regressions for defects a review found in the money-critical code.

Each test pins one finding: it failed before its fix.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from gigmarket.admin.audit import audit_store
from gigmarket.errors import (
    AmountOutOfRange,
    CurrencyMismatch,
    InsufficientFunds,
    InvalidRatios,
    StorageError,
    ValidationError,
)
from gigmarket.escrow import chart
from gigmarket.escrow.flows import EscrowFlows
from gigmarket.escrow.ledger import Ledger
from gigmarket.money import Amount, allocate, parse_rate
from gigmarket.storage.memory.store import MemoryStorage
from gigmarket.storage.sqlite.store import SQLiteStorage


def usd(value: str) -> Amount:
    return Amount.of(value, "USD")


@pytest.fixture(params=["memory", "sqlite"])
def ledger(request: pytest.FixtureRequest, tmp_path: Path) -> Ledger:
    storage: Any = (
        MemoryStorage() if request.param == "memory" else SQLiteStorage(tmp_path / "l.db")
    )
    ledger = Ledger(storage)
    ledger.open_account("world", "USD", allow_negative=True)
    ledger.open_account("a", "USD")
    ledger.transfer("world", "a", usd("10.00"))
    return ledger


@pytest.mark.parametrize("flag", ["false", 0, 1, None, "True"])
def test_only_a_real_bool_may_allow_a_negative_balance(ledger: Ledger, flag: object) -> None:
    with pytest.raises(ValidationError) as refused:
        ledger.open_account("x", "USD", allow_negative=flag)  # type: ignore[arg-type]
    assert refused.value.field == "allow_negative"


@pytest.mark.parametrize(
    "call",
    [
        lambda lg: lg.hold(["not", "an", "id"]),
        lambda lg: lg.hold("\ud800"),
        lambda lg: lg.entry(b"bytes"),
        lambda lg: lg.reverse(object()),
        lambda lg: lg.post_hold(None),
        lambda lg: lg.void_hold(""),
        lambda lg: lg.post(None),
        lambda lg: lg.post(5),
        lambda lg: lg.transfer("world", "a", usd("1"), references=5),
        lambda lg: lg.transfer("world", "a", usd("1"), memo="\udfff"),
        lambda lg: lg.entries_with_reference(None),
    ],
)
def test_odd_inputs_get_a_gigmarket_error_not_a_python_one(ledger: Ledger, call: Any) -> None:
    with pytest.raises(ValidationError):
        call(ledger)


def test_an_invalid_settlement_opens_no_account() -> None:
    ledger = Ledger(MemoryStorage())
    with ledger.transaction() as tx:
        EscrowFlows(tx).fund("1", usd("5.00"), gateway="card")
    with ledger.transaction() as tx:
        with pytest.raises(CurrencyMismatch):
            EscrowFlows(tx).settle("1", {chart.seller_pending("new", "USD"): Amount.of(5, "EUR")})
        with pytest.raises(AmountOutOfRange):
            EscrowFlows(tx).settle("1", {chart.seller_pending("new", "USD"): usd("-1.00")})
        assert tx.uow.ledger.get_account(chart.seller_pending("new", "USD")) is None


def test_a_settlement_replayed_by_key_returns_its_first_entry() -> None:
    """Escrow is empty after the first settlement; the replay must not be
    judged an overdraft before the ledger sees its key."""
    ledger = Ledger(MemoryStorage())
    share = {chart.seller_pending("s", "USD"): usd("5.00")}
    with ledger.transaction() as tx:
        EscrowFlows(tx).fund("1", usd("5.00"), gateway="card")
    with ledger.transaction() as tx:
        first = EscrowFlows(tx).settle("1", share, idempotency_key="settle-1")
    with ledger.transaction() as tx:
        assert EscrowFlows(tx).settle("1", share, idempotency_key="settle-1") == first
    with ledger.transaction() as tx, pytest.raises(InsufficientFunds):
        EscrowFlows(tx).settle("1", share, idempotency_key="settle-2")


def test_a_sqlite_commit_does_not_begin_the_next_transaction(tmp_path: Path) -> None:
    """A failure to begin the next transaction must not look like a failed commit."""
    storage = SQLiteStorage(tmp_path / "c.db")
    ledger = Ledger(storage)
    with ledger.transaction() as tx:
        tx.open_account("a", "USD")
        tx.uow.commit()
        assert not storage.connection().connection.in_transaction
        tx.open_account("b", "USD")  # the next statement begins the next transaction
        assert storage.connection().connection.in_transaction
    assert ledger.account("b").code == "b"
    storage.close()


def test_an_audit_inside_an_open_unit_of_work_is_refused(tmp_path: Path) -> None:
    storage = SQLiteStorage(tmp_path / "a.db")
    ledger = Ledger(storage)
    ledger.open_account("world", "USD", allow_negative=True)
    ledger.open_account("a", "USD")
    with storage() as uow:
        ledger_tx_write = uow.ledger
        with pytest.raises(StorageError):
            audit_store(storage)
        assert ledger_tx_write.get_account("a") is not None
    storage.close()


@pytest.mark.parametrize(
    "rate", [Decimal("1E+10000000"), Decimal("1E-10000000"), 10**200, "1" * 200]
)
def test_absurd_rates_are_refused_at_once(rate: object) -> None:
    with pytest.raises((AmountOutOfRange, ValidationError, ValueError)):
        parse_rate(rate)  # type: ignore[arg-type]


def test_absurd_ratios_are_refused_at_once() -> None:
    with pytest.raises(InvalidRatios):
        allocate(usd("1.00"), [Decimal("1E+10000000"), 1])
