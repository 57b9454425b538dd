"""An in-memory imitation of Acme Pay's HTTP API (v1), for tests.

A real adapter talks to its provider over HTTP; its tests should not. This
fake answers the same requests with the same JSON, status codes and headers
as the (fictional) real API, from memory: the adapter's ``transport`` is
either an HTTP client or this object, the way ``httpx.MockTransport`` stands
in for a server. It also does what Acme's test mode would: test card tokens,
injected failures, and signed webhooks waiting to be delivered.

The API in one table:

| request | answers |
|---|---|
| `POST /v1/payments` | 201 the payment; 402 the payment, declined |
| `POST /v1/payments/{id}/capture` | 200; full captures only (400 `partial_capture_unsupported`) |
| `POST /v1/payments/{id}/void` | 200 |
| `POST /v1/payments/{id}/refunds` | 201 the payment, with the refund |
| `GET /v1/payments/{id}` | 200 |
| `GET /v1/payments?merchant_reference=` | 200 `{"data": [...]}` |

Errors: 400 `invalid_request`, 401 `authentication`, 404 `not_found`, 409
`invalid_state` or `idempotency_mismatch`, 429 with `Retry-After`, 503.
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from gigmarket.clock import Clock

__all__ = [
    "TEST_TOKENS",
    "AcmeConnectionError",
    "AcmeResponse",
    "AcmeTimeout",
    "AcmeTransportError",
    "FakeAcmeServer",
]

TEST_TOKENS: Mapping[str, str | None] = {
    "acme_tok_ok": None,
    "acme_tok_declined": "AC-200",
    "acme_tok_nsf": "AC-201",
    "acme_tok_expired": "AC-202",
    "acme_tok_cvc": "AC-203",
    "acme_tok_fraud": "AC-301",
    "acme_tok_error": "AC-900",
    "acme_tok_weird": "AC-777",
}
"""Acme's test payment tokens and the decline code each one causes (``None``: approved)."""


class AcmeTransportError(Exception):
    """The HTTP exchange itself failed."""


class AcmeConnectionError(AcmeTransportError):
    """The connection could not be made: the request was never sent."""


class AcmeTimeout(AcmeTransportError):
    """The request was sent, and no answer came in time."""


@dataclass(frozen=True)
class AcmeResponse:
    status: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class _Payment:
    id: str
    value: int
    currency: str
    capture_mode: str
    merchant_reference: str
    description: str
    created: int
    state: str = "AUTHORISED"
    captured_value: int = 0
    decline: dict[str, str] | None = None
    refunds: list[dict[str, Any]] = field(default_factory=list)

    def json(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "id": self.id,
            "state": self.state,
            "amount": {"value": self.value, "currency": self.currency},
            "captured_value": self.captured_value,
            "capture_mode": self.capture_mode,
            "merchant_reference": self.merchant_reference,
            "description": self.description,
            "created": self.created,
            "refunds": [dict(refund) for refund in self.refunds],
        }
        if self.decline is not None:
            body["decline"] = dict(self.decline)
        return body


def _error(status: int, kind: str, message: str, **extra: str) -> AcmeResponse:
    return AcmeResponse(status, {"error": {"type": kind, "message": message, **extra}})


