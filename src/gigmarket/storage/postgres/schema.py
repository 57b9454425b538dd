"""The PostgreSQL schema, as an ordered list of forward migrations.

The same tables as the SQLite schema, plus what only a server can enforce for
writers that bypass the library:

* a **deferred constraint trigger** checks, at commit, that every journal
  entry written in the transaction sums to zero in each currency, so an
  unbalanced entry cannot be committed even by hand-written SQL;
* **append-only triggers** reject UPDATE and DELETE on entries, postings and
  references;
* CHECK constraints keep non-negative accounts non-negative.

All objects live in the schema the connection's ``search_path`` selects, so
tests and tenants can each use their own.
"""

from __future__ import annotations

from gigmarket.storage.sql.key_scopes import WITHDRAWAL_KEYS, key_case, scope_case

__all__ = ["MIGRATIONS", "SCHEMA_VERSION"]

_LEDGER = """
CREATE TABLE ledger_accounts (
    code           TEXT PRIMARY KEY,
    currency       TEXT NOT NULL,
    allow_negative SMALLINT NOT NULL CHECK (allow_negative IN (0, 1)),
    posted         BIGINT NOT NULL DEFAULT 0,
    held           BIGINT NOT NULL DEFAULT 0 CHECK (held >= 0),
    CHECK (allow_negative = 1 OR posted - held >= 0)
);

CREATE TABLE ledger_entries (
    seq             BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id              TEXT NOT NULL UNIQUE,
    created_at      TEXT NOT NULL,
    memo            TEXT NOT NULL,
    reverses        TEXT UNIQUE,
    hold_id         TEXT,
    idempotency_key TEXT
);

CREATE TABLE ledger_postings (
    entry_seq BIGINT NOT NULL REFERENCES ledger_entries (seq),
    line      INTEGER NOT NULL,
    account   TEXT NOT NULL REFERENCES ledger_accounts (code),
    units     BIGINT NOT NULL CHECK (units <> 0),
    currency  TEXT NOT NULL,
    PRIMARY KEY (entry_seq, line)
);
CREATE INDEX ledger_postings_by_account ON ledger_postings (account, entry_seq);

CREATE TABLE ledger_references (
    entry_seq BIGINT NOT NULL REFERENCES ledger_entries (seq),
    line      INTEGER NOT NULL,
    reference TEXT NOT NULL,
    PRIMARY KEY (entry_seq, line),
    UNIQUE (entry_seq, reference)
);
CREATE INDEX ledger_references_by_reference ON ledger_references (reference, entry_seq);

CREATE TABLE ledger_holds (
    id          TEXT PRIMARY KEY,
    source      TEXT NOT NULL REFERENCES ledger_accounts (code),
    destination TEXT NOT NULL REFERENCES ledger_accounts (code),
    status      TEXT NOT NULL CHECK (status IN ('pending', 'posted', 'voided')),
    document    TEXT NOT NULL
);
CREATE INDEX ledger_holds_pending ON ledger_holds (status, source);

CREATE TABLE idempotency_keys (
    key         TEXT PRIMARY KEY,
    operation   TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    result_id   TEXT NOT NULL
);

CREATE FUNCTION gigmarket_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% is append-only', TG_TABLE_NAME USING ERRCODE = 'restrict_violation';
END;
$$;

CREATE TRIGGER ledger_entries_append_only BEFORE UPDATE OR DELETE ON ledger_entries
    FOR EACH ROW EXECUTE FUNCTION gigmarket_append_only();
CREATE TRIGGER ledger_postings_append_only BEFORE UPDATE OR DELETE ON ledger_postings
    FOR EACH ROW EXECUTE FUNCTION gigmarket_append_only();
CREATE TRIGGER ledger_references_append_only BEFORE UPDATE OR DELETE ON ledger_references
    FOR EACH ROW EXECUTE FUNCTION gigmarket_append_only();

CREATE FUNCTION gigmarket_entry_balanced() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    unbalanced TEXT;
BEGIN
    SELECT string_agg(currency || ' ' || total, ', ') INTO unbalanced FROM (
        SELECT currency, SUM(units) AS total FROM ledger_postings
        WHERE entry_seq = NEW.entry_seq GROUP BY currency HAVING SUM(units) <> 0
    ) AS sums;
    IF unbalanced IS NOT NULL THEN
        RAISE EXCEPTION 'journal entry % is unbalanced: %', NEW.entry_seq, unbalanced
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN NULL;
END;
$$;

CREATE CONSTRAINT TRIGGER ledger_postings_balanced AFTER INSERT ON ledger_postings
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION gigmarket_entry_balanced();
"""

