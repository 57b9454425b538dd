"""The unit of work: one atomic transaction, whatever the store.

Every port (ledger, orders, catalog) is reached through a unit of work that
extends this protocol with its repositories. Everything written through it
becomes visible on ``commit()`` or not at all; leaving the ``with`` block
without ``commit()`` (or through an exception) rolls back what was written
since the last commit.
"""

from __future__ import annotations

from types import TracebackType
from typing import Protocol, Self

__all__ = ["UnitOfWork"]


class UnitOfWork(Protocol):
    """A transaction scope: ``with storage() as uow: ...; uow.commit()``."""

    def __enter__(self) -> Self: ...

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...

    def commit(self) -> None:
        """Make everything written so far durable and visible to others."""
        ...

    def rollback(self) -> None:
        """Discard everything written since the last commit."""
        ...
