"""Plain text in, plain text stored: normalising and refusing control characters.

Everything a seller types (titles, descriptions, answers) is stored as plain
text, exactly as it will be shown once the host escapes it for its own output
(HTML, e-mail, push). gigmarket never stores markup and never escapes: that is
the output's job, and escaping twice is how ``&amp;amp;`` reaches a buyer.

What is refused is what no honest text contains: control characters (a NUL
truncates C strings, an escape sequence rewrites a terminal), unpaired
surrogates, and the bidirectional overrides that make text display in another
order than it is stored ("Trojan Source"). Zero-width joiners stay allowed:
Bengali and other scripts need them.

Text is put in Unicode NFC form, so that two spellings of the same letter
compare, count and search alike, and lengths are counted in code points after
that. Multi-line fields accept line feeds; a browser's CR LF becomes LF.
"""

from __future__ import annotations

import unicodedata

from gigmarket.catalog.limits import REASON_MAX
from gigmarket.errors import ValidationError

__all__ = ["check_id", "clean_line", "clean_text", "reason_text", "tokens"]

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


def _is_word_char(char: str) -> bool:
    # Letters, marks and numbers. Marks matter: a Bengali vowel sign is a mark,
    # and a regex ``\w`` would split every Bengali word at it.
    return unicodedata.category(char)[0] in "LMN"


def tokens(text: str) -> list[str]:
    """The words of ``text`` for search: NFKC, case-folded, split at anything
    that is not a letter, a mark or a digit."""
    folded = unicodedata.normalize("NFKC", text).casefold()
    words: list[str] = []
    current: list[str] = []
    for char in folded:
        if _is_word_char(char):
            current.append(char)
        elif current:
            words.append("".join(current))
            current = []
    if current:
        words.append("".join(current))
    return words


_MAX_ID = 200


def check_id(value: object, field: str) -> str:
    """An identifier handed in by another module (an order id, a review id)."""
    if not isinstance(value, str) or not value or len(value) > _MAX_ID or not value.isprintable():
        raise ValidationError(
            f"must be a printable id of at most {_MAX_ID} characters", field=field
        )
    return value


def reason_text(value: object, field: str = "reason") -> str:
    """An operator's reason (for a suspension, a denial): one line of 1 to 500 characters."""
    try:
        text = clean_line(value) if isinstance(value, str) else None
    except ValueError as error:
        raise ValidationError(str(error), field=field) from None
    if not text or len(text) > REASON_MAX:
        raise ValidationError(f"must be text of 1 to {REASON_MAX} characters", field=field)
    return text
