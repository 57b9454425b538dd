"""The SQLite store: the embedded default, one file, no server.

The public face of this package; the implementation lives in its modules.
"""

from gigmarket.storage.sqlite.store import (
    SQLiteStorage,
    SQLiteUnitOfWork,
)

__all__ = [
    "SQLiteStorage",
    "SQLiteUnitOfWork",
]