_ORDERS = """
CREATE TABLE orders (
    id        TEXT PRIMARY KEY,
    version   INTEGER NOT NULL,
    state     TEXT NOT NULL,
    buyer_id  TEXT NOT NULL,
    seller_id TEXT NOT NULL,
    document  TEXT NOT NULL
);
CREATE INDEX orders_by_state ON orders (state);

CREATE TABLE order_timers (
    id       TEXT PRIMARY KEY,
    order_id TEXT NOT NULL REFERENCES orders (id),
    due_at   TEXT NOT NULL,
    done_at  TEXT,
    document TEXT NOT NULL
);
CREATE INDEX order_timers_due ON order_timers (due_at, id) WHERE done_at IS NULL;
CREATE INDEX order_timers_by_order ON order_timers (order_id);

CREATE TABLE order_reviews (
    order_id TEXT NOT NULL REFERENCES orders (id),
    author   TEXT NOT NULL,
    seq      INTEGER NOT NULL,
    document TEXT NOT NULL,
    PRIMARY KEY (order_id, author)
);

CREATE TABLE outbox (
    seq             BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id              TEXT NOT NULL UNIQUE,
    type            TEXT NOT NULL,
    order_id        TEXT NOT NULL,
    occurred_at     TEXT NOT NULL,
    payload         TEXT NOT NULL,
    acknowledged_at TEXT
);
CREATE INDEX outbox_pending ON outbox (seq) WHERE acknowledged_at IS NULL;
"""

_CATALOG = """
CREATE TABLE catalog_accounts (
    id       TEXT PRIMARY KEY,
    username TEXT NOT NULL UNIQUE,
    document TEXT NOT NULL
);

CREATE TABLE catalog_profiles (
    account_id TEXT PRIMARY KEY REFERENCES catalog_accounts (id),
    document   TEXT NOT NULL
);

CREATE TABLE catalog_gigs (
    seq       BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id        TEXT NOT NULL UNIQUE,
    seller_id TEXT NOT NULL,
    status    TEXT NOT NULL,
    document  TEXT NOT NULL
);
CREATE INDEX catalog_gigs_by_seller ON catalog_gigs (seller_id, seq);
CREATE INDEX catalog_gigs_by_status ON catalog_gigs (status, seq);

CREATE TABLE catalog_gig_versions (
    gig_id   TEXT NOT NULL REFERENCES catalog_gigs (id),
    number   INTEGER NOT NULL,
    document TEXT NOT NULL,
    PRIMARY KEY (gig_id, number)
);

CREATE TABLE catalog_reviews (
    seq       BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id        TEXT NOT NULL UNIQUE,
    gig_id    TEXT NOT NULL,
    seller_id TEXT NOT NULL,
    document  TEXT NOT NULL
);
CREATE INDEX catalog_reviews_by_gig ON catalog_reviews (gig_id, seq);
CREATE INDEX catalog_reviews_by_seller ON catalog_reviews (seller_id, seq);

CREATE TABLE catalog_outcomes (
    seq       BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    order_id  TEXT NOT NULL UNIQUE,
    gig_id    TEXT NOT NULL,
    seller_id TEXT NOT NULL,
    document  TEXT NOT NULL
);
CREATE INDEX catalog_outcomes_by_gig ON catalog_outcomes (gig_id, seq);
CREATE INDEX catalog_outcomes_by_seller ON catalog_outcomes (seller_id, seq);
"""

