"""What a payment gateway answers, normalized across providers.

Every adapter translates its provider's objects into these frozen values, so
the core reads one shape whatever the gateway: a :class:`Charge` with a
:class:`ChargeStatus` and exact :class:`~gigmarket.money.Amount`\\ s, a
:class:`Refund`, a :class:`Payee`, a :class:`Payout`.

A refused card is not an exception but a result: a charge whose status is
``failed`` and whose :class:`Decline` carries the normalized
:class:`DeclineCode` *and* the provider's own ``raw_code``. The normalized
code is what the host branches on ("ask for another card"); the raw code is
what support needs when a customer calls.

The values check their own arithmetic when they are built (captured never
above the amount, refunds never above what was captured, one currency
throughout), so an adapter that gets a conversion wrong fails at once, in its
own tests, instead of skewing a ledger later.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from datetime import datetime

import attrs

from gigmarket.errors import ValidationError
from gigmarket.money import Amount, sum_amounts

__all__ = [
    "BANK_DECLINE_CODES",
    "CARD_DECLINE_CODES",
    "Charge",
    "ChargeStatus",
    "Decline",
    "DeclineCode",
    "Payee",
    "PayeeStatus",
    "Payout",
    "PayoutStatus",
    "Refund",
    "RefundStatus",
]


class ChargeStatus(enum.StrEnum):
    """Where a charge stands.

    ``requires_action`` waits for the buyer (3-D Secure, a bank redirect);
    ``pending`` waits for the payment network (a bank debit, a slow
    acquirer); ``authorized`` holds the money on the card until a capture or a
    cancel; ``captured`` has taken it. ``cancelled`` and ``failed`` are final.
    """

    REQUIRES_ACTION = "requires_action"
    PENDING = "pending"
    AUTHORIZED = "authorized"
    CAPTURED = "captured"
    CANCELLED = "cancelled"
    FAILED = "failed"


class RefundStatus(enum.StrEnum):
    """Where a refund stands; most gateways answer ``succeeded`` at once."""

    PENDING = "pending"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


class PayeeStatus(enum.StrEnum):
    """Whether a payee's bank account was accepted for payouts."""

    ACTIVE = "active"
    REJECTED = "rejected"


class PayoutStatus(enum.StrEnum):
    """Where a payout stands: ``pending`` (still cancellable) → ``in_transit``
    → ``paid`` or ``failed``; or ``cancelled`` while pending."""

    PENDING = "pending"
    IN_TRANSIT = "in_transit"
    PAID = "paid"
    FAILED = "failed"
    CANCELLED = "cancelled"


class DeclineCode(enum.StrEnum):
    """Why a card, a bank debit or a bank account was refused, normalized.

    Providers have hundreds of codes; a host needs a handful of reactions.
    Each adapter maps its provider's codes onto these and keeps the original
    in :attr:`Decline.raw_code`. ``other`` is for a code the adapter cannot
    map; it is a decline all the same.
    """

    CARD_DECLINED = "card_declined"
    """Refused without a more specific reason (ISO 8583 "05, do not honor")."""
    INSUFFICIENT_FUNDS = "insufficient_funds"
    EXPIRED_CARD = "expired_card"
    INCORRECT_CVC = "incorrect_cvc"
    INCORRECT_NUMBER = "incorrect_number"
    FRAUDULENT = "fraudulent"
    """The issuer or the gateway suspects fraud; do not retry, do not say so to the buyer."""
    LOST_OR_STOLEN = "lost_or_stolen"
    LIMIT_EXCEEDED = "limit_exceeded"
    AUTHENTICATION_FAILED = "authentication_failed"
    """The buyer failed or abandoned 3-D Secure (or another strong authentication)."""
    PROCESSING_ERROR = "processing_error"
    """The network failed to process it; another attempt later may succeed."""
    INVALID_BANK_ACCOUNT = "invalid_bank_account"
    """A bank account that does not exist or cannot receive money."""
    BANK_ACCOUNT_CLOSED = "bank_account_closed"
    OTHER = "other"


BANK_DECLINE_CODES = frozenset({DeclineCode.INVALID_BANK_ACCOUNT, DeclineCode.BANK_ACCOUNT_CLOSED})
"""Codes that refuse a bank account or a payout, not a card."""

CARD_DECLINE_CODES = frozenset(DeclineCode) - BANK_DECLINE_CODES
"""Codes that refuse a card payment."""


@attrs.frozen(kw_only=True)
class Decline:
    """A refusal: the normalized ``code``, the provider's ``raw_code`` and a
    human ``message`` (for logs and support, not for the buyer)."""

    code: DeclineCode = attrs.field(converter=DeclineCode)
    raw_code: str
    message: str = ""


def _one_currency(owner: str, currency: str, amounts: Iterable[tuple[str, Amount]]) -> None:
    for name, amount in amounts:
        if amount.currency != currency:
            raise ValidationError(
                f"{owner}: {name} is in {amount.currency}, the amount in {currency}", field=name
            )


def _not_negative(owner: str, name: str, amount: Amount) -> None:
    if amount.units < 0:
        raise ValidationError(f"{owner}: {name} cannot be negative", field=name)


