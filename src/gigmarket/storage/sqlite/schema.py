"""The SQLite schema, as an ordered list of forward migrations.

Version *n* of the schema is migrations ``1..n`` applied in order; the
database records its version in ``gigmarket_schema``. The rules the ledger
enforces in Python are repeated here where SQL can say them, so that a bug or
a hand-written ``UPDATE`` cannot break them silently:

* journal entries, postings and references are append-only (triggers abort
  any UPDATE or DELETE);
* an account that may not go negative cannot have ``posted - held < 0``
  (a CHECK constraint);
* an entry is reversed at most once (a UNIQUE column);
* an idempotency key is recorded once (a PRIMARY KEY).
"""

from __future__ import annotations

from gigmarket.storage.sql.key_scopes import WITHDRAWAL_KEYS, key_case, scope_case

__all__ = ["MIGRATIONS", "SCHEMA_VERSION"]

_LEDGER = """
CREATE TABLE ledger_accounts (
    code           TEXT PRIMARY KEY,
    currency       TEXT NOT NULL,
    allow_negative INTEGER NOT NULL CHECK (allow_negative IN (0, 1)),
    posted         INTEGER NOT NULL DEFAULT 0,
    held           INTEGER NOT NULL DEFAULT 0 CHECK (held >= 0),
    CHECK (allow_negative = 1 OR posted - held >= 0)
) STRICT;

CREATE TABLE ledger_entries (
    seq             INTEGER PRIMARY KEY AUTOINCREMENT,
    id              TEXT NOT NULL UNIQUE,
    created_at      TEXT NOT NULL,
    memo            TEXT NOT NULL,
    reverses        TEXT UNIQUE,
    hold_id         TEXT,
    idempotency_key TEXT
) STRICT;

CREATE TABLE ledger_postings (
    entry_seq INTEGER NOT NULL REFERENCES ledger_entries (seq),
    line      INTEGER NOT NULL,
    account   TEXT NOT NULL REFERENCES ledger_accounts (code),
    units     INTEGER NOT NULL CHECK (units <> 0),
    currency  TEXT NOT NULL,
    PRIMARY KEY (entry_seq, line)
) STRICT;
CREATE INDEX ledger_postings_by_account ON ledger_postings (account, entry_seq);

CREATE TABLE ledger_references (
    entry_seq INTEGER NOT NULL REFERENCES ledger_entries (seq),
    line      INTEGER NOT NULL,
    reference TEXT NOT NULL,
    PRIMARY KEY (entry_seq, line),
    UNIQUE (entry_seq, reference)
) STRICT;
CREATE INDEX ledger_references_by_reference ON ledger_references (reference, entry_seq);

CREATE TABLE ledger_holds (
    id            TEXT PRIMARY KEY,
    source        TEXT NOT NULL REFERENCES ledger_accounts (code),
    destination   TEXT NOT NULL REFERENCES ledger_accounts (code),
    status        TEXT NOT NULL CHECK (status IN ('pending', 'posted', 'voided')),
    document      TEXT NOT NULL
) STRICT;
CREATE INDEX ledger_holds_pending ON ledger_holds (status, source);

CREATE TABLE idempotency_keys (
    key         TEXT PRIMARY KEY,
    operation   TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    result_id   TEXT NOT NULL
) STRICT;

CREATE TRIGGER ledger_entries_append_only_update BEFORE UPDATE ON ledger_entries
BEGIN SELECT RAISE(ABORT, 'journal entries are append-only'); END;
CREATE TRIGGER ledger_entries_append_only_delete BEFORE DELETE ON ledger_entries
BEGIN SELECT RAISE(ABORT, 'journal entries are append-only'); END;
CREATE TRIGGER ledger_postings_append_only_update BEFORE UPDATE ON ledger_postings
BEGIN SELECT RAISE(ABORT, 'postings are append-only'); END;
CREATE TRIGGER ledger_postings_append_only_delete BEFORE DELETE ON ledger_postings
BEGIN SELECT RAISE(ABORT, 'postings are append-only'); END;
CREATE TRIGGER ledger_references_append_only_update BEFORE UPDATE ON ledger_references
BEGIN SELECT RAISE(ABORT, 'references are append-only'); END;
CREATE TRIGGER ledger_references_append_only_delete BEFORE DELETE ON ledger_references
BEGIN SELECT RAISE(ABORT, 'references are append-only'); END;
"""

