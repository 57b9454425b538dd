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
│   └── FutureInstant ................... a time later than the clock's now (timers never run early)
├── NotFound (LookupError) .............. a thing that does not exist
│   ├── AccountNotFound
│   ├── EntryNotFound
│   └── HoldNotFound
├── MoneyError (ValueError)
│   ├── InvalidAmount ................... float, NaN, infinity, not a number
│   │   ├── PrecisionError .............. more decimals than the currency has
│   │   └── AmountOutOfRange ............ beyond the sane bound, or not positive where required
│   ├── UnknownCurrency (LookupError) ... not an ISO 4217 code gigmarket knows
│   │   └── UnsupportedCurrency ......... an ISO code with no minor unit (XAU, XDR, XXX...)
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
├── CatalogError
│   ├── UserNotFound (NotFound) ......... a marketplace user account that does not exist
│   ├── GigNotFound (NotFound)
│   ├── GigVersionNotFound (NotFound) ... a version number the gig never had
│   ├── GigStateError ................... an edit or status change the gig's status forbids
│   ├── GigIncomplete ................... publishing a gig that lacks something; lists what
│   ├── StaleGigVersion ................. an edit based on a version that is no longer current
│   ├── NotGigOwner ..................... a seller acting on another seller's gig
│   ├── SellerSuspended ................. a suspended account acting as a seller
│   ├── NotOrderable .................... a gig that cannot be ordered now; says why
│   └── LevelPolicyError ................ a seller-level policy that cannot judge these stats
├── OrderError
│   ├── OrderNotFound (NotFound)
│   ├── TransitionNotAllowed ............ this action, by this actor, in this state: no
│   │   ├── WrongActor .................. the action exists here, but not for this actor
│   │   └── GuardFailed ................. the action is allowed, but a condition is not met
│   ├── PaymentMismatch ................. a payment of the wrong amount or currency
│   └── ReviewNotAllowed ................ a review out of turn, twice, late, or on an
│                                         order that was not completed
├── IdempotencyConflict ................. a key reused with a different payload
├── PaymentError ........................ a gateway call failed; says which gateway, call and key
│   ├── GatewayUnavailable .............. surely not processed; retry with the same key
│   │   └── RateLimited ................. the gateway asked to slow down; retry_after
│   ├── OutcomeUnknown .................. maybe processed: reconcile with a status query first
│   ├── GatewayMisconfigured ............ credentials or settings are wrong; retrying cannot help
│   ├── InvalidPaymentRequest (ValueError) the gateway refuses this request as it stands
│   ├── UnsupportedOperation ............ a capability the gateway does not declare
│   ├── PaymentNotFound (NotFound) ...... a charge, payee or payout the gateway does not know
│   ├── GatewayIdempotencyConflict (IdempotencyConflict)
│   │                                     a gateway key reused with other parameters
│   └── WebhookVerificationFailed ....... bad or missing signature, stale timestamp, bad payload
├── CashierError ........................ the payment service refused a request it could not honour
│   ├── PaymentInProgress ............... an order whose payment is already under way or done
│   ├── OperationSettled ................ an operator's decision on an operation already settled
│   └── WithdrawalRefused ............... a withdrawal outside the limits, or with no payee
└── StorageError ........................ the store failed; the driver error is chained
    ├── TransientStorageError ........... a conflict with another writer; safe to retry
    │   └── ConcurrencyConflict ......... someone else changed the row first
    └── SchemaTooNew .................... a database written by a newer gigmarket
