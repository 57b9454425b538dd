"""Every error gigmarket raises, in one tree.

A host catches ``GigmarketError`` to handle anything the library refuses, or a
branch of the tree to handle one concern. Each error carries the facts a host
needs to react (account, amount, key, field...) as attributes, so nobody has
to parse a message. Where the meaning matches a builtin, the error subclasses
it too: a missing thing is a ``LookupError``, a malformed value a
``ValueError``.

```text
GigmarketError
├── ValidationError (ValueError) ........ input that breaks a rule; names the field
├── NotFound (LookupError) .............. a thing that does not exist
│   ├── AccountNotFound
│   ├── EntryNotFound
│   └── HoldNotFound
├── MoneyError (ValueError)
│   ├── InvalidAmount ................... float, NaN, infinity, not a number
│   │   ├── PrecisionError .............. more decimals than the currency has
│   │   └── AmountOutOfRange ............ beyond the sane bound, or not positive where required
│   ├── UnknownCurrency (LookupError) ... not an ISO 4217 code gigmarket knows
│   ├── CurrencyMismatch ................ two currencies where one was required
│   └── InvalidRatios ................... allocate() ratios that cannot split anything
├── FeePolicyError ...................... a fee policy that cannot price this payment
├── LedgerError
│   ├── UnbalancedEntry ................. postings do not sum to zero per currency
│   ├── InsufficientFunds ............... a non-negative account would go below zero
│   ├── AccountConflict ................. an account opened again with other settings
│   ├── HoldAlreadyResolved ............. a hold posted or voided a second time
│   ├── HoldExceeded .................... posting more than a hold reserved
│   └── AlreadyReversed ................. an entry reversed a second time
├── IdempotencyConflict ................. a key reused with a different payload
└── StorageError ........................ the store failed; the driver error is chained
```
"""

from __future__ import annotations

__all__ = [
    "AccountConflict",
    "AccountNotFound",
    "AlreadyReversed",
    "AmountOutOfRange",
    "CurrencyMismatch",
    "EntryNotFound",
    "FeePolicyError",
    "GigmarketError",
    "HoldAlreadyResolved",
    "HoldExceeded",
    "HoldNotFound",
    "IdempotencyConflict",
    "InsufficientFunds",
    "InvalidAmount",
    "InvalidRatios",
    "LedgerError",
    "MoneyError",
    "NotFound",
    "PrecisionError",
    "StorageError",
    "UnbalancedEntry",
    "UnknownCurrency",
    "ValidationError",
]


class GigmarketError(Exception):
    """The root of every error gigmarket raises on purpose.

    ``code`` is a stable, machine-readable name for the error kind (the same
    string in every release), for hosts that map errors to HTTP answers or
    translated messages.
    """

    code: str = "gigmarket_error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


# -- input ----------------------------------------------------------------


class ValidationError(GigmarketError, ValueError):
    """Input that breaks a rule of the library; ``field`` names the culprit."""

    code = "validation_error"

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(f"{field}: {message}" if field else message)
        self.field = field


class NotFound(GigmarketError, LookupError):
    """Something that was asked for by its identifier does not exist."""

    code = "not_found"


# -- money ----------------------------------------------------------------


class MoneyError(GigmarketError, ValueError):
    """A value that cannot be an exact amount of money."""

    code = "money_error"


class InvalidAmount(MoneyError):
    """Not an exact decimal number: a float, NaN, an infinity, a malformed string."""

    code = "invalid_amount"

    def __init__(self, message: str, *, value: object = None) -> None:
        super().__init__(message)
        self.value = value


class PrecisionError(InvalidAmount):
    """More decimal places than the currency's minor unit allows.

    gigmarket never rounds an amount it was given: 10.005 USD is an error,
    not 10.01 USD, because the caller is the only one who knows which rounding
    was meant.
    """

    code = "precision_error"

    def __init__(self, message: str, *, value: object, currency: str, exponent: int) -> None:
        super().__init__(message, value=value)
        self.currency = currency
        self.exponent = exponent


class AmountOutOfRange(InvalidAmount):
    """An amount beyond the library's sane bound, or not positive where it must be."""

    code = "amount_out_of_range"


class UnknownCurrency(MoneyError, LookupError):
    """A currency code that is not in gigmarket's ISO 4217 table."""

    code = "unknown_currency"

    def __init__(self, currency: object) -> None:
        super().__init__(f"unknown currency code {currency!r}")
        self.currency = currency


class CurrencyMismatch(MoneyError):
    """Two amounts of different currencies met where one currency was required."""

    code = "currency_mismatch"

    def __init__(self, message: str, *, expected: str, actual: str) -> None:
        super().__init__(message)
        self.expected = expected
        self.actual = actual


