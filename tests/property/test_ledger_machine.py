"""The ledger against a plain dict-of-ints model, step by random step.

Hypothesis opens accounts in three currencies of different exponents, posts
balanced and unbalanced entries, transfers, reserves, posts (wholly or
partly) and voids holds, reverses entries and replays idempotency keys with
the same and with different payloads. After every step the ledger must agree
with the model to the minor unit, and the invariants of DESIGN §4 (1, 2, 4, 5,
6) must hold. A refused operation must leave every stored thing as it was.

The machine takes its store from ``make_storage`` so that other adapters can
run the same machine by subclassing.
"""

from __future__ import annotations

import itertools
import os
import tempfile
import uuid
from collections import defaultdict
from datetime import UTC, datetime
from typing import Any

import attrs
import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    consumes,
    initialize,
    invariant,
    multiple,
    precondition,
    rule,
)

from gigmarket.clock import ManualClock
from gigmarket.errors import (
    AccountConflict,
    AlreadyReversed,
    CurrencyMismatch,
    HoldAlreadyResolved,
    HoldExceeded,
    IdempotencyConflict,
    InsufficientFunds,
    UnbalancedEntry,
)
from gigmarket.escrow.audit import audit_ledger
from gigmarket.escrow.ledger import Ledger
from gigmarket.escrow.model import HoldStatus, Posting
from gigmarket.ids import sequential_ids
from gigmarket.money import Amount
from gigmarket.storage.memory.store import MemoryStorage
from gigmarket.storage.postgres.store import PostgresStorage
from gigmarket.storage.sqlite.store import SQLiteStorage

POSTGRES_URL = os.environ.get("GIGMARKET_POSTGRES_URL")
START = datetime(2026, 1, 1, tzinfo=UTC)
CURRENCIES = ("USD", "JPY", "KWD")
CODES = tuple(f"acct:{n}" for n in range(8))


@attrs.define
class ModelHold:
    source: str
    destination: str
    units: int
    status: HoldStatus = HoldStatus.PENDING


@attrs.define
class Replay:
    """What a key was used for, so it can be replayed exactly or misused."""

    operation: str
    call: Any
    result_id: str
    other: Any


