"""The ledger's entities: accounts, postings, journal entries, balances, holds.

All are immutable attrs classes. A change to the ledger is never an edit of
one of these; it is a new entry (and, for a hold, a new hold value replacing
the old one in the same transaction as its entry).
"""

from __future__ import annotations

import enum
from datetime import datetime

import attrs

from gigmarket.money import Amount, Money, currency_code

__all__ = [
    "AccountBalance",
    "Balance",
    "Hold",
    "HoldStatus",
    "JournalEntry",
    "LedgerAccount",
    "Posting",
]


@attrs.frozen(kw_only=True)
class LedgerAccount:
    """A named bucket of one currency.

    ``allow_negative`` is true only for accounts that stand for the world
    outside the platform (a payment gateway): money comes *from* them, so their
    balance goes below zero. Every other account holds real money and can
    never be overdrawn, which the ledger checks on every write.
    """

    code: str
    currency: str = attrs.field(converter=currency_code)
    allow_negative: bool = False


@attrs.frozen
class Posting:
    """One line of a journal entry: ``amount`` added to ``account``'s balance.

    Positive adds money to the account, negative takes it out; the postings
    of an entry sum to zero in every currency, so money only ever moves.
    """

    account: str
    amount: Amount

    @property
    def money(self) -> Money:
        """The amount as py-moneyed ``Money``."""
        return self.amount.to_money()


@attrs.frozen(kw_only=True)
class JournalEntry:
    """An atomic, balanced, append-only record of money moving.

    ``references`` are free strings a caller attaches to find entries later
    (``"order:42"``); ``reverses`` points to the entry this one corrects;
    ``hold_id`` to the hold this entry posted.
    """

    id: str
    postings: tuple[Posting, ...]
    created_at: datetime
    memo: str = ""
    references: tuple[str, ...] = ()
    reverses: str | None = None
    hold_id: str | None = None
    idempotency_key: str | None = None

    def amount_for(self, account: str) -> int:
        """Net change this entry made to ``account``, in minor units."""
        return sum(p.amount.units for p in self.postings if p.account == account)

    @property
    def accounts(self) -> tuple[str, ...]:
        """The accounts this entry touches, each once, in posting order."""
        return tuple(dict.fromkeys(p.account for p in self.postings))


@attrs.frozen(kw_only=True)
class AccountBalance:
    """The stored running balance of one account, in minor units.

    ``posted`` is the sum of the account's postings (invariant 4, checked by
    ``audit``); ``held`` is what active holds have reserved out of it.
    """

    account: str
    currency: str
    posted: int = 0
    held: int = 0


@attrs.frozen(kw_only=True)
class Balance:
    """An account's balance as a caller sees it."""

    account: str
    posted: Amount
    held: Amount

    @property
    def available(self) -> Amount:
        """What can be spent now: posted minus what holds have reserved."""
        return self.posted - self.held

    @classmethod
    def from_stored(cls, stored: AccountBalance) -> Balance:
        """The balance as amounts in the account's currency, from the stored minor units."""
        return cls(
            account=stored.account,
            posted=Amount(units=stored.posted, currency=stored.currency),
            held=Amount(units=stored.held, currency=stored.currency),
        )


class HoldStatus(enum.Enum):
    """A hold starts pending and is resolved exactly once."""

    PENDING = "pending"
    POSTED = "posted"
    VOIDED = "voided"


@attrs.frozen(kw_only=True)
class Hold:
    """Money reserved to move from ``source`` to ``destination``, not moved yet.

    The first phase of a two-phase transfer (a withdrawal waiting for the bank,
    say): the source's available balance drops at once, so the money cannot be
    spent twice, but nothing is posted until :meth:`Ledger.post_hold`. Posting
    may take all or part of the reserved amount (the rest is released);
    voiding releases all of it.
    """

    id: str
    source: str
    destination: str
    amount: Amount
    created_at: datetime
    status: HoldStatus = HoldStatus.PENDING
    memo: str = ""
    references: tuple[str, ...] = ()
    resolved_at: datetime | None = None
    posted_amount: Amount | None = None
    entry_id: str | None = None
