"""Checks of the ledger's invariants over everything a store holds.

The ledger enforces its rules on every write; an audit proves they still
hold over the stored data, which a bug, a manual SQL fix or a half-restored
backup could have broken. Property tests run it after every step; operators
run it on production stores (``gigmarket audit``).

Each violation names the invariant of DESIGN §4 it breaks and the account or
entry concerned, with amounts in minor units.
"""

from __future__ import annotations

from collections import defaultdict

import attrs

from gigmarket.escrow.ports import LedgerRepository

__all__ = ["AuditReport", "Violation", "audit_ledger"]


@attrs.frozen(kw_only=True)
class Violation:
    """One broken invariant."""

    invariant: str
    message: str
    account: str | None = None
    entry_id: str | None = None


@attrs.frozen(kw_only=True)
class AuditReport:
    """What an audit looked at and what it found."""

    accounts: int
    entries: int
    violations: tuple[Violation, ...]

    @property
    def ok(self) -> bool:
        return not self.violations


def audit_ledger(ledger: LedgerRepository) -> AuditReport:
    """Check invariants 1, 2, 4 and 6 of DESIGN §4 over every account and entry."""
    violations: list[Violation] = []
    accounts = {account.code: account for account in ledger.accounts()}
    postings_sum: dict[str, int] = defaultdict(int)
    ledger_sum: dict[str, int] = defaultdict(int)
    reversed_by: dict[str, str] = {}
    entries = 0
    for entry in ledger.iter_entries():
        entries += 1
        per_currency: dict[str, int] = defaultdict(int)
        for posting in entry.postings:
            per_currency[posting.amount.currency] += posting.amount.units
            postings_sum[posting.account] += posting.amount.units
            ledger_sum[posting.amount.currency] += posting.amount.units
            account = accounts.get(posting.account)
            if account is None:
                violations.append(
                    Violation(
                        invariant="1-balanced",
                        message=f"posting to unknown account {posting.account!r}",
                        account=posting.account,
                        entry_id=entry.id,
                    )
                )
            elif account.currency != posting.amount.currency:
                violations.append(
                    Violation(
                        invariant="1-balanced",
                        message=f"a {posting.amount.currency} posting to a "
                        f"{account.currency} account",
                        account=posting.account,
                        entry_id=entry.id,
                    )
                )
        violations.extend(
            Violation(
                invariant="1-balanced",
                message=f"entry sums to {total} in {currency}",
                entry_id=entry.id,
            )
            for currency, total in sorted(per_currency.items())
            if total
        )
        if entry.reverses is not None:
            violations.extend(_check_reversal(ledger, entry.id, entry.reverses, reversed_by))
    violations.extend(
        Violation(invariant="1-balanced", message=f"the ledger sums to {total} in {currency}")
        for currency, total in sorted(ledger_sum.items())
        if total
    )
    held: dict[str, int] = defaultdict(int)
    for hold in ledger.pending_holds():
        held[hold.source] += hold.amount.units
    stored = ledger.lock_balances(list(accounts))
    for code, account in accounts.items():
        balance = stored.get(code)
        if balance is None:
            violations.append(
                Violation(invariant="4-stored-balance", message="no stored balance", account=code)
            )
            continue
        if balance.posted != postings_sum[code]:
            violations.append(
                Violation(
                    invariant="4-stored-balance",
                    message=f"stored balance {balance.posted} != sum of postings "
                    f"{postings_sum[code]}",
                    account=code,
                )
            )
        if balance.held != held[code]:
            violations.append(
                Violation(
                    invariant="4-stored-balance",
                    message=f"stored hold total {balance.held} != pending holds {held[code]}",
                    account=code,
                )
            )
        if not account.allow_negative and balance.posted - balance.held < 0:
            violations.append(
                Violation(
                    invariant="2-non-negative",
                    message=f"available balance is {balance.posted - balance.held}",
                    account=code,
                )
            )
        if _is_debt(code) and balance.posted > 0:
            violations.append(
                Violation(
                    invariant="2-non-negative",
                    message=f"a debt account is in credit: {balance.posted}",
                    account=code,
                )
            )
    return AuditReport(accounts=len(accounts), entries=entries, violations=tuple(violations))


def _is_debt(code: str) -> bool:
    """Whether ``code`` is a seller's debt account (zero or negative, never positive)."""
    parts = code.split(":")
    return len(parts) == 4 and parts[0] == "seller" and parts[2] == "debt"


def _check_reversal(
    ledger: LedgerRepository, entry_id: str, original_id: str, reversed_by: dict[str, str]
) -> list[Violation]:
    found: list[Violation] = []
    original = ledger.get_entry(original_id)
    if original is None:
        found.append(
            Violation(
                invariant="6-append-only",
                message=f"reverses a missing entry {original_id!r}",
                entry_id=entry_id,
            )
        )
    else:
        expected = sorted((p.account, -p.amount.units) for p in original.postings)
        reversal = ledger.get_entry(entry_id)
        actual = sorted((p.account, p.amount.units) for p in reversal.postings) if reversal else []
        if expected != actual:
            found.append(
                Violation(
                    invariant="6-append-only",
                    message=f"is not the exact opposite of {original_id!r}",
                    entry_id=entry_id,
                )
            )
    if original_id in reversed_by:
        found.append(
            Violation(
                invariant="6-append-only",
                message=f"{original_id!r} is reversed twice (also by {reversed_by[original_id]!r})",
                entry_id=entry_id,
            )
        )
    reversed_by[original_id] = entry_id
    return found