_ORDERS = """
CREATE TABLE orders (
    id        TEXT PRIMARY KEY,
    version   INTEGER NOT NULL,
    state     TEXT NOT NULL,
    buyer_id  TEXT NOT NULL,
    seller_id TEXT NOT NULL,
    document  TEXT NOT NULL
) STRICT;
CREATE INDEX orders_by_state ON orders (state);

CREATE TABLE order_timers (
    id       TEXT PRIMARY KEY,
    order_id TEXT NOT NULL REFERENCES orders (id),
    due_at   TEXT NOT NULL,
    done_at  TEXT,
    document TEXT NOT NULL
) STRICT;
CREATE INDEX order_timers_due ON order_timers (due_at, id) WHERE done_at IS NULL;
CREATE INDEX order_timers_by_order ON order_timers (order_id);

CREATE TABLE order_reviews (
    order_id TEXT NOT NULL REFERENCES orders (id),
    author   TEXT NOT NULL,
    seq      INTEGER NOT NULL,
    document TEXT NOT NULL,
    PRIMARY KEY (order_id, author)
) STRICT;

CREATE TABLE outbox (
    seq             INTEGER PRIMARY KEY AUTOINCREMENT,
    id              TEXT NOT NULL UNIQUE,
    type            TEXT NOT NULL,
    order_id        TEXT NOT NULL,
    occurred_at     TEXT NOT NULL,
    payload         TEXT NOT NULL,
    acknowledged_at TEXT
) STRICT;
CREATE INDEX outbox_pending ON outbox (seq) WHERE acknowledged_at IS NULL;
"""

_CATALOG = """
CREATE TABLE catalog_accounts (
    id       TEXT PRIMARY KEY,
    username TEXT NOT NULL UNIQUE,
    document TEXT NOT NULL
) STRICT;

CREATE TABLE catalog_profiles (
    account_id TEXT PRIMARY KEY REFERENCES catalog_accounts (id),
    document   TEXT NOT NULL
) STRICT;

CREATE TABLE catalog_gigs (
    seq       INTEGER PRIMARY KEY AUTOINCREMENT,
    id        TEXT NOT NULL UNIQUE,
    seller_id TEXT NOT NULL,
    status    TEXT NOT NULL,
    document  TEXT NOT NULL
) STRICT;
CREATE INDEX catalog_gigs_by_seller ON catalog_gigs (seller_id, seq);
CREATE INDEX catalog_gigs_by_status ON catalog_gigs (status, seq);

CREATE TABLE catalog_gig_versions (
    gig_id   TEXT NOT NULL REFERENCES catalog_gigs (id),
    number   INTEGER NOT NULL,
    document TEXT NOT NULL,
    PRIMARY KEY (gig_id, number)
) STRICT;

CREATE TABLE catalog_reviews (
    seq       INTEGER PRIMARY KEY AUTOINCREMENT,
    id        TEXT NOT NULL UNIQUE,
    gig_id    TEXT NOT NULL,
    seller_id TEXT NOT NULL,
    document  TEXT NOT NULL
) STRICT;
CREATE INDEX catalog_reviews_by_gig ON catalog_reviews (gig_id, seq);
CREATE INDEX catalog_reviews_by_seller ON catalog_reviews (seller_id, seq);

CREATE TABLE catalog_outcomes (
    seq       INTEGER PRIMARY KEY AUTOINCREMENT,
    order_id  TEXT NOT NULL UNIQUE,
    gig_id    TEXT NOT NULL,
    seller_id TEXT NOT NULL,
    document  TEXT NOT NULL
) STRICT;
CREATE INDEX catalog_outcomes_by_gig ON catalog_outcomes (gig_id, seq);
CREATE INDEX catalog_outcomes_by_seller ON catalog_outcomes (seller_id, seq);
"""

_SEARCH = """
CREATE TABLE catalog_search_sellers (
    seller_id TEXT PRIMARY KEY REFERENCES catalog_accounts (id),
    suspended INTEGER NOT NULL DEFAULT 0 CHECK (suspended IN (0, 1)),
    country   TEXT,
    languages TEXT
) STRICT;

CREATE TABLE catalog_search_gigs (
    seq           INTEGER PRIMARY KEY,
    gig_id        TEXT NOT NULL UNIQUE REFERENCES catalog_gigs (id),
    seller_id     TEXT NOT NULL,
    version       INTEGER NOT NULL,
    status        TEXT NOT NULL,
    category      TEXT NOT NULL,
    subcategory   TEXT NOT NULL,
    currency      TEXT NOT NULL,
    price_units   INTEGER,
    delivery_days INTEGER,
    published_us  INTEGER NOT NULL,
    words         TEXT NOT NULL
) STRICT;
CREATE INDEX catalog_search_gigs_newest ON catalog_search_gigs (published_us DESC, gig_id)
    WHERE status = 'active';
CREATE INDEX catalog_search_gigs_price ON catalog_search_gigs (currency, price_units, gig_id)
    WHERE status = 'active';

CREATE VIRTUAL TABLE catalog_search_words USING fts5 (
    words, content = 'catalog_search_gigs', content_rowid = 'seq', tokenize = 'ascii'
);
CREATE TRIGGER catalog_search_words_insert AFTER INSERT ON catalog_search_gigs
BEGIN
    INSERT INTO catalog_search_words (rowid, words) VALUES (new.seq, new.words);
END;
CREATE TRIGGER catalog_search_words_delete AFTER DELETE ON catalog_search_gigs
BEGIN
    INSERT INTO catalog_search_words (catalog_search_words, rowid, words)
    VALUES ('delete', old.seq, old.words);
END;
CREATE TRIGGER catalog_search_words_update AFTER UPDATE OF words ON catalog_search_gigs
WHEN old.words IS NOT new.words
BEGIN
    INSERT INTO catalog_search_words (catalog_search_words, rowid, words)
    VALUES ('delete', old.seq, old.words);
    INSERT INTO catalog_search_words (rowid, words) VALUES (new.seq, new.words);
END;
"""
"""The search index (see :mod:`gigmarket.storage.sql.search`): one row per gig
with what SQL can filter and sort on, its words for FTS5, and one row per
seller. The words arrive already split by
:func:`gigmarket.catalog.text.tokens` and joined by spaces, so FTS5's
``ascii`` tokenizer (which splits only at ASCII punctuation and spaces and
keeps every other character, Bengali included) indexes exactly those words;
``unicode61`` would split them again by its own rules (at Bengali vowel signs,
for one) and fold diacritics the memory search does not fold."""

