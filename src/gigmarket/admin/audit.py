"""Audit a SQLite or PostgreSQL store against every invariant of DESIGN §4 that
stored data can show (``gigmarket audit``).

The ledger's and the orders' own audits do most of the work; this module adds
the checks only a whole store allows, reads everything in one read-only
snapshot, and reports each violation with its amounts as money.

=====================  ===================================================================
invariant              what is checked
=====================  ===================================================================
``0-readable``         every row can be read: an order, a payment operation, a journal
                       entry, a hold or an outbox event that cannot be decoded is
                       reported, and the audit goes on with the rest
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
``8-payments``         every payment operation has its entries, with its amounts, and
                       every entry of the cashier's (in-flight money, a charge of an order
                       paid through it, a payout's hold) has its operation; refunds in
                       flight hold exactly what the open refund operations add up to; an
                       order is paid by at most one kept charge, the one it records
``9-stuck``            no payment operation is open longer than a limit (a week, or
                       ``--open-limit``) without a person being told (each is listed, with
                       why: ``gigmarket payments resolve``)
``10-gateway``         (with a gateway that lists its activity) what the gateway made
                       agrees with the operations: no charge, refund or payout it made is
                       unbooked, none booked that it did not make, amounts agree
=====================  ===================================================================

The snapshot changes nothing and blocks no writer: on SQLite a deferred read
transaction (WAL readers never wait for the writer) with ``query_only`` set; on
PostgreSQL a ``REPEATABLE READ, READ ONLY`` transaction that takes no row
locks. A live store is therefore audited as of one instant, and an entry
committed meanwhile cannot make it report a violation that is not there.
"""

from __future__ import annotations

import json
import re
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime, timedelta
from decimal import Decimal
from types import TracebackType
from typing import Any, Self

import attrs

from gigmarket.admin.gateway_audit import audit_gateway, audit_open, gateway_listing
from gigmarket.cashier.audit import ATTENTION_AFTER, PaymentEntries, audit_operations
from gigmarket.cashier.model import (
    OPEN_STATUSES,
    OperationKind,
    OperationStatus,
    PaymentOperation,
)
from gigmarket.errors import GigmarketError, StorageError
from gigmarket.escrow.audit import Violation, audit_ledger
from gigmarket.escrow.model import Hold, JournalEntry, LedgerAccount
from gigmarket.gateways.protocols import ListsActivity
from gigmarket.money import exponent
from gigmarket.orders import DEFAULT_PROCESS, Order
from gigmarket.orders.audit import audit_orders
from gigmarket.ports import Storage
from gigmarket.storage.codec import decode, parse_instant
from gigmarket.storage.sql.payments import _COLUMNS as _OPERATION_COLUMNS
from gigmarket.storage.sql.payments import SqlPaymentRepository, _operation
from gigmarket.storage.sql.repositories import (
    ReadOnlyConnection,
    ReadsSnapshots,
    SqlIdempotencyRepository,
    SqlLedgerRepository,
    SqlOrderRepository,
    SqlOutbox,
)

__all__ = ["PROGRESS_EVERY", "Finding", "StoreAudit", "audit_store", "format_money"]

PROGRESS_EVERY = 10_000
"""Journal entries between two progress reports."""

_ESCROW_PREFIX = "escrow:order:"
READABLE = "0-readable"


def invariant_order(invariant: str) -> tuple[int, str]:
    """Sort ``10-gateway`` after ``9-stuck``: by number, then name."""
    number, _, name = invariant.partition("-")
    return (int(number), name) if number.isdigit() else (1_000, invariant)


_UNREADABLE = (ValueError, TypeError, KeyError, AttributeError, LookupError, GigmarketError)
"""What decoding a damaged row raises (JSON, attrs, money and codec errors)."""


def _unreadable(row: str, error: BaseException, **subject: str | None) -> Finding:
    reason = " ".join(str(error).split())[:200] or type(error).__name__
    return Finding(
        invariant=READABLE,
        message=f"cannot be read, so no other check could see it ({reason})",
        row=row,
        **subject,
    )


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
    operation_id: str | None = None
    """The payment operation concerned (invariants 0, 9, 10)."""
    row: str | None = None
    """The table of an unreadable row (invariant 0), as in ``outbox event e-1``."""

    @property
    def subject(self) -> str:
        """``order 42``, ``idempotency key 'k'``, ``entry e-7, account a``, or ``ledger``."""
        if self.row is not None:
            return self.row
        if self.order_id is not None:
            return f"order {self.order_id}"
        if self.operation_id is not None:
            return f"payment operation {self.operation_id}"
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
            "operation": self.operation_id,
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
        found = Counter(f.invariant for f in self.findings)
        return {name: found[name] for name in sorted(found, key=invariant_order)}

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


