"""The repositories of the SQL adapters, written once for every engine.

SQLite and PostgreSQL differ in how they connect, lock and number rows, not
in what gigmarket stores. Each adapter hands these repositories a
:class:`SqlConnection` that speaks its engine (placeholders, ``FOR UPDATE``,
``SKIP LOCKED``, driver errors translated into
:class:`~gigmarket.errors.StorageError`); the SQL here is the common subset
both understand. Aggregates (orders, holds, reviews) are JSON documents next
to the columns that are queried; ledger entries are normalised into postings
and references so that an auditor can check them with plain SQL.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Iterator, Sequence
from contextlib import AbstractContextManager
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

from gigmarket.errors import (
    ConcurrencyConflict,
    IdempotencyConflict,
    StorageError,
    TransientStorageError,
)
from gigmarket.escrow.model import (
    AccountBalance,
    Hold,
    HoldStatus,
    JournalEntry,
    LedgerAccount,
    Posting,
)
from gigmarket.idempotency import IdempotencyRecord
from gigmarket.money import Amount
from gigmarket.orders.events import OrderEvent
from gigmarket.orders.model import Actor, Order, Review, ScheduledAction
from gigmarket.storage.codec import decode, encode, format_instant, parse_instant

__all__ = [
    "ReadOnlyConnection",
    "ReadsSnapshots",
    "SqlConnection",
    "SqlIdempotencyRepository",
    "SqlLedgerRepository",
    "SqlOrderRepository",
    "SqlOutbox",
]


class SqlConnection(Protocol):
    """What the repositories need from an engine's connection.

    SQL is written with ``?`` placeholders; a connection for an engine that
    uses another style rewrites them.
    """

    for_update: str
    """Appended to a SELECT that reads rows about to be changed (``" FOR UPDATE"``)."""
    skip_locked: str
    """Appended to a SELECT that claims work other workers may claim too."""

    def execute(self, sql: str, parameters: Sequence[Any] = ()) -> Any:
        """Run one statement; the result has ``rowcount``, ``fetchone``, ``fetchall``."""
        ...

    def one(self, sql: str, parameters: Sequence[Any] = ()) -> Any: ...

    def all(self, sql: str, parameters: Sequence[Any] = ()) -> list[Any]: ...

    def insert_returning_seq(self, sql: str, parameters: Sequence[Any]) -> int:
        """Run an ``INSERT ... RETURNING seq`` and return the new row's ``seq``."""
        ...


class ReadOnlyConnection:
    """A connection that only reads (a SELECT) and locks nothing: what
    :meth:`ReadsSnapshots.read_only` hands out."""

    for_update = ""
    skip_locked = ""

    def __init__(self, db: SqlConnection) -> None:
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


@runtime_checkable
class ReadsSnapshots(Protocol):
    """A SQL store that can be read as of one instant, changing nothing and
    blocking no writer (what ``gigmarket audit`` reads)."""

    def read_only(self) -> AbstractContextManager[ReadOnlyConnection]:
        """A read-only transaction on this thread's connection, rolled back at
        the end; refused while a unit of work is open on the thread."""
        ...


