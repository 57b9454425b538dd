"""What the SQL adapters share: repositories, search and key scopes written once for every engine.

The public face of this package; the implementation lives in its modules.
"""

from gigmarket.storage.sql.repositories import (
    ReadOnlyConnection,
    ReadsSnapshots,
    SqlConnection,
    SqlIdempotencyRepository,
    SqlLedgerRepository,
    SqlOrderRepository,
    SqlOutbox,
)

__all__ = [
    "ReadOnlyConnection",
    "ReadsSnapshots",
    "SqlConnection",
    "SqlIdempotencyRepository",
    "SqlLedgerRepository",
    "SqlOrderRepository",
    "SqlOutbox",
]
