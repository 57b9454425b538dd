"""Audit a SQLite or PostgreSQL store against every invariant of DESIGN §4 that
stored data can show (``gigmarket audit``).

The ledger's and the orders' own audits do most of the work; this module adds
the checks only a whole store allows, reads everything in one read-only
snapshot, and reports each violation with its amounts as money.

=====================  ===================================================================
invariant              what is checked
=====================  ===================================================================
``1-balanced``         every entry, and the whole ledger, sums to zero per currency;
                       every posting goes to a known account of its own currency
``2-non-negative``     no account that may not go negative is below zero now, nor went
                       below zero after any entry in the journal's order
``3-conservation``     per order: charged = seller net + fees + refunds + held; what the
                       order holds is what its escrow account holds; a terminal order
                       holds nothing
``4-stored-balance``   each stored balance is the sum of its postings, each stored hold
                       total the sum of its pending holds
``5-idempotent``       an idempotency key is recorded once, and carried by at most one
                       journal entry (two entries with one key: a command applied twice)
``6-append-only``      a reversal is the exact opposite of an entry that exists, and no
                       entry is reversed twice
``7-atomic``           no entry was written without its postings
``8-payments``         refunds in flight hold exactly what the open refund operations add
                       up to; an order is paid by at most one kept charge, the one it records
``9-stuck``            no payment operation is open longer than a week without a person
                       being told (each is listed, with why: ``gigmarket payments resolve``)
=====================  ===================================================================

The snapshot changes nothing and blocks no writer: on SQLite a deferred read
transaction (WAL readers never wait for the writer) with ``query_only`` set; on
PostgreSQL a ``REPEATABLE READ, READ ONLY`` transaction that takes no row
locks. A live store is therefore audited as of one instant, and an entry
committed meanwhile cannot make it report a violation that is not there.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from decimal import Decimal
from typing import Any, cast

import attrs

from gigmarket.cashier.audit import audit_payments
from gigmarket.cashier.ports import CashierUnitOfWork
from gigmarket.clock import SystemClock
from gigmarket.errors import GigmarketError, StorageError
from gigmarket.escrow.audit import Violation, audit_ledger
from gigmarket.escrow.model import JournalEntry, LedgerAccount
from gigmarket.escrow.ports import LedgerRepository
from gigmarket.money import exponent
from gigmarket.orders import DEFAULT_PROCESS, Order
from gigmarket.orders.audit import audit_orders
from gigmarket.orders.ports import OrdersUnitOfWork
from gigmarket.storage.sql import SqlLedgerRepository, SqlOrderRepository
from gigmarket.storage.sql_payments import SqlPaymentRepository
from gigmarket.storage.sqlite import SQLiteStorage

__all__ = ["PROGRESS_EVERY", "Finding", "StoreAudit", "audit_store", "format_money"]

PROGRESS_EVERY = 10_000
"""Journal entries between two progress reports."""

_ESCROW_PREFIX = "escrow:order:"


def format_money(units: int, currency: str) -> str:
    """Minor units as money, ``5575, "USD"`` → ``55.75 USD``; a currency gigmarket
    does not know (a corrupted row) is shown in minor units rather than guessed."""
    try:
        places = exponent(currency)
    except GigmarketError:
        return f"{units} minor units of {currency}"
    return f"{Decimal(units).scaleb(-places):.{places}f} {currency}"


@attrs.frozen(kw_only=True)
class Finding:
    """One violation: the invariant, what it concerns, and what is wrong."""

    invariant: str
    message: str
    account: str | None = None
    entry_id: str | None = None
    order_id: str | None = None
    key: str | None = None
    """The idempotency key concerned (invariant 5)."""

    @property
    def subject(self) -> str:
        """``order 42``, ``idempotency key 'k'``, ``entry e-7, account a``, or ``ledger``."""
        if self.order_id is not None:
            return f"order {self.order_id}"
        if self.key is not None:
            return f"idempotency key {self.key!r}"
        parts = []
        if self.entry_id is not None:
            parts.append(f"entry {self.entry_id}")
        if self.account is not None:
            parts.append(f"account {self.account}")
        return ", ".join(parts) or "ledger"

    @property
    def line(self) -> str:
        """The report's line: ``[invariant] subject: message``."""
        return f"[{self.invariant}] {self.subject}: {self.message}"

    def as_dict(self) -> dict[str, str | None]:
        return {
            "invariant": self.invariant,
            "account": self.account,
            "entry": self.entry_id,
            "order": self.order_id,
            "idempotency_key": self.key,
            "message": self.message,
        }


