"""The catalog's text: the library-wide rules, and the words search reads.

The rules for plain text (NFC, no control characters, no bidirectional
overrides, bounded lengths) and for identifiers live in :mod:`gigmarket.text`,
because orders keep free text too (reviews, reasons, answers) and must obey
the same ones; they are re-exported here for the catalog's modules.
:func:`tokens` is the catalog's own: how search splits text into words.
"""

from __future__ import annotations

import unicodedata

from gigmarket.text import check_id, clean_line, clean_text, reason_text

__all__ = ["check_id", "clean_line", "clean_text", "reason_text", "tokens"]


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
