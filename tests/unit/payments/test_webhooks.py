"""Webhook signing, verification and parsing."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gigmarket.errors import ValidationError, WebhookVerificationFailed
from gigmarket.gateways.secret import Secret
from gigmarket.gateways.webhooks import (
    DEFAULT_TOLERANCE,
    SIGNATURE_HEADER,
    EventType,
    WebhookEvent,
    compute_signature,
    encode_event,
    header_value,
    parse_event,
    sign,
    verify,
)

SECRET = Secret("whsec_test_9aZ")
NOW = datetime(2026, 5, 4, 12, 0, tzinfo=UTC)
PAYLOAD = b'{"id":"evt_1","type":"charge.captured"}'


def reason(call: object) -> str:
    with pytest.raises(WebhookVerificationFailed) as info:
        call()  # type: ignore[operator]
    return info.value.reason


def test_a_signed_payload_verifies() -> None:
    header = sign(SECRET, NOW, PAYLOAD)
    assert (
        header
        == f"t={int(NOW.timestamp())},v1={compute_signature(SECRET, int(NOW.timestamp()), PAYLOAD)}"
    )
    verify(SECRET, header, PAYLOAD, now=NOW)
    assert sign(SECRET, int(NOW.timestamp()), PAYLOAD) == header


def test_a_naive_timestamp_cannot_be_signed() -> None:
    with pytest.raises(ValidationError):
        sign(SECRET, datetime(2026, 5, 4, 12, 0), PAYLOAD)  # noqa: DTZ001 -- the point


@pytest.mark.parametrize(
    "payload",
    [PAYLOAD + b" ", PAYLOAD.replace(b"evt_1", b"evt_2"), b"", PAYLOAD[:-1]],
)
def test_any_change_to_the_payload_breaks_the_signature(payload: bytes) -> None:
    header = sign(SECRET, NOW, PAYLOAD)
    assert reason(lambda: verify(SECRET, header, payload, now=NOW)) == "signature_mismatch"


def test_another_secret_does_not_verify() -> None:
    header = sign(Secret("whsec_other"), NOW, PAYLOAD)
    assert reason(lambda: verify(SECRET, header, PAYLOAD, now=NOW)) == "signature_mismatch"


def test_the_timestamp_is_signed_too() -> None:
    header = sign(SECRET, NOW, PAYLOAD)
    moved = header.replace(f"t={int(NOW.timestamp())}", f"t={int(NOW.timestamp()) + 60}")
    assert reason(lambda: verify(SECRET, moved, PAYLOAD, now=NOW)) == "signature_mismatch"


def test_rotating_secrets_accept_either() -> None:
    old, new = Secret("whsec_old"), Secret("whsec_new")
    for signer in (old, new):
        verify([new, old], sign(signer, NOW, PAYLOAD), PAYLOAD, now=NOW)
    # and a sender that signs with both during its own rotation
    both = sign(old, NOW, PAYLOAD) + "," + sign(new, NOW, PAYLOAD).split(",")[1]
    verify(new, both, PAYLOAD, now=NOW)


@pytest.mark.parametrize(
    ("offset", "accepted"),
    [
        (timedelta(0), True),
        (DEFAULT_TOLERANCE, True),
        (-DEFAULT_TOLERANCE, True),
        (DEFAULT_TOLERANCE + timedelta(seconds=1), False),
        (-DEFAULT_TOLERANCE - timedelta(seconds=1), False),
        (timedelta(days=400), False),
    ],
)
def test_timestamp_tolerance_both_ways(offset: timedelta, accepted: bool) -> None:
    header = sign(SECRET, NOW, PAYLOAD)
    if accepted:
        verify(SECRET, header, PAYLOAD, now=NOW + offset)
    else:
        assert (
            reason(lambda: verify(SECRET, header, PAYLOAD, now=NOW + offset)) == "stale_timestamp"
        )


def test_a_custom_tolerance() -> None:
    header = sign(SECRET, NOW, PAYLOAD)
    later = NOW + timedelta(minutes=20)
    verify(SECRET, header, PAYLOAD, now=later, tolerance=timedelta(minutes=30))
    assert reason(lambda: verify(SECRET, header, PAYLOAD, now=later)) == "stale_timestamp"


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, "missing_signature"),
        ("", "missing_signature"),
        ("v1=abc", "malformed_signature"),
        ("t=1767268800", "malformed_signature"),
        ("t=abc,v1=abc", "malformed_signature"),
        ("t=-5,v1=abc", "malformed_signature"),
        ("garbage", "malformed_signature"),
        ("t=1,v1=" + "a" * 5000, "malformed_signature"),
        ("t=99999999999,v1=abc", "signature_mismatch"),
    ],
)
def test_malformed_headers_are_refused(header: str | None, expected: str) -> None:
    failure = reason(lambda: verify(SECRET, header, PAYLOAD, now=NOW, gateway="g"))
    assert failure == expected


def test_an_impossible_timestamp_with_a_valid_signature_is_refused() -> None:
    header = sign(SECRET, 999_999_999_999, PAYLOAD)  # the year 33658
    assert reason(lambda: verify(SECRET, header, PAYLOAD, now=NOW)) == "malformed_signature"


def test_the_error_names_the_gateway_and_never_the_secret() -> None:
    with pytest.raises(WebhookVerificationFailed) as info:
        verify(SECRET, sign(SECRET, NOW, PAYLOAD), b"{}", now=NOW, gateway="acme")
    assert info.value.gateway == "acme"
    assert SECRET.reveal() not in str(info.value) + repr(info.value)


def test_header_lookup_ignores_case() -> None:
    headers = {"gigmarket-signature": "t=1,v1=x", "Content-Type": "application/json"}
    assert header_value(headers, SIGNATURE_HEADER) == "t=1,v1=x"
    assert header_value(headers, "X-Missing") is None


def test_events_round_trip() -> None:
    event = WebhookEvent(
        id="evt_1",
        type=EventType.CHARGE_CAPTURED,
        gateway="sandbox",
        object_id="ch_1",
        created_at=NOW,
        data={"amount": {"units": 5575, "currency": "USD"}},
    )
    parsed = parse_event(encode_event(event), gateway="sandbox")
    assert parsed == event
    assert parsed.data == event.data
    assert parsed.type == "charge.captured"


def test_events_compare_and_hash_without_their_data() -> None:
    one = WebhookEvent(id="e", type="t", gateway="g", object_id="o", created_at=NOW, data={"a": 1})
    two = WebhookEvent(id="e", type="t", gateway="g", object_id="o", created_at=NOW, data={})
    assert one == two
    assert len({one, two}) == 1


@pytest.mark.parametrize(
    "payload",
    [
        b"not json",
        b"[]",
        b'{"id": "e", "type": "t", "object_id": "o"}',
        b'{"id": "", "type": "t", "object_id": "o", "created_at": "2026-05-04T12:00:00Z"}',
        b'{"id": "e", "type": "t", "object_id": "o", "created_at": "2026-05-04T12:00:00"}',
    ],
)
def test_a_malformed_event_is_refused(payload: bytes) -> None:
    assert reason(lambda: parse_event(payload, gateway="g")) == "malformed_payload"


def test_an_unknown_event_type_still_parses() -> None:
    body = {"id": "e", "type": "charge.disputed", "object_id": "o", "created_at": NOW.isoformat()}
    assert parse_event(json.dumps(body).encode(), gateway="g").type == "charge.disputed"


@given(payload=st.binary(max_size=200), flip=st.integers(min_value=0))
def test_any_flipped_byte_is_detected(payload: bytes, flip: int) -> None:
    header = sign(SECRET, NOW, payload)
    verify(SECRET, header, payload, now=NOW)
    if payload:
        index = flip % len(payload)
        forged = payload[:index] + bytes([payload[index] ^ 0x01]) + payload[index + 1 :]
        assert reason(lambda: verify(SECRET, header, forged, now=NOW)) == "signature_mismatch"