@attrs.frozen(kw_only=True)
class StoreAudit:
    """What an audit read and what it found."""

    accounts: int
    entries: int
    orders: int
    idempotency_keys: int
    findings: tuple[Finding, ...]

    @property
    def ok(self) -> bool:
        return not self.findings

    def counts(self) -> dict[str, int]:
        """Violations per invariant, in invariant order."""
        return dict(sorted(Counter(f.invariant for f in self.findings).items()))

    def summary(self) -> str:
        """What was read and the verdict, in one line."""
        checked = (
            f"{self.accounts:,} accounts, {self.entries:,} entries, {self.orders:,} orders, "
            f"{self.idempotency_keys:,} idempotency keys checked"
        )
        if self.ok:
            return f"{checked}; no violations"
        counts = ", ".join(f"{name} {n}" for name, n in self.counts().items())
        found = len(self.findings)
        return f"{checked}; {found} violation{'s' if found > 1 else ''} ({counts})"

    def as_dict(self) -> dict[str, Any]:
        """The report as JSON-able data (``gigmarket audit --json``)."""
        return {
            "ok": self.ok,
            "checked": {
                "accounts": self.accounts,
                "entries": self.entries,
                "orders": self.orders,
                "idempotency_keys": self.idempotency_keys,
            },
            "counts": self.counts(),
            "violations": [finding.as_dict() for finding in self.findings],
        }


# -- reading one consistent snapshot -------------------------------------------


class _ReadOnly:
    """A store connection that only reads and locks nothing."""

    for_update = ""
    skip_locked = ""

    def __init__(self, db: Any) -> None:
        self._db = db

    def execute(self, sql: str, parameters: Sequence[Any] = ()) -> Any:
        if not sql.lstrip().upper().startswith("SELECT"):
            raise StorageError(f"the audit only reads; refused: {sql.split(maxsplit=1)[0]}")
        return self._db.execute(sql, parameters)

    def one(self, sql: str, parameters: Sequence[Any] = ()) -> Any:
        return self.execute(sql, parameters).fetchone()

    def all(self, sql: str, parameters: Sequence[Any] = ()) -> list[Any]:
        return list(self.execute(sql, parameters).fetchall())

    def insert_returning_seq(self, sql: str, parameters: Sequence[Any]) -> int:
        raise StorageError("the audit only reads; refused: INSERT")


@attrs.define
class _Snapshot:
    """What :func:`~gigmarket.orders.audit.audit_orders` needs of a unit of work."""

    db: _ReadOnly
    ledger: SqlLedgerRepository
    orders: Any
    payments: SqlPaymentRepository


@contextmanager
def _read_snapshot(storage: Any) -> Iterator[_Snapshot]:
    if not callable(getattr(storage, "connection", None)):
        raise StorageError(
            f"{type(storage).__name__} is not a SQL store: audit it with "
            "gigmarket.escrow.audit.audit_ledger and gigmarket.orders.audit.audit_orders"
        )
    db = storage.connection()
    if getattr(db, "in_unit_of_work", False) or getattr(db.connection, "in_transaction", False):
        # The thread's connection carries an open unit of work: auditing on it
        # would roll that transaction back (or be rolled into it).
        raise StorageError("audit outside of a unit of work: one is open on this thread")
    on_sqlite = isinstance(storage, SQLiteStorage)
    reader = _ReadOnly(db)
    try:
        if on_sqlite:
            db.execute("PRAGMA query_only = ON")
            db.execute("BEGIN")  # deferred: the snapshot is taken at the first read
        else:
            db.rollback()
            db.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        yield _Snapshot(
            db=reader,
            ledger=SqlLedgerRepository(reader),
            orders=_OrdersOnce(SqlOrderRepository(reader)),
            payments=SqlPaymentRepository(reader),
        )
    finally:
        if on_sqlite:
            if db.connection.in_transaction:
                db.execute("ROLLBACK")
            db.execute("PRAGMA query_only = OFF")
        else:
            db.rollback()


