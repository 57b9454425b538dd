"""Webhooks: signed notices from a gateway that something changed.

A gateway tells the platform about changes it did not ask for (a pending
charge settled, a payout arrived, a bank returned one) by POSTing an event to
a URL of the host. Anyone on the internet can POST to that URL, so an event is
believed only when it carries a valid signature:

- the gateway signs ``"<timestamp>.<payload>"`` with HMAC-SHA256 under a
  secret shared with the platform, and sends the timestamp and the signature
  in a header (gigmarket's own format: ``Gigmarket-Signature:
  t=1767268800,v1=<hex>``; several ``v1`` entries are allowed, for rotating
  secrets);
- the receiver recomputes the signature over the *raw bytes* it received
  (not a re-serialized JSON) and compares with :func:`hmac.compare_digest`,
  whose running time does not reveal how many leading characters matched;
- the timestamp must be within a tolerance of the receiver's clock (five
  minutes by default), so a captured request cannot be replayed next week.

Verification is all this module does with trust. Two more rules belong to the
core, which owns storage: the same event arrives more than once (gateways
retry until they get a 2xx), so events are deduplicated by
:attr:`WebhookEvent.id`; and events arrive out of order, so an event is a
*hint* to re-read the object with a status query, never a state to copy
blindly.

>>> from datetime import UTC, datetime
>>> from gigmarket.gateways.secret import Secret
>>> secret, now = Secret("whsec_demo"), datetime(2026, 1, 1, tzinfo=UTC)
>>> header = sign(secret, now, b'{"id": "evt_1"}')
>>> header[:13]
't=1767225600,'
>>> verify(secret, header, b'{"id": "evt_1"}', now=now)
>>> verify(secret, header, b'{"id": "evt_2"}', now=now)
Traceback (most recent call last):
...
gigmarket.errors.WebhookVerificationFailed: unknown parse_webhook: the signature does not ...
"""

from __future__ import annotations

import enum
import hashlib
import hmac
import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import attrs
import pydantic

from gigmarket.clock import require_aware
from gigmarket.errors import GatewayMisconfigured, ValidationError, WebhookVerificationFailed
from gigmarket.gateways.secret import Secret

__all__ = [
    "DEFAULT_TOLERANCE",
    "SIGNATURE_HEADER",
    "EventType",
    "WebhookDelivery",
    "WebhookEvent",
    "check_delivery",
    "check_timestamp",
    "compute_signature",
    "encode_event",
    "header_value",
    "parse_event",
    "sign",
    "signatures_match",
    "verify",
]

SIGNATURE_HEADER = "Gigmarket-Signature"
"""The header that carries gigmarket-format signatures."""

DEFAULT_TOLERANCE = timedelta(minutes=5)
"""How far a webhook's timestamp may be from the receiver's clock, either way."""

_MAX_HEADER = 4096


class EventType(enum.StrEnum):
    """The normalized event types. Adapters translate their provider's types
    to these; :attr:`WebhookEvent.type` is a plain string so that a type an
    adapter does not know yet still parses (the core may ignore it)."""

    CHARGE_REQUIRES_ACTION = "charge.requires_action"
    CHARGE_PENDING = "charge.pending"
    CHARGE_AUTHORIZED = "charge.authorized"
    CHARGE_CAPTURED = "charge.captured"
    CHARGE_CANCELLED = "charge.cancelled"
    CHARGE_FAILED = "charge.failed"
    CHARGE_REFUNDED = "charge.refunded"
    PAYEE_ACTIVE = "payee.active"
    PAYEE_REJECTED = "payee.rejected"
    PAYOUT_PENDING = "payout.pending"
    PAYOUT_IN_TRANSIT = "payout.in_transit"
    PAYOUT_PAID = "payout.paid"
    PAYOUT_FAILED = "payout.failed"
    PAYOUT_CANCELLED = "payout.cancelled"


@attrs.frozen(kw_only=True)
class WebhookEvent:
    """A verified event.

    ``id`` is unique per gateway and identical across redeliveries (the key
    to deduplicate on); ``object_id`` names the charge, payee or payout it
    is about; ``created_at`` is when the change happened at the gateway (not
    when the event arrived); ``data`` is the gateway's snapshot of the
    object at that moment, as JSON values. Two events are equal (and hash
    equal) when everything but ``data`` is, so a set of events deduplicates
    redeliveries.
    """

    id: str
    type: str
    gateway: str
    object_id: str
    created_at: datetime
    data: Mapping[str, Any] = attrs.field(factory=dict, eq=False)


@attrs.frozen(kw_only=True)
class WebhookDelivery:
    """One HTTP POST from a gateway: the raw body and the headers, as received.

    What a host's webhook endpoint hands to ``gateway.parse_webhook``, and
    what fakes and the sandbox produce for tests.
    """

    payload: bytes
    headers: Mapping[str, str]


