"""Ledger operations inside a unit of work the caller has opened.

:class:`LedgerTransaction` reads the books and turns each write into a
command (:mod:`gigmarket.escrow.commands`) that the handlers below carry out,
through the command runner's :func:`~gigmarket._kernel.runner.execute`, which
replays or records its idempotency key; :class:`~gigmarket.escrow.ledger.Ledger`
is the auto-committing face over it. A caller that must change something else
atomically with the money (an order's state, say) opens one unit of work and
drives a ``LedgerTransaction`` inside it.

Every operation checks everything first and writes only then, so a refused
operation leaves the unit of work exactly as it found it, even when the
caller catches the error and carries on in the same transaction.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import TypeVar

import attrs

from gigmarket._kernel.runner import Command, Handler, execute
from gigmarket.clock import Clock, SystemClock
from gigmarket.errors import (
    AccountConflict,
    AccountNotFound,
    AlreadyReversed,
    AmountOutOfRange,
    CurrencyMismatch,
    EntryNotFound,
    HoldAlreadyResolved,
    HoldExceeded,
    HoldNotFound,
    InsufficientFunds,
    UnbalancedEntry,
    ValidationError,
)
from gigmarket.escrow.commands import (
    PostEntry,
    PostHold,
    PostingLike,
    Reserve,
    Reverse,
    VoidHold,
    check_code,
    check_id,
    check_text,
    named_currency,
)
from gigmarket.escrow.model import (
    AccountBalance,
    Balance,
    Hold,
    HoldStatus,
    JournalEntry,
    LedgerAccount,
    Posting,
)
from gigmarket.escrow.ports import LedgerUnitOfWork
from gigmarket.idempotency import KeyLike, ScopedKey
from gigmarket.ids import IdFactory, random_ids
from gigmarket.money import Amount, Money, currency_code

__all__ = ["MAX_BALANCE", "LedgerTransaction", "PostingLike"]

MAX_BALANCE = 10**18
"""No stored balance may exceed this magnitude (minor units): it keeps every
balance inside a signed 64-bit database column with room to spare."""

C = TypeVar("C", bound=Command)
R = TypeVar("R")


@attrs.define
class LedgerTransaction:
    """Ledger operations inside an open unit of work; nothing here commits."""

    uow: LedgerUnitOfWork
    clock: Clock = attrs.field(factory=SystemClock)
    ids: IdFactory = random_ids

    # -- accounts ---------------------------------------------------------

    def open_account(
        self, code: str, currency: object, *, allow_negative: bool = False
    ) -> LedgerAccount:
        """Open an account, or return it if it is already open with the same settings."""
        if type(allow_negative) is not bool:
            # bool("false") is True: a truthy string must not open an account
            # that may be overdrawn.
            raise ValidationError("must be True or False", field="allow_negative")
        account = LedgerAccount(
            code=check_code(code),
            currency=currency_code(currency),
            allow_negative=allow_negative,
        )
        existing = self.uow.ledger.get_account(code)
        if existing is not None:
            if existing != account:
                raise AccountConflict(
                    f"account {code!r} is open as {existing.currency}"
                    f"{' (may go negative)' if existing.allow_negative else ''}",
                    account=code,
                )
            return existing
        self.uow.ledger.add_account(
            account, AccountBalance(account=code, currency=account.currency)
        )
        return account

    def account(self, code: str) -> LedgerAccount:
        """The account named ``code``; :class:`AccountNotFound` if never opened."""
        account = self.uow.ledger.get_account(check_code(code))
        if account is None:
            raise AccountNotFound(code)
        return account

    def balance(self, code: str, currency: object = None) -> Balance:
        """Posted, held and available balance of ``code``.

        An account no money has touched yet reads zero: accounts are opened by
        their first movement, so "never opened" and "empty" are the same to a
        reader. The currency of that zero is the one the code names (every
        chart account of a party ends with it: ``seller:7:available:USD``), or
        ``currency`` when the code names none (``escrow:order:42``); a code
        that names no currency, with no ``currency`` given, is a
        :class:`~gigmarket.errors.ValidationError` on ``currency``. When both
        are known they must agree (:class:`~gigmarket.errors.CurrencyMismatch`),
        and so must an opened account's. A malformed code is a
        ``ValidationError`` on ``account``.
        """
        check_code(code)
        wanted = None if currency is None else currency_code(currency)
        account = self.uow.ledger.get_account(code)
        if account is None:
            named = named_currency(code)
            if named is not None and wanted is not None and named != wanted:
                raise CurrencyMismatch(
                    f"account {code!r} is in {named}, not {wanted}", expected=wanted, actual=named
                )
            zero_in = named or wanted
            if zero_in is None:
                raise ValidationError(
                    f"account {code!r} was never opened and its code names no currency: "
                    "pass the currency",
                    field="currency",
                )
            zero = Amount.zero(zero_in)
            return Balance(account=code, posted=zero, held=zero)
        if wanted is not None and account.currency != wanted:
            raise CurrencyMismatch(
                f"account {code!r} is in {account.currency}, not {wanted}",
                expected=wanted,
                actual=account.currency,
            )
        return Balance.from_stored(self.uow.ledger.lock_balances([code])[code])

    def balance_or_zero(self, code: str, currency: object) -> Balance:
        """:meth:`balance` in ``currency``: zero for an account not opened yet
        (a seller before their first earnings, a buyer without credit)."""
        return self.balance(code, currency)

    # -- queries ----------------------------------------------------------

    def entry(self, entry_id: str) -> JournalEntry:
        """The journal entry ``entry_id``.

        :raises EntryNotFound: no entry has this id.
        """
        entry = self.uow.ledger.get_entry(check_id(entry_id, "entry_id"))
        if entry is None:
            raise EntryNotFound(entry_id)
        return entry

    def hold(self, hold_id: str) -> Hold:
        """The hold ``hold_id``; [HoldNotFound][gigmarket.errors.HoldNotFound] if none."""
        hold = self.uow.ledger.get_hold(check_id(hold_id, "hold_id"))
        if hold is None:
            raise HoldNotFound(hold_id)
        return hold

    def entries(self, account: str) -> Sequence[JournalEntry]:
        """Entries touching ``account``, oldest first."""
        self.account(account)
        return self.uow.ledger.entries_for_account(account)

    def entries_with_reference(self, reference: str) -> Sequence[JournalEntry]:
        """Entries carrying ``reference`` (an order id, a payout id...), oldest first."""
        if not check_text(reference, "reference"):
            raise ValidationError("a reference must not be empty", field="reference")
        return self.uow.ledger.entries_with_reference(reference)

    def reversal_of(self, entry_id: str) -> JournalEntry | None:
        """The entry that reversed ``entry_id``, or ``None``."""
        self.entry(entry_id)
        return self.uow.ledger.find_reversal(entry_id)

    # -- writing entries: each builds its command and has it handled here --

    def run(self, handler: Handler[C, LedgerTransaction, R], command: C, key: KeyLike | None) -> R:
        """Handle a ledger command in this unit of work, replaying ``key``."""
        return execute(self.uow.idempotency, self, handler, command, key=key)

    def post(
        self,
        postings: Iterable[PostingLike],
        *,
        memo: str = "",
        references: Iterable[str] = (),
        idempotency_key: KeyLike | None = None,
    ) -> JournalEntry:
        """Record one balanced journal entry of any number of postings."""
        command = PostEntry.of(postings, memo=memo, references=references)
        return self.run(POST, command, idempotency_key)

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
        """Move a positive ``amount`` from ``source`` to ``destination``."""
        command = PostEntry.transfer(source, destination, amount, memo=memo, references=references)
        return self.run(POST, command, idempotency_key)

    def reverse(
        self, entry_id: str, *, memo: str = "", idempotency_key: KeyLike | None = None
    ) -> JournalEntry:
        """Correct an entry by posting its exact opposite; an entry is reversed once.

        The original stays in the journal untouched; the reversal points to it.
        It obeys the same rules as any entry, so reversing a payment whose money
        has already moved on fails with :class:`InsufficientFunds`.
        """
        return self.run(REVERSE, Reverse.of(entry_id, memo=memo), idempotency_key)

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
        """Reserve ``amount`` of ``source``'s available balance for ``destination``."""
        command = Reserve.of(source, destination, amount, memo=memo, references=references)
        return self.run(RESERVE, command, idempotency_key)

    def post_hold(
        self,
        hold_id: str,
        amount: Amount | Money | None = None,
        *,
        memo: str = "",
        idempotency_key: KeyLike | None = None,
    ) -> JournalEntry:
        """Post all of a pending hold, or part of it (the rest is released)."""
        return self.run(POST_HOLD, PostHold.of(hold_id, amount, memo=memo), idempotency_key)

    def void_hold(self, hold_id: str, *, idempotency_key: KeyLike | None = None) -> Hold:
        """Release a pending hold entirely; nothing is posted."""
        return self.run(VOID_HOLD, VoidHold.of(hold_id), idempotency_key)

    # -- the one place that writes an entry -------------------------------

    def _pending(self, hold_id: str) -> Hold:
        hold = self.uow.ledger.lock_hold(hold_id)
        if hold is None:
            raise HoldNotFound(hold_id)
        if hold.status is not HoldStatus.PENDING:
            raise HoldAlreadyResolved(hold_id=hold_id, status=hold.status.value)
        return hold

    @staticmethod
    def _require_currency(account: LedgerAccount, amount: Amount) -> None:
        if account.currency != amount.currency:
            raise CurrencyMismatch(
                f"account {account.code!r} holds {account.currency}, not {amount.currency}",
                expected=account.currency,
                actual=amount.currency,
            )

    @staticmethod
    def _check_balance(account: LedgerAccount, posted: int, held: int, requested: int) -> None:
        """Refuse a new (posted, held) pair that breaks the bound or the sign rule.

        ``requested`` is what the operation takes out of the account; the
        error reports the balance that was available to take it from.
        """
        if abs(posted) > MAX_BALANCE:
            raise AmountOutOfRange(
                f"account {account.code!r} would exceed the balance bound", value=posted
            )
        if not account.allow_negative and posted - held < 0:
            raise InsufficientFunds(
                account=account.code,
                currency=account.currency,
                available=posted - held + requested,
                requested=requested,
            )

    def _write(
        self,
        postings: tuple[Posting, ...],
        *,
        memo: str,
        references: tuple[str, ...],
        key: ScopedKey | None,
        reverses: str | None = None,
        hold: Hold | None = None,
    ) -> JournalEntry:
        if len(postings) < 2:
            raise UnbalancedEntry("an entry needs at least two postings", imbalance={})
        deltas: dict[str, int] = defaultdict(int)
        sums: dict[str, int] = defaultdict(int)
        for posting in postings:
            self._require_currency(self.account(posting.account), posting.amount)
            deltas[posting.account] += posting.amount.units
            sums[posting.amount.currency] += posting.amount.units
        imbalance = {currency: total for currency, total in sums.items() if total}
        if imbalance:
            raise UnbalancedEntry(
                f"postings do not sum to zero: {imbalance} (minor units)", imbalance=imbalance
            )
        if len(deltas) < 2:
            raise UnbalancedEntry("an entry must touch at least two accounts", imbalance={})
        stored = self.uow.ledger.lock_balances(deltas)
        released = {hold.source: hold.amount.units} if hold is not None else {}
        updated: list[AccountBalance] = []
        for code, delta in deltas.items():
            balance = stored[code]
            posted = balance.posted + delta
            held = balance.held - released.get(code, 0)
            self._check_balance(self.account(code), posted, held, max(-delta, 0))
            updated.append(attrs.evolve(balance, posted=posted, held=held))
        entry = JournalEntry(
            id=self.ids(),
            postings=postings,
            created_at=self.clock.now(),
            memo=memo,
            references=references,
            reverses=reverses,
            hold_id=hold.id if hold is not None else None,
            idempotency_key=None if key is None else key.qualified,
        )
        for balance in updated:
            self.uow.ledger.save_balance(balance)
        self.uow.ledger.add_entry(entry)
        return entry


