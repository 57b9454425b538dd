"""T-accounts for the escrow page: the ledger drawn the way a textbook draws it.

gigmarket keeps every balance from the platform's point of view: a positive
balance is what the platform owes someone (the buyer's money in escrow, a
seller's earnings, its own revenue) and the gateway account, the platform's
cash at the payment provider, is the one that goes negative. In a
book-keeper's words, a positive posting is a *credit* and a negative one a
*debit*: money arriving at the gateway debits it, and the escrow account that
now owes it is credited. Each T-account below lists its postings in those two
columns, and every journal entry appears in at least two of them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from gigmarket import Amount, Marketplace
from gigmarket.escrow import Hold, JournalEntry, LedgerAccount

__all__ = ["TAccount", "TLine", "build_t_accounts", "describe", "read_t_accounts"]

# The order in which a teacher tells the story: where money comes from, where
# it waits, who it ends up with.
_KINDS = ("gateway", "escrow", "buyer", "seller", "payouts", "refunds", "platform")


@dataclass(frozen=True)
class TLine:
    """One posting, on the debit or the credit side of its account."""

    entry_id: str
    at: datetime
    memo: str
    debit: Amount | None
    credit: Amount | None


@dataclass(frozen=True)
class TAccount:
    """One ledger account with its postings split into debits and credits."""

    code: str
    title: str
    currency: str
    lines: tuple[TLine, ...]
    debits: Amount
    credits: Amount
    held: Amount
    """Set aside by pending holds (a withdrawal on its way), still in the balance."""

    @property
    def balance(self) -> Amount:
        """The balance as gigmarket reports it: credits minus debits."""
        return self.credits - self.debits

    @property
    def side(self) -> str:
        """``"Cr"`` for a credit balance (owed by the platform), ``"Dr"`` for a debit one."""
        return "Dr" if self.balance.units < 0 else "Cr"

    @property
    def balance_magnitude(self) -> Amount:
        return -self.balance if self.balance.units < 0 else self.balance


def describe(code: str, name_of: Callable[[str], str] = str) -> str:  # noqa: PLR0911 -- a case per account kind
    """A reader's title for an account code; ``name_of`` turns a party id into a name."""
    parts = code.split(":")
    match parts:
        case ["gateway", gateway, currency]:
            return f"Payment gateway '{gateway}' (the world's side), {currency}"
        case ["escrow", "order", order_id]:
            return f"Escrow for order {order_id}"
        case ["buyer", party, "credit", currency]:
            return f"{name_of(party)}: buyer credit, {currency}"
        case ["seller", party, kind, currency]:
            return f"{name_of(party)}: seller {kind}, {currency}"
        case ["payouts", "in_flight", currency]:
            return f"Payouts in flight, {currency}"
        case ["refunds", "in_flight", currency]:
            return f"Refunds in flight, {currency}"
        case ["platform", "revenue", currency]:
            return f"Platform revenue, {currency}"
    return code


def _order(code: str) -> tuple[int, str]:
    kind = code.split(":", 1)[0]
    return (_KINDS.index(kind) if kind in _KINDS else len(_KINDS), code)


def build_t_accounts(
    accounts: Sequence[LedgerAccount],
    entries: Iterable[JournalEntry],
    holds: Iterable[Hold] = (),
    *,
    name_of: Callable[[str], str] = str,
) -> list[TAccount]:
    """Every account that has a posting, with its debits and credits, in story order."""
    lines: dict[str, list[TLine]] = {}
    for entry in entries:
        for posting in entry.postings:
            negative = posting.amount.units < 0
            lines.setdefault(posting.account, []).append(
                TLine(
                    entry_id=entry.id,
                    at=entry.created_at,
                    memo=entry.memo,
                    debit=-posting.amount if negative else None,
                    credit=None if negative else posting.amount,
                )
            )
    held: dict[str, Amount] = {}
    for hold in holds:
        held[hold.source] = held.get(hold.source, Amount.zero(hold.amount.currency)) + hold.amount
    built = []
    for account in sorted(accounts, key=lambda a: _order(a.code)):
        mine = lines.get(account.code)
        if not mine:
            continue
        zero = Amount.zero(account.currency)
        built.append(
            TAccount(
                code=account.code,
                title=describe(account.code, name_of),
                currency=account.currency,
                lines=tuple(mine),
                debits=sum((line.debit for line in mine if line.debit is not None), zero),
                credits=sum((line.credit for line in mine if line.credit is not None), zero),
                held=held.get(account.code, zero),
            )
        )
    return built


def read_t_accounts(market: Marketplace, *, name_of: Callable[[str], str] = str) -> list[TAccount]:
    """The T-accounts of ``market``'s ledger as it is now, read in one transaction."""
    with market.ledger.transaction() as tx:
        repository = tx.uow.ledger
        accounts = list(repository.accounts())
        entries = list(repository.iter_entries())
        holds = list(repository.pending_holds())
    # Named after the transaction closes: ``name_of`` may read the catalog, and
    # a thread holds one unit of work at a time.
    return build_t_accounts(accounts, entries, holds, name_of=name_of)