_SEARCH = """
CREATE TABLE catalog_search_sellers (
    seller_id TEXT PRIMARY KEY REFERENCES catalog_accounts (id),
    suspended SMALLINT NOT NULL DEFAULT 0 CHECK (suspended IN (0, 1)),
    country   TEXT,
    languages TEXT
);

CREATE TABLE catalog_search_gigs (
    seq           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    gig_id        TEXT COLLATE "C" NOT NULL UNIQUE REFERENCES catalog_gigs (id),
    seller_id     TEXT NOT NULL,
    version       INTEGER NOT NULL,
    status        TEXT NOT NULL,
    category      TEXT NOT NULL,
    subcategory   TEXT NOT NULL,
    currency      TEXT NOT NULL,
    price_units   BIGINT,
    delivery_days INTEGER,
    published_us  BIGINT NOT NULL,
    words         TEXT NOT NULL,
    words_vector  tsvector GENERATED ALWAYS AS (array_to_tsvector(string_to_array(words, ' ')))
        STORED
);
CREATE INDEX catalog_search_gigs_newest ON catalog_search_gigs (published_us DESC, gig_id)
    WHERE status = 'active';
CREATE INDEX catalog_search_gigs_price ON catalog_search_gigs (currency, price_units, gig_id)
    WHERE status = 'active';
CREATE INDEX catalog_search_gigs_words ON catalog_search_gigs USING GIN (words_vector);
"""
"""The search index (see :mod:`gigmarket.storage.sql.search`), as in SQLite,
with a ``tsvector`` and a GIN index in place of FTS5. The words arrive already
split by :func:`gigmarket.catalog.text.tokens`, so the vector is built from
them as they are (``array_to_tsvector``: no parser, no dictionary, no
stemming, which is the ``simple`` configuration minus the parser's own idea of
a word, one that would cut Bengali words at their vowel signs under some
locales). ``gig_id`` sorts in the ``"C"`` collation, code point order, as
Python compares strings; the default collation may sort by language rules."""

_PAYMENTS = """
CREATE TABLE payment_operations (
    id           TEXT COLLATE "C" PRIMARY KEY,
    kind         TEXT NOT NULL
        CHECK (kind IN ('payment', 'tip', 'refund', 'payee', 'payout')),
    gateway      TEXT NOT NULL,
    subject      TEXT NOT NULL,
    currency     TEXT NOT NULL,
    units        BIGINT NOT NULL CHECK (units >= 0),
    status       TEXT NOT NULL
        CHECK (status IN ('queued', 'started', 'unknown', 'pending', 'succeeded', 'failed')),
    created_at   TEXT NOT NULL,
    updated_at   TEXT NOT NULL,
    version      INTEGER NOT NULL CHECK (version >= 0),
    gateway_ref  TEXT,
    charge_ref   TEXT,
    hold_id      TEXT,
    credit_units BIGINT CHECK (credit_units >= 0),
    failure      TEXT,
    source       TEXT
);
CREATE INDEX payment_operations_by_subject ON payment_operations (subject, created_at, id);
CREATE INDEX payment_operations_open ON payment_operations (created_at, id)
    WHERE status IN ('pending', 'queued', 'started', 'unknown');
"""
"""The payment service's operations, as in SQLite. Operations are listed by
``(created_at, id)``; ``id`` sorts in the ``"C"`` collation, code point order,
so that ties in time break as Python (and SQLite) break them whatever the
database's default collation is. The partial index holds only the open
operations, the few ``reconcile`` works through, in its order."""

_PREFIX = "split_part(key, ':', 1)"
_COLON = "position(':' IN key)"
_SCOPED_KEYS = (
    f"""
ALTER TABLE idempotency_keys ADD COLUMN scope TEXT;
UPDATE idempotency_keys SET
    scope = {scope_case(_PREFIX, _COLON)},
    key = {key_case(_PREFIX, _COLON)};
ALTER TABLE idempotency_keys ALTER COLUMN scope SET NOT NULL;
ALTER TABLE idempotency_keys DROP CONSTRAINT idempotency_keys_pkey;
ALTER TABLE idempotency_keys ADD CONSTRAINT idempotency_keys_pkey PRIMARY KEY (scope, key);"""  # noqa: S608 -- made of constants, never of input
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