class SqlLedgerRepository:
    """The ledger port on any SQL engine gigmarket supports."""

    def __init__(self, db: SqlConnection) -> None:
        self._db = db

    def get_account(self, code: str) -> LedgerAccount | None:
        row = self._db.one(
            "SELECT code, currency, allow_negative FROM ledger_accounts WHERE code = ?", (code,)
        )
        if row is None:
            return None
        return LedgerAccount(code=row[0], currency=row[1], allow_negative=bool(row[2]))

    def add_account(self, account: LedgerAccount, balance: AccountBalance) -> None:
        self._db.execute(
            "INSERT INTO ledger_accounts (code, currency, allow_negative, posted, held) "
            "VALUES (?, ?, ?, ?, ?)",
            (
                account.code,
                account.currency,
                int(account.allow_negative),
                balance.posted,
                balance.held,
            ),
        )

    def lock_balances(self, codes: Collection[str]) -> dict[str, AccountBalance]:
        # Rows are read in one sorted order and locked where the engine locks rows
        # (PostgreSQL: FOR NO KEY UPDATE), so two writers can neither deadlock nor both
        # spend a balance they read before the other's commit. SQLite's BEGIN
        # IMMEDIATE already holds the whole database's write lock.
        ordered = sorted(set(codes))
        found: dict[str, AccountBalance] = {}
        for start in range(0, len(ordered), 500):
            chunk = ordered[start : start + 500]
            marks = ",".join("?" * len(chunk))
            for code, currency, posted, held in self._db.all(
                f"SELECT code, currency, posted, held FROM ledger_accounts "  # noqa: S608
                f"WHERE code IN ({marks}) ORDER BY code{self._db.for_update}",
                chunk,
            ):
                found[code] = AccountBalance(
                    account=code, currency=currency, posted=posted, held=held
                )
        return found

    def save_balance(self, balance: AccountBalance) -> None:
        self._db.execute(
            "UPDATE ledger_accounts SET posted = ?, held = ? WHERE code = ?",
            (balance.posted, balance.held, balance.account),
        )

    def add_entry(self, entry: JournalEntry) -> None:
        seq = self._db.insert_returning_seq(
            "INSERT INTO ledger_entries (id, created_at, memo, reverses, hold_id, idempotency_key) "
            "VALUES (?, ?, ?, ?, ?, ?) RETURNING seq",
            (
                entry.id,
                format_instant(entry.created_at),
                entry.memo,
                entry.reverses,
                entry.hold_id,
                entry.idempotency_key,
            ),
        )
        for line, posting in enumerate(entry.postings):
            self._db.execute(
                "INSERT INTO ledger_postings (entry_seq, line, account, units, currency) "
                "VALUES (?, ?, ?, ?, ?)",
                (seq, line, posting.account, posting.amount.units, posting.amount.currency),
            )
        for line, reference in enumerate(dict.fromkeys(entry.references)):
            self._db.execute(
                "INSERT INTO ledger_references (entry_seq, line, reference) VALUES (?, ?, ?)",
                (seq, line, reference),
            )

    _ENTRY_COLUMNS = "seq, id, created_at, memo, reverses, hold_id, idempotency_key"

    def _entries(self, where: str, parameters: Sequence[Any]) -> list[JournalEntry]:
        rows = self._db.all(
            f"SELECT {self._ENTRY_COLUMNS} FROM ledger_entries WHERE {where} ORDER BY seq",  # noqa: S608 -- fixed fragments
            parameters,
        )
        if not rows:
            return []
        seqs = [row[0] for row in rows]
        postings: dict[int, list[Posting]] = {seq: [] for seq in seqs}
        references: dict[int, list[str]] = {seq: [] for seq in seqs}
        for start in range(0, len(seqs), 500):
            chunk = seqs[start : start + 500]
            marks = ",".join("?" * len(chunk))
            for seq, account, units, currency in self._db.all(
                f"SELECT entry_seq, account, units, currency FROM ledger_postings "  # noqa: S608
                f"WHERE entry_seq IN ({marks}) ORDER BY entry_seq, line",
                chunk,
            ):
                postings[seq].append(Posting(account, Amount(units=units, currency=currency)))
            for seq, reference in self._db.all(
                f"SELECT entry_seq, reference FROM ledger_references "  # noqa: S608
                f"WHERE entry_seq IN ({marks}) ORDER BY entry_seq, line",
                chunk,
            ):
                references[seq].append(reference)
        return [
            JournalEntry(
                id=entry_id,
                postings=tuple(postings[seq]),
                created_at=parse_instant(created_at),
                memo=memo,
                references=tuple(references[seq]),
                reverses=reverses,
                hold_id=hold_id,
                idempotency_key=key,
            )
            for seq, entry_id, created_at, memo, reverses, hold_id, key in rows
        ]

    def get_entry(self, entry_id: str) -> JournalEntry | None:
        found = self._entries("id = ?", (entry_id,))
        return found[0] if found else None

    def entries_for_account(self, code: str) -> Sequence[JournalEntry]:
        return self._entries(
            "seq IN (SELECT entry_seq FROM ledger_postings WHERE account = ?)", (code,)
        )

    def entries_with_reference(self, reference: str) -> Sequence[JournalEntry]:
        return self._entries(
            "seq IN (SELECT entry_seq FROM ledger_references WHERE reference = ?)", (reference,)
        )

    def find_reversal(self, entry_id: str) -> JournalEntry | None:
        found = self._entries("reverses = ?", (entry_id,))
        return found[0] if found else None

    def add_hold(self, hold: Hold) -> None:
        self._db.execute(
            "INSERT INTO ledger_holds (id, source, destination, status, document) "
            "VALUES (?, ?, ?, ?, ?)",
            (hold.id, hold.source, hold.destination, hold.status.value, json.dumps(encode(hold))),
        )

    def get_hold(self, hold_id: str) -> Hold | None:
        row = self._db.one("SELECT document FROM ledger_holds WHERE id = ?", (hold_id,))
        return None if row is None else decode(Hold, json.loads(row[0]))

    def lock_hold(self, hold_id: str) -> Hold | None:
        row = self._db.one(
            f"SELECT document FROM ledger_holds WHERE id = ?{self._db.for_update}",  # noqa: S608
            (hold_id,),
        )
        return None if row is None else decode(Hold, json.loads(row[0]))

    def save_hold(self, hold: Hold) -> None:
        # Only a pending hold may change: of two transactions resolving one hold
        # at once, the second finds it resolved here (its UPDATE waits for the
        # first's row lock, then re-checks the status), fails, and is retried,
        # which then refuses it as already resolved. Without the condition both
        # would post, and the money would move twice.
        cursor = self._db.execute(
            "UPDATE ledger_holds SET status = ?, document = ? WHERE id = ? AND status = ?",
            (hold.status.value, json.dumps(encode(hold)), hold.id, HoldStatus.PENDING.value),
        )
        if cursor.rowcount != 1:
            if self._db.one("SELECT 1 FROM ledger_holds WHERE id = ?", (hold.id,)) is None:
                raise StorageError(f"hold {hold.id!r} was never added")
            raise TransientStorageError(f"hold {hold.id!r} was resolved by another transaction")

    def accounts(self) -> Sequence[LedgerAccount]:
        return [
            LedgerAccount(code=code, currency=currency, allow_negative=bool(negative))
            for code, currency, negative in self._db.all(
                "SELECT code, currency, allow_negative FROM ledger_accounts ORDER BY code"
            )
        ]

    def iter_entries(self) -> Iterator[JournalEntry]:
        last = 0
        while True:
            bounds = self._db.one(
                "SELECT MIN(seq), MAX(seq) FROM "
                "(SELECT seq FROM ledger_entries WHERE seq > ? ORDER BY seq LIMIT 500) AS batch",
                (last,),
            )
            if bounds is None or bounds[0] is None:
                return
            first, last = bounds
            yield from self._entries("seq BETWEEN ? AND ?", (first, last))

    def pending_holds(self) -> Sequence[Hold]:
        return [
            decode(Hold, json.loads(document))
            for (document,) in self._db.all(
                "SELECT document FROM ledger_holds WHERE status = ? ORDER BY id",
                (HoldStatus.PENDING.value,),
            )
        ]