```
"""

from __future__ import annotations

from datetime import datetime, timedelta

__all__ = [
    "AccountConflict",
    "AccountNotFound",
    "AlreadyReversed",
    "AmountOutOfRange",
    "CashierError",
    "CatalogError",
    "ConcurrencyConflict",
    "CurrencyMismatch",
    "EntryNotFound",
    "FeePolicyError",
    "FutureInstant",
    "GatewayIdempotencyConflict",
    "GatewayMisconfigured",
    "GatewayUnavailable",
    "GigIncomplete",
    "GigNotFound",
    "GigStateError",
    "GigVersionNotFound",
    "GigmarketError",
    "GuardFailed",
    "HoldAlreadyResolved",
    "HoldExceeded",
    "HoldNotFound",
    "IdempotencyConflict",
    "InsufficientFunds",
    "InvalidAmount",
    "InvalidPaymentRequest",
    "InvalidRatios",
    "LedgerError",
    "LevelPolicyError",
    "MoneyError",
    "NotFound",
    "NotGigOwner",
    "NotOrderable",
    "OperationSettled",
    "OrderError",
    "OrderNotFound",
    "OutcomeUnknown",
    "PaymentError",
    "PaymentInProgress",
    "PaymentMismatch",
    "PaymentNotFound",
    "PrecisionError",
    "RateLimited",
    "ReviewNotAllowed",
    "SchemaTooNew",
    "SellerSuspended",
    "StaleGigVersion",
    "StorageError",
    "TransientStorageError",
    "TransitionNotAllowed",
    "UnbalancedEntry",
    "UnknownCurrency",
    "UnsupportedCurrency",
    "UnsupportedOperation",
    "UserNotFound",
    "ValidationError",
    "WebhookVerificationFailed",
    "WithdrawalRefused",
    "WrongActor",
]


MESSAGE_MAX = 400
"""The longest message an error carries, in characters. What a caller passed
is quoted through :func:`brief`, and a message that still grows past this
bound is cut, so a megabyte id never becomes a megabyte log line."""

_QUOTE_MAX = 60


def brief(value: object, limit: int = _QUOTE_MAX) -> str:
    """``repr(value)`` for an error message, at most about ``limit`` characters.

    A long repr keeps its start and says how long it was; an int too large to
    print (``repr`` raises past ``sys.get_int_max_str_digits()`` digits) is
    described by its size; a repr that fails is described by the type.
    """
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 256:
        return f"<a {value.bit_length()}-bit integer>"
    try:
        text = repr(value)
    except Exception:  # a broken __repr__ must not hide the error being reported
        return f"<{type(value).__name__} object>"
    if len(text) <= limit:
        return text
    return f"{text[:limit]}... ({len(text)} characters)"


def _bounded(message: str) -> str:
    if len(message) <= MESSAGE_MAX:
        return message
    return f"{message[: MESSAGE_MAX - 40]}... ({len(message)} characters in all)"


class GigmarketError(Exception):
    """The root of every error gigmarket raises on purpose.

    ``code`` is a stable, machine-readable name for the error kind (the same
    string in every release), for hosts that map errors to HTTP answers or
    translated messages. The message is at most :data:`MESSAGE_MAX`
    characters: it quotes what the caller passed, never all of it; the
    attributes keep the values themselves.
    """

    code: str = "gigmarket_error"

    def __init__(self, message: str) -> None:
        message = _bounded(str(message))
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


# -- input ----------------------------------------------------------------


class ValidationError(GigmarketError, ValueError):
    """Input that breaks a rule of the library; ``field`` names the culprit.

    ``field`` is the first offending field as a dotted path
    (``packages.1.price``). A command can break several rules at once; a form
    wants to mark them all, so ``errors`` lists every ``(field, message)``
    pair, the first one being ``(field, message)`` itself.
    """

    code = "validation_error"

    def __init__(
        self,
        message: str,
        *,
        field: str | None = None,
        errors: tuple[tuple[str, str], ...] = (),
    ) -> None:
        super().__init__(f"{field}: {message}" if field else message)
        self.field = field
        self.errors = errors or ((field or "", message),)


class FutureInstant(ValidationError):
    """A time later than the clock's now, where only the past or the present makes
    sense: running the timers "as of" a future instant would run them before
    they are due. ``instant`` is what was given, ``now`` the clock's time."""

    code = "future_instant"

    def __init__(self, *, instant: datetime, now: datetime, field: str = "now") -> None:
        super().__init__(
            f"{instant.isoformat()} is later than the clock's now ({now.isoformat()}): "
            "a timer never runs before it is due",
            field=field,
        )
        self.instant = instant
        self.now = now


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
        super().__init__(f"unknown currency code {brief(currency)}")
        self.currency = currency


class UnsupportedCurrency(UnknownCurrency):
    """An ISO 4217 code that is not money a marketplace can move: one whose
    minor unit ISO gives as "N.A." (precious metals such as XAU, the SDR XDR,
    bond-market units, the test code XTS, "no currency" XXX).

    These codes have no cents to count, so gigmarket refuses them rather than
    guess whole units. ``currency`` is the code.
    """

    code = "unsupported_currency"

    def __init__(self, currency: str) -> None:
        MoneyError.__init__(
            self,
            f"{currency} is an ISO 4217 code without a minor unit (a metal, a fund or a "
            "test code): gigmarket does not take it as money",
        )
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
        super().__init__(f"ledger account {brief(account)} does not exist")
        self.account = account


class EntryNotFound(LedgerError, NotFound):
    """A journal entry id that the ledger does not hold."""

    code = "entry_not_found"

    def __init__(self, entry_id: str) -> None:
        super().__init__(f"journal entry {brief(entry_id)} does not exist")
        self.entry_id = entry_id


class HoldNotFound(LedgerError, NotFound):
    """A hold id that the ledger does not hold."""

    code = "hold_not_found"

    def __init__(self, hold_id: str) -> None:
        super().__init__(f"hold {brief(hold_id)} does not exist")
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
            f"account {brief(account)} has {available} minor units of {currency} available, "
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
        super().__init__(f"hold {brief(hold_id)} is already {status}")
        self.hold_id = hold_id
        self.status = status


class HoldExceeded(LedgerError):
    """Posting more than the hold reserved (amounts in minor units)."""

    code = "hold_exceeded"

    def __init__(self, *, hold_id: str, reserved: int, requested: int) -> None:
        super().__init__(
            f"hold {brief(hold_id)} reserved {reserved} minor units, {requested} were requested"
        )
        self.hold_id = hold_id
        self.reserved = reserved
        self.requested = requested


class AlreadyReversed(LedgerError):
    """An entry is corrected by one reversal at most."""

    code = "already_reversed"

    def __init__(self, *, entry_id: str, reversal_id: str) -> None:
        super().__init__(
            f"journal entry {brief(entry_id)} was already reversed by {brief(reversal_id)}"
        )
        self.entry_id = entry_id
        self.reversal_id = reversal_id


# -- catalog --------------------------------------------------------------


class CatalogError(GigmarketError):
    """The catalog refused an operation on an account, a profile or a gig; nothing was written."""

    code = "catalog_error"


class UserNotFound(CatalogError, NotFound):
    """A marketplace user account id that the catalog does not hold.

    Named apart from :class:`AccountNotFound`, which is a *ledger* account.
    """

    code = "user_not_found"

    def __init__(self, account_id: str) -> None:
        super().__init__(f"user account {brief(account_id)} does not exist")
        self.account_id = account_id


class GigNotFound(CatalogError, NotFound):
    """A gig id that the catalog does not hold."""

    code = "gig_not_found"

    def __init__(self, gig_id: str) -> None:
        super().__init__(f"gig {brief(gig_id)} does not exist")
        self.gig_id = gig_id


class GigVersionNotFound(CatalogError, NotFound):
    """A version number the gig never had."""

    code = "gig_version_not_found"

    def __init__(self, *, gig_id: str, version: int) -> None:
        super().__init__(f"gig {brief(gig_id)} has no version {version}")
        self.gig_id = gig_id
        self.version = version


class GigStateError(CatalogError):
    """An edit or a status change that the gig's current status does not allow.

    ``action`` is what was attempted (``publish``, ``pause``, ``edit``...),
    ``state`` the status the gig was in.
    """

    code = "gig_state_error"

    def __init__(self, *, gig_id: str, state: str, action: str) -> None:
        super().__init__(f"cannot {action} gig {brief(gig_id)} while it is {state}")
        self.gig_id = gig_id
        self.state = state
        self.action = action


class GigIncomplete(CatalogError):
    """A gig that cannot be published (or stay published) yet.

    ``missing`` names every part that is lacking (``description``,
    ``packages``, ``tags``, ``gallery``, ``seller_profile``), so a host can
    show the seller one checklist instead of one error at a time.
    """

    code = "gig_incomplete"

    def __init__(self, *, gig_id: str, missing: tuple[str, ...]) -> None:
        super().__init__(f"gig {brief(gig_id)} is incomplete: {', '.join(missing)}")
        self.gig_id = gig_id
        self.missing = missing


class StaleGigVersion(CatalogError):
    """An edit made against a version that another edit has since replaced."""

    code = "stale_gig_version"

    def __init__(self, *, gig_id: str, expected: int, actual: int) -> None:
        super().__init__(
            f"gig {brief(gig_id)} is at version {actual}, the edit was based on version {expected}"
        )
        self.gig_id = gig_id
        self.expected = expected
        self.actual = actual


class NotGigOwner(CatalogError):
    """A seller acting on a gig that belongs to someone else."""

    code = "not_gig_owner"

    def __init__(self, *, gig_id: str, account_id: str) -> None:
        super().__init__(f"gig {brief(gig_id)} does not belong to {brief(account_id)}")
        self.gig_id = gig_id
        self.account_id = account_id


class SellerSuspended(CatalogError):
    """A suspended account tried to act as a seller (create, edit, publish, resume)."""

    code = "seller_suspended"

    def __init__(self, account_id: str) -> None:
        super().__init__(f"account {brief(account_id)} is suspended")
        self.account_id = account_id


class NotOrderable(CatalogError):
    """A gig that cannot be ordered now.

    ``reason`` is one of ``gig_not_active`` (``state`` says which status),
    ``seller_suspended``, ``buyer_suspended`` or ``own_gig``.
    """

    code = "not_orderable"

    def __init__(self, *, gig_id: str, reason: str, state: str | None = None) -> None:
        super().__init__(f"gig {brief(gig_id)} cannot be ordered: {reason.replace('_', ' ')}")
        self.gig_id = gig_id
        self.reason = reason
        self.state = state


class LevelPolicyError(CatalogError):
    """A seller-level policy that cannot judge a seller's statistics, such as
    earnings in a currency for which it sets no threshold (amounts are never
    converted between currencies)."""

    code = "level_policy_error"

    def __init__(self, message: str, *, currency: str | None = None) -> None:
        super().__init__(message)
        self.currency = currency


# -- orders ---------------------------------------------------------------


class OrderError(GigmarketError):
    """The order lifecycle refused a command; nothing changed, not even a timestamp."""

    code = "order_error"


class OrderNotFound(OrderError, NotFound):
    """An order id that does not exist."""

    code = "order_not_found"

    def __init__(self, order_id: str) -> None:
        super().__init__(f"order {brief(order_id)} does not exist")
        self.order_id = order_id


class TransitionNotAllowed(OrderError):
    """``action`` cannot be taken by ``actor`` on ``order_id`` while it is in ``state``.

    The base case means the action does not exist in this state at all; the
    subclasses say more precisely why it was refused.
    """

    code = "transition_not_allowed"

    def __init__(
        self,
        *,
        order_id: str,
        action: str,
        state: str,
        actor: str,
        reason: str = "",
    ) -> None:
        detail = f": {reason}" if reason else ""
        super().__init__(
            f"order {brief(order_id)}: {actor} cannot {action} while it is {state}{detail}"
        )
        self.order_id = order_id
        self.action = action
        self.state = state
        self.actor = actor
        self.reason = reason


class WrongActor(TransitionNotAllowed):
    """The action exists in this state, but another party takes it (or the
    acting account is not this order's buyer or seller)."""

    code = "wrong_actor"


class GuardFailed(TransitionNotAllowed):
    """The actor may take this action here, but a condition is not met (no
    revisions left, not late yet, not the other party...)."""

    code = "guard_failed"


class PaymentMismatch(OrderError):
    """A recorded payment that is not exactly what the order charges."""

    code = "payment_mismatch"

    def __init__(self, *, order_id: str, expected: str, received: str) -> None:
        super().__init__(
            f"order {brief(order_id)} charges {expected}, a payment of {received} arrived"
        )
        self.order_id = order_id
        self.expected = expected
        self.received = received


class ReviewNotAllowed(OrderError):
    """A review out of turn, a second review, a late one, or one on an order
    that was not completed."""

    code = "review_not_allowed"

    def __init__(self, message: str, *, order_id: str, author: str) -> None:
        super().__init__(message)
        self.order_id = order_id
        self.author = author


# -- idempotency and storage ----------------------------------------------


class IdempotencyConflict(GigmarketError):
    """An idempotency key seen before with a different payload.

    Replaying the *same* payload under a key returns the first result; reusing
    a key for something else is almost always a bug in the caller, so it is
    refused rather than silently answered with an unrelated result.
    """

    code = "idempotency_conflict"

    def __init__(self, *, key: str, operation: str, scope: str | None = None) -> None:
        where = "" if scope is None else f" in scope {brief(scope)}"
        super().__init__(
            f"idempotency key {brief(key)}{where} was already used for a different {operation}"
        )
        self.key = key
        self.operation = operation
        self.scope = scope


class StorageError(GigmarketError):
    """The store failed. The driver's own exception is chained as ``__cause__``."""

    code = "storage_error"


class TransientStorageError(StorageError):
    """The store refused because another transaction got there first
    (a serialization failure, a deadlock, a racing insert of the same key).
    Nothing was written; running the whole unit of work again is safe, and
    gigmarket's services do so a bounded number of times."""

    code = "transient_storage_error"


class SchemaTooNew(StorageError):
    """The database was written by a newer gigmarket; this code will not touch it."""

    code = "schema_too_new"

    def __init__(self, *, found: int, supported: int) -> None:
        super().__init__(
            f"the database has schema version {found}; this gigmarket supports up to {supported}"
        )
        self.found = found
        self.supported = supported


class ConcurrencyConflict(TransientStorageError):
    """Another transaction changed the same thing first (an optimistic lock
    failed). Nothing was written; reading again and retrying is safe."""

    code = "concurrency_conflict"


# -- payments -------------------------------------------------------------


class PaymentError(GigmarketError):
    """A payment gateway call failed, or the gateway refused it.

    A *decline* is not an error: a card that is refused comes back as a
    ``Charge`` whose status is ``failed`` and whose ``decline`` says why,
    because a decline is a normal business answer that the caller must
    record. A ``PaymentError`` means the call itself did not give an answer
    the caller can act on, and its class says what to do next:

    - :class:`GatewayUnavailable`: nothing happened; retry with the *same*
      idempotency key (``should_retry`` is true);
    - :class:`OutcomeUnknown`: something may have happened; ask the gateway
      (a status query) before doing anything else;
    - everything else: retrying the same request cannot help.

    ``gateway`` names the adapter (``"sandbox"``), ``operation`` the call
    (``"charge"``, ``"payout"``...), ``idempotency_key`` the key the call
    carried (keys are not secrets), ``raw_code`` what the provider itself
    said when it said anything. None of them, nor the message, ever holds an
    API key, a webhook secret or a bank token.
    """

    code = "payment_error"
    should_retry: bool = False
    """Whether sending the very same request again (same idempotency key) is safe and sensible."""

    def __init__(
        self,
        message: str,
        *,
        gateway: str,
        operation: str,
        idempotency_key: str | None = None,
        raw_code: str | None = None,
    ) -> None:
        # Not super().__init__: GatewayIdempotencyConflict also inherits
        # IdempotencyConflict, whose __init__ takes other arguments.
        GigmarketError.__init__(self, f"{gateway} {operation}: {message}")
        self.gateway = gateway
        self.operation = operation
        self.idempotency_key = idempotency_key
        self.raw_code = raw_code


class GatewayUnavailable(PaymentError):
    """The request surely did not take effect: the connection was refused,
    the gateway answered "try later" before processing, or the adapter knows
    the request never left. Retrying with the same idempotency key is safe."""

    code = "gateway_unavailable"
    should_retry = True


class RateLimited(GatewayUnavailable):
    """The gateway refused the request because too many came too fast.

    Nothing was processed. ``retry_after`` is the pause the gateway asked
    for, when it said (a ``timedelta``), else ``None``.
    """

    code = "rate_limited"

    def __init__(
        self,
        message: str,
        *,
        gateway: str,
        operation: str,
        idempotency_key: str | None = None,
        raw_code: str | None = None,
        retry_after: timedelta | None = None,
    ) -> None:
        super().__init__(
            message,
            gateway=gateway,
            operation=operation,
            idempotency_key=idempotency_key,
            raw_code=raw_code,
        )
        self.retry_after = retry_after


class OutcomeUnknown(PaymentError):
    """The request may or may not have taken effect: a timeout, a lost
    response, a server error after the request arrived.

    Do not assume either way, and do not retry with a *new* key (that could
    charge twice). Ask first: ``find_charge(key)`` / ``get_charge(id)`` /
    ``find_payout(key)`` say what the gateway did. If the status query finds
    nothing, retry with the *same* key: the gateway's idempotency makes the
    retry and a late first attempt collapse into one.
    """

    code = "outcome_unknown"


class GatewayMisconfigured(PaymentError):
    """The gateway cannot be used as configured: a rejected API key, a missing
    setting, an adapter that is not installed. An operator has to fix it."""

    code = "gateway_misconfigured"


class InvalidPaymentRequest(PaymentError, ValueError):
    """The gateway refuses this request as it stands: a non-positive amount,
    capturing more than was authorized, refunding more than was captured,
    cancelling a captured charge. ``field`` names the culprit when one does."""

    code = "invalid_payment_request"

    def __init__(
        self,
        message: str,
        *,
        gateway: str,
        operation: str,
        idempotency_key: str | None = None,
        raw_code: str | None = None,
        field: str | None = None,
    ) -> None:
        super().__init__(
            message,
            gateway=gateway,
            operation=operation,
            idempotency_key=idempotency_key,
            raw_code=raw_code,
        )
        self.field = field


class UnsupportedOperation(PaymentError):
    """The gateway does not declare the capability this call needs.

    ``capability`` names it (``"partial_capture"``, ``"manual_capture"``,
    ``"currencies"``...), as in the gateway's ``Capabilities``.
    """

    code = "unsupported_operation"

    def __init__(
        self,
        message: str,
        *,
        gateway: str,
        operation: str,
        capability: str,
        idempotency_key: str | None = None,
    ) -> None:
        super().__init__(
            message, gateway=gateway, operation=operation, idempotency_key=idempotency_key
        )
        self.capability = capability


class PaymentNotFound(PaymentError, NotFound):
    """A charge, refund, payee or payout id that the gateway does not know."""

    code = "payment_not_found"

    def __init__(self, *, gateway: str, operation: str, object_id: str) -> None:
        super().__init__(f"no object {brief(object_id)}", gateway=gateway, operation=operation)
        self.object_id = object_id


class GatewayIdempotencyConflict(PaymentError, IdempotencyConflict):
    """An idempotency key the gateway has seen with *other* parameters (or for
    another operation).

    It is an :class:`IdempotencyConflict` too, so a host that already handles
    the core's conflicts handles the gateway's the same way; ``key`` equals
    ``idempotency_key``.
    """

    code = "gateway_idempotency_conflict"

    def __init__(self, *, gateway: str, operation: str, idempotency_key: str) -> None:
        super().__init__(
            f"idempotency key {brief(idempotency_key)} was already used with other parameters",
            gateway=gateway,
            operation=operation,
            idempotency_key=idempotency_key,
        )
        self.key = idempotency_key


class WebhookVerificationFailed(PaymentError):
    """A webhook that must not be believed: no signature, a signature that does
    not match, a timestamp outside the tolerance, or a verified payload that is
    not a well-formed event. ``reason`` is one of ``missing_signature``,
    ``malformed_signature``, ``signature_mismatch``, ``stale_timestamp``,
    ``malformed_payload``. Answer the sender with a 4xx and process nothing."""

    code = "webhook_verification_failed"

    def __init__(self, message: str, *, gateway: str, reason: str) -> None:
        super().__init__(message, gateway=gateway, operation="parse_webhook")
        self.reason = reason


class CashierError(GigmarketError):
    """The payment service refused; nothing was sent to a gateway and nothing changed."""

    code = "cashier_error"


class PaymentInProgress(CashierError):
    """An order that already has a payment under way (or has been paid).

    ``operation_id`` names the operation in the way. While its outcome is
    unknown, charging again could charge twice: ``reconcile`` settles it first.
    """

    code = "payment_in_progress"

    def __init__(self, *, order_id: str, operation_id: str, status: str) -> None:
        super().__init__(
            f"order {brief(order_id)} has payment {brief(operation_id)} {status}: "
            + ("it is paid" if status == "succeeded" else "reconcile it before charging again")
        )
        self.order_id = order_id
        self.operation_id = operation_id
        self.status = status


class OperationSettled(CashierError):
    """An operator's decision on a payment operation that is no longer open:
    its outcome is already in the books, and only moves forward."""

    code = "operation_settled"

    def __init__(self, *, operation_id: str, status: str) -> None:
        super().__init__(
            f"payment operation {operation_id!r} is already {status}: there is nothing to decide"
        )
        self.operation_id = operation_id
        self.status = status


class WithdrawalRefused(CashierError):
    """A withdrawal the rules do not allow. ``reason`` is one of
    ``no_payee``, ``no_limits``, ``below_minimum``, ``above_maximum``,
    ``too_many`` (per window), ``insufficient_funds``, ``in_debt``."""

    code = "withdrawal_refused"

    def __init__(self, message: str, *, seller_id: str, reason: str) -> None:
        super().__init__(f"seller {brief(seller_id)} cannot withdraw: {message}")
        self.seller_id = seller_id
        self.reason = reason
