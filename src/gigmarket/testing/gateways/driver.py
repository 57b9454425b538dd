"""The driver: how the conformance kit forces outcomes on a gateway's test double.

A real provider cannot be told "decline the next card" or "lose the next
response"; its test mode and a fake of its API can. The kit talks to that
test mode through a :class:`SandboxDriver`, which each adapter provides next
to its fake. A driver answers ``None`` or ``False`` for what its fake cannot
do, and the kit skips those tests, saying so, rather than failing them.
:class:`SandboxGatewayDriver` is the driver of gigmarket's own
:class:`~gigmarket.gateways.sandbox.SandboxGateway`.
"""

from __future__ import annotations

from typing import Protocol

from gigmarket.gateways.faults import Fault
from gigmarket.gateways.protocols import Operation
from gigmarket.gateways.results import CARD_DECLINE_CODES, DeclineCode
from gigmarket.gateways.sandbox import (
    BANK_TOKENS,
    CARD_TOKENS,
    BankBehaviour,
    CardBehaviour,
    SandboxGateway,
)
from gigmarket.gateways.webhooks import WebhookDelivery

__all__ = ["BankBehaviour", "CardBehaviour", "SandboxDriver", "SandboxGatewayDriver"]


class SandboxDriver(Protocol):
    """Forces outcomes on a gateway's test double, for the conformance kit."""

    def card_token(self, behaviour: CardBehaviour, code: DeclineCode | None = None) -> str | None:
        """A payment token that makes a charge behave as ``behaviour`` (for
        ``DECLINE``, with ``code``), or ``None`` if the fake cannot."""
        ...

    def bank_token(self, behaviour: BankBehaviour) -> str | None:
        """A bank token that makes a payee (and its payouts) behave as
        ``behaviour``, or ``None`` if the fake cannot."""
        ...

    def fail_next(self, operation: Operation, fault: Fault) -> bool:
        """Make the next call of ``operation`` fail with ``fault``; ``False``
        if the fake cannot simulate that fault."""
        ...

    def fail_next_webhook(self, fault: Fault) -> bool:
        """Apply ``fault`` to the next webhook event; ``False`` if the fake cannot."""
        ...

    def settle_pending(self) -> None:
        """Move every object that waits on the outside world one step: a
        pending charge settles, a pending payout goes in transit, a payout in
        transit arrives (or fails), a delayed request is processed."""
        ...

    def complete_action(self, charge_id: str, *, succeed: bool) -> bool:
        """Play the buyer of a ``requires_action`` charge; ``False`` if the
        fake cannot."""
        ...

    def webhooks(self) -> list[WebhookDelivery]:
        """The webhook deliveries sent since the last call, in delivery order."""
        ...


class SandboxGatewayDriver:
    """The driver of :class:`~gigmarket.gateways.sandbox.SandboxGateway`:
    every outcome and every fault is available."""

    def __init__(self, gateway: SandboxGateway) -> None:
        self.gateway = gateway

    def card_token(self, behaviour: CardBehaviour, code: DeclineCode | None = None) -> str | None:
        """The sandbox token of ``CARD_TOKENS`` that behaves as ``behaviour``; for
        ``DECLINE``, ``tok_decline_<code>`` (``None`` for a code no card declines
        with). ``PEND_THEN_DECLINE`` always declines for insufficient funds."""
        if behaviour is CardBehaviour.DECLINE:
            return f"tok_decline_{code}" if code in CARD_DECLINE_CODES else None
        wanted: tuple[CardBehaviour, DeclineCode | None] = (CardBehaviour(behaviour), None)
        if behaviour is CardBehaviour.PEND_THEN_DECLINE:
            wanted = (behaviour, DeclineCode.INSUFFICIENT_FUNDS)
        return next((token for token, does in CARD_TOKENS.items() if does == wanted), None)

    def bank_token(self, behaviour: BankBehaviour) -> str | None:
        """The sandbox token of ``BANK_TOKENS`` that behaves as ``behaviour``."""
        return next((token for token, does in BANK_TOKENS.items() if does is behaviour), None)

    def fail_next(self, operation: Operation, fault: Fault) -> bool:
        """Arm the sandbox's fault plan for the next call of ``operation``; always ``True``."""
        self.gateway.faults.on(operation, fault)
        return True

    def fail_next_webhook(self, fault: Fault) -> bool:
        """Arm the sandbox's fault plan for the next webhook; always ``True``."""
        self.gateway.faults.on_webhook(fault)
        return True

    def settle_pending(self) -> None:
        """Move everything waiting in the sandbox one step, whatever its clock says
        (see
        [SandboxGateway.settle_pending][gigmarket.gateways.sandbox.SandboxGateway.settle_pending])."""
        self.gateway.settle_pending()

    def complete_action(self, charge_id: str, *, succeed: bool) -> bool:
        """Pass or fail the buyer's authentication of a ``requires_action`` charge;
        always ``True``."""
        self.gateway.complete_action(charge_id, succeed=succeed)
        return True

    def webhooks(self) -> list[WebhookDelivery]:
        """The sandbox's webhook deliveries due by now and not yet delivered, in
        delivery order."""
        return self.gateway.deliver_webhooks()

    def __repr__(self) -> str:
        return f"SandboxGatewayDriver({self.gateway!r})"
