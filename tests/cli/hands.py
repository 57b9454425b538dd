"""Corrupting a store by hand, the way a broken tool, a manual fix or a bad
restore could: raw SQL, below the library.

The schemas refuse most damage (primary keys, CHECK constraints, append-only
triggers, on PostgreSQL a balance check at commit), so each corruption first
removes the guard it must get past, as such a tool or restore would have:
SQLite tables are rebuilt without the constraint (SQLite cannot drop one),
PostgreSQL constraints and triggers are dropped.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Sequence
from contextlib import closing
from typing import Any, Protocol

FORGED_AT = "2026-01-11T09:00:00.000000+00:00"

Statement = tuple[str, Sequence[Any]]


class Hands(Protocol):
    """Raw access to one store, with a way past each of its guards."""

    def sql(self, *statements: Statement) -> list[tuple[Any, ...]]:
        """Run statements (``?`` placeholders) in one transaction; the last one's rows."""
        ...

    def drop_non_negative_check(self) -> None: ...

    def drop_key_uniqueness(self) -> None: ...

    def drop_append_only(self) -> None: ...

    def drop_balance_check(self) -> None: ...

    def drop_account_reference(self) -> None: ...

    def set_order_state(self, order_id: str, state: str) -> None: ...


class SQLiteHands:
    def __init__(self, path: str) -> None:
        self.path = path

    def sql(self, *statements: Statement) -> list[tuple[Any, ...]]:
        # Foreign keys are off on a raw connection unless asked for, as in most tools.
        with closing(sqlite3.connect(self.path, isolation_level=None)) as connection:
            connection.execute("BEGIN")
            rows: list[tuple[Any, ...]] = []
            for statement, parameters in statements:
                rows = connection.execute(statement, parameters).fetchall()
            connection.execute("COMMIT")
        return rows

    def _rebuild_without(self, table: str, pattern: str, replacement: str) -> None:
        """Rebuild ``table`` from its own CREATE statement with ``pattern`` replaced
        (the procedure of https://www.sqlite.org/lang_altertable.html#otheralter)."""
        ((create,),) = self.sql(
            ("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?", (table,))
        )
        changed, count = re.subn(pattern, replacement, create)
        if count != 1:
            raise AssertionError(f"{pattern!r} not found in {create}")
        with closing(sqlite3.connect(self.path, isolation_level=None)) as connection:
            connection.execute("PRAGMA foreign_keys = OFF")
            connection.execute("BEGIN")
            connection.execute(changed.replace(f"CREATE TABLE {table}", "CREATE TABLE rebuilt", 1))
            connection.execute(f"INSERT INTO rebuilt SELECT * FROM {table}")
            connection.execute(f"DROP TABLE {table}")
            connection.execute(f"ALTER TABLE rebuilt RENAME TO {table}")
            connection.execute("COMMIT")

    def drop_non_negative_check(self) -> None:
        self._rebuild_without(
            "ledger_accounts", r",\s*CHECK \(allow_negative = 1 OR posted - held >= 0\)", ""
        )

    def drop_key_uniqueness(self) -> None:
        self._rebuild_without("idempotency_keys", r",\s*PRIMARY KEY \(scope, key\)", "")

    def drop_append_only(self) -> None:
        triggers = self.sql(
            ("SELECT name FROM sqlite_master WHERE type = 'trigger' AND name LIKE ?", ("%append%",))
        )
        self.sql(*((f"DROP TRIGGER {name}", ()) for (name,) in triggers))

    def drop_balance_check(self) -> None:
        """SQLite has none: the library checks balance before it writes."""

    def drop_account_reference(self) -> None:
        """Foreign keys are not enforced on a raw SQLite connection."""

    def set_order_state(self, order_id: str, state: str) -> None:
        self.sql(
            (
                "UPDATE orders SET state = ?, document = json_set(document, '$.state', ?) "
                "WHERE id = ?",
                (state, state, order_id),
            )
        )


class PostgresHands:
    def __init__(self, url: str, schema: str) -> None:
        self.url = url
        self.schema = schema

    def sql(self, *statements: Statement) -> list[tuple[Any, ...]]:
        import psycopg  # noqa: PLC0415 -- optional extra

        with psycopg.connect(self.url) as connection:
            connection.execute(f'SET search_path TO "{self.schema}"')
            rows: list[tuple[Any, ...]] = []
            for statement, parameters in statements:
                cursor = connection.execute(statement.replace("?", "%s"), tuple(parameters))
                rows = cursor.fetchall() if cursor.description else []
            connection.commit()
        return rows

    def _constraint(self, table: str, kind: str, containing: str) -> str:
        ((name,),) = self.sql(
            (
                "SELECT conname FROM pg_constraint WHERE conrelid = CAST(? AS regclass) "
                "AND contype = ? AND pg_get_constraintdef(oid) LIKE ?",
                (f'"{self.schema}".{table}', kind, f"%{containing}%"),
            )
        )
        return str(name)

    def _drop_constraint(self, table: str, kind: str, containing: str) -> None:
        name = self._constraint(table, kind, containing)
        self.sql((f"ALTER TABLE {table} DROP CONSTRAINT {name}", ()))

    def drop_non_negative_check(self) -> None:
        self._drop_constraint("ledger_accounts", "c", "allow_negative = 1")

    def drop_key_uniqueness(self) -> None:
        self._drop_constraint("idempotency_keys", "p", "PRIMARY KEY")

    def drop_append_only(self) -> None:
        self.sql(
            *(
                (f"DROP TRIGGER {table}_append_only ON {table}", ())
                for table in ("ledger_entries", "ledger_postings", "ledger_references")
            )
        )

    def drop_balance_check(self) -> None:
        self.sql(("DROP TRIGGER ledger_postings_balanced ON ledger_postings", ()))

    def drop_account_reference(self) -> None:
        self._drop_constraint("ledger_postings", "f", "ledger_accounts")

    def set_order_state(self, order_id: str, state: str) -> None:
        self.sql(
            (
                "UPDATE orders SET state = ?, document = CAST(jsonb_set(CAST(document AS jsonb), "
                "'{state}', to_jsonb(CAST(? AS text))) AS text) WHERE id = ?",
                (state, state, order_id),
            )
        )


def forge_entry(
    hands: Hands,
    entry_id: str,
    postings: Sequence[tuple[str, int]],
    *,
    currency: str = "USD",
    key: str | None = None,
    reverses: str | None = None,
    update_balances: bool = True,
) -> None:
    """Write a journal entry behind the ledger's back; by default keep the
    stored balances in step, as a careful but wrong tool would."""
    statements: list[Statement] = [
        (
            "INSERT INTO ledger_entries (id, created_at, memo, reverses, hold_id, idempotency_key)"
            " VALUES (?, ?, 'forged by hand', ?, NULL, ?)",
            (entry_id, FORGED_AT, reverses, key),
        )
    ]
    for line, (account, units) in enumerate(postings):
        statements.append(
            (
                "INSERT INTO ledger_postings (entry_seq, line, account, units, currency) "
                "VALUES ((SELECT seq FROM ledger_entries WHERE id = ?), ?, ?, ?, ?)",
                (entry_id, line, account, units, currency),
            )
        )
        if update_balances:
            statements.append(
                ("UPDATE ledger_accounts SET posted = posted + ? WHERE code = ?", (units, account))
            )
    hands.sql(*statements)
