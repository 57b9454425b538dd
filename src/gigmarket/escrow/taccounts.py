"""T-accounts: the ledger drawn the way an accounting textbook draws it.

gigmarket stores one signed number per posting. A textbook splits the same
postings into two columns, **debit** (Dr., on the left) and **credit** (Cr.,
on the right), and this module does that split, for a teacher's notebook or a
page of documentation.

The sign convention, once. The ledger keeps its books from the platform's
side. A *negative* posting is a **debit**, a *positive* one a **credit**:

- the gateway account is the platform's cash, held at the payment provider.
  Like the cash account of the textbook, what comes *in* is written on the
  debit side (left) and what goes *out* on the credit side (right); its
  balance is a debit balance, which the ledger stores as a negative number;
- every other account (an order's escrow, a seller's earnings, the payouts in
  flight) is money the platform *owes* someone, and the platform's revenue is
  its income. These grow on the credit side, so their balances are credit
  balances, stored as positive numbers.

So the ledger's balance of an account is always its credits minus its debits,
and an entry's postings summing to zero is the textbook's "debits equal
credits".

>>> from gigmarket.storage.memory.store import MemoryStorage
>>> from gigmarket.money import Amount
>>> from gigmarket.escrow.ledger import Ledger
>>> ledger = Ledger(MemoryStorage())
>>> _ = ledger.open_account("gateway:sandbox:USD", "USD", allow_negative=True)
>>> _ = ledger.open_account("escrow:order:1", "USD")
>>> _ = ledger.transfer("gateway:sandbox:USD", "escrow:order:1", Amount.of("55.75", "USD"))
>>> cash, escrow = t_accounts(ledger)
>>> (cash.side, str(cash.closing), escrow.side, str(escrow.closing))
('Dr', '55.75 USD', 'Cr', '55.75 USD')
>>> print(render_trial_balance([cash, escrow]), end="")
| Account | Dr. (USD) | Cr. (USD) |
|---|---:|---:|
| Cash at sandbox A/c | 55.75 | |
| Escrow of order 1 A/c | | 55.75 |
| **Total** | **55.75** | **55.75** |
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from datetime import datetime
from typing import Literal

import attrs

from gigmarket.escrow.ledger import Ledger
from gigmarket.escrow.model import Hold, HoldStatus, JournalEntry, LedgerAccount
from gigmarket.money import Amount, exponent

__all__ = [
    "BENGALI",
    "ENGLISH",
    "TAccount",
    "TLabels",
    "TLine",
    "build_t_accounts",
    "render_t_account",
    "render_t_accounts",
    "render_trial_balance",
    "t_accounts",
]

# The order in which a teacher tells the story: where money comes from, where
# it waits, whom it ends up with.
_KINDS = ("gateway", "escrow", "buyer", "seller", "refunds", "payouts", "platform")


@attrs.frozen(kw_only=True)
class TLine:
    """One posting on one side of a T-account.

    ``number`` is the entry's place in the journal, counted from 1: the
    textbook's journal folio (J.F.), which ties this line to its twin on the
    other side of another account. ``counterparts`` are the other accounts of
    the same entry on the opposite side.
    """

    number: int
    entry_id: str
    at: datetime
    memo: str
    counterparts: tuple[str, ...]
    amount: Amount


@attrs.frozen(kw_only=True)
class TAccount:
    """One ledger account with its postings split into debits and credits."""

    code: str
    currency: str
    debits: tuple[TLine, ...]
    credits: tuple[TLine, ...]
    held: Amount
    """Reserved by pending holds (a withdrawal on its way), still in the balance."""

    @property
    def debit_total(self) -> Amount:
        return sum((line.amount for line in self.debits), Amount.zero(self.currency))

    @property
    def credit_total(self) -> Amount:
        return sum((line.amount for line in self.credits), Amount.zero(self.currency))

    @property
    def balance(self) -> Amount:
        """The balance as the ledger stores it: credits minus debits."""
        return self.credit_total - self.debit_total

    @property
    def side(self) -> Literal["Dr", "Cr"] | None:
        """``"Dr"`` for a debit balance, ``"Cr"`` for a credit one, ``None`` at zero."""
        if self.balance.units == 0:
            return None
        return "Dr" if self.balance.units < 0 else "Cr"

    @property
    def closing(self) -> Amount:
        """The size of the balance, whichever side it is on."""
        return -self.balance if self.balance.units < 0 else self.balance


_SELLER_KINDS = ("pending", "available", "debt")


def _story_order(code: str) -> tuple[int, str, int, str]:
    parts = code.split(":")
    kind = parts[0]
    rank = _KINDS.index(kind) if kind in _KINDS else len(_KINDS)
    if kind == "seller" and len(parts) == 4 and parts[2] in _SELLER_KINDS:
        # One seller's accounts together, in the order money passes through them.
        return (rank, parts[1], _SELLER_KINDS.index(parts[2]), code)
    return (rank, code, 0, "")


def build_t_accounts(
    accounts: Iterable[LedgerAccount],
    entries: Iterable[JournalEntry],
    holds: Iterable[Hold] = (),
    *,
    only: Collection[str] | None = None,
    include_empty: bool = False,
) -> list[TAccount]:
    """Split ``entries`` into T-accounts; pure, for data already read.

    ``entries`` must be the whole journal in order (their place numbers the
    lines). Accounts come in story order (gateway, escrow, buyers, sellers,
    payouts, platform), limited to ``only`` if given; an account without a
    posting is left out unless ``include_empty``.
    """
    debits: dict[str, list[TLine]] = {}
    credits: dict[str, list[TLine]] = {}
    for number, entry in enumerate(entries, start=1):
        for posting in entry.postings:
            debit = posting.amount.units < 0
            opposite = tuple(
                dict.fromkeys(
                    other.account
                    for other in entry.postings
                    if other.account != posting.account and (other.amount.units < 0) != debit
                )
            )
            (debits if debit else credits).setdefault(posting.account, []).append(
                TLine(
                    number=number,
                    entry_id=entry.id,
                    at=entry.created_at,
                    memo=entry.memo,
                    counterparts=opposite,
                    amount=-posting.amount if debit else posting.amount,
                )
            )
    held: dict[str, int] = {}
    for hold in holds:
        if hold.status is HoldStatus.PENDING:
            held[hold.source] = held.get(hold.source, 0) + hold.amount.units
    built = []
    for account in sorted(accounts, key=lambda a: _story_order(a.code)):
        if only is not None and account.code not in only:
            continue
        mine_dr = tuple(debits.get(account.code, ()))
        mine_cr = tuple(credits.get(account.code, ()))
        if not (mine_dr or mine_cr or include_empty):
            continue
        built.append(
            TAccount(
                code=account.code,
                currency=account.currency,
                debits=mine_dr,
                credits=mine_cr,
                held=Amount(units=held.get(account.code, 0), currency=account.currency),
            )
        )
    if only is not None and not isinstance(only, (set, frozenset)):
        place = {code: i for i, code in enumerate(only)}
        built.sort(key=lambda t: place[t.code])
    return built


def t_accounts(
    ledger: Ledger, only: Collection[str] | None = None, *, include_empty: bool = False
) -> list[TAccount]:
    """The T-accounts of ``ledger`` as it is now, read in one transaction.

    ``only`` limits them to some account codes (in that order, if a sequence);
    see :func:`build_t_accounts`.
    """
    with ledger.transaction() as tx:
        repository = tx.uow.ledger
        accounts = list(repository.accounts())
        entries = list(repository.iter_entries())
        holds = list(repository.pending_holds())
    return build_t_accounts(accounts, entries, holds, only=only, include_empty=include_empty)


# -- rendering -----------------------------------------------------------------


def _group_western(digits: str) -> str:
    groups: list[str] = []
    while len(digits) > 3:
        groups.insert(0, digits[-3:])
        digits = digits[:-3]
    return ",".join([digits, *groups])


def _group_south_asian(digits: str) -> str:
    """Lakh and crore grouping: 1,00,00,000 (the last three digits, then twos)."""
    if len(digits) <= 3:
        return digits
    head, tail = digits[:-3], digits[-3:]
    groups: list[str] = []
    while len(head) > 2:
        groups.insert(0, head[-2:])
        head = head[:-2]
    return ",".join([head, *groups, tail])


_BENGALI_DIGITS = str.maketrans("0123456789", "০১২৩৪৫৬৭৮৯")
_MONTHS_EN = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
_MONTHS_BN = [
    "জানুয়ারি",
    "ফেব্রুয়ারি",
    "মার্চ",
    "এপ্রিল",
    "মে",
    "জুন",
    "জুলাই",
    "আগস্ট",
    "সেপ্টেম্বর",
    "অক্টোবর",
    "নভেম্বর",
    "ডিসেম্বর",
]


def _number(amount: Amount, group: Callable[[str], str], digits: dict[int, int] | None) -> str:
    """The size of ``amount`` with its currency's decimals, grouped, no sign."""
    places = exponent(amount.currency)
    text = str(abs(amount.units)).rjust(places + 1, "0")
    whole, fraction = (text[:-places], text[-places:]) if places else (text, "")
    written = group(whole) + (f".{fraction}" if fraction else "")
    return written.translate(digits) if digits else written