class InvalidRatios(MoneyError):
    """Ratios that cannot split an amount: empty, negative, non-finite or all zero."""

    code = "invalid_ratios"

    def __init__(self, message: str, *, ratios: object) -> None:
        super().__init__(message)
        self.ratios = ratios


# -- fees -----------------------------------------------------------------


class FeePolicyError(GigmarketError):
    """A fee policy that cannot price a payment (no rule for its currency or date,
    or a fee that would exceed what it is taken from).

    ``policy`` names the policy when one is involved; ``currency`` is set when the
    policy has no entry for the payment's currency. One class with attributes,
    not one class per cause: a host reacts the same way to each (the operator
    must fix the policy), and the attributes say which fix.
    """

    code = "fee_policy_error"

    def __init__(
        self, message: str, *, policy: str | None = None, currency: str | None = None
    ) -> None:
        super().__init__(message)
        self.policy = policy
        self.currency = currency


# -- ledger ---------------------------------------------------------------


class LedgerError(GigmarketError):
    """The ledger refused an operation; nothing was written."""

    code = "ledger_error"


class AccountNotFound(LedgerError, NotFound):
    """A ledger account that was never opened."""

    code = "account_not_found"

    def __init__(self, account: str) -> None:
        super().__init__(f"ledger account {account!r} does not exist")
        self.account = account


class EntryNotFound(LedgerError, NotFound):
    """A journal entry id that the ledger does not hold."""

    code = "entry_not_found"

    def __init__(self, entry_id: str) -> None:
        super().__init__(f"journal entry {entry_id!r} does not exist")
        self.entry_id = entry_id


class HoldNotFound(LedgerError, NotFound):
    """A hold id that the ledger does not hold."""

    code = "hold_not_found"

    def __init__(self, hold_id: str) -> None:
        super().__init__(f"hold {hold_id!r} does not exist")
        self.hold_id = hold_id


class UnbalancedEntry(LedgerError):
    """Postings whose amounts do not sum to zero in every currency.

    ``imbalance`` maps each unbalanced currency to its sum in minor units.
    """

    code = "unbalanced_entry"

    def __init__(self, message: str, *, imbalance: dict[str, int]) -> None:
        super().__init__(message)
        self.imbalance = imbalance


class InsufficientFunds(LedgerError):
    """A non-negative account would go below zero (amounts in minor units)."""

    code = "insufficient_funds"

    def __init__(self, *, account: str, currency: str, available: int, requested: int) -> None:
        super().__init__(
            f"account {account!r} has {available} minor units of {currency} available, "
            f"{requested} were requested"
        )
        self.account = account
        self.currency = currency
        self.available = available
        self.requested = requested


class AccountConflict(LedgerError):
    """An account opened again with another currency or another sign rule."""

    code = "account_conflict"

    def __init__(self, message: str, *, account: str) -> None:
        super().__init__(message)
        self.account = account


class HoldAlreadyResolved(LedgerError):
    """A hold is posted or voided at most once."""

    code = "hold_already_resolved"

    def __init__(self, *, hold_id: str, status: str) -> None:
        super().__init__(f"hold {hold_id!r} is already {status}")
        self.hold_id = hold_id
        self.status = status


class HoldExceeded(LedgerError):
    """Posting more than the hold reserved (amounts in minor units)."""

    code = "hold_exceeded"

    def __init__(self, *, hold_id: str, reserved: int, requested: int) -> None:
        super().__init__(
            f"hold {hold_id!r} reserved {reserved} minor units, {requested} were requested"
        )
        self.hold_id = hold_id
        self.reserved = reserved
        self.requested = requested


class AlreadyReversed(LedgerError):
    """An entry is corrected by one reversal at most."""

    code = "already_reversed"

    def __init__(self, *, entry_id: str, reversal_id: str) -> None:
        super().__init__(f"journal entry {entry_id!r} was already reversed by {reversal_id!r}")
        self.entry_id = entry_id
        self.reversal_id = reversal_id


# -- idempotency and storage ----------------------------------------------


class IdempotencyConflict(GigmarketError):
    """An idempotency key seen before with a different payload.

    Replaying the *same* payload under a key returns the first result; reusing
    a key for something else is almost always a bug in the caller, so it is
    refused rather than silently answered with an unrelated result.
    """

    code = "idempotency_conflict"

    def __init__(self, *, key: str, operation: str) -> None:
        super().__init__(f"idempotency key {key!r} was already used for a different {operation}")
        self.key = key
        self.operation = operation


class StorageError(GigmarketError):
    """The store failed. The driver's own exception is chained as ``__cause__``."""

    code = "storage_error"
