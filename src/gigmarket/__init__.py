"""gigmarket: the money-touching core of a freelance services marketplace.

Import what you need from here; the submodules are organised for the
library's authors, this facade for its users.
"""

from __future__ import annotations

from gigmarket.errors import (
    AccountConflict,
    AccountNotFound,
    AlreadyReversed,
    AmountOutOfRange,
    CurrencyMismatch,
    EntryNotFound,
    FeePolicyError,
    GigmarketError,
    HoldAlreadyResolved,
    HoldExceeded,
    HoldNotFound,
    IdempotencyConflict,
    InsufficientFunds,
    InvalidAmount,
    InvalidRatios,
    LedgerError,
    MoneyError,
    NotFound,
    PrecisionError,
    StorageError,
    UnbalancedEntry,
    UnknownCurrency,
    ValidationError,
)
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

__all__ = [
    "MAX_UNITS",
    "AccountConflict",
    "AccountNotFound",
    "AlreadyReversed",
    "Amount",
    "AmountOutOfRange",
    "CurrencyMismatch",
    "EntryNotFound",
    "FeePolicyError",
    "FeeSplit",
    "GigmarketError",
    "HoldAlreadyResolved",
    "HoldExceeded",
    "HoldNotFound",
    "IdempotencyConflict",
    "InsufficientFunds",
    "InvalidAmount",
    "InvalidRatios",
    "LedgerError",
    "Money",
    "MoneyError",
    "NotFound",
    "PrecisionError",
    "RoundingMode",
    "StorageError",
    "UnbalancedEntry",
    "UnknownCurrency",
    "ValidationError",
    "allocate",
    "currency_code",
    "exponent",
    "parse_rate",
    "percentage",
    "split_fee",
]
