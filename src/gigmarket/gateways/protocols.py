"""The ports a payment adapter implements, and the capabilities it declares.

Two protocols, because collecting money from buyers and paying sellers are
different businesses that providers sell separately (a card acquirer that
cannot pay out; a payout provider that cannot take cards). One adapter may
implement both, as :class:`~gigmarket.gateways.sandbox.SandboxGateway` does.

- :class:`CollectionGateway`: charge (capture now, or authorize and capture
  later), capture, cancel, refund, status queries, webhook parsing.
- :class:`DisbursementGateway`: payee onboarding, payout, cancel payout,
  status queries, webhook parsing.
- :class:`ListsActivity`, optional: the charges, refunds and payouts the
  gateway made, listed, so that ``gigmarket audit --gateway`` can compare
  them with the books. An adapter that serves it declares ``list_activity``.

The rules every adapter follows:

- Money crosses the port as :class:`~gigmarket.money.Amount`: integer minor
  units plus a currency code. Never a float, never a decimal string that a
  provider might round.
- Every call that changes something carries an ``idempotency_key``. The
  same key with the same parameters means the same request (the adapter
  answers with the object the first call made); the same key with other
  parameters raises :class:`~gigmarket.errors.GatewayIdempotencyConflict`.
- A refused card or bank account is a *result* (a
  :class:`~gigmarket.gateways.results.Decline` on the returned object);
  every other failure is a :class:`~gigmarket.errors.PaymentError` whose
  class says whether the request surely did not happen
  (:class:`~gigmarket.errors.GatewayUnavailable`) or might have
  (:class:`~gigmarket.errors.OutcomeUnknown`).
- Whatever a key created can be found again by that key
  (``find_charge``, ``find_payee``, ``find_payout``): that is how the
  outcome of a lost response is reconciled.
- What an adapter cannot do, it does not pretend to: it declares
  :class:`Capabilities`, and a call that needs an undeclared one raises
  :class:`~gigmarket.errors.UnsupportedOperation` naming it.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Protocol, runtime_checkable

import attrs

from gigmarket.errors import UnsupportedOperation
from gigmarket.gateways.results import Charge, Payee, Payout, Refund
from gigmarket.gateways.secret import Secret
from gigmarket.gateways.webhooks import WebhookEvent
from gigmarket.money import Amount, currency_code

__all__ = [
    "Capabilities",
    "Capability",
    "CollectionGateway",
    "DisbursementGateway",
    "ListsActivity",
    "Operation",
]


class Operation(enum.StrEnum):
    """The calls of the two protocols, by name: what a
    :class:`~gigmarket.errors.PaymentError` reports in ``operation`` and what
    a fault plan targets."""

    CHARGE = "charge"
    CAPTURE = "capture"
    CANCEL = "cancel"
    REFUND = "refund"
    GET_CHARGE = "get_charge"
    FIND_CHARGE = "find_charge"
    ONBOARD_PAYEE = "onboard_payee"
    GET_PAYEE = "get_payee"
    FIND_PAYEE = "find_payee"
    PAYOUT = "payout"
    CANCEL_PAYOUT = "cancel_payout"
    GET_PAYOUT = "get_payout"
    FIND_PAYOUT = "find_payout"
    LIST_CHARGES = "list_charges"
    LIST_REFUNDS = "list_refunds"
    LIST_PAYOUTS = "list_payouts"

    @property
    def mutating(self) -> bool:
        """Whether the call changes something (and so carries an idempotency key)."""
        return not self.value.startswith(("get_", "find_", "list_"))


class Capability(enum.StrEnum):
    """An optional feature a gateway may declare."""

    MANUAL_CAPTURE = "manual_capture"
    """Authorize now, capture (or cancel) later."""
    PARTIAL_CAPTURE = "partial_capture"
    """Capture less than was authorized; the rest is released."""
    PARTIAL_REFUND = "partial_refund"
    """Refund part of a charge, several times, up to what was captured."""
    PAYOUTS = "payouts"
    """Pay payees: the :class:`DisbursementGateway` protocol."""
    PAYOUT_CANCELLATION = "payout_cancellation"
    """Cancel a payout while it is still pending."""
    WEBHOOKS = "webhooks"
    """Send signed events that ``parse_webhook`` verifies."""
    LIST_ACTIVITY = "list_activity"
    """List the charges, refunds and payouts made: the :class:`ListsActivity` protocol."""


def _currencies(codes: Iterable[str]) -> frozenset[str]:
    return frozenset(currency_code(code) for code in codes)


@attrs.frozen(kw_only=True)
class Capabilities:
    """What a gateway can do: the currencies it takes and its optional features.

    Everything not declared is refused with
    :class:`~gigmarket.errors.UnsupportedOperation`; the conformance kit
    skips the tests of undeclared features and checks the refusal instead.
    """

    currencies: frozenset[str] = attrs.field(converter=_currencies)
    manual_capture: bool = False
    partial_capture: bool = False
    partial_refund: bool = False
    payouts: bool = False
    payout_cancellation: bool = False
    webhooks: bool = False
    list_activity: bool = False

    def supports(self, capability: Capability) -> bool:
        """Whether ``capability`` is declared."""
        declared: bool = getattr(self, Capability(capability).value)
        return declared

    def supports_currency(self, currency: str) -> bool:
        """Whether amounts in ``currency`` are accepted."""
        return currency in self.currencies

    def require(self, capability: Capability, *, gateway: str, operation: str) -> None:
        """Raise :class:`~gigmarket.errors.UnsupportedOperation` unless
        ``capability`` is declared."""
        if not self.supports(capability):
            raise UnsupportedOperation(
                f"the gateway does not declare {capability.value}",
                gateway=gateway,
                operation=operation,
                capability=capability.value,
            )

    def require_currency(self, currency: str, *, gateway: str, operation: str) -> None:
        """Raise :class:`~gigmarket.errors.UnsupportedOperation` unless ``currency`` is taken."""
        if not self.supports_currency(currency):
            raise UnsupportedOperation(
                f"the gateway does not take {currency}; it takes "
                f"{', '.join(sorted(self.currencies))}",
                gateway=gateway,
                operation=operation,
                capability="currencies",
            )


@runtime_checkable
class CollectionGateway(Protocol):
    """Takes money from buyers."""

    @property
    def name(self) -> str:
        """The adapter's name, as registered (``"sandbox"``, ``"acmepay"``)."""
        ...

    @property
    def capabilities(self) -> Capabilities: ...

    def charge(
        self,
        *,
        amount: Amount,
        source: str,
        idempotency_key: str,
        capture: bool = True,
        description: str = "",
    ) -> Charge:
        """Charge ``amount`` to ``source`` (a payment-method token from the
        gateway's front-end library; never a card number).

        ``capture=False`` only authorizes (needs ``manual_capture``). A
        decline returns a ``failed`` charge with a ``decline``.
        """
        ...

    def capture(
        self, charge_id: str, *, idempotency_key: str, amount: Amount | None = None
    ) -> Charge:
        """Capture an authorized charge: all of it, or ``amount`` (needs
        ``partial_capture`` when less), releasing the rest."""
        ...

    def cancel(self, charge_id: str, *, idempotency_key: str) -> Charge:
        """Release an authorization (or abandon a charge that requires action)."""
        ...

    def refund(
        self,
        charge_id: str,
        *,
        idempotency_key: str,
        amount: Amount | None = None,
        reason: str = "",
    ) -> Refund:
        """Give back all that is still refundable, or ``amount`` of it (needs
        ``partial_refund`` when less, or for a second refund)."""
        ...

    def get_charge(self, charge_id: str) -> Charge:
        """The charge as the gateway knows it now: the truth after a webhook or a lost response."""
        ...

    def find_charge(self, idempotency_key: str) -> Charge | None:
        """The charge created with ``idempotency_key``, or ``None`` if the gateway made none."""
        ...

    def parse_webhook(self, payload: bytes, headers: Mapping[str, str]) -> WebhookEvent:
        """Verify and read one webhook delivery (raw body and headers)."""
        ...


