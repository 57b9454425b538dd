"""The ledger's commands: each write, its inputs checked, as a frozen value.

A command is what :mod:`gigmarket._kernel.runner` runs: it names the
operation it is recorded as under an idempotency key and the facts a replay
must repeat (:meth:`~gigmarket._kernel.runner.Command.payload`). Building one
checks everything that needs no storage (codes, ids, amounts, text), so a
malformed request is refused before a unit of work is touched; the handlers
in :mod:`gigmarket.escrow.transaction` check the rest against the books.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

import attrs

from gigmarket._iso4217 import EXPONENTS, NO_MINOR_UNIT
from gigmarket._kernel.runner import Command
from gigmarket.errors import AmountOutOfRange, ValidationError, brief
from gigmarket.escrow.model import Posting
from gigmarket.money import Amount, AmountLike, Money

__all__ = [
    "PostEntry",
    "PostHold",
    "PostingLike",
    "Reserve",
    "Reverse",
    "VoidHold",
    "as_amount",
    "check_code",
    "check_id",
    "check_text",
    "named_currency",
]

PostingLike = Posting | tuple[str, "Amount | Money"]
"""A posting, or an ``(account, amount)`` pair with a currency-carrying amount."""

ACCOUNT_CODE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:@/+\-]{0,199}")
MAX_TEXT = 500


def named_currency(code: str) -> str | None:
    """The currency a chart code ends with (``seller:7:available:USD``), if any."""
    _, _, last = code.rpartition(":")
    return last if last in EXPONENTS and last not in NO_MINOR_UNIT else None


def check_code(code: object) -> str:
    if not isinstance(code, str) or not ACCOUNT_CODE.fullmatch(code):
        raise ValidationError(
            f"{brief(code)} is not an account code (letters, digits and _.:@/+- , at most 200)",
            field="account",
        )
    return code


MAX_ID = 200


def check_id(value: object, field: str) -> str:
    """An entry or hold id: printable text, checked before it reaches a store.

    ``isprintable()`` is false for lone surrogates (Unicode category Cs), which
    no store could encode, so they need no check of their own.
    """
    if not isinstance(value, str) or not value or len(value) > MAX_ID or not value.isprintable():
        raise ValidationError(
            f"must be an id of at most {MAX_ID} printable characters", field=field
        )
    return value


def check_text(text: object, field: str) -> str:
    if not isinstance(text, str) or len(text) > MAX_TEXT or not text.isprintable():
        raise ValidationError(
            f"must be printable text of at most {MAX_TEXT} characters", field=field
        )
    return text


def check_references(references: Iterable[str]) -> tuple[str, ...]:
    if isinstance(references, str | bytes) or not isinstance(references, Iterable):
        raise ValidationError("pass a sequence of references", field="references")
    checked = tuple(check_text(r, "references") for r in references)
    if any(not r for r in checked):
        raise ValidationError("a reference must not be empty", field="references")
    return tuple(dict.fromkeys(checked))  # each reference once, in the caller's order


def as_posting(item: object) -> Posting:
    if isinstance(item, Posting):
        posting = item
    elif isinstance(item, tuple) and len(item) == 2:
        posting = Posting(check_code(item[0]), as_amount(item[1]))
    else:
        raise ValidationError(
            f"{brief(item)} is neither a Posting nor an (account, amount) pair", field="postings"
        )
    check_code(posting.account)
    if not isinstance(posting.amount, Amount):
        raise ValidationError("a posting's amount must be an Amount", field="postings")
    if posting.amount.units == 0:
        raise AmountOutOfRange(f"a posting to {posting.account} moves nothing", value=posting)
    return posting


def as_amount(value: AmountLike) -> Amount:
    """An amount that carries its own currency (an ``Amount`` or ``Money``)."""
    if not isinstance(value, Amount | Money):
        raise ValidationError(
            "ledger amounts must carry their currency: pass an Amount or Money", field="amount"
        )
    return Amount.of(value)


def _amount_data(value: Amount | None) -> list[object] | None:
    return None if value is None else [value.units, value.currency]


@attrs.frozen(kw_only=True)
class PostEntry(Command):
    """Record one balanced journal entry (``post``; a ``transfer`` is one)."""

    OPERATION = "post"

    postings: tuple[Posting, ...]
    memo: str = ""
    references: tuple[str, ...] = ()

    @classmethod
    def of(
        cls, postings: Iterable[PostingLike], *, memo: str, references: Iterable[str]
    ) -> PostEntry:
        given: object = postings
        if isinstance(given, str | bytes) or not isinstance(given, Iterable):
            raise ValidationError("pass a sequence of postings", field="postings")
        lines = tuple(as_posting(item) for item in given)
        return cls(
            postings=lines, memo=check_text(memo, "memo"), references=check_references(references)
        )

    @classmethod
    def transfer(
        cls,
        source: str,
        destination: str,
        amount: Amount | Money,
        *,
        memo: str,
        references: Iterable[str],
    ) -> PostEntry:
        value = as_amount(amount).require_positive()
        return cls.of(
            [Posting(source, -value), Posting(destination, value)],
            memo=memo,
            references=references,
        )

    def payload(self) -> object:
        return {
            "postings": [[p.account, p.amount.units, p.amount.currency] for p in self.postings],
            "memo": self.memo,
            "references": list(self.references),
        }


@attrs.frozen(kw_only=True)
class Reverse(Command):
    """Correct an entry by posting its exact opposite."""

    OPERATION = "reverse"

    entry_id: str
    memo: str = ""

    @classmethod
    def of(cls, entry_id: str, *, memo: str) -> Reverse:
        return cls(entry_id=check_id(entry_id, "entry_id"), memo=check_text(memo, "memo"))

    def payload(self) -> object:
        return {"entry": self.entry_id, "memo": self.memo}


@attrs.frozen(kw_only=True)
class Reserve(Command):
    """Reserve part of an account's available balance for another account."""

    OPERATION = "reserve"

    source: str
    destination: str
    amount: Amount
    memo: str = ""
    references: tuple[str, ...] = ()

    @classmethod
    def of(
        cls,
        source: str,
        destination: str,
        amount: Amount | Money,
        *,
        memo: str,
        references: Iterable[str],
    ) -> Reserve:
        check_code(source)
        check_code(destination)
        value = as_amount(amount).require_positive()
        return cls(
            source=source,
            destination=destination,
            amount=value,
            memo=check_text(memo, "memo"),
            references=check_references(references),
        )

    def payload(self) -> object:
        return {
            "source": self.source,
            "destination": self.destination,
            "amount": _amount_data(self.amount),
            "memo": self.memo,
            "references": list(self.references),
        }


@attrs.frozen(kw_only=True)
class PostHold(Command):
    """Post all of a pending hold (``amount`` ``None``), or part of it."""

    OPERATION = "post_hold"

    hold_id: str
    amount: Amount | None = None
    memo: str = ""

    @classmethod
    def of(cls, hold_id: str, amount: Amount | Money | None, *, memo: str) -> PostHold:
        hold_id = check_id(hold_id, "hold_id")
        value = None if amount is None else as_amount(amount).require_positive()
        return cls(hold_id=hold_id, amount=value, memo=check_text(memo, "memo"))

    def payload(self) -> object:
        return {"hold": self.hold_id, "amount": _amount_data(self.amount), "memo": self.memo}


@attrs.frozen(kw_only=True)
class VoidHold(Command):
    """Release a pending hold entirely."""

    OPERATION = "void_hold"

    hold_id: str

    @classmethod
    def of(cls, hold_id: str) -> VoidHold:
        return cls(hold_id=check_id(hold_id, "hold_id"))

    def payload(self) -> object:
        return {"hold": self.hold_id}
