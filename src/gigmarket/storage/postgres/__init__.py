"""The PostgreSQL store: many processes, row locks, ``SKIP LOCKED`` workers.

The public face of this package; the implementation lives in its modules.
"""

from gigmarket.storage.postgres.store import (
    PostgresStorage,
    PostgresUnitOfWork,
)

__all__ = [
    "PostgresStorage",
    "PostgresUnitOfWork",
]