# -- the handlers: what each command does to the books ---------------------


def _post(command: PostEntry, tx: LedgerTransaction) -> JournalEntry:
    return tx._write(
        command.postings, memo=command.memo, references=command.references, key=command.key
    )


def _reverse(command: Reverse, tx: LedgerTransaction) -> JournalEntry:
    original = tx.entry(command.entry_id)
    existing = tx.uow.ledger.find_reversal(command.entry_id)
    if existing is not None:
        raise AlreadyReversed(entry_id=command.entry_id, reversal_id=existing.id)
    return tx._write(
        tuple(Posting(p.account, -p.amount) for p in original.postings),
        memo=command.memo or f"reversal of {command.entry_id}",
        references=original.references,
        key=command.key,
        reverses=command.entry_id,
    )


def _reserve(command: Reserve, tx: LedgerTransaction) -> Hold:
    source, destination, value = command.source, command.destination, command.amount
    if source == destination:
        raise ValidationError("a hold needs two different accounts", field="destination")
    for code in (source, destination):
        tx._require_currency(tx.account(code), value)
    stored = tx.uow.ledger.lock_balances([source])[source]
    tx._check_balance(tx.account(source), stored.posted, stored.held + value.units, value.units)
    hold = Hold(
        id=tx.ids(),
        source=source,
        destination=destination,
        amount=value,
        created_at=tx.clock.now(),
        memo=command.memo,
        references=command.references,
    )
    tx.uow.ledger.save_balance(attrs.evolve(stored, held=stored.held + value.units))
    tx.uow.ledger.add_hold(hold)
    return hold


