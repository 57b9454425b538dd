"""Plain text in, plain text stored: one set of rules for every free text gigmarket keeps.

Everything people type (a gig's title, a review, a cancellation reason, an
answer to a seller's question, an operator's note) is stored as plain text,
exactly as it will be shown once the host escapes it for its own output (HTML,
e-mail, push). gigmarket never stores markup and never escapes: that is the
output's job, and escaping twice is how ``&amp;amp;`` reaches a buyer.

What is refused is what no honest text contains: control characters (a NUL
truncates C strings, an escape sequence rewrites a terminal), unpaired
surrogates (no database can store them), and the bidirectional overrides that
make text display in another order than it is stored ("Trojan Source").
Zero-width joiners stay allowed: Bengali and other scripts need them.

Text is put in Unicode NFC form, so that two spellings of the same letter
compare, count and search alike, and lengths are counted in code points after
that. Multi-line fields accept line feeds; a browser's CR LF becomes LF.
Every field has a maximum length; the catalog's are in
:mod:`gigmarket.catalog.limits`, the orders' below.

Identifiers handed in by a caller (an order id, an account id) are checked
by :func:`check_id` before they reach a store: a ``str`` of 1 to
:data:`ID_MAX` printable characters.
"""

from __future__ import annotations

import unicodedata

from gigmarket.errors import ValidationError, brief

__all__ = [
    "ANSWER_MAX",
    "CANCELLATION_REASON_MAX",
    "ID_MAX",
    "NOTE_MAX",
    "REASON_MAX",
    "REVIEW_TEXT_MAX",
    "SUB_RATING_NAME_MAX",
    "check_id",
    "check_limit",
    "clean_line",
    "clean_text",
    "free_text",
    "reason_text",
]

ID_MAX = 200
"""The longest identifier accepted from a caller, in characters."""

REASON_MAX = 500
"""An operator's reason for a suspension or a denial (one line)."""
REVIEW_TEXT_MAX = 5000
"""A review's text (several lines; may be empty)."""
SUB_RATING_NAME_MAX = 40
"""The name of a sub-rating such as "communication" (one line)."""
CANCELLATION_REASON_MAX = 1000
"""Why a buyer or a seller asks to cancel an order (several lines; may be empty)."""
ANSWER_MAX = 2500
"""A buyer's answer to one requirement question (several lines)."""
NOTE_MAX = 1000
"""An operator's note on a dispute resolution or a refund (several lines; may be empty)."""

_BIDI_CONTROLS = frozenset(
    "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
)


def _refuse_controls(text: str, *, multiline: bool) -> None:
    for char in text:
        if multiline and char == "\n":
            continue
        category = unicodedata.category(char)
        if category in ("Cc", "Cs") or char in _BIDI_CONTROLS:
            raise ValueError(f"contains the control character U+{ord(char):04X}")


def clean_line(value: str) -> str:
    """One line of text: NFC, surrounding whitespace stripped, no control characters.

    Raises ``ValueError`` (which pydantic reports against the field).
    """
    text = unicodedata.normalize("NFC", value).strip()
    _refuse_controls(text, multiline=False)
    return text


def clean_text(value: str) -> str:
    """Several lines of text: like :func:`clean_line`, but line feeds are kept
    (CR LF and lone CR become LF)."""
    text = value.replace("\r\n", "\n").replace("\r", "\n")
    text = unicodedata.normalize("NFC", text).strip()
    _refuse_controls(text, multiline=True)
    return text


def free_text(
    value: object, *, field: str, maximum: int, minimum: int = 0, multiline: bool = False
) -> str:
    """``value`` cleaned by :func:`clean_line` (or :func:`clean_text` when
    ``multiline``) and between ``minimum`` and ``maximum`` characters long,
    else a :class:`~gigmarket.errors.ValidationError` naming ``field``."""
    if not isinstance(value, str):
        raise ValidationError(f"must be text, not {type(value).__name__}", field=field)
    if len(value) > 4 * maximum + 64:
        # Far too long whatever normalisation does: refused before NFC runs over it.
        raise ValidationError(f"must be at most {maximum} characters", field=field)
    try:
        text = clean_text(value) if multiline else clean_line(value)
    except ValueError as error:
        raise ValidationError(str(error), field=field) from None
    if len(text) < minimum:
        raise ValidationError(
            "must not be empty" if minimum == 1 else f"must be at least {minimum} characters",
            field=field,
        )
    if len(text) > maximum:
        raise ValidationError(f"must be at most {maximum} characters, got {len(text)}", field=field)
    return text


def reason_text(value: object, field: str = "reason") -> str:
    """An operator's reason (for a suspension, a denial): one line of 1 to
    :data:`REASON_MAX` characters."""
    try:
        text = clean_line(value) if isinstance(value, str) else None
    except ValueError as error:
        raise ValidationError(str(error), field=field) from None
    if not text or len(text) > REASON_MAX:
        raise ValidationError(f"must be text of 1 to {REASON_MAX} characters", field=field)
    return text


def check_id(value: object, field: str) -> str:
    """An identifier from a caller: a ``str`` of 1 to :data:`ID_MAX` printable
    characters (no control, format or surrogate characters), else a
    :class:`~gigmarket.errors.ValidationError` naming ``field``. Lists, numbers
    and ``None`` never reach a store's query."""
    if not isinstance(value, str) or not value or len(value) > ID_MAX or not value.isprintable():
        raise ValidationError(
            f"must be a printable id of at most {ID_MAX} characters, not {brief(value)}",
            field=field,
        )
    return value


def check_limit(value: object, field: str, *, maximum: int, minimum: int = 1) -> int:
    """A count from a caller (a page size, a batch limit): an ``int`` (not a
    ``bool``) from ``minimum`` to ``maximum``."""
    if isinstance(value, bool) or not isinstance(value, int) or not minimum <= value <= maximum:
        raise ValidationError(
            f"must be a whole number from {minimum} to {maximum}, not {brief(value)}",
            field=field,
        )
    return value
