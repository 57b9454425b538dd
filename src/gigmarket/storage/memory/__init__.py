"""The in-memory store: every repository in dicts, for tests and the demo.

The public face of this package; the implementation lives in its modules.
"""

from gigmarket.storage.memory.store import (
    MemoryIdempotencyRepository,
    MemoryLedgerRepository,
    MemoryStorage,
    MemoryTransaction,
    MemoryUnitOfWork,
)

__all__ = [
    "MemoryIdempotencyRepository",
    "MemoryLedgerRepository",
    "MemoryStorage",
    "MemoryTransaction",
    "MemoryUnitOfWork",
]