@runtime_checkable
class DisbursementGateway(Protocol):
    """Pays money out to payees' bank accounts."""

    @property
    def name(self) -> str: ...

    @property
    def capabilities(self) -> Capabilities: ...

    def onboard_payee(
        self,
        *,
        reference: str,
        currency: str,
        bank_token: Secret | str,
        idempotency_key: str,
    ) -> Payee:
        """Register a payee with the bank account behind ``bank_token`` (made
        by the gateway's front-end library from the seller's bank details,
        which never reach the platform). A rejected account returns a
        ``rejected`` payee with a ``decline``."""
        ...

    def get_payee(self, payee_id: str) -> Payee:
        """The payee as the gateway knows it now.

        :raises PaymentNotFound: the gateway has no payee with this id.
        """
        ...

    def find_payee(self, idempotency_key: str) -> Payee | None:
        """The payee onboarded with ``idempotency_key``, or ``None`` if the gateway made none."""
        ...

    def payout(
        self, *, payee_id: str, amount: Amount, idempotency_key: str, description: str = ""
    ) -> Payout:
        """Send ``amount`` to an active payee, in the payee's currency."""
        ...

    def cancel_payout(self, payout_id: str, *, idempotency_key: str) -> Payout:
        """Stop a payout that is still pending (needs ``payout_cancellation``)."""
        ...

    def get_payout(self, payout_id: str) -> Payout:
        """The payout as the gateway knows it now: the truth after a webhook or a lost response.

        :raises PaymentNotFound: the gateway has no payout with this id.
        """
        ...

    def find_payout(self, idempotency_key: str) -> Payout | None:
        """The payout created with ``idempotency_key``, or ``None`` if the gateway made none."""
        ...

    def parse_webhook(self, payload: bytes, headers: Mapping[str, str]) -> WebhookEvent:
        """Verify and read one webhook delivery (raw body and headers).

        :raises WebhookVerificationFailed: the signature does not verify.
        """
        ...


@runtime_checkable
class ListsActivity(Protocol):
    """What the gateway did, listed: an optional port for audits.

    The books say what the platform believes happened; only the gateway can
    say what did. ``gigmarket audit --gateway NAME`` lists the gateway's
    charges, refunds and payouts made since a moment and compares them with
    the payment operations and the ledger: a charge captured but never
    booked, a payout the books say was paid and the gateway never made.

    An adapter that implements it declares
    :attr:`Capabilities.list_activity`. Each call returns everything created
    at or after ``since`` (everything, when ``None``), oldest first, in the
    state the gateway knows now, following the provider's pagination itself.
    A failure is a :class:`~gigmarket.errors.PaymentError` like any call's.
    """

    @property
    def name(self) -> str: ...

    @property
    def capabilities(self) -> Capabilities: ...

    def list_charges(self, *, since: datetime | None = None) -> Sequence[Charge]:
        """Charges created at or after ``since``, with their refunds."""
        ...

    def list_refunds(self, *, since: datetime | None = None) -> Sequence[Refund]:
        """Refunds created at or after ``since``."""
        ...

    def list_payouts(self, *, since: datetime | None = None) -> Sequence[Payout]:
        """Payouts created at or after ``since``."""
        ...