class _EventPayload(pydantic.BaseModel):
    """The JSON shape of a gigmarket-format event (validated at the edge)."""

    model_config = pydantic.ConfigDict(extra="ignore", frozen=True)

    id: str = pydantic.Field(min_length=1, max_length=255)
    type: str = pydantic.Field(min_length=1, max_length=255)
    object_id: str = pydantic.Field(min_length=1, max_length=255)
    created_at: pydantic.AwareDatetime
    data: dict[str, Any] = pydantic.Field(default_factory=dict)


def _refuse(message: str, gateway: str, reason: str) -> WebhookVerificationFailed:
    return WebhookVerificationFailed(message, gateway=gateway, reason=reason)


def check_delivery(
    payload: object, headers: object, *, gateway: str = "unknown"
) -> tuple[bytes, Mapping[str, str]]:
    """Refuse a delivery that is not a raw body and a mapping of text headers.

    A web framework hands over the body as ``bytes`` and the headers as
    ``str`` names and values; a ``str`` body (already decoded: its bytes, and
    so its signature, are lost) or ``bytes`` headers (an ASGI scope, not yet
    decoded) are the host's mistake, and are refused with
    :class:`~gigmarket.errors.WebhookVerificationFailed` (``malformed_payload``
    or ``malformed_signature``), an answer the host can map to a 400, not a
    ``TypeError`` that becomes a 500. Returns the body as ``bytes``.
    """
    if not isinstance(payload, bytes | bytearray | memoryview):
        raise _refuse(
            f"the body must be the raw bytes received, not a {type(payload).__name__}",
            gateway,
            "malformed_payload",
        )
    if not isinstance(headers, Mapping) or not all(
        isinstance(name, str) and isinstance(value, str) for name, value in headers.items()
    ):
        raise _refuse(
            "the headers must be a mapping of str names to str values",
            gateway,
            "malformed_signature",
        )
    return bytes(payload), headers


def _is_list(value: object) -> bool:
    return isinstance(value, Sequence) and not isinstance(value, str | bytes)


def _unix(moment: datetime | int) -> int:
    if isinstance(moment, int) and not isinstance(moment, bool):
        return moment
    if not isinstance(moment, datetime):
        raise _refuse(
            "the timestamp must be a datetime or an int", "unknown", "malformed_signature"
        )
    return int(require_aware(moment, "timestamp").timestamp())


def compute_signature(secret: Secret, timestamp: int, payload: bytes) -> str:
    """HMAC-SHA256 of ``b"<timestamp>." + payload`` under ``secret``, in hex.

    The timestamp is inside the signed bytes, so it cannot be changed without
    breaking the signature.
    """
    if not isinstance(secret, Secret):
        raise _refuse("the webhook secret must be a Secret", "unknown", "malformed_signature")
    if isinstance(timestamp, bool) or not isinstance(timestamp, int) or timestamp < 0:
        raise _refuse("the timestamp must be a non-negative int", "unknown", "malformed_signature")
    body, _ = check_delivery(payload, {})
    message = str(timestamp).encode("ascii") + b"." + body
    return hmac.new(secret.reveal().encode(), message, hashlib.sha256).hexdigest()


def signatures_match(expected: object, given: object) -> bool:
    """Compare two hex signatures in constant time (never with ``==``); anything
    but two ``str`` does not match."""
    if not isinstance(expected, str) or not isinstance(given, str):
        return False
    return hmac.compare_digest(
        expected.encode("ascii", "replace"), given.encode("ascii", "replace")
    )


def sign(secret: Secret, timestamp: datetime | int, payload: bytes) -> str:
    """The :data:`SIGNATURE_HEADER` value for ``payload`` sent at ``timestamp``."""
    unix = _unix(timestamp)
    return f"t={unix},v1={compute_signature(secret, unix, payload)}"


def check_timestamp(
    timestamp: int, *, now: datetime, tolerance: timedelta, gateway: str = "unknown"
) -> None:
    """Refuse a signature timestamp more than ``tolerance`` away from ``now``.

    Both directions count: a timestamp from the future is as suspicious as
    an old one (and a clock skew larger than the tolerance should be fixed,
    not tolerated).
    """
    try:
        if isinstance(timestamp, bool) or not isinstance(timestamp, int):
            raise TypeError(type(timestamp).__name__)
        sent = datetime.fromtimestamp(timestamp, UTC)
    except (OverflowError, OSError, ValueError, TypeError) as error:
        raise WebhookVerificationFailed(
            "the signature timestamp is not a valid time",
            gateway=gateway,
            reason="malformed_signature",
        ) from error
    if not isinstance(tolerance, timedelta):
        raise ValidationError("a timedelta", field="tolerance")
    if abs(require_aware(now, "now") - sent) > tolerance:
        raise WebhookVerificationFailed(
            f"the signature timestamp is more than {tolerance} away from now",
            gateway=gateway,
            reason="stale_timestamp",
        )


