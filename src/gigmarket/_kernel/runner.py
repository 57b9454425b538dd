"""One command runner for every service: the service layer, written once.

A service (the ledger, the catalog, the order desk, the cashier) describes a
change as a **command**, a small frozen attrs class of checked inputs that
names the operation it is recorded as, and handles it with a **handler**
that takes the unit of work. Everything around the handler happens here, in
one place, the same way for every service:

1. open a unit of work (:meth:`Runner.transact`);
2. with an idempotency key: scope it (a host's key by the command's
   operation and party, ``host:<operation>[:<party>]``; a key gigmarket
   derived passes as it is) and, when the same request was recorded before,
   return its recorded result, read back by the handler's loader, writing
   nothing (:func:`execute`);
3. otherwise run the handler and record what it produced under the key;
4. commit: the handlers write their events into the same unit of work (the
   outbox is a table of it), so the commit is what makes the change and its
   events visible together;
5. on a transient storage conflict, run all of it again from the first read,
   a bounded number of times with a growing pause (:mod:`gigmarket.retry`).

A unit of work the *caller* opened (``LedgerTransaction``,
``OrderDesk.act_in``) runs step 2 and 3 through :func:`execute` and leaves the
commit to its owner.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar, Generic, Protocol, TypeVar

import attrs

from gigmarket.errors import ValidationError
from gigmarket.idempotency import (
    IdempotencyRepository,
    KeyLike,
    ScopedKey,
    fingerprint,
    host_key,
    remember,
    replayed,
)
from gigmarket.retry import ATTEMPTS, retrying
from gigmarket.unit_of_work import UnitOfWork

__all__ = ["Command", "Handler", "Runner", "execute"]

C = TypeVar("C", bound="Command")
R = TypeVar("R")
U = TypeVar("U", bound="KeyedUnitOfWork")
X = TypeVar("X")


class KeyedUnitOfWork(UnitOfWork, Protocol):
    """A unit of work that keeps idempotency records."""

    @property
    def idempotency(self) -> IdempotencyRepository: ...


@attrs.frozen(kw_only=True)
class Command:
    """A request to change something, its inputs already checked.

    Subclasses are frozen attrs classes that say which operation they are
    (``OPERATION``, the name a key is scoped by and recorded under), which
    field names the party they act for, if any (``PARTY``: two parties' keys
    never meet), and what a key's fingerprint covers (:meth:`payload`).
    """

    OPERATION: ClassVar[str]
    PARTY: ClassVar[str | None] = None

    key: ScopedKey | None = attrs.field(default=None, eq=False)
    """The scoped key the command runs under, set by :func:`execute` (a
    journal entry, say, records it)."""

    def payload(self) -> object:
        """The JSON-able facts a replay must repeat exactly."""
        raise NotImplementedError

    def fingerprint(self) -> str:
        return fingerprint(self.payload())

    def scope(self, key: KeyLike | None) -> ScopedKey | None:
        """The scoped form of ``key`` for this command (``None`` stays ``None``)."""
        party = None if self.PARTY is None else getattr(self, self.PARTY)
        return host_key(key, self.OPERATION, party=party, party_field=self.PARTY or "party")


@attrs.frozen
class Handler(Generic[C, X, R]):
    """What to do with a command of one kind, given the unit of work (``X``,
    with whatever the service binds to it).

    ``result_id`` and ``load`` are how a keyed command's result is recorded
    and read back on a replay; a command run without a key needs neither.
    """

    handle: Callable[[C, X], R]
    result_id: Callable[[R], str] | None = None
    load: Callable[[X, str, C], R] | None = None


def execute(
    records: IdempotencyRepository,
    work: X,
    handler: Handler[C, X, R],
    command: C,
    *,
    key: KeyLike | None = None,
) -> R:
    """Handle ``command`` in an open unit of work: replay the result recorded
    under ``key``, or run the handler and record its result. Nothing commits."""
    scoped = command.scope(key)
    if scoped is None:
        return handler.handle(command, work)
    if handler.result_id is None or handler.load is None:  # a programming error, not input
        raise TypeError(f"{command.OPERATION} cannot be replayed: it takes no idempotency key")
    command = attrs.evolve(command, key=scoped)
    digest = command.fingerprint()
    previous = replayed(records, scoped, command.OPERATION, digest)
    if previous is not None:
        return handler.load(work, previous, command)
    result = handler.handle(command, work)
    remember(records, scoped, command.OPERATION, digest, handler.result_id(result))
    return result


def _same(uow: Any) -> Any:
    return uow


class Runner(Generic[U, X]):
    """Runs work and commands, each in its own committed unit of work.

    ``storage()`` opens a unit of work; ``bind(uow)`` is what handlers are
    given (the unit of work itself by default, or a service's view of it with
    its clock and ids). ``attempts`` bounds the runs of one unit of work
    that keeps meeting transient conflicts.
    """

    def __init__(
        self,
        storage: Callable[[], U],
        bind: Callable[[U], X] = _same,
        *,
        attempts: int = ATTEMPTS,
    ) -> None:
        if attempts < 1:
            raise ValidationError("at least one attempt", field="attempts")
        self._storage = storage
        self._bind = bind
        self.attempts = attempts

    def transact(self, work: Callable[[X], R], *, retry: bool = True) -> R:
        """Run ``work`` in one unit of work and commit; again, from its first
        read, after a transient conflict (unless ``retry`` is false)."""
        return self._commit(lambda uow: work(self._bind(uow)), retry)

    def read(self, query: Callable[[X], R]) -> R:
        """Run a query in a unit of work that writes nothing and is not committed."""
        with self._storage() as uow:
            return query(self._bind(uow))

    def run(
        self,
        handler: Handler[C, X, R],
        command: C,
        *,
        key: KeyLike | None = None,
        retry: bool = True,
    ) -> R:
        """Handle ``command`` in its own unit of work (see the module's steps)."""
        scoped = command.scope(key)  # a bad key is refused before storage is touched

        def work(uow: U) -> R:
            return execute(uow.idempotency, self._bind(uow), handler, command, key=scoped)

        return self._commit(work, retry)

    def _commit(self, work: Callable[[U], R], retry: bool) -> R:
        def attempt() -> R:
            with self._storage() as uow:
                result = work(uow)
                uow.commit()
                return result

        return retrying(attempt, attempts=self.attempts if retry else 1)