@attrs.define
class _Snapshot:
    """A unit of work that only reads, over one read-only snapshot: what the
    orders' and the payments' audits read, with the rows they cannot decode
    reported rather than raised."""

    db: ReadOnlyConnection
    ledger: _TolerantLedger
    orders: _TolerantOrders
    payments: _TolerantPayments
    idempotency: SqlIdempotencyRepository
    outbox: SqlOutbox
    unreadable: list[Finding]

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        return None

    def commit(self) -> None:
        raise StorageError("the audit only reads; refused: COMMIT")

    def rollback(self) -> None:
        return None


@contextmanager
def _read_snapshot(storage: Storage) -> Iterator[_Snapshot]:
    if not isinstance(storage, ReadsSnapshots):
        raise StorageError(
            f"{type(storage).__name__} is not a SQL store: audit it with "
            "gigmarket.escrow.audit.audit_ledger and gigmarket.orders.audit.audit_orders"
        )
    with storage.read_only() as reader:
        unreadable: list[Finding] = []
        yield _Snapshot(
            db=reader,
            ledger=_TolerantLedger(reader, unreadable),
            orders=_TolerantOrders(reader, unreadable),
            payments=_TolerantPayments(reader, unreadable),
            idempotency=SqlIdempotencyRepository(reader),
            outbox=SqlOutbox(reader),
            unreadable=unreadable,
        )


# -- reading row by row: one damaged row is a finding, not the end of the audit --


class _TolerantLedger(SqlLedgerRepository):
    """The SQL ledger, skipping (and reporting) the rows it cannot decode."""

    def __init__(
        self, db: ReadOnlyConnection, unreadable: list[Finding], seen: set[str] | None = None
    ) -> None:
        super().__init__(db)
        self.reader = db
        self.unreadable = unreadable
        self.seen: set[str] = seen if seen is not None else set()

    def _report(self, row: str, error: BaseException, **subject: str | None) -> None:
        if row not in self.seen:  # an entry read twice (a reversal's original) counts once
            self.seen.add(row)
            self.unreadable.append(_unreadable(row, error, **subject))

    def _entries(self, where: str, parameters: Sequence[Any]) -> list[JournalEntry]:
        try:
            return super()._entries(where, parameters)
        except StorageError:
            raise
        except _UNREADABLE:  # one damaged row in the batch: read them one at a time
            pass
        rows = self._db.all(
            f"SELECT seq, id FROM ledger_entries WHERE {where} ORDER BY seq",  # noqa: S608
            parameters,
        )
        found: list[JournalEntry] = []
        for seq, entry_id in rows:
            try:
                found.extend(super()._entries("seq = ?", (seq,)))
            except StorageError:
                raise
            except _UNREADABLE as error:
                self._report(f"journal entry {entry_id}", error, entry_id=entry_id)
        return found

    def accounts(self) -> Sequence[LedgerAccount]:
        found: list[LedgerAccount] = []
        for code, currency, negative in self._db.all(
            "SELECT code, currency, allow_negative FROM ledger_accounts ORDER BY code"
        ):
            try:
                found.append(
                    LedgerAccount(code=code, currency=currency, allow_negative=bool(negative))
                )
            except _UNREADABLE as error:
                self._report(f"ledger account {code}", error, account=code)
        return found

    def _holds(self, where: str, parameters: Sequence[Any]) -> list[Hold]:
        found: list[Hold] = []
        for hold_id, document in self._db.all(
            f"SELECT id, document FROM ledger_holds WHERE {where} ORDER BY id",  # noqa: S608
            parameters,
        ):
            try:
                found.append(decode(Hold, json.loads(document)))
            except _UNREADABLE as error:
                self._report(f"hold {hold_id}", error)
        return found

    def pending_holds(self) -> Sequence[Hold]:
        return self._holds("status = ?", ("pending",))

    def get_hold(self, hold_id: str) -> Hold | None:
        found = self._holds("id = ?", (hold_id,))
        return found[0] if found else None