class FakeAcmeServer:
    """Acme Pay's API, in memory, thread-safe, moving with ``clock``."""

    def __init__(self, *, api_key: str, webhook_secret: str, clock: Clock) -> None:
        self._api_key = api_key
        self._webhook_secret = webhook_secret
        self._clock = clock
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self._payments: dict[str, _Payment] = {}
        self._idempotency: dict[str, tuple[str, AcmeResponse]] = {}
        self._failures: dict[str, list[str]] = {}
        self._webhook_faults: list[str] = []
        self._outbox: list[bytes] = []
        self._held: list[bytes] = []

    def __repr__(self) -> str:
        return f"FakeAcmeServer(payments={len(self._payments)})"

    # -- test mode ----------------------------------------------------------

    def fail_next(self, route: str, failure: str) -> None:
        """Make the next request to ``route`` fail: ``connect`` (never sent),
        ``timeout`` (processed, no answer), ``rate_limit`` or ``unavailable``
        (refused, nothing processed)."""
        with self._lock:
            self._failures.setdefault(route, []).append(failure)

    def fail_next_webhook(self, failure: str) -> None:
        """``duplicate`` or ``out_of_order`` for the next webhook event."""
        with self._lock:
            self._webhook_faults.append(failure)

    def deliver_webhooks(self) -> list[tuple[bytes, dict[str, str]]]:
        """Every webhook waiting, signed now, as (body, headers)."""
        with self._lock:
            waiting = self._outbox + self._held
            self._outbox, self._held = [], []
            now = str(int(self._clock.now().timestamp()))
            secret = self._webhook_secret.encode()
            signed = []
            for body in waiting:
                digest = hmac.new(secret, now.encode() + b"." + body, hashlib.sha256).hexdigest()
                signed.append((body, {"Acme-Timestamp": now, "Acme-Signature": f"sha256={digest}"}))
            return signed

    # -- the API ------------------------------------------------------------

    def request(
        self,
        method: str,
        path: str,
        *,
        headers: Mapping[str, str],
        body: Mapping[str, Any] | None = None,
    ) -> AcmeResponse:
        """One HTTP exchange."""
        route, payment_id = self._route(method, path)
        with self._lock:
            queue = self._failures.get(route)
            failure = queue.pop(0) if queue else None
            if failure == "connect":
                raise AcmeConnectionError(
                    f"connection refused: {method} {path.split('?', maxsplit=1)[0]}"
                )
            if failure == "rate_limit":
                return AcmeResponse(429, {"error": {"type": "rate_limit"}}, {"Retry-After": "2"})
            if failure == "unavailable":
                return _error(503, "unavailable", "try again later")
            if headers.get("Authorization") != f"Bearer {self._api_key}":
                return _error(401, "authentication", "invalid API key")
            response = self._idempotent(
                method, path, route=route, payment_id=payment_id, headers=headers, body=body or {}
            )
            if failure == "timeout":
                raise AcmeTimeout(f"read timed out: {method} {path.split('?', maxsplit=1)[0]}")
            return response

    def _route(self, method: str, path: str) -> tuple[str, str | None]:
        parts = path.split("?", maxsplit=1)[0].strip("/").split("/")
        if method == "POST" and parts == ["v1", "payments"]:
            return "create_payment", None
        if method == "GET" and parts == ["v1", "payments"]:
            return "list_payments", None
        if len(parts) == 3 and method == "GET":
            return "get_payment", parts[2]
        if len(parts) == 4 and method == "POST" and parts[3] in ("capture", "void", "refunds"):
            return {"refunds": "refund"}.get(parts[3], parts[3]), parts[2]
        return "unknown", None

    def _idempotent(
        self,
        method: str,
        path: str,
        *,
        route: str,
        payment_id: str | None,
        headers: Mapping[str, str],
        body: Mapping[str, Any],
    ) -> AcmeResponse:
        key = headers.get("Idempotency-Key")
        if method != "POST" or key is None:
            return self._handle(route, payment_id, path, body)
        request = hashlib.sha256(f"{path} {json.dumps(body, sort_keys=True)}".encode()).hexdigest()
        seen = self._idempotency.get(key)
        if seen is not None:
            if seen[0] != request:
                return _error(409, "idempotency_mismatch", "key reused with another request")
            return seen[1]
        response = self._handle(route, payment_id, path, body)
        if response.status < 500 and response.status not in (400, 409):
            self._idempotency[key] = (request, response)
        return response

    def _handle(
        self, route: str, payment_id: str | None, path: str, body: Mapping[str, Any]
    ) -> AcmeResponse:
        if route == "create_payment":
            return self._create(body)
        if route == "list_payments":
            reference = path.partition("merchant_reference=")[2]
            found = [p.json() for p in self._payments.values() if p.merchant_reference == reference]
            return AcmeResponse(200, {"data": found})
        payment = self._payments.get(payment_id or "")
        if payment is None:
            return _error(404, "not_found", "no such payment")
        handlers = {
            "get_payment": lambda p, _: AcmeResponse(200, p.json()),
            "capture": self._capture,
            "void": self._void,
            "refund": self._refund,
        }
        return handlers[route](payment, body)

    def _void(self, payment: _Payment, body: Mapping[str, Any]) -> AcmeResponse:
        if payment.state != "AUTHORISED":
            return _error(409, "invalid_state", f"payment is {payment.state}")
        return self._changed(payment, "VOIDED", "payment.voided", 200)

    def _create(self, body: Mapping[str, Any]) -> AcmeResponse:
        amount = body.get("amount") or {}
        value, token = amount.get("value"), body.get("payment_token")
        if not isinstance(value, int) or value <= 0:
            return _error(400, "invalid_request", "amount.value must be positive", param="amount")
        if token not in TEST_TOKENS:
            return _error(400, "invalid_request", "unknown payment token", param="payment_token")
        payment = _Payment(
            id=f"pay_{next(self._ids):05d}",
            value=value,
            currency=str(amount.get("currency")),
            capture_mode=str(body.get("capture_mode", "immediate")),
            merchant_reference=str(body.get("merchant_reference", "")),
            description=str(body.get("description", "")),
            created=int(self._clock.now().timestamp()),
        )
        self._payments[payment.id] = payment
        code = TEST_TOKENS[str(token)]
        if code is not None:
            payment.decline = {"code": code, "reason": "refused by the issuer (test mode)"}
            return self._changed(payment, "DECLINED", "payment.declined", 402)
        if payment.capture_mode == "immediate":
            payment.captured_value = value
            return self._changed(payment, "SETTLED", "payment.settled", 201)
        return self._changed(payment, "AUTHORISED", "payment.authorised", 201)

    def _capture(self, payment: _Payment, body: Mapping[str, Any]) -> AcmeResponse:
        if payment.state != "AUTHORISED":
            return _error(409, "invalid_state", f"payment is {payment.state}")
        value = body.get("value", payment.value)
        if value > payment.value:
            return _error(400, "invalid_request", "more than authorised", param="value")
        if value != payment.value:
            return _error(400, "partial_capture_unsupported", "captures are full", param="value")
        payment.captured_value = value
        return self._changed(payment, "SETTLED", "payment.settled", 200)

    def _refund(self, payment: _Payment, body: Mapping[str, Any]) -> AcmeResponse:
        if payment.state != "SETTLED":
            return _error(409, "invalid_state", f"payment is {payment.state}")
        left = payment.captured_value - sum(r["value"] for r in payment.refunds)
        value = body.get("value", left)
        if not isinstance(value, int) or value <= 0 or value > left:
            return _error(400, "invalid_request", f"{left} can be refunded", param="value")
        payment.refunds.append(
            {
                "id": f"rf_{next(self._ids):05d}",
                "value": value,
                "merchant_reference": str(body.get("merchant_reference", "")),
                "reason": str(body.get("reason", "")),
                "created": int(self._clock.now().timestamp()),
            }
        )
        return self._changed(payment, "SETTLED", "payment.refunded", 201)

    def _changed(self, payment: _Payment, state: str, event: str, status: int) -> AcmeResponse:
        payment.state = state
        snapshot = payment.json()
        body = json.dumps(
            {
                "event_id": f"acme_evt_{next(self._ids):05d}",
                "event_type": event,
                "occurred_at": int(self._clock.now().timestamp()),
                "payment": snapshot,
            },
            sort_keys=True,
        ).encode()
        fault = self._webhook_faults.pop(0) if self._webhook_faults else None
        if fault == "out_of_order":
            self._held.append(body)
        else:
            self._outbox.append(body)
            if fault == "duplicate":
                self._outbox.append(body)
            self._outbox.extend(self._held)
            self._held.clear()
        return AcmeResponse(status, snapshot)