class SqlIdempotencyRepository:
    """The idempotency port in SQL."""

    def __init__(self, db: SqlConnection) -> None:
        self._db = db

    def get_idempotency(self, scope: str, key: str) -> IdempotencyRecord | None:
        row = self._db.one(
            "SELECT operation, fingerprint, result_id FROM idempotency_keys "
            "WHERE scope = ? AND key = ?",
            (scope, key),
        )
        if row is None:
            return None
        return IdempotencyRecord(
            scope=scope, key=key, operation=row[0], fingerprint=row[1], result_id=row[2]
        )

    def add_idempotency(self, record: IdempotencyRecord) -> None:
        try:
            self._db.execute(
                "INSERT INTO idempotency_keys (scope, key, operation, fingerprint, result_id) "
                "VALUES (?, ?, ?, ?, ?)",
                (record.scope, record.key, record.operation, record.fingerprint, record.result_id),
            )
        except TransientStorageError:
            # PostgreSQL: another writer recorded the pair first; the retry
            # sees its record and replays it (or refuses a different payload).
            raise
        except StorageError as error:
            if not _is_unique_violation(error.__cause__):
                raise
            # SQLite serialises writers, so the pair was recorded by this very
            # unit of work: the same answer as the other adapters give.
            raise IdempotencyConflict(
                key=record.key, operation=record.operation, scope=record.scope
            ) from error


def _is_unique_violation(error: BaseException | None) -> bool:
    """Whether a driver error is a primary-key or unique violation (SQLite or PostgreSQL)."""
    sqlite_code = getattr(error, "sqlite_errorcode", None)
    return sqlite_code in (1555, 2067) or getattr(error, "sqlstate", None) == "23505"


