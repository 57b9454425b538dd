"""Bounded retries of a whole unit of work after a transient storage conflict.

Under concurrency a database may refuse a transaction that did nothing wrong:
PostgreSQL aborts one side of a deadlock or a serialization failure, two
writers race to insert the same idempotency key, an optimistic version check
finds that another worker moved an order first. The right answer is to run
the *whole* unit of work again from its first read: it will then see the other
writer's result (and, for a replayed key, return it). Retrying forever would
hide a livelock, so the number of attempts is bounded.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

from gigmarket.errors import TransientStorageError

__all__ = ["ATTEMPTS", "retrying"]

T = TypeVar("T")

ATTEMPTS = 8
"""How many times a unit of work is tried before the conflict is raised."""


def retrying(operation: Callable[[], T], *, attempts: int = ATTEMPTS) -> T:
    """Run ``operation``; on :class:`TransientStorageError`, run it again (with a
    short, growing pause) up to ``attempts`` times in all."""
    for attempt in range(1, attempts + 1):
        try:
            return operation()
        except TransientStorageError:
            if attempt == attempts:
                raise
            time.sleep(0.001 * 2**attempt)
    raise AssertionError("unreachable")  # pragma: no cover