class _TolerantOrders(SqlOrderRepository):
    """The order repository, reading (and decoding) every order once, row by row."""

    def __init__(self, db: ReadOnlyConnection, unreadable: list[Finding]) -> None:
        super().__init__(db)
        self._reader = db
        self._unreadable = unreadable
        self._orders: dict[str, Order] | None = None

    def orders(self) -> Sequence[Order]:
        if self._orders is None:
            self._orders = {}
            for order_id, document in self._reader.all(
                "SELECT id, document FROM orders ORDER BY id"
            ):
                try:
                    self._orders[order_id] = decode(Order, json.loads(document))
                except _UNREADABLE as error:
                    self._unreadable.append(
                        _unreadable(f"order {order_id}", error, order_id=order_id)
                    )
        return list(self._orders.values())

    def get(self, order_id: str) -> Order | None:
        self.orders()
        return (self._orders or {}).get(order_id)


class _TolerantPayments(SqlPaymentRepository):
    """Every payment operation, decoded row by row once; served from memory."""

    def __init__(self, db: ReadOnlyConnection, unreadable: list[Finding]) -> None:
        super().__init__(db)
        self._reader = db
        self._unreadable = unreadable
        self._all: list[PaymentOperation] | None = None

    def all_operations(self) -> list[PaymentOperation]:
        if self._all is None:
            self._all = []
            for row in self._reader.all(
                f"SELECT {_OPERATION_COLUMNS} FROM payment_operations "  # noqa: S608
                "ORDER BY created_at, id"
            ):
                try:
                    self._all.append(_operation(row))
                except _UNREADABLE as error:
                    self._unreadable.append(
                        _unreadable(f"payment operation {row[0]}", error, operation_id=row[0])
                    )
        return self._all

    def get_operation(self, operation_id: str) -> PaymentOperation | None:
        return next((op for op in self.all_operations() if op.id == operation_id), None)

    def operations_for(
        self, subject: str, kind: OperationKind | None = None
    ) -> list[PaymentOperation]:
        return [
            op
            for op in self.all_operations()
            if op.subject == subject and (kind is None or op.kind is kind)
        ]

    def open_operations(
        self,
        limit: int,
        *,
        after: tuple[datetime, str] | None = None,
        status: OperationStatus | None = None,
    ) -> list[PaymentOperation]:
        return [
            op
            for op in self.all_operations()
            if op.status in OPEN_STATUSES
            and (status is None or op.status is status)
            and (after is None or (op.created_at, op.id) > after)
        ][: max(limit, 0)]


def _outbox(db: ReadOnlyConnection, orders: set[str]) -> list[Finding]:
    found: list[Finding] = []
    for event_id, order_id, occurred_at, payload in db.all(
        "SELECT id, order_id, occurred_at, payload FROM outbox ORDER BY seq"
    ):
        try:
            parse_instant(occurred_at)
            if not isinstance(json.loads(payload), dict):
                raise ValueError("the payload is not a JSON object")
        except _UNREADABLE as error:
            found.append(_unreadable(f"outbox event {event_id}", error))
            continue
        if order_id not in orders:
            found.append(
                Finding(
                    invariant=READABLE,
                    message=f"is about order {order_id}, which does not exist",
                    row=f"outbox event {event_id}",
                )
            )
    return found


class _TeeLedger(_TolerantLedger):
    """The snapshot's ledger, showing each entry to ``see`` as the ledger audit
    reads it (an unreadable row is still reported once)."""

    def __init__(
        self,
        inner: _TolerantLedger,
        see: Callable[[JournalEntry], None],
        progress: Callable[[int], None] | None,
        every: int,
    ) -> None:
        super().__init__(inner.reader, inner.unreadable, inner.seen)
        self._inner = inner
        self._see = see
        self._progress = progress
        self._every = max(every, 1)

    def iter_entries(self) -> Iterator[JournalEntry]:
        for count, entry in enumerate(super().iter_entries(), start=1):
            self._see(entry)
            if self._progress is not None and count % self._every == 0:
                self._progress(count)
            yield entry


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