class SqlOrderRepository:
    """Orders, timers and reviews in SQL (aggregates as JSON documents)."""

    def __init__(self, db: SqlConnection) -> None:
        self._db = db

    def get(self, order_id: str) -> Order | None:
        # Locked (on engines that lock rows) until the unit of work ends: a
        # command that read an order moves its money before saving it, so a
        # second command on the same order must wait and read the result, not
        # act on the old state and find the escrow already emptied.
        row = self._db.one(
            f"SELECT document FROM orders WHERE id = ?{self._db.for_update}",  # noqa: S608
            (order_id,),
        )
        return None if row is None else decode(Order, json.loads(row[0]))

    def add(self, order: Order) -> None:
        self._db.execute(
            "INSERT INTO orders (id, version, state, buyer_id, seller_id, document) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (
                order.id,
                order.version,
                order.state.value,
                order.buyer_id,
                order.seller_id,
                json.dumps(encode(order)),
            ),
        )

    def save(self, order: Order, *, expected_version: int) -> None:
        cursor = self._db.execute(
            "UPDATE orders SET version = ?, state = ?, document = ? WHERE id = ? AND version = ?",
            (
                order.version,
                order.state.value,
                json.dumps(encode(order)),
                order.id,
                expected_version,
            ),
        )
        if cursor.rowcount != 1:
            raise ConcurrencyConflict(
                f"order {order.id!r} changed since version {expected_version} was read"
            )

    def orders(self) -> Sequence[Order]:
        return [
            decode(Order, json.loads(document))
            for (document,) in self._db.all("SELECT document FROM orders ORDER BY id")
        ]

    def add_timer(self, timer: ScheduledAction) -> None:
        self._db.execute(
            "INSERT INTO order_timers (id, order_id, due_at, done_at, document) "
            "VALUES (?, ?, ?, ?, ?)",
            (
                timer.id,
                timer.order_id,
                format_instant(timer.due_at),
                None if timer.done_at is None else format_instant(timer.done_at),
                json.dumps(encode(timer)),
            ),
        )

    def save_timer(self, timer: ScheduledAction) -> None:
        self._db.execute(
            "UPDATE order_timers SET done_at = ?, document = ? WHERE id = ?",
            (
                None if timer.done_at is None else format_instant(timer.done_at),
                json.dumps(encode(timer)),
                timer.id,
            ),
        )

    def timers_for(self, order_id: str) -> Sequence[ScheduledAction]:
        return [
            decode(ScheduledAction, json.loads(document))
            for (document,) in self._db.all(
                "SELECT document FROM order_timers WHERE order_id = ? ORDER BY due_at, id",
                (order_id,),
            )
        ]

    def next_due(self, now: datetime) -> ScheduledAction | None:
        row = self._db.one(
            # The timer and its order are claimed together, skipping both if a
            # command holds the order: waiting for it while holding the timer,
            # which that command retires, would deadlock.
            "SELECT t.document FROM order_timers t JOIN orders o ON o.id = t.order_id "  # noqa: S608
            "WHERE t.done_at IS NULL AND t.due_at <= ? "
            f"ORDER BY t.due_at, t.id LIMIT 1{self._db.skip_locked}",
            (format_instant(now),),
        )
        return None if row is None else decode(ScheduledAction, json.loads(row[0]))

    def add_review(self, review: Review) -> None:
        self._db.execute(
            "INSERT INTO order_reviews (order_id, author, seq, document) VALUES (?, ?, "
            "(SELECT COUNT(*) FROM order_reviews WHERE order_id = ?), ?)",
            (review.order_id, review.author.value, review.order_id, json.dumps(encode(review))),
        )

    def save_review(self, review: Review) -> None:
        self._db.execute(
            "UPDATE order_reviews SET document = ? WHERE order_id = ? AND author = ?",
            (json.dumps(encode(review)), review.order_id, review.author.value),
        )

    def reviews_for(self, order_id: str) -> Sequence[Review]:
        return [
            decode(Review, json.loads(document))
            for (document,) in self._db.all(
                "SELECT document FROM order_reviews WHERE order_id = ? ORDER BY seq", (order_id,)
            )
        ]

    def get_review(self, order_id: str, author: Actor) -> Review | None:
        row = self._db.one(
            "SELECT document FROM order_reviews WHERE order_id = ? AND author = ?",
            (order_id, author.value),
        )
        return None if row is None else decode(Review, json.loads(row[0]))


class SqlOutbox:
    """The outbox in SQL: events in commit order, acknowledged by id."""

    def __init__(self, db: SqlConnection) -> None:
        self._db = db

    def append(self, event: OrderEvent) -> None:
        self._db.execute(
            "INSERT INTO outbox (id, type, order_id, occurred_at, payload) VALUES (?, ?, ?, ?, ?)",
            (
                event.id,
                event.type,
                event.order_id,
                format_instant(event.occurred_at),
                json.dumps(event.payload, sort_keys=True),
            ),
        )

    def pending(self, limit: int) -> list[OrderEvent]:
        return [
            OrderEvent(
                id=event_id,
                type=event_type,
                order_id=order_id,
                occurred_at=parse_instant(occurred_at),
                payload=json.loads(payload),
                sequence=seq,
            )
            for seq, event_id, event_type, order_id, occurred_at, payload in self._db.all(
                "SELECT seq, id, type, order_id, occurred_at, payload FROM outbox "
                "WHERE acknowledged_at IS NULL ORDER BY seq LIMIT ?",
                (max(limit, 0),),
            )
        ]

    def acknowledge(self, event_ids: list[str]) -> None:
        for event_id in event_ids:
            self._db.execute(
                "UPDATE outbox SET acknowledged_at = CAST(CURRENT_TIMESTAMP AS TEXT) "
                "WHERE id = ? AND acknowledged_at IS NULL",
                (event_id,),
            )