def _describe(code: str, names: Mapping[str, str], bengali: bool) -> str:  # noqa: PLR0911 -- a case per kind
    parts = code.split(":")
    name = names.get
    match parts:
        case ["gateway", gateway, _]:
            return f"নগদান হিসাব ({gateway})" if bengali else f"Cash at {gateway} A/c"
        case ["escrow", "order", order]:
            order_name = name(order, order)
            return (
                f"অর্ডার {order_name}-এর এসক্রো হিসাব"
                if bengali
                else f"Escrow of order {order_name} A/c"
            )
        case ["buyer", party, "credit", _]:
            who = name(party, party)
            return f"{who}: ক্রেতার জমা হিসাব" if bengali else f"{who}: buyer credit A/c"
        case ["seller", party, kind, _]:
            who = name(party, party)
            if bengali:
                kinds = {"pending": "অপেক্ষমাণ আয়", "available": "উত্তোলনযোগ্য আয়", "debt": "দেনা"}
                return f"{who}: {kinds.get(kind, kind)} হিসাব"
            return f"{who}: {kind} earnings A/c" if kind != "debt" else f"{who}: debt A/c"
        case ["payouts", "in_flight", _]:
            return "পথে থাকা পেআউট হিসাব" if bengali else "Payouts in flight A/c"
        case ["refunds", "in_flight", _]:
            return "পথে থাকা রিফান্ড হিসাব" if bengali else "Refunds in flight A/c"
        case ["platform", "revenue", _]:
            return "প্ল্যাটফর্মের আয় হিসাব" if bengali else "Platform revenue A/c"
    return code


