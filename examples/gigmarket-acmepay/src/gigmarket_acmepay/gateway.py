"""AcmePayGateway: gigmarket's collection protocol over Acme Pay's API.

An adapter has three jobs, and this one shows each:

1. **Translate the request**: an ``Amount`` becomes Acme's integer ``value``
   plus ``currency``; the idempotency key goes in the ``Idempotency-Key``
   header *and* in ``merchant_reference``, because Acme can list payments by
   reference but not by key, and a lost response must be findable.
2. **Translate the answer**: Acme's ``SETTLED`` is gigmarket's ``captured``;
   a 402 is a declined charge (a result), with Acme's ``AC-201`` normalized
   to ``insufficient_funds`` and kept as the raw code.
3. **Translate the failure**: a refused connection means the request never
   left (``GatewayUnavailable``); a timeout or a 5xx after sending means
   nobody knows (``OutcomeUnknown``); each is raised ``from`` the transport's
   own exception, and none repeats a header (the API key is in one).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, NoReturn, Protocol

from gigmarket.clock import Clock, SystemClock
from gigmarket.errors import (
    GatewayIdempotencyConflict,
    GatewayMisconfigured,
    GatewayUnavailable,
    InvalidPaymentRequest,
    OutcomeUnknown,
    PaymentNotFound,
    RateLimited,
    UnsupportedOperation,
    ValidationError,
    WebhookVerificationFailed,
)
from gigmarket.gateways import (
    Capabilities,
    Charge,
    ChargeStatus,
    Decline,
    DeclineCode,
    Operation,
    Refund,
    RefundStatus,
    Secret,
    WebhookEvent,
)
from gigmarket.gateways.webhooks import (
    DEFAULT_TOLERANCE,
    EventType,
    check_timestamp,
    compute_signature,
    header_value,
    signatures_match,
)
from gigmarket.idempotency import check_key
from gigmarket.money import Amount

from gigmarket_acmepay.fake import AcmeConnectionError, AcmeResponse, AcmeTimeout
from gigmarket_acmepay.http import DEFAULT_TIMEOUT, HTTPTransport

__all__ = ["DECLINE_CODES", "AcmePayGateway", "AcmeTransport"]

_log = logging.getLogger("gigmarket_acmepay")

DECLINE_CODES: Mapping[str, DeclineCode] = {
    "AC-200": DeclineCode.CARD_DECLINED,
    "AC-201": DeclineCode.INSUFFICIENT_FUNDS,
    "AC-202": DeclineCode.EXPIRED_CARD,
    "AC-203": DeclineCode.INCORRECT_CVC,
    "AC-301": DeclineCode.FRAUDULENT,
    "AC-900": DeclineCode.PROCESSING_ERROR,
}
"""Acme's decline codes, normalized. Anything else is ``DeclineCode.OTHER``."""

_STATES = {
    "AUTHORISED": ChargeStatus.AUTHORIZED,
    "SETTLED": ChargeStatus.CAPTURED,
    "DECLINED": ChargeStatus.FAILED,
    "VOIDED": ChargeStatus.CANCELLED,
}

_EVENTS = {
    "payment.authorised": EventType.CHARGE_AUTHORIZED,
    "payment.settled": EventType.CHARGE_CAPTURED,
    "payment.declined": EventType.CHARGE_FAILED,
    "payment.voided": EventType.CHARGE_CANCELLED,
    "payment.refunded": EventType.CHARGE_REFUNDED,
}


class AcmeTransport(Protocol):
    """What the adapter needs from HTTP: one request, one response."""

    def request(
        self,
        method: str,
        path: str,
        *,
        headers: Mapping[str, str],
        body: Mapping[str, Any] | None = None,
    ) -> AcmeResponse: ...


def _time(unix: int) -> datetime:
    return datetime.fromtimestamp(unix, UTC)


