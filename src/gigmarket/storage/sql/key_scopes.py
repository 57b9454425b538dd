"""Schema 6's move of idempotency keys into scopes, written once for both SQL engines.

The rule is the one :mod:`gigmarket.idempotency` applies to new keys; only the
string functions differ between SQLite (``instr``/``substr``) and PostgreSQL
(``position``/``split_part``), so each schema module passes its own.
"""

from __future__ import annotations

__all__ = ["LIBRARY_PREFIXES", "WITHDRAWAL_KEYS", "key_case", "scope_case"]

LIBRARY_PREFIXES = (
    "payment",
    "credit",
    "release",
    "refund",
    "clear",
    "tip",
    "clawback",
    "payout-paid",
    "payout-returned",
    "unwanted",
    "refunded",
    "refund-credit",
)
"""What gigmarket's own ledger keys began with before keys had scopes."""


def _derived(prefix: str, colon: str) -> str:
    """Whether a row's key was derived by gigmarket (a webhook's, a tip's, or a
    ledger entry's under one of :data:`LIBRARY_PREFIXES`)."""
    listed = ", ".join(f"'{p}'" for p in LIBRARY_PREFIXES)
    return (
        f"operation IN ('webhook', 'tip') AND {colon} > 0\n"
        "            OR operation IN ('post', 'reverse', 'reserve', 'post_hold', 'void_hold')\n"
        f"            AND {prefix} IN ({listed})"
    )


def scope_case(prefix: str, colon: str) -> str:
    """The scope of an unscoped row: ``prefix`` is the key up to its first colon,
    ``colon`` that colon's position (0 when there is none)."""
    return f"""CASE
        WHEN {_derived(prefix, colon)}
            THEN 'gigmarket:' || {prefix}
        WHEN operation = 'place_order'
            AND (SELECT buyer_id FROM orders WHERE id = result_id) IS NOT NULL
            THEN 'host:place_order:' || (SELECT buyer_id FROM orders WHERE id = result_id)
        WHEN operation = 'create_gig'
            AND (SELECT seller_id FROM catalog_gigs WHERE id = result_id) IS NOT NULL
            THEN 'host:create_gig:' || (SELECT seller_id FROM catalog_gigs WHERE id = result_id)
        ELSE 'host:' || operation
    END"""  # noqa: S608 -- made of constants, never of input


def key_case(prefix: str, colon: str) -> str:
    """The key within that scope: a derived key loses its prefix."""
    return f"""CASE
        WHEN {_derived(prefix, colon)}
            THEN substr(key, {colon} + 1)
        ELSE key
    END"""


WITHDRAWAL_KEYS = """
INSERT INTO idempotency_keys (scope, key, operation, fingerprint, result_id)
SELECT 'host:withdraw:' || subject, substr(id, length('payout:' || subject || ':') + 1),
       'withdraw', 'amount:' || units || ' ' || currency, id
FROM payment_operations
WHERE kind = 'payout' AND substr(id, 1, length('payout:' || subject || ':'))
    = 'payout:' || subject || ':';
"""
"""A withdrawal's operation id used to carry its key (``payout:<seller>:<key>``):
each becomes a record in ``host:withdraw:<seller>``."""