@attrs.frozen(kw_only=True)
class TLabels:
    """The words and number style of a rendered T-account.

    Two ship: :data:`ENGLISH` and :data:`BENGALI` (the labels of a Bangladeshi
    accounting textbook: ডেবিট (Dr.) and ক্রেডিট (Cr.), তারিখ, বিবরণ, জাঃ পৃঃ,
    টাকা; Bengali digits with lakh grouping). Build your own with
    ``attrs.evolve(BENGALI, ...)``.
    """

    debit: str
    credit: str
    date: str
    particulars: str
    folio: str
    account: str
    total: str
    balance_cd: str
    balance_bd: str
    to: str
    by: str
    bengali: bool = False

    def amount_heading(self, currency: str) -> str:
        if self.bengali:
            return {"BDT": "টাকা", "USD": "ডলার"}.get(currency, currency)
        return f"Amount ({currency})"

    def number(self, amount: Amount) -> str:
        if self.bengali:
            return _number(amount, _group_south_asian, _BENGALI_DIGITS)
        return _number(amount, _group_western, None)

    def digits(self, value: int) -> str:
        return str(value).translate(_BENGALI_DIGITS) if self.bengali else str(value)

    def day(self, at: datetime) -> str:
        if self.bengali:
            return f"{self.digits(at.day)} {_MONTHS_BN[at.month - 1]}"
        return f"{at.day} {_MONTHS_EN[at.month - 1]}"

    def title(self, code: str, names: Mapping[str, str] | None = None) -> str:
        """A reader's name for an account code; ``names`` maps party ids to names."""
        return _describe(code, names or {}, self.bengali)


ENGLISH = TLabels(
    debit="Dr.",
    credit="Cr.",
    date="Date",
    particulars="Particulars",
    folio="J.F.",
    account="Account",
    total="Total",
    balance_cd="Balance c/d",
    balance_bd="Balance b/d",
    to="To",
    by="By",
)
"""Labels of an English-language textbook: Dr./Cr., "To"/"By", Balance c/d and b/d."""

BENGALI = TLabels(
    debit="ডেবিট (Dr.)",
    credit="ক্রেডিট (Cr.)",
    date="তারিখ",
    particulars="বিবরণ",
    folio="জাঃ পৃঃ",
    account="হিসাবের নাম",
    total="মোট",
    balance_cd="উদ্বৃত্ত নি/নি",
    balance_bd="উদ্বৃত্ত নি/আ",
    to="",
    by="",
    bengali=True,
)
"""Labels of a Bangladeshi textbook's T-ছক খতিয়ান, with Bengali digits."""