# --8<-- [start:declare]
class AcmePayGateway:
    """Acme Pay as a gigmarket :class:`~gigmarket.gateways.CollectionGateway`."""

    name = "acmepay"
    capabilities = Capabilities(
        currencies={"USD", "EUR", "GBP"},
        manual_capture=True,
        partial_refund=True,
        webhooks=True,
    )
    # --8<-- [end:declare]

    def __init__(
        self,
        *,
        api_key: Secret | str,
        webhook_secret: Secret | str,
        transport: AcmeTransport | None = None,
        base_url: str | None = None,
        timeout: float | str = DEFAULT_TIMEOUT,
        clock: Clock | None = None,
        webhook_tolerance: timedelta = DEFAULT_TOLERANCE,
    ) -> None:
        """``transport`` is any object that sends a request (a fake in tests);
        without one, ``base_url`` (and ``timeout``, in seconds) build the HTTP
        transport: strings, so the command line can configure it from
        ``GIGMARKET_GATEWAY_BASE_URL``."""
        self._api_key = Secret(api_key)
        self._webhook_secret = Secret(webhook_secret)
        if transport is None:
            if not base_url or not base_url.startswith(("https://", "http://")):
                raise GatewayMisconfigured(
                    "needs a transport, or a base_url (http:// or https://) to reach Acme",
                    gateway=self.name,
                    operation="configure",
                )
            try:
                seconds = float(timeout)
            except ValueError:
                seconds = 0.0
            if not 0 < seconds <= 600:
                raise GatewayMisconfigured(
                    "timeout must be a number of seconds, above 0 and at most 600",
                    gateway=self.name,
                    operation="configure",
                )
            transport = HTTPTransport(base_url, timeout=seconds)
        self.transport = transport
        self._clock: Clock = clock or SystemClock()
        self._tolerance = webhook_tolerance

    def __repr__(self) -> str:
        return f"AcmePayGateway(api_key={self._api_key!r}, transport={self.transport!r})"

    # -- the protocol -------------------------------------------------------

    # --8<-- [start:charge]
    def charge(
        self,
        *,
        amount: Amount,
        source: str,
        idempotency_key: str,
        capture: bool = True,
        description: str = "",
    ) -> Charge:
        op = Operation.CHARGE
        self._check_amount(amount, op, idempotency_key)
        body = {
            "amount": {"value": amount.units, "currency": amount.currency},
            "payment_token": source,
            "capture_mode": "immediate" if capture else "deferred",
            "merchant_reference": idempotency_key,
            "description": description,
        }
        response = self._call(op, "POST", "/v1/payments", idempotency_key, body)
        return self._charge(response.body)

    # --8<-- [end:charge]

    def capture(
        self, charge_id: str, *, idempotency_key: str, amount: Amount | None = None
    ) -> Charge:
        op = Operation.CAPTURE
        body: dict[str, Any] = {}
        if amount is not None:
            self._check_amount(amount, op, idempotency_key)
            body["value"] = amount.units
        path = f"/v1/payments/{charge_id}/capture"
        return self._charge(self._call(op, "POST", path, idempotency_key, body).body)

    def cancel(self, charge_id: str, *, idempotency_key: str) -> Charge:
        path = f"/v1/payments/{charge_id}/void"
        return self._charge(self._call(Operation.CANCEL, "POST", path, idempotency_key, {}).body)

    def refund(
        self,
        charge_id: str,
        *,
        idempotency_key: str,
        amount: Amount | None = None,
        reason: str = "",
    ) -> Refund:
        op = Operation.REFUND
        body: dict[str, Any] = {"merchant_reference": idempotency_key, "reason": reason}
        if amount is not None:
            self._check_amount(amount, op, idempotency_key)
            body["value"] = amount.units
        path = f"/v1/payments/{charge_id}/refunds"
        charge = self._charge(self._call(op, "POST", path, idempotency_key, body).body)
        refund = charge.refund_for(idempotency_key)
        if refund is None:  # Acme broke its contract: we cannot tell what happened
            raise OutcomeUnknown(
                "Acme answered without the refund", gateway=self.name, operation=op
            )
        return refund

    def get_charge(self, charge_id: str) -> Charge:
        path = f"/v1/payments/{charge_id}"
        return self._charge(self._call(Operation.GET_CHARGE, "GET", path, None, None).body)

    # --8<-- [start:find]
    def find_charge(self, idempotency_key: str) -> Charge | None:
        path = f"/v1/payments?merchant_reference={idempotency_key}"
        found = self._call(Operation.FIND_CHARGE, "GET", path, None, None).body["data"]
        return self._charge(found[0]) if found else None

    # --8<-- [end:find]

    # --8<-- [start:webhook]
    def parse_webhook(self, payload: bytes, headers: Mapping[str, str]) -> WebhookEvent:
        """Verify Acme's own signature scheme (``Acme-Signature: sha256=<hex>``
        over ``"<Acme-Timestamp>.<body>"``) with gigmarket's primitives."""
        signature = header_value(headers, "Acme-Signature") or ""
        timestamp = header_value(headers, "Acme-Timestamp") or ""
        if not signature.startswith("sha256=") or not timestamp.isdigit():
            reason = "missing_signature" if not signature else "malformed_signature"
            raise WebhookVerificationFailed(
                "no valid Acme-Signature and Acme-Timestamp headers",
                gateway=self.name,
                reason=reason,
            )
        expected = compute_signature(self._webhook_secret, int(timestamp), payload)
        if not signatures_match(expected, signature.removeprefix("sha256=")):
            raise WebhookVerificationFailed(
                "the signature does not match the payload",
                gateway=self.name,
                reason="signature_mismatch",
            )
        check_timestamp(
            int(timestamp), now=self._clock.now(), tolerance=self._tolerance, gateway=self.name
        )
        # --8<-- [end:webhook]
        try:
            body = _json_object(payload)
            event_type = str(body["event_type"])
            return WebhookEvent(
                id=str(body["event_id"]),
                type=_EVENTS.get(event_type, event_type),
                gateway=self.name,
                object_id=str(body["payment"]["id"]),
                created_at=_time(int(body["occurred_at"])),
                data=body["payment"],
            )
        except (KeyError, TypeError, ValueError) as error:
            raise WebhookVerificationFailed(
                "the payload is not an Acme event", gateway=self.name, reason="malformed_payload"
            ) from error

    # -- translation --------------------------------------------------------

    def _call(
        self,
        operation: Operation,
        method: str,
        path: str,
        key: str | None,
        body: Mapping[str, Any] | None,
    ) -> AcmeResponse:
        headers = {"Authorization": f"Bearer {self._api_key.reveal()}"}
        if key is not None:
            try:
                headers["Idempotency-Key"] = check_key(key)
            except ValidationError as error:
                self._invalid(operation, None, error.message, "idempotency_key", error)
        # --8<-- [start:transport]
        try:
            response = self.transport.request(method, path, headers=headers, body=body)
        except AcmeConnectionError as error:
            raise GatewayUnavailable(
                "could not connect to Acme; nothing was sent",
                gateway=self.name,
                operation=operation,
                idempotency_key=key,
            ) from error
        except AcmeTimeout as error:
            raise OutcomeUnknown(
                "Acme did not answer in time",
                gateway=self.name,
                operation=operation,
                idempotency_key=key,
            ) from error
        _log.debug("acmepay %s %s -> %s", method, path.split("?", maxsplit=1)[0], response.status)
        if response.status >= 400 and response.status != 402:  # a decline is an answer
            self._raise_for(operation, key, path, response)
        return response
        # --8<-- [end:transport]

    def _raise_for(
        self, operation: Operation, key: str | None, path: str, response: AcmeResponse
    ) -> NoReturn:
        error = response.body.get("error", {})
        kind, message = str(error.get("type", "")), str(error.get("message", "no message"))
        common: dict[str, Any] = {
            "gateway": self.name,
            "operation": operation,
            "idempotency_key": key,
        }
        status = response.status
        if status in (401, 403):
            raise GatewayMisconfigured("Acme refused the API key", raw_code=kind, **common)
        if status == 404:
            parts = path.split("?", maxsplit=1)[0].split("/")  # /v1/payments/{id}/...
            object_id = parts[3] if len(parts) > 3 else "?"
            raise PaymentNotFound(gateway=self.name, operation=operation, object_id=object_id)
        if status == 409 and kind == "idempotency_mismatch":
            raise GatewayIdempotencyConflict(
                gateway=self.name, operation=operation, idempotency_key=key or ""
            )
        if kind == "partial_capture_unsupported":
            raise UnsupportedOperation(message, capability="partial_capture", **common)
        if status in (400, 409):
            self._invalid(operation, key, message, str(error.get("param", "")) or None)
        if status == 429:
            after = response.headers.get("Retry-After", "")
            raise RateLimited(
                "Acme asked to slow down",
                raw_code="429",
                retry_after=timedelta(seconds=int(after)) if after.isdigit() else None,
                **common,
            )
        if status == 503:
            raise GatewayUnavailable("Acme is unavailable", raw_code="503", **common)
        raise OutcomeUnknown(f"Acme answered {status}", raw_code=str(status), **common)

    def _charge(self, body: Mapping[str, Any]) -> Charge:
        currency = body["amount"]["currency"]
        decline = body.get("decline")
        refunds = [
            Refund(
                id=refund["id"],
                charge_id=body["id"],
                amount=Amount(units=refund["value"], currency=currency),
                status=RefundStatus.SUCCEEDED,
                idempotency_key=refund["merchant_reference"],
                created_at=_time(refund["created"]),
                reason=refund["reason"],
            )
            for refund in body["refunds"]
        ]
        return Charge(
            id=body["id"],
            gateway=self.name,
            status=_STATES[body["state"]],
            amount=Amount(units=body["amount"]["value"], currency=currency),
            captured=Amount(units=body["captured_value"], currency=currency),
            manual_capture=body["capture_mode"] == "deferred",
            idempotency_key=body["merchant_reference"],
            created_at=_time(body["created"]),
            description=body["description"],
            refunds=refunds,
            decline=None
            if decline is None
            else Decline(
                code=DECLINE_CODES.get(decline["code"], DeclineCode.OTHER),
                raw_code=decline["code"],
                message=decline["reason"],
            ),
        )

    def _check_amount(self, amount: Amount, operation: Operation, key: str) -> None:
        if amount.units <= 0:
            self._invalid(operation, key, f"the amount must be positive, not {amount}", "amount")
        self.capabilities.require_currency(amount.currency, gateway=self.name, operation=operation)

    def _invalid(
        self,
        operation: Operation,
        key: str | None,
        message: str,
        field: str | None,
        cause: Exception | None = None,
    ) -> NoReturn:
        raise InvalidPaymentRequest(
            message, gateway=self.name, operation=operation, idempotency_key=key, field=field
        ) from cause


def _json_object(payload: bytes) -> dict[str, Any]:
    body = json.loads(payload)
    if not isinstance(body, dict):
        raise TypeError("an event is a JSON object")
    return body
