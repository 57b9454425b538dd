"""The double-entry ledger: money only ever moves, and every move is recorded.

Two faces over one set of commands and handlers
(:mod:`gigmarket.escrow.commands`, run by :mod:`gigmarket._kernel.runner`):

* :class:`LedgerTransaction` does the work inside a unit of work the caller
  already opened, so an order's state change and its money movement commit
  together (the order service uses it this way).
* :class:`Ledger` is the convenient face for everyone else: each call is its
  own transaction, run by the command runner, and ``with ledger.transaction()
  as tx:`` groups several.

Every operation checks everything first and writes only then, so a refused
operation leaves the unit of work exactly as it found it, even when the
caller catches the error and carries on in the same transaction.

The rules enforced on every write (DESIGN §4):

1. an entry's postings sum to zero in every currency;
2. an account that may not go negative never does, counting what holds
   have reserved;
3. the stored balance moves by exactly the entry's postings;
4. an idempotency key replayed with the same payload returns the first
   result and writes nothing; with another payload it is refused;
5. entries are never changed: a correction is a reversing entry, at most one
   per entry.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import TypeVar

from gigmarket._kernel.runner import Runner
from gigmarket.clock import Clock, SystemClock
from gigmarket.escrow.model import Balance, Hold, JournalEntry, LedgerAccount
from gigmarket.escrow.ports import LedgerUnitOfWork, UnitOfWorkFactory
from gigmarket.escrow.transaction import MAX_BALANCE, LedgerTransaction, PostingLike
from gigmarket.idempotency import KeyLike
from gigmarket.ids import IdFactory, random_ids
from gigmarket.money import Amount, Money

__all__ = ["MAX_BALANCE", "Ledger", "LedgerTransaction", "PostingLike"]

_T = TypeVar("_T")


class Ledger:
    """The ledger as a service: each call is one atomic transaction.

    A call that meets a transient conflict with another writer (see
    :mod:`gigmarket.retry`) is run again from the start, a bounded number of
    times; ``transaction()`` blocks are not retried, since only the caller
    knows whether its block can be run twice.

    >>> from gigmarket.storage.memory.store import MemoryStorage
    >>> from gigmarket.money import Amount
    >>> ledger = Ledger(MemoryStorage())
    >>> _ = ledger.open_account("gateway:sandbox", "USD", allow_negative=True)
    >>> _ = ledger.open_account("escrow:order:1", "USD")
    >>> _ = ledger.transfer("gateway:sandbox", "escrow:order:1", Amount.of("55.75", "USD"))
    >>> str(ledger.balance("escrow:order:1").available)
    '55.75 USD'
    """

    def __init__(
        self,
        storage: UnitOfWorkFactory,
        *,
        clock: Clock | None = None,
        ids: IdFactory = random_ids,
    ) -> None:
        self._storage = storage
        self.clock: Clock = clock if clock is not None else SystemClock()
        self.ids = ids
        self._runner = Runner(storage, self._bind)

    @contextmanager
    def transaction(self) -> Iterator[LedgerTransaction]:
        """Group several operations into one atomic transaction.

        Committed when the block ends normally; rolled back if it raises.
        """
        with self._storage() as uow:
            yield self._bind(uow)
            uow.commit()

    def _bind(self, uow: LedgerUnitOfWork) -> LedgerTransaction:
        return LedgerTransaction(uow, self.clock, self.ids)

    def _run(self, operation: Callable[[LedgerTransaction], _T]) -> _T:
        return self._runner.transact(operation)

    def open_account(
        self, code: str, currency: object, *, allow_negative: bool = False
    ) -> LedgerAccount:
        """See :meth:`LedgerTransaction.open_account`."""
        return self._run(lambda tx: tx.open_account(code, currency, allow_negative=allow_negative))

    def account(self, code: str) -> LedgerAccount:
        """The account named ``code`` (see [chart][gigmarket.escrow.chart] for the names).

        :raises AccountNotFound: no account of this code was ever opened.
        """
        return self._run(lambda tx: tx.account(code))

    def balance(self, code: str, currency: object = None) -> Balance:
        """See :meth:`LedgerTransaction.balance`: an account never touched reads zero."""
        return self._run(lambda tx: tx.balance(code, currency))

    def entry(self, entry_id: str) -> JournalEntry:
        """The journal entry ``entry_id``, as it was posted (entries never change).

        :raises EntryNotFound: no entry has this id.
        """
        return self._run(lambda tx: tx.entry(entry_id))

    def hold(self, hold_id: str) -> Hold:
        """The hold ``hold_id``, placed, captured or released.

        :raises HoldNotFound: no hold has this id.
        """
        return self._run(lambda tx: tx.hold(hold_id))

    def entries(self, account: str) -> Sequence[JournalEntry]:
        """Every entry touching ``account``, oldest first.

        :raises AccountNotFound: no account of this code was ever opened.
        """
        return self._run(lambda tx: tx.entries(account))

    def entries_with_reference(self, reference: str) -> Sequence[JournalEntry]:
        """Entries carrying ``reference`` (an order id, a payout id...), oldest first.

        :raises ValidationError: ``reference`` is empty.
        """
        return self._run(lambda tx: tx.entries_with_reference(reference))

    def reversal_of(self, entry_id: str) -> JournalEntry | None:
        """The entry that reversed ``entry_id``, or ``None`` if it stands.

        :raises EntryNotFound: no entry has this id.
        """
        return self._run(lambda tx: tx.reversal_of(entry_id))

    def post(
        self,
        postings: Iterable[PostingLike],
        *,
        memo: str = "",
        references: Iterable[str] = (),
        idempotency_key: KeyLike | None = None,
    ) -> JournalEntry:
        """See :meth:`LedgerTransaction.post`."""
        return self._run(
            lambda tx: tx.post(
                postings, memo=memo, references=references, idempotency_key=idempotency_key
            )
        )

    def transfer(
        self,
        source: str,
        destination: str,
        amount: Amount | Money,
        *,
        memo: str = "",
        references: Iterable[str] = (),
        idempotency_key: KeyLike | None = None,
    ) -> JournalEntry:
        """See :meth:`LedgerTransaction.transfer`."""
        return self._run(
            lambda tx: tx.transfer(
                source,
                destination,
                amount,
                memo=memo,
                references=references,
                idempotency_key=idempotency_key,
            )
        )

    def reverse(
        self, entry_id: str, *, memo: str = "", idempotency_key: KeyLike | None = None
    ) -> JournalEntry:
        """See :meth:`LedgerTransaction.reverse`."""
        return self._run(
            lambda tx: tx.reverse(entry_id, memo=memo, idempotency_key=idempotency_key)
        )

    def reserve(
        self,
        source: str,
        destination: str,
        amount: Amount | Money,
        *,
        memo: str = "",
        references: Iterable[str] = (),
        idempotency_key: KeyLike | None = None,
    ) -> Hold:
        """See :meth:`LedgerTransaction.reserve`."""
        return self._run(
            lambda tx: tx.reserve(
                source,
                destination,
                amount,
                memo=memo,
                references=references,
                idempotency_key=idempotency_key,
            )
        )

    def post_hold(
        self,
        hold_id: str,
        amount: Amount | Money | None = None,
        *,
        memo: str = "",
        idempotency_key: KeyLike | None = None,
    ) -> JournalEntry:
        """See :meth:`LedgerTransaction.post_hold`."""
        return self._run(
            lambda tx: tx.post_hold(hold_id, amount, memo=memo, idempotency_key=idempotency_key)
        )

    def void_hold(self, hold_id: str, *, idempotency_key: KeyLike | None = None) -> Hold:
        """See :meth:`LedgerTransaction.void_hold`."""
        return self._run(lambda tx: tx.void_hold(hold_id, idempotency_key=idempotency_key))