class _OrdersOnce:
    """The order repository, reading (and decoding) all orders only once."""

    def __init__(self, inner: SqlOrderRepository) -> None:
        self._inner = inner
        self._orders: Sequence[Order] | None = None

    def orders(self) -> Sequence[Order]:
        if self._orders is None:
            self._orders = self._inner.orders()
        return self._orders

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


class _TeeLedger:
    """The ledger repository, showing each entry to ``see`` as the ledger audit reads it."""

    def __init__(
        self,
        inner: LedgerRepository,
        see: Callable[[JournalEntry], None],
        progress: Callable[[int], None] | None,
        every: int,
    ) -> None:
        self._inner = inner
        self._see = see
        self._progress = progress
        self._every = max(every, 1)

    def iter_entries(self) -> Iterator[JournalEntry]:
        for count, entry in enumerate(self._inner.iter_entries(), start=1):
            self._see(entry)
            if self._progress is not None and count % self._every == 0:
                self._progress(count)
            yield entry

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


# -- the checks the component audits cannot make ---------------------------------


class _EntryChecks:
    """Invariants 2 (over time), 5 (entries) and 7, one entry at a time."""

    def __init__(self) -> None:
        self.seen = 0
        self._running: dict[tuple[str, str], int] = defaultdict(int)
        self._lowest: dict[tuple[str, str], tuple[int, str]] = {}
        self._keys: dict[str, list[tuple[str, str]]] = defaultdict(list)
        self.findings: list[Finding] = []

    def see(self, entry: JournalEntry) -> None:
        self.seen += 1
        if not entry.postings:
            self.findings.append(
                Finding(
                    invariant="7-atomic",
                    message="the entry has no postings: it was written only in part",
                    entry_id=entry.id,
                )
            )
        deltas: dict[tuple[str, str], int] = defaultdict(int)
        for posting in entry.postings:  # per entry: the ledger checks a whole entry at once
            deltas[posting.account, posting.amount.currency] += posting.amount.units
        for held_in, delta in deltas.items():
            self._running[held_in] += delta
            if self._running[held_in] < self._lowest.get(held_in, (0, ""))[0]:
                self._lowest[held_in] = (self._running[held_in], entry.id)
        if entry.idempotency_key is not None:
            moved = sum(p.amount.units for p in entry.postings if p.amount.units > 0)
            currency = entry.postings[0].amount.currency if entry.postings else "?"
            self._keys[entry.idempotency_key].append(
                (entry.id, format_money(moved, currency) if entry.postings else "nothing")
            )

    def finish(self, accounts: Sequence[LedgerAccount]) -> list[Finding]:
        found = list(self.findings)
        for account in accounts:  # unknown accounts and foreign currencies: see 1-balanced
            lowest = self._lowest.get((account.code, account.currency))
            if lowest is not None and not account.allow_negative:
                balance, entry_id = lowest
                found.append(
                    Finding(
                        invariant="2-non-negative",
                        message="its postings took it to "
                        f"{format_money(balance, account.currency)}",
                        account=account.code,
                        entry_id=entry_id,
                    )
                )
        for key, entries in sorted(self._keys.items()):
            if len(entries) > 1:
                listed = ", ".join(f"{entry_id} ({moved})" for entry_id, moved in entries)
                found.append(
                    Finding(
                        invariant="5-idempotent",
                        message=f"carried by {len(entries)} entries: {listed}",
                        entry_id=entries[-1][0],
                        key=key,
                    )
                )
        return found


def _duplicate_keys(db: _ReadOnly) -> list[Finding]:
    rows = db.all(
        "SELECT key, operation, result_id FROM idempotency_keys WHERE key IN "
        "(SELECT key FROM idempotency_keys GROUP BY key HAVING COUNT(*) > 1) "
        "ORDER BY key, result_id"
    )
    uses: dict[str, list[str]] = defaultdict(list)
    for key, operation, result_id in rows:
        uses[key].append(f"{operation} → {result_id}")
    return [
        Finding(
            invariant="5-idempotent",
            message=f"recorded {len(recorded)} times: {', '.join(recorded)}",
            key=key,
        )
        for key, recorded in uses.items()
    ]


# -- the component audits' violations, with amounts as money -------------------

