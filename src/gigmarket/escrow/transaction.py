"""Ledger operations inside a unit of work the caller has opened.

:class:`LedgerTransaction` holds the ledger's logic; :class:`~gigmarket.escrow.ledger.Ledger`
is the auto-committing face over it. A caller that must change something else
atomically with the money (an order's state, say) opens one unit of work and
drives a ``LedgerTransaction`` inside it.

Every operation checks everything first and writes only then, so a refused
operation leaves the unit of work exactly as it found it, even when the
caller catches the error and carries on in the same transaction.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Sequence

import attrs

from gigmarket._iso4217 import EXPONENTS, NO_MINOR_UNIT
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
    brief,
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
from gigmarket.idempotency import KeyLike, ScopedKey, fingerprint, remember, replayed, scoped
from gigmarket.ids import IdFactory, random_ids
from gigmarket.money import Amount, AmountLike, Money, currency_code

__all__ = ["MAX_BALANCE", "LedgerTransaction", "PostingLike"]

MAX_BALANCE = 10**18
"""No stored balance may exceed this magnitude (minor units): it keeps every
balance inside a signed 64-bit database column with room to spare."""

PostingLike = Posting | tuple[str, "Amount | Money"]
"""A posting, or an ``(account, amount)`` pair with a currency-carrying amount."""

_ACCOUNT_CODE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:@/+\-]{0,199}")
_MAX_TEXT = 500


def _named_currency(code: str) -> str | None:
    """The currency a chart code ends with (``seller:7:available:USD``), if any."""
    _, _, last = code.rpartition(":")
    return last if last in EXPONENTS and last not in NO_MINOR_UNIT else None


def _check_code(code: object) -> str:
    if not isinstance(code, str) or not _ACCOUNT_CODE.fullmatch(code):
        raise ValidationError(
            f"{brief(code)} is not an account code (letters, digits and _.:@/+- , at most 200)",
            field="account",
        )
    return code


_MAX_ID = 200


def _check_id(value: object, field: str) -> str:
    """An entry or hold id: printable text, checked before it reaches a store.

    ``isprintable()`` is false for lone surrogates (Unicode category Cs), which
    no store could encode, so they need no check of their own.
    """
    if not isinstance(value, str) or not value or len(value) > _MAX_ID or not value.isprintable():
        raise ValidationError(
            f"must be an id of at most {_MAX_ID} printable characters", field=field
        )
    return value


def _check_text(text: object, field: str) -> str:
    if not isinstance(text, str) or len(text) > _MAX_TEXT or not text.isprintable():
        raise ValidationError(
            f"must be printable text of at most {_MAX_TEXT} characters", field=field
        )
    return text


def _check_references(references: Iterable[str]) -> tuple[str, ...]:
    if isinstance(references, str | bytes) or not isinstance(references, Iterable):
        raise ValidationError("pass a sequence of references", field="references")
    checked = tuple(_check_text(r, "references") for r in references)
    if any(not r for r in checked):
        raise ValidationError("a reference must not be empty", field="references")
    return tuple(dict.fromkeys(checked))  # each reference once, in the caller's order


def _as_posting(item: object) -> Posting:
    if isinstance(item, Posting):
        posting = item
    elif isinstance(item, tuple) and len(item) == 2:
        posting = Posting(_check_code(item[0]), _as_amount(item[1]))
    else:
        raise ValidationError(
            f"{brief(item)} is neither a Posting nor an (account, amount) pair", field="postings"
        )
    _check_code(posting.account)
    if not isinstance(posting.amount, Amount):
        raise ValidationError("a posting's amount must be an Amount", field="postings")
    if posting.amount.units == 0:
        raise AmountOutOfRange(f"a posting to {posting.account} moves nothing", value=posting)
    return posting


def _as_amount(value: AmountLike) -> Amount:
    """An amount that carries its own currency (an ``Amount`` or ``Money``)."""
    if not isinstance(value, Amount | Money):
        raise ValidationError(
            "ledger amounts must carry their currency: pass an Amount or Money", field="amount"
        )
    return Amount.of(value)


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
            code=_check_code(code),
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
        account = self.uow.ledger.get_account(_check_code(code))
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
        _check_code(code)
        wanted = None if currency is None else currency_code(currency)
        account = self.uow.ledger.get_account(code)
        if account is None:
            named = _named_currency(code)
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
        entry = self.uow.ledger.get_entry(_check_id(entry_id, "entry_id"))
        if entry is None:
            raise EntryNotFound(entry_id)
        return entry

    def hold(self, hold_id: str) -> Hold:
        hold = self.uow.ledger.get_hold(_check_id(hold_id, "hold_id"))
        if hold is None:
            raise HoldNotFound(hold_id)
        return hold

    def entries(self, account: str) -> Sequence[JournalEntry]:
        """Entries touching ``account``, oldest first."""
        self.account(account)
        return self.uow.ledger.entries_for_account(account)

    def entries_with_reference(self, reference: str) -> Sequence[JournalEntry]:
        """Entries carrying ``reference`` (an order id, a payout id...), oldest first."""
        if not _check_text(reference, "reference"):
            raise ValidationError("a reference must not be empty", field="reference")
        return self.uow.ledger.entries_with_reference(reference)

    def reversal_of(self, entry_id: str) -> JournalEntry | None:
        """The entry that reversed ``entry_id``, or ``None``."""
        self.entry(entry_id)
        return self.uow.ledger.find_reversal(entry_id)

    # -- writing entries --------------------------------------------------

    def post(
        self,
        postings: Iterable[PostingLike],
        *,
        memo: str = "",
        references: Iterable[str] = (),
        idempotency_key: KeyLike | None = None,
    ) -> JournalEntry:
        """Record one balanced journal entry of any number of postings."""
        given: object = postings
        if isinstance(given, str | bytes) or not isinstance(given, Iterable):
            raise ValidationError("pass a sequence of postings", field="postings")
        lines = tuple(_as_posting(item) for item in given)
        memo = _check_text(memo, "memo")
        refs = _check_references(references)
        digest = fingerprint(
            {
                "postings": [[p.account, p.amount.units, p.amount.currency] for p in lines],
                "memo": memo,
                "references": list(refs),
            }
        )
        key = scoped(idempotency_key, "post")
        previous = replayed(self.uow.idempotency, key, "post", digest)
        if previous is not None:
            return self.entry(previous)
        return self._write(
            lines,
            memo=memo,
            references=refs,
            idempotency_key=key,
            operation="post",
            digest=digest,
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
        """Move a positive ``amount`` from ``source`` to ``destination``."""
        value = _as_amount(amount).require_positive()
        return self.post(
            [Posting(source, -value), Posting(destination, value)],
            memo=memo,
            references=references,
            idempotency_key=idempotency_key,
        )

    def reverse(
        self, entry_id: str, *, memo: str = "", idempotency_key: KeyLike | None = None
    ) -> JournalEntry:
        """Correct an entry by posting its exact opposite; an entry is reversed once.

        The original stays in the journal untouched; the reversal points to it.
        It obeys the same rules as any entry, so reversing a payment whose money
        has already moved on fails with :class:`InsufficientFunds`.
        """
        entry_id = _check_id(entry_id, "entry_id")
        memo = _check_text(memo, "memo")
        digest = fingerprint({"entry": entry_id, "memo": memo})
        key = scoped(idempotency_key, "reverse")
        previous = replayed(self.uow.idempotency, key, "reverse", digest)
        if previous is not None:
            return self.entry(previous)
        original = self.entry(entry_id)
        existing = self.uow.ledger.find_reversal(entry_id)
        if existing is not None:
            raise AlreadyReversed(entry_id=entry_id, reversal_id=existing.id)
        return self._write(
            tuple(Posting(p.account, -p.amount) for p in original.postings),
            memo=memo or f"reversal of {entry_id}",
            references=original.references,
            idempotency_key=key,
            operation="reverse",
            digest=digest,
            reverses=entry_id,
        )

    # -- holds ------------------------------------------------------------

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
        _check_code(source)
        _check_code(destination)
        value = _as_amount(amount).require_positive()
        memo = _check_text(memo, "memo")
        refs = _check_references(references)
        digest = fingerprint(
            {
                "source": source,
                "destination": destination,
                "amount": [value.units, value.currency],
                "memo": memo,
                "references": list(refs),
            }
        )
        key = scoped(idempotency_key, "reserve")
        previous = replayed(self.uow.idempotency, key, "reserve", digest)
        if previous is not None:
            return self.hold(previous)
        if source == destination:
            raise ValidationError("a hold needs two different accounts", field="destination")
        for code in (_check_code(source), _check_code(destination)):
            self._require_currency(self.account(code), value)
        stored = self.uow.ledger.lock_balances([source])[source]
        self._check_balance(
            self.account(source), stored.posted, stored.held + value.units, value.units
        )
        hold = Hold(
            id=self.ids(),
            source=source,
            destination=destination,
            amount=value,
            created_at=self.clock.now(),
            memo=memo,
            references=refs,
        )
        self.uow.ledger.save_balance(attrs.evolve(stored, held=stored.held + value.units))
        self.uow.ledger.add_hold(hold)
        remember(self.uow.idempotency, key, "reserve", digest, hold.id)
        return hold

    def post_hold(
        self,
        hold_id: str,
        amount: Amount | Money | None = None,
        *,
        memo: str = "",
        idempotency_key: KeyLike | None = None,
    ) -> JournalEntry:
        """Post all of a pending hold, or part of it (the rest is released)."""
        hold_id = _check_id(hold_id, "hold_id")
        value = None if amount is None else _as_amount(amount).require_positive()
        memo = _check_text(memo, "memo")
        digest = fingerprint(
            {
                "hold": hold_id,
                "amount": None if value is None else [value.units, value.currency],
                "memo": memo,
            }
        )
        key = scoped(idempotency_key, "post_hold")
        previous = replayed(self.uow.idempotency, key, "post_hold", digest)
        if previous is not None:
            return self.entry(previous)
        hold = self._pending(hold_id)
        posted = hold.amount if value is None else value
        self._require_currency(self.account(hold.source), posted)
        if posted.units > hold.amount.units:
            raise HoldExceeded(hold_id=hold_id, reserved=hold.amount.units, requested=posted.units)
        entry = self._write(
            (Posting(hold.source, -posted), Posting(hold.destination, posted)),
            memo=memo or hold.memo,
            references=hold.references,
            idempotency_key=key,
            operation="post_hold",
            digest=digest,
            hold=hold,
        )
        self.uow.ledger.save_hold(
            attrs.evolve(
                hold,
                status=HoldStatus.POSTED,
                resolved_at=entry.created_at,
                posted_amount=posted,
                entry_id=entry.id,
            )
        )
        return entry

    def void_hold(self, hold_id: str, *, idempotency_key: KeyLike | None = None) -> Hold:
        """Release a pending hold entirely; nothing is posted."""
        hold_id = _check_id(hold_id, "hold_id")
        digest = fingerprint({"hold": hold_id})
        key = scoped(idempotency_key, "void_hold")
        previous = replayed(self.uow.idempotency, key, "void_hold", digest)
        if previous is not None:
            return self.hold(previous)
        hold = self._pending(hold_id)
        stored = self.uow.ledger.lock_balances([hold.source])[hold.source]
        self.uow.ledger.save_balance(attrs.evolve(stored, held=stored.held - hold.amount.units))
        voided = attrs.evolve(hold, status=HoldStatus.VOIDED, resolved_at=self.clock.now())
        self.uow.ledger.save_hold(voided)
        remember(self.uow.idempotency, key, "void_hold", digest, hold.id)
        return voided

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
        idempotency_key: ScopedKey | None,
        operation: str,
        digest: str,
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
            idempotency_key=None if idempotency_key is None else idempotency_key.qualified,
        )
        for balance in updated:
            self.uow.ledger.save_balance(balance)
        self.uow.ledger.add_entry(entry)
        remember(self.uow.idempotency, idempotency_key, operation, digest, entry.id)
        return entry