def _row(cells: Iterable[str]) -> str:
    return "|" + "|".join(f" {cell} " if cell else " " for cell in cells) + "|"


def _cells(line: TLine | None, word: str, labels: TLabels, names: Mapping[str, str]) -> list[str]:
    if line is None:
        return ["", "", "", ""]
    others = ", ".join(labels.title(code, names) for code in line.counterparts) or line.memo
    particulars = f"{word} {others}".strip()
    return [
        labels.day(line.at),
        particulars,
        labels.digits(line.number),
        labels.number(line.amount),
    ]


def render_t_account(
    account: TAccount, labels: TLabels = ENGLISH, *, names: Mapping[str, str] | None = None
) -> str:
    """One T-account as a Markdown table, balanced the textbook way.

    The title line names the account between the debit and credit labels.
    Debits are on the left (each "To" the accounts credited by the same
    entry), credits on the right ("By" the accounts debited). The smaller side
    is made up with the closing balance (Balance c/d), both sides are totalled,
    and the balance is brought down on its own side (Balance b/d).
    """
    names = names or {}
    heading = labels.amount_heading(account.currency)
    lines = [
        f"**{labels.debit}** &emsp; **{labels.title(account.code, names)}** &emsp; "
        f"**{labels.credit}**",
        "",
        _row([labels.date, labels.particulars, labels.folio, heading] * 2),
        "|---|---|---:|---:|---|---|---:|---:|",
    ]
    for i in range(max(len(account.debits), len(account.credits))):
        left = account.debits[i] if i < len(account.debits) else None
        right = account.credits[i] if i < len(account.credits) else None
        row = _cells(left, labels.to, labels, names) + _cells(right, labels.by, labels, names)
        lines.append(_row(row))
    empty = ["", "", "", ""]
    if account.side is not None:
        closing = ["", labels.balance_cd, "", labels.number(account.closing)]
        # The closing balance makes up the *smaller* side: a credit balance is
        # carried down on the debit side, and the other way round.
        row = closing + empty if account.side == "Cr" else empty + closing
        lines.append(_row(row))
    total = max(account.debit_total, account.credit_total)
    total_cells = ["", f"**{labels.total}**", "", f"**{labels.number(total)}**"]
    lines.append(_row(total_cells * 2))
    if account.side is not None:
        brought = ["", labels.balance_bd, "", labels.number(account.closing)]
        row = brought + empty if account.side == "Dr" else empty + brought
        lines.append(_row(row))
    return "\n".join(lines) + "\n"


def render_t_accounts(
    accounts: Sequence[TAccount],
    labels: TLabels = ENGLISH,
    *,
    names: Mapping[str, str] | None = None,
) -> str:
    """Several T-accounts, one after another, as Markdown."""
    return "\n".join(render_t_account(account, labels, names=names) for account in accounts)


def render_trial_balance(
    accounts: Sequence[TAccount],
    labels: TLabels = ENGLISH,
    *,
    names: Mapping[str, str] | None = None,
) -> str:
    """Every account's closing balance on its side, and the two totals.

    The trial balance (রেওয়ামিল) of the textbook: the totals are equal
    because every entry of the ledger is. The accounts must share a currency.
    Accounts with a zero balance are listed with empty cells.
    """
    names = names or {}
    currencies = {account.currency for account in accounts}
    if len(currencies) != 1:
        raise ValueError("a trial balance is drawn in one currency")
    (currency,) = currencies
    heading = labels.amount_heading(currency)
    zero = Amount.zero(currency)
    debit_total = credit_total = zero
    unit = heading if labels.bengali else f"({currency})"
    rows = [
        _row([labels.account, f"{labels.debit} {unit}", f"{labels.credit} {unit}"]),
        "|---|---:|---:|",
    ]
    for account in accounts:
        dr = labels.number(account.closing) if account.side == "Dr" else ""
        cr = labels.number(account.closing) if account.side == "Cr" else ""
        if account.side == "Dr":
            debit_total += account.closing
        elif account.side == "Cr":
            credit_total += account.closing
        rows.append(_row([labels.title(account.code, names), dr, cr]))
    rows.append(
        _row(
            [
                f"**{labels.total}**",
                f"**{labels.number(debit_total)}**",
                f"**{labels.number(credit_total)}**",
            ]
        )
    )
    return "\n".join(rows) + "\n"
