"""gigmarket: the money-touching core of a freelance services marketplace.

Import what you need from here; the submodules are organised for the
library's authors, this facade for its users.
"""

from __future__ import annotations

from gigmarket.errors import *  # noqa: F403 -- errors.__all__ is explicit and tested
from gigmarket.errors import __all__ as _error_names
from gigmarket.money import (
    MAX_UNITS,
    Amount,
    FeeSplit,
    Money,
    RoundingMode,
    allocate,
    currency_code,
    exponent,
    parse_rate,
    percentage,
    split_fee,
)

__version__ = "0.1.0.dev0"

__all__ = sorted(
    [
        *_error_names,
        "MAX_UNITS",
        "Amount",
        "FeeSplit",
        "Money",
        "RoundingMode",
        "allocate",
        "currency_code",
        "exponent",
        "parse_rate",
        "percentage",
        "split_fee",
    ]
)