def _duplicate_keys(db: ReadOnlyConnection) -> list[Finding]:
    # Keys are unique per scope; a key is named as journal entries carry it,
    # ``<scope> <key>`` (see gigmarket.idempotency.ScopedKey.qualified).
    rows = db.all(
        "SELECT scope, key, operation, result_id FROM idempotency_keys "
        "WHERE scope || ' ' || key IN (SELECT scope || ' ' || key FROM idempotency_keys "
        "GROUP BY scope, key HAVING COUNT(*) > 1) "
        "ORDER BY scope, key, result_id"
    )
    uses: dict[str, list[str]] = defaultdict(list)
    for scope, key, operation, result_id in rows:
        uses[f"{scope} {key}"].append(f"{operation} → {result_id}")
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
    storage: Storage,
    *,
    progress: Callable[[int], None] | None = None,
    progress_every: int = PROGRESS_EVERY,
    gateway: ListsActivity | None = None,
    since: datetime | None = None,
    open_limit: timedelta | None = None,
    now: datetime | None = None,
) -> StoreAudit:
    """Audit a :class:`~gigmarket.storage.sqlite.store.SQLiteStorage` or
    :class:`~gigmarket.storage.postgres.store.PostgresStorage` in one read-only
    snapshot; ``progress(entries read)`` is called every ``progress_every`` entries.

    With ``gateway`` (an adapter that lists its activity), what it made since
    ``since`` is compared with the payment operations (``10-gateway``); it is
    listed *before* the snapshot is read, so that nothing the gateway made
    meanwhile is taken for missing. Payment operations open for longer than
    ``open_limit`` (a week, :attr:`CashierPolicy.attention_after`, unless
    given) at ``now`` (the system clock's, unless given) are reported
    (``9-stuck``).
    """
    listed = gateway_listing(gateway, since) if gateway is not None else None
    with _read_snapshot(storage) as snapshot:
        checks = _EntryChecks()
        payment_entries = PaymentEntries()

        def see(entry: JournalEntry) -> None:
            checks.see(entry)
            payment_entries.see(entry)

        tee = _TeeLedger(snapshot.ledger, see, progress, progress_every)
        report = audit_ledger(tee)
        if checks.seen != report.entries:  # the ledger audit read its entries another way
            checks, payment_entries = _EntryChecks(), PaymentEntries()
            for entry in snapshot.ledger.iter_entries():
                see(entry)
        accounts = snapshot.ledger.accounts()
        order_violations = audit_orders(snapshot, DEFAULT_PROCESS)
        operations = snapshot.payments.all_operations()
        holds = {hold.id: hold for hold in snapshot.ledger.pending_holds()}
        for op in operations:
            if op.hold_id is not None and op.hold_id not in holds:
                hold = snapshot.ledger.get_hold(op.hold_id)
                if hold is not None:
                    holds[hold.id] = hold
        order_violations += audit_operations(snapshot, operations, payment_entries, holds)
        orders = {order.id: order for order in snapshot.orders.orders()}
        key_count = int(snapshot.db.one("SELECT COUNT(*) FROM idempotency_keys")[0])
        duplicate_keys = _duplicate_keys(snapshot.db)
        outbox = _outbox(snapshot.db, set(orders) | _unreadable_orders(snapshot.unreadable))
        unreadable = list(snapshot.unreadable)
    currencies = {account.code: account.currency for account in accounts}
    findings = [
        _finding(violation, currencies, orders)
        for violation in (*report.violations, *order_violations)
    ]
    findings.extend(checks.finish(accounts))
    findings.extend(duplicate_keys)
    findings.extend(unreadable)
    findings.extend(outbox)
    if listed is not None:
        findings.extend(
            Finding(
                invariant=problem.invariant,
                message=problem.message,
                operation_id=problem.operation_id,
            )
            for problem in audit_gateway(listed, operations, payment_entries)
        )
    findings.extend(
        Finding(
            invariant=problem.invariant,
            message=problem.message,
            operation_id=problem.operation_id,
        )
        for problem in audit_open(
            operations,
            open_limit=open_limit if open_limit is not None else ATTENTION_AFTER,
            now=now,
        )
    )
    # stable: keeps each check's order within an invariant
    findings.sort(key=lambda finding: invariant_order(finding.invariant))
    return StoreAudit(
        accounts=report.accounts,
        entries=report.entries,
        orders=len(orders),
        idempotency_keys=key_count,
        findings=tuple(findings),
    )


def _unreadable_orders(unreadable: Sequence[Finding]) -> set[str]:
    return {f.order_id for f in unreadable if f.order_id is not None}