_PAYMENTS = """
CREATE TABLE payment_operations (
    id           TEXT PRIMARY KEY,
    kind         TEXT NOT NULL
        CHECK (kind IN ('payment', 'tip', 'refund', 'payee', 'payout')),
    gateway      TEXT NOT NULL,
    subject      TEXT NOT NULL,
    currency     TEXT NOT NULL,
    units        INTEGER NOT NULL CHECK (units >= 0),
    status       TEXT NOT NULL
        CHECK (status IN ('queued', 'started', 'unknown', 'pending', 'succeeded', 'failed')),
    created_at   TEXT NOT NULL,
    updated_at   TEXT NOT NULL,
    version      INTEGER NOT NULL CHECK (version >= 0),
    gateway_ref  TEXT,
    charge_ref   TEXT,
    hold_id      TEXT,
    credit_units INTEGER CHECK (credit_units >= 0),
    failure      TEXT,
    source       TEXT
) STRICT;
CREATE INDEX payment_operations_by_subject ON payment_operations (subject, created_at, id);
CREATE INDEX payment_operations_open ON payment_operations (created_at, id)
    WHERE status IN ('pending', 'queued', 'started', 'unknown');
"""
"""The payment service's operations (see :mod:`gigmarket.storage.sql.payments`):
one row per gateway call, as plain columns. ``credit_units`` is in the
operation's ``currency``. Settled operations pile up and open ones are few,
so the index ``reconcile`` reads covers only the open ones, in the order it
works through them; its condition is written exactly as the query writes it,
the only way SQLite uses a partial index."""

_PREFIX = "substr(key, 1, instr(key, ':') - 1)"
_COLON = "instr(key, ':')"
_SCOPED_KEYS = (
    f"""
ALTER TABLE idempotency_keys RENAME TO idempotency_keys_unscoped;
CREATE TABLE idempotency_keys (
    scope       TEXT NOT NULL,
    key         TEXT NOT NULL,
    operation   TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    result_id   TEXT NOT NULL,
    PRIMARY KEY (scope, key)
) STRICT;
INSERT INTO idempotency_keys (scope, key, operation, fingerprint, result_id)
SELECT
    {scope_case(_PREFIX, _COLON)},
    {key_case(_PREFIX, _COLON)},
    operation, fingerprint, result_id
FROM idempotency_keys_unscoped;
DROP TABLE idempotency_keys_unscoped;"""  # noqa: S608 -- made of constants, never of input
    + WITHDRAWAL_KEYS
)
"""Idempotency keys move into scopes (see :mod:`gigmarket.idempotency`): the
primary key becomes ``(scope, key)``. Rows written before this version were
all in one namespace; each is given the scope its writer would give it now.
A key gigmarket derived for a ledger entry (``payment:ch_1``, written by one
of the ledger's operations) becomes ``gigmarket:payment`` + ``ch_1``, as do a
webhook's and a tip's; an order's key is scoped by its buyer and a new gig's
by its seller, found through the row it produced; every other key is the
host's, scoped by its operation alone (an edit of a gig replayed after the
upgrade under an old key is not recognised, and stores nothing new when it
changes nothing). A withdrawal's operation id used to carry its key
(``payout:<seller>:<key>``, or a running count without one): each becomes a
record in ``host:withdraw:<seller>``, so the same request replays after the
upgrade; a keyless withdrawal's count reads as a key there, as it did before."""

_PAYMENT_DECISIONS = """
ALTER TABLE payment_operations ADD COLUMN last_error TEXT;
ALTER TABLE payment_operations ADD COLUMN resolved_by TEXT;
ALTER TABLE payment_operations ADD COLUMN resolved_at TEXT;
ALTER TABLE payment_operations ADD COLUMN resolution TEXT;
"""
"""Why an open payment operation is still open (``last_error``), and an
operator's decision on one (who, when, why): see
:meth:`gigmarket.cashier.Cashier.resolve`."""

MIGRATIONS: tuple[str, ...] = (
    _LEDGER,
    _ORDERS,
    _CATALOG,
    _SEARCH,
    _PAYMENTS,
    _SCOPED_KEYS,
    _PAYMENT_DECISIONS,
)
"""Migration *i* (1-based) takes the schema from version *i - 1* to *i*."""

SCHEMA_VERSION = len(MIGRATIONS)
"""The version this code writes and expects."""