_AMOUNTS: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(pattern), text)
    for pattern, text in (
        (r"entry sums to (?P<a>-?\d+) in (?P<currency>\w+)", "its postings sum to {a}, not 0"),
        (r"the ledger sums to (?P<a>-?\d+) in (?P<currency>\w+)", "all postings sum to {a}, not 0"),
        (
            r"stored balance (?P<a>-?\d+) != sum of postings (?P<b>-?\d+)",
            "stored balance {a}, but its postings sum to {b}",
        ),
        (
            r"stored hold total (?P<a>-?\d+) != pending holds (?P<b>-?\d+)",
            "stored holds total {a}, but its pending holds add up to {b}",
        ),
        (r"available balance is (?P<a>-?\d+)", "available balance {a}, below zero"),
        (
            r"order .+: charged (?P<a>-?\d+) != accounted (?P<b>-?\d+)",
            "charged {a}, but seller net + fees + refunds + held make {b}",
        ),
        (
            r"order .+: holds (?P<a>-?\d+), escrow account (?P<b>-?\d+)",
            "the order holds {a}, its escrow account {b}",
        ),
        (
            r"order .+ is (?P<state>\w+) but holds (?P<a>-?\d+)",
            "is {state}, a terminal state, but still holds {a} in escrow",
        ),
    )
)


def _with_money(message: str, currency: str | None) -> str:
    """The component audits state amounts in minor units; say them as money."""
    for pattern, text in _AMOUNTS:
        match = pattern.fullmatch(message)
        if match is None:
            continue
        fields = match.groupdict()
        code = fields.pop("currency", None) or currency
        if code is None:
            return message
        return text.format(
            **{
                name: format_money(int(value), code) if name in ("a", "b") else value
                for name, value in fields.items()
            }
        )
    return message


def _finding(violation: Violation, currencies: dict[str, str], orders: dict[str, Order]) -> Finding:
    account = violation.account
    order_id = None
    currency = currencies.get(account) if account is not None else None
    if violation.invariant.startswith("3-") and account and account.startswith(_ESCROW_PREFIX):
        order_id = account.removeprefix(_ESCROW_PREFIX)
        order = orders.get(order_id)
        if order is not None:
            currency = order.currency
    return Finding(
        invariant=violation.invariant,
        message=_with_money(violation.message, currency),
        account=account,
        entry_id=violation.entry_id,
        order_id=order_id,
    )


# -- the audit -------------------------------------------------------------------


def audit_store(
    storage: Any,
    *,
    progress: Callable[[int], None] | None = None,
    progress_every: int = PROGRESS_EVERY,
) -> StoreAudit:
    """Audit a :class:`~gigmarket.storage.sqlite.SQLiteStorage` or
    :class:`~gigmarket.storage.postgres.PostgresStorage` in one read-only
    snapshot; ``progress(entries read)`` is called every ``progress_every`` entries."""
    with _read_snapshot(storage) as snapshot:
        checks = _EntryChecks()
        tee = _TeeLedger(snapshot.ledger, checks.see, progress, progress_every)
        report = audit_ledger(cast(LedgerRepository, tee))
        if checks.seen != report.entries:  # the ledger audit read its entries another way
            checks = _EntryChecks()
            for entry in snapshot.ledger.iter_entries():
                checks.see(entry)
        accounts = snapshot.ledger.accounts()
        order_violations = audit_orders(cast(OrdersUnitOfWork, snapshot), DEFAULT_PROCESS)
        order_violations += audit_payments(
            cast(CashierUnitOfWork, snapshot), now=SystemClock().now()
        )
        orders = {order.id: order for order in snapshot.orders.orders()}
        key_count = int(snapshot.db.one("SELECT COUNT(*) FROM idempotency_keys")[0])
        duplicate_keys = _duplicate_keys(snapshot.db)
    currencies = {account.code: account.currency for account in accounts}
    findings = [
        _finding(violation, currencies, orders)
        for violation in (*report.violations, *order_violations)
    ]
    findings.extend(checks.finish(accounts))
    findings.extend(duplicate_keys)
    findings.sort(key=lambda finding: finding.invariant)  # stable: keeps each check's order
    return StoreAudit(
        accounts=report.accounts,
        entries=report.entries,
        orders=len(orders),
        idempotency_keys=key_count,
        findings=tuple(findings),
    )
