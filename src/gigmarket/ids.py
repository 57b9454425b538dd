"""Identifiers for entries, holds and orders.

Random by default (no coordination needed between processes); sequential
and readable for demos and tests, where ``entry-000003`` is easier to follow
than a UUID.
"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Callable

__all__ = ["IdFactory", "random_ids", "sequential_ids"]

IdFactory = Callable[[], str]
"""A callable returning a new, never-before-used identifier."""


def random_ids() -> str:
    """A random 32-character hex identifier (UUID4)."""
    return uuid.uuid4().hex


def sequential_ids(prefix: str = "id") -> IdFactory:
    """Return a factory of ``prefix-000001``, ``prefix-000002``, ...

    Only unique within one process: for tests and demos, not for production.
    """
    counter = itertools.count(1)
    return lambda: f"{prefix}-{next(counter):06d}"