class LedgerMachine(RuleBasedStateMachine):
    entries = Bundle("entries")
    holds = Bundle("holds")

    def make_storage(self) -> Any:
        return MemoryStorage()

    def teardown(self) -> None:
        drop = getattr(self.storage, "drop_schema", None)
        if drop is not None:
            drop()

    def __init__(self) -> None:
        super().__init__()
        self.storage = self.make_storage()
        self.ledger = Ledger(self.storage, clock=ManualClock(START), ids=sequential_ids("e"))
        self.accounts: dict[str, tuple[str, bool]] = {}
        self.posted: dict[str, int] = defaultdict(int)
        self.held: dict[str, int] = defaultdict(int)
        self.model_holds: dict[str, ModelHold] = {}
        self.reversed: set[str] = set()
        self.entry_postings: dict[str, list[tuple[str, int]]] = {}
        self.keys: dict[str, Replay] = {}
        self.key_counter = itertools.count()

    # -- helpers ----------------------------------------------------------

    def snapshot(self) -> tuple[object, ...]:
        with self.storage() as uow:
            balances = uow.ledger.lock_balances([a.code for a in uow.ledger.accounts()])
            return (
                tuple(sorted(balances.items())),
                tuple(e.id for e in uow.ledger.iter_entries()),
                tuple(sorted((h.id, h.status.value) for h in uow.ledger.pending_holds())),
            )

    def refused(self, expected: tuple[type[Exception], ...], call: Any) -> None:
        """Run ``call``, which must fail with one of ``expected`` and change nothing."""
        before = self.snapshot()
        with pytest.raises(expected):
            call()
        assert self.snapshot() == before

    def new_key(self, use: bool) -> str | None:
        return f"key-{next(self.key_counter)}" if use else None

    def available(self, code: str) -> int:
        return self.posted[code] - self.held[code]

    def overdrawn(self, deltas: dict[str, int], released: dict[str, int] | None = None) -> bool:
        released = released or {}
        return any(
            not self.accounts[code][1]
            and delta < 0
            and self.posted[code] + delta - (self.held[code] - released.get(code, 0)) < 0
            for code, delta in deltas.items()
        )

    def apply(self, entry_id: str, postings: list[tuple[str, int]]) -> None:
        for code, units in postings:
            self.posted[code] += units
        self.entry_postings[entry_id] = postings

    def draw_pair(self, data: st.DataObject) -> list[str]:
        """Two distinct accounts, of one currency nine times in ten."""
        if data.draw(st.integers(0, 9)):
            currency = data.draw(st.sampled_from(CURRENCIES))
            pool = self.accounts_in(currency)
        else:
            pool = sorted(self.accounts)
        return data.draw(st.lists(st.sampled_from(pool), min_size=2, max_size=2, unique=True))

    def accounts_in(self, currency: str) -> list[str]:
        return sorted(c for c, (cur, _) in self.accounts.items() if cur == currency)

    # -- rules ------------------------------------------------------------

    @initialize(data=st.data())
    def open_world(self, data: st.DataObject) -> None:
        """Every currency starts with a world account that may go negative and two
        that may not, so that every rule has something to work on."""
        for currency in CURRENCIES:
            for code, allow_negative in (
                (f"world:{currency}", True),
                (f"a:{currency}", False),
                (f"b:{currency}", False),
            ):
                self.ledger.open_account(code, currency, allow_negative=allow_negative)
                self.accounts[code] = (currency, allow_negative)

    @rule(
        code=st.sampled_from(CODES),
        currency=st.sampled_from(CURRENCIES),
        allow_negative=st.booleans(),
    )
    def open_account(self, code: str, currency: str, allow_negative: bool) -> None:
        if code in self.accounts and self.accounts[code] != (currency, allow_negative):
            self.refused(
                (AccountConflict,),
                lambda: self.ledger.open_account(code, currency, allow_negative=allow_negative),
            )
            return
        account = self.ledger.open_account(code, currency, allow_negative=allow_negative)
        assert (account.currency, account.allow_negative) == (currency, allow_negative)
        self.accounts[code] = (currency, allow_negative)

    @rule(
        target=entries,
        data=st.data(),
        currency=st.sampled_from(CURRENCIES),
        legs=st.integers(min_value=2, max_value=4),
        skew=st.sampled_from([0, 0, 0, 1, -1]),
        use_key=st.booleans(),
    )
    def post(
        self,
        data: st.DataObject,
        currency: str,
        legs: int,
        skew: int,
        use_key: bool,
    ) -> Any:
        codes = self.accounts_in(currency)
        chosen = data.draw(
            st.lists(st.sampled_from(codes), min_size=legs, max_size=legs, unique=True)
            if len(codes) >= legs
            else st.permutations(codes).map(lambda p: list(p[:2]))
        )
        units = data.draw(
            st.lists(
                st.integers(min_value=1, max_value=5_000),
                min_size=len(chosen) - 1,
                max_size=len(chosen) - 1,
            )
        )
        postings = [(code, u) for code, u in zip(chosen, units, strict=False)]
        postings.append((chosen[-1], -sum(units) + skew))
        if postings[-1][1] == 0:
            postings[-1] = (chosen[-1], -1)  # a zero posting is refused; make it unbalanced
            skew = 1
        lines = [Posting(code, Amount(units=u, currency=currency)) for code, u in postings]
        deltas: dict[str, int] = defaultdict(int)
        for code, u in postings:
            deltas[code] += u
        key = self.new_key(use_key)
        if sum(u for _, u in postings) != 0:
            self.refused((UnbalancedEntry,), lambda: self.ledger.post(lines, idempotency_key=key))
            return multiple()
        if self.overdrawn(deltas):
            self.refused((InsufficientFunds,), lambda: self.ledger.post(lines, idempotency_key=key))
            return multiple()
        entry = self.ledger.post(lines, idempotency_key=key)
        self.apply(entry.id, postings)
        if key is not None:
            other = [Posting(p.account, -p.amount) for p in lines]
            self.keys[key] = Replay(
                "post",
                lambda: self.ledger.post(lines, idempotency_key=key),
                entry.id,
                lambda: self.ledger.post(other, idempotency_key=key),
            )
        return entry.id

    @rule(
        target=entries,
        data=st.data(),
        units=st.integers(min_value=1, max_value=20_000),
        use_key=st.booleans(),
    )
    def transfer(self, data: st.DataObject, units: int, use_key: bool) -> Any:
        source, destination = self.draw_pair(data)
        currency = self.accounts[source][0]
        amount = Amount(units=units, currency=currency)
        key = self.new_key(use_key)

        def call() -> Any:
            return self.ledger.transfer(source, destination, amount, idempotency_key=key)

        if self.accounts[destination][0] != currency:
            self.refused((CurrencyMismatch,), call)
            return multiple()
        if self.overdrawn({source: -units}):
            self.refused((InsufficientFunds,), call)
            return multiple()
        entry = call()
        self.apply(entry.id, [(source, -units), (destination, units)])
        if key is not None:
            bigger = Amount(units=units + 1, currency=currency)
            self.keys[key] = Replay(
                "transfer",
                call,
                entry.id,
                lambda: self.ledger.transfer(source, destination, bigger, idempotency_key=key),
            )
        return entry.id

    @rule(target=holds, data=st.data(), units=st.integers(min_value=1, max_value=20_000))
    def reserve(self, data: st.DataObject, units: int) -> Any:
        source, destination = self.draw_pair(data)
        currency = self.accounts[source][0]
        amount = Amount(units=units, currency=currency)

        def call() -> Any:
            return self.ledger.reserve(source, destination, amount)

        if self.accounts[destination][0] != currency:
            self.refused((CurrencyMismatch,), call)
            return multiple()
        if not self.accounts[source][1] and self.available(source) < units:
            self.refused((InsufficientFunds,), call)
            return multiple()
        hold = call()
        self.held[source] += units
        self.model_holds[hold.id] = ModelHold(source, destination, units)
        return hold.id

    @rule(target=entries, hold_id=consumes(holds), data=st.data())
    def post_hold(self, hold_id: str, data: st.DataObject) -> Any:
        model = self.model_holds[hold_id]
        currency = self.accounts[model.source][0]
        units = data.draw(st.none() | st.integers(min_value=1, max_value=model.units + 2))

        def call() -> Any:
            amount = None if units is None else Amount(units=units, currency=currency)
            return self.ledger.post_hold(hold_id, amount)

        if model.status is not HoldStatus.PENDING:
            self.refused((HoldAlreadyResolved,), call)
            return multiple()
        if units is not None and units > model.units:
            self.refused((HoldExceeded,), call)
            return multiple()
        posted = model.units if units is None else units
        entry = call()
        self.held[model.source] -= model.units
        self.apply(entry.id, [(model.source, -posted), (model.destination, posted)])
        model.status = HoldStatus.POSTED
        assert self.ledger.hold(hold_id).posted_amount == Amount(units=posted, currency=currency)
        return entry.id

    @rule(hold_id=holds)
    def void_hold(self, hold_id: str) -> None:
        model = self.model_holds[hold_id]
        if model.status is not HoldStatus.PENDING:
            self.refused((HoldAlreadyResolved,), lambda: self.ledger.void_hold(hold_id))
            return
        self.ledger.void_hold(hold_id)
        self.held[model.source] -= model.units
        model.status = HoldStatus.VOIDED

    @rule(target=entries, entry_id=entries)
    def reverse(self, entry_id: str) -> Any:
        postings = [(code, -units) for code, units in self.entry_postings[entry_id]]
        deltas: dict[str, int] = defaultdict(int)
        for code, units in postings:
            deltas[code] += units
        if entry_id in self.reversed:
            self.refused((AlreadyReversed,), lambda: self.ledger.reverse(entry_id))
            return multiple()
        if self.overdrawn(deltas):
            self.refused((InsufficientFunds,), lambda: self.ledger.reverse(entry_id))
            return multiple()
        reversal = self.ledger.reverse(entry_id)
        assert reversal.reverses == entry_id
        self.reversed.add(entry_id)
        self.apply(reversal.id, postings)
        return reversal.id

    @precondition(lambda self: bool(self.keys))
    @rule(data=st.data(), same=st.booleans())
    def replay_key(self, data: st.DataObject, same: bool) -> None:
        key = data.draw(st.sampled_from(sorted(self.keys)))
        replay = self.keys[key]
        if same:
            before = self.snapshot()
            result = replay.call()
            assert result.id == replay.result_id
            assert self.snapshot() == before
        else:
            self.refused((IdempotencyConflict,), replay.other)

    # -- invariants -------------------------------------------------------

    @invariant()
    def balances_match_the_model(self) -> None:
        for code in self.accounts:
            balance = self.ledger.balance(code)
            assert (balance.posted.units, balance.held.units) == (
                self.posted[code],
                self.held[code],
            ), code

    @invariant()
    def audit_is_clean(self) -> None:
        with self.storage() as uow:
            report = audit_ledger(uow.ledger)
        assert report.ok, report.violations

    @invariant()
    def money_only_moves(self) -> None:
        totals: dict[str, int] = defaultdict(int)
        for code, (currency, _) in self.accounts.items():
            totals[currency] += self.posted[code]
        assert all(total == 0 for total in totals.values()), totals

    @invariant()
    def non_negative_accounts_stay_non_negative(self) -> None:
        for code, (_, allow_negative) in self.accounts.items():
            assert allow_negative or self.available(code) >= 0


TestLedgerMachine = LedgerMachine.TestCase


class SQLiteLedgerMachine(LedgerMachine):
    """The same machine on a real SQLite file, one file per example."""

    def make_storage(self) -> Any:
        directory = tempfile.mkdtemp(prefix="gigmarket-")
        return SQLiteStorage(os.path.join(directory, "ledger.db"), durability="normal")


TestSQLiteLedgerMachine = SQLiteLedgerMachine.TestCase


class PostgresLedgerMachine(LedgerMachine):
    """The same machine on PostgreSQL, one schema per example."""

    def make_storage(self) -> Any:
        return PostgresStorage(POSTGRES_URL or "", schema=f"gm_machine_{uuid.uuid4().hex[:12]}")


PostgresLedgerMachine.TestCase.settings = settings(
    PostgresLedgerMachine.TestCase.settings, max_examples=25
)  # a server round trip per step: fewer, equally long runs keep CI within minutes
TestPostgresLedgerMachine = pytest.mark.postgres(
    pytest.mark.skipif(not POSTGRES_URL, reason="set GIGMARKET_POSTGRES_URL to run it")(
        PostgresLedgerMachine.TestCase
    )
)