def _post_hold(command: PostHold, tx: LedgerTransaction) -> JournalEntry:
    hold = tx._pending(command.hold_id)
    posted = hold.amount if command.amount is None else command.amount
    tx._require_currency(tx.account(hold.source), posted)
    if posted.units > hold.amount.units:
        raise HoldExceeded(
            hold_id=command.hold_id, reserved=hold.amount.units, requested=posted.units
        )
    entry = tx._write(
        (Posting(hold.source, -posted), Posting(hold.destination, posted)),
        memo=command.memo or hold.memo,
        references=hold.references,
        key=command.key,
        hold=hold,
    )
    tx.uow.ledger.save_hold(
        attrs.evolve(
            hold,
            status=HoldStatus.POSTED,
            resolved_at=entry.created_at,
            posted_amount=posted,
            entry_id=entry.id,
        )
    )
    return entry


def _void_hold(command: VoidHold, tx: LedgerTransaction) -> Hold:
    hold = tx._pending(command.hold_id)
    stored = tx.uow.ledger.lock_balances([hold.source])[hold.source]
    tx.uow.ledger.save_balance(attrs.evolve(stored, held=stored.held - hold.amount.units))
    voided = attrs.evolve(hold, status=HoldStatus.VOIDED, resolved_at=tx.clock.now())
    tx.uow.ledger.save_hold(voided)
    return voided


def _entry_id(entry: JournalEntry) -> str:
    return entry.id


def _hold_id(hold: Hold) -> str:
    return hold.id


def _recorded_entry(tx: LedgerTransaction, entry_id: str, command: Command) -> JournalEntry:
    return tx.entry(entry_id)


def _recorded_hold(tx: LedgerTransaction, hold_id: str, command: Command) -> Hold:
    return tx.hold(hold_id)


POST = Handler(_post, _entry_id, _recorded_entry)
REVERSE = Handler(_reverse, _entry_id, _recorded_entry)
RESERVE = Handler(_reserve, _hold_id, _recorded_hold)
POST_HOLD = Handler(_post_hold, _entry_id, _recorded_entry)
VOID_HOLD = Handler(_void_hold, _hold_id, _recorded_hold)