@attrs.frozen(kw_only=True)
class Refund:
    """Money given back from a captured charge."""

    id: str
    charge_id: str
    amount: Amount
    status: RefundStatus = attrs.field(converter=RefundStatus)
    idempotency_key: str
    """The key the refund was requested with: how a status query finds the
    refund whose response was lost."""
    created_at: datetime
    reason: str = ""
    failure: Decline | None = None

    def __attrs_post_init__(self) -> None:
        if self.amount.units <= 0:
            raise ValidationError(f"refund {self.id}: amount must be positive", field="amount")


def _refund_tuple(refunds: Iterable[Refund]) -> tuple[Refund, ...]:
    return tuple(refunds)


@attrs.frozen(kw_only=True)
class Charge:
    """A payment taken (or attempted) from a buyer.

    ``amount`` is what was asked for and, once authorized, what is held on
    the card; ``captured`` what was actually taken (less than ``amount``
    after a partial capture, which releases the rest); ``refunds`` every
    refund so far, and :attr:`refunded` their successful total.
    """

    id: str
    gateway: str
    status: ChargeStatus = attrs.field(converter=ChargeStatus)
    amount: Amount
    captured: Amount
    manual_capture: bool
    """``True`` when the charge was only authorized, to be captured later."""
    idempotency_key: str
    created_at: datetime
    description: str = ""
    decline: Decline | None = None
    refunds: tuple[Refund, ...] = attrs.field(default=(), converter=_refund_tuple)
    action_url: str | None = None
    """Where to send the buyer while the status is ``requires_action``."""

    def __attrs_post_init__(self) -> None:
        owner = f"charge {self.id}"
        currency = self.amount.currency
        if self.amount.units <= 0:
            raise ValidationError(f"{owner}: amount must be positive", field="amount")
        _one_currency(
            owner,
            currency,
            [("captured", self.captured)] + [("refunds", r.amount) for r in self.refunds],
        )
        _not_negative(owner, "captured", self.captured)
        if self.captured > self.amount:
            raise ValidationError(f"{owner}: captured more than the amount", field="captured")
        if self.captured.units and self.status is not ChargeStatus.CAPTURED:
            raise ValidationError(f"{owner}: only a captured charge has money captured")
        if self._refunds_total(exclude_failed=True) > self.captured:
            raise ValidationError(f"{owner}: refunds exceed what was captured", field="refunds")
        if (self.decline is not None) != (self.status is ChargeStatus.FAILED):
            raise ValidationError(f"{owner}: a decline goes with the failed status, and only there")

    def _refunds_total(self, *, exclude_failed: bool) -> Amount:
        wanted = [
            refund.amount
            for refund in self.refunds
            if refund.status is RefundStatus.SUCCEEDED
            or (exclude_failed and refund.status is RefundStatus.PENDING)
        ]
        return sum_amounts(wanted, self.amount.currency)

    @property
    def refunded(self) -> Amount:
        """What successful refunds gave back so far."""
        return self._refunds_total(exclude_failed=False)

    @property
    def capturable(self) -> Amount:
        """What a capture may still take: the whole amount while authorized, else nothing."""
        if self.status is ChargeStatus.AUTHORIZED:
            return self.amount
        return Amount.zero(self.amount.currency)

    @property
    def refundable(self) -> Amount:
        """What may still be refunded: captured minus refunds not failed."""
        return self.captured - self._refunds_total(exclude_failed=True)

    def refund_for(self, idempotency_key: str) -> Refund | None:
        """The refund requested with ``idempotency_key``, if the gateway made one:
        how to reconcile a refund whose response was lost."""
        for refund in self.refunds:
            if refund.idempotency_key == idempotency_key:
                return refund
        return None


@attrs.frozen(kw_only=True)
class Payee:
    """Someone who can be paid out to: a seller whose bank account the gateway holds.

    The bank details stay with the gateway; gigmarket keeps the payee ``id``
    (the gateway's handle) and nothing that could move money by itself.
    ``reference`` is the host's own name for the payee (a seller id).
    """

    id: str
    gateway: str
    reference: str
    currency: str
    status: PayeeStatus = attrs.field(converter=PayeeStatus)
    idempotency_key: str
    created_at: datetime
    decline: Decline | None = None
    """Why the bank account was rejected, when it was."""

    def __attrs_post_init__(self) -> None:
        if (self.decline is not None) != (self.status is PayeeStatus.REJECTED):
            raise ValidationError(
                f"payee {self.id}: a decline goes with the rejected status, and only there"
            )


@attrs.frozen(kw_only=True)
class Payout:
    """Money sent from the platform's gateway balance to a payee's bank."""

    id: str
    gateway: str
    payee_id: str
    amount: Amount
    status: PayoutStatus = attrs.field(converter=PayoutStatus)
    idempotency_key: str
    created_at: datetime
    description: str = ""
    failure: Decline | None = None
    """Why the bank returned the money, when the payout failed."""

    def __attrs_post_init__(self) -> None:
        if self.amount.units <= 0:
            raise ValidationError(f"payout {self.id}: amount must be positive", field="amount")
        if (self.failure is not None) != (self.status is PayoutStatus.FAILED):
            raise ValidationError(
                f"payout {self.id}: a failure goes with the failed status, and only there"
            )
