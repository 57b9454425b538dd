"""AcmeDriver: lets gigmarket's conformance kit drive the Acme fake.

It answers ``None`` or ``False`` for what Acme's test mode cannot do
(3-D Secure, pending payments, delayed requests, bank accounts), and the kit
skips those tests, saying so. Importing this module needs pytest.
"""

from __future__ import annotations

from gigmarket.gateways import DeclineCode, Fault, FaultKind, Operation
from gigmarket.gateways.webhooks import WebhookDelivery
from gigmarket.testing.gateways import BankBehaviour, CardBehaviour

from gigmarket_acmepay.fake import TEST_TOKENS, FakeAcmeServer
from gigmarket_acmepay.gateway import DECLINE_CODES

__all__ = ["AcmeDriver"]

_ROUTES = {
    Operation.CHARGE: "create_payment",
    Operation.CAPTURE: "capture",
    Operation.CANCEL: "void",
    Operation.REFUND: "refund",
    Operation.GET_CHARGE: "get_payment",
    Operation.FIND_CHARGE: "list_payments",
}

_FAILURES = {
    FaultKind.UNAVAILABLE: "connect",
    FaultKind.LOSE_RESPONSE: "timeout",
    FaultKind.RATE_LIMIT: "rate_limit",
}


class AcmeDriver:
    """The kit's :class:`~gigmarket.testing.gateways.SandboxDriver` for :class:`FakeAcmeServer`."""

    def __init__(self, server: FakeAcmeServer) -> None:
        self.server = server

    def card_token(self, behaviour: CardBehaviour, code: DeclineCode | None = None) -> str | None:
        if behaviour is CardBehaviour.SUCCEED:
            return "acme_tok_ok"
        if behaviour is not CardBehaviour.DECLINE:
            return None
        wanted = [raw for raw, normal in DECLINE_CODES.items() if normal is code]
        if code is DeclineCode.OTHER:
            wanted = [raw for raw in TEST_TOKENS.values() if raw and raw not in DECLINE_CODES]
        return next((tok for tok, raw in TEST_TOKENS.items() if raw in wanted), None)

    def bank_token(self, behaviour: BankBehaviour) -> str | None:
        return None  # Acme does not pay out

    def fail_next(self, operation: Operation, fault: Fault) -> bool:
        route, failure = _ROUTES.get(operation), _FAILURES.get(fault.kind)
        if route is None or failure is None:
            return False
        self.server.fail_next(route, failure)
        return True

    def fail_next_webhook(self, fault: Fault) -> bool:
        if fault.kind not in (FaultKind.DUPLICATE, FaultKind.OUT_OF_ORDER):
            return False
        self.server.fail_next_webhook(fault.kind.value)
        return True

    def settle_pending(self) -> None:
        """Nothing at Acme waits on the outside world."""

    def complete_action(self, charge_id: str, *, succeed: bool) -> bool:
        return False

    def webhooks(self) -> list[WebhookDelivery]:
        return [
            WebhookDelivery(payload=body, headers=headers)
            for body, headers in self.server.deliver_webhooks()
        ]

    def __repr__(self) -> str:
        return f"AcmeDriver({self.server!r})"