def _parse_header(header: str, gateway: str) -> tuple[int, list[str]]:
    timestamp: int | None = None
    signatures: list[str] = []
    for part in header.split(","):
        name, sep, value = part.strip().partition("=")
        if not sep:
            continue
        # isascii(): str.isdigit() is true for "৫" and "²", and int() reads
        # the first and chokes on the second.
        if name == "t" and value.isascii() and value.isdigit() and len(value) <= 12:
            timestamp = int(value)
        elif name == "v1" and value:
            signatures.append(value)
    if timestamp is None or not signatures:
        raise WebhookVerificationFailed(
            "the signature header needs a timestamp (t=) and at least one signature (v1=)",
            gateway=gateway,
            reason="malformed_signature",
        )
    return timestamp, signatures


def verify(
    secret: Secret | Sequence[Secret],
    header: str | None,
    payload: bytes,
    *,
    now: datetime,
    tolerance: timedelta = DEFAULT_TOLERANCE,
    gateway: str = "unknown",
) -> None:
    """Check a gigmarket-format signature header against the raw ``payload``.

    ``secret`` may be several secrets while one is being rotated out: a
    signature under any of them is accepted. Raises
    :class:`~gigmarket.errors.WebhookVerificationFailed` (``reason`` says
    which check failed) and returns nothing on success.
    """
    payload, _ = check_delivery(payload, {}, gateway=gateway)
    if header is not None and not isinstance(header, str):
        raise _refuse("the signature header must be text", gateway, "malformed_signature")
    if not header:
        raise WebhookVerificationFailed(
            f"the {SIGNATURE_HEADER} header is missing", gateway=gateway, reason="missing_signature"
        )
    if len(header) > _MAX_HEADER:
        raise WebhookVerificationFailed(
            "the signature header is too long", gateway=gateway, reason="malformed_signature"
        )
    timestamp, given = _parse_header(header, gateway)
    # The signature first: an attacker learns nothing from which check failed
    # when the timestamp of a forged header is also wrong.
    secrets = [secret] if isinstance(secret, Secret) else list(secret) if _is_list(secret) else []
    if not secrets or not all(isinstance(each, Secret) for each in secrets):
        raise GatewayMisconfigured(
            "verify needs a Secret or a sequence of them", gateway=gateway, operation="verify"
        )
    expected = [compute_signature(each, timestamp, payload) for each in secrets]
    matched = False
    for candidate in given:
        for wanted in expected:
            matched |= signatures_match(wanted, candidate)
    if not matched:
        raise WebhookVerificationFailed(
            "the signature does not match the payload",
            gateway=gateway,
            reason="signature_mismatch",
        )
    check_timestamp(timestamp, now=now, tolerance=tolerance, gateway=gateway)


def header_value(headers: Mapping[str, str], name: str) -> str | None:
    """``headers[name]``, ignoring case, as HTTP header names are.

    Headers that are not a mapping of ``str`` to ``str`` raise
    :class:`~gigmarket.errors.WebhookVerificationFailed` (see :func:`check_delivery`).
    """
    check_delivery(b"", headers)
    if not isinstance(name, str):
        raise ValidationError("a header name", field="name")
    wanted = name.lower()
    for key, value in headers.items():
        if key.lower() == wanted:
            return value
    return None


def encode_event(event: WebhookEvent) -> bytes:
    """The JSON body of a gigmarket-format event (what :func:`parse_event` reads)."""
    if not isinstance(event, WebhookEvent):
        raise ValidationError("a WebhookEvent", field="event")
    body = {
        "id": event.id,
        "type": event.type,
        "object_id": event.object_id,
        "created_at": event.created_at.isoformat(),
        "data": dict(event.data),
    }
    return json.dumps(body, sort_keys=True, separators=(",", ":")).encode()


def parse_event(payload: bytes, *, gateway: str) -> WebhookEvent:
    """Read a *verified* gigmarket-format payload into a :class:`WebhookEvent`.

    A payload that is not a well-formed event raises
    :class:`~gigmarket.errors.WebhookVerificationFailed` with reason
    ``malformed_payload``; the message does not echo the payload.
    """
    payload, _ = check_delivery(payload, {}, gateway=gateway)
    try:
        parsed = _EventPayload.model_validate_json(payload)
    except pydantic.ValidationError as error:
        fields = sorted({".".join(map(str, e["loc"])) or "body" for e in error.errors()})
        raise WebhookVerificationFailed(
            f"the payload is not a valid event ({', '.join(fields)})",
            gateway=gateway,
            reason="malformed_payload",
        ) from error
    return WebhookEvent(
        id=parsed.id,
        type=parsed.type,
        gateway=gateway,
        object_id=parsed.object_id,
        created_at=parsed.created_at.astimezone(UTC),
        data=parsed.data,
    )
