"""The payment error sub-tree: structured, typed by what to do next."""

from __future__ import annotations

from datetime import timedelta

import pytest

import gigmarket
from gigmarket.errors import (
    GatewayIdempotencyConflict,
    GatewayMisconfigured,
    GatewayUnavailable,
    GigmarketError,
    IdempotencyConflict,
    InvalidPaymentRequest,
    NotFound,
    OutcomeUnknown,
    PaymentError,
    PaymentNotFound,
    RateLimited,
    UnsupportedOperation,
    WebhookVerificationFailed,
)


def test_every_payment_error_is_a_gigmarket_error_and_re_exported() -> None:
    for error in (
        PaymentError,
        GatewayUnavailable,
        RateLimited,
        OutcomeUnknown,
        GatewayMisconfigured,
        InvalidPaymentRequest,
        UnsupportedOperation,
        PaymentNotFound,
        GatewayIdempotencyConflict,
        WebhookVerificationFailed,
    ):
        assert issubclass(error, PaymentError)
        assert issubclass(error, GigmarketError)
        assert getattr(gigmarket, error.__name__) is error


@pytest.mark.parametrize(
    ("error", "retry"),
    [
        (GatewayUnavailable("down", gateway="g", operation="charge"), True),
        (RateLimited("slow down", gateway="g", operation="charge"), True),
        (OutcomeUnknown("timeout", gateway="g", operation="charge"), False),
        (GatewayMisconfigured("bad key", gateway="g", operation="charge"), False),
        (InvalidPaymentRequest("no", gateway="g", operation="charge"), False),
    ],
)
def test_should_retry_says_whether_resending_is_safe(error: PaymentError, retry: bool) -> None:
    assert error.should_retry is retry


def test_errors_carry_structured_attributes() -> None:
    error = OutcomeUnknown("no answer", gateway="sandbox", operation="refund", idempotency_key="k1")
    assert (error.gateway, error.operation, error.idempotency_key) == ("sandbox", "refund", "k1")
    assert str(error) == "sandbox refund: no answer"
    assert error.code == "outcome_unknown"
    limited = RateLimited(
        "slow", gateway="g", operation="charge", raw_code="429", retry_after=timedelta(seconds=2)
    )
    assert (limited.raw_code, limited.retry_after) == ("429", timedelta(seconds=2))
    invalid = InvalidPaymentRequest("too much", gateway="g", operation="capture", field="amount")
    assert isinstance(invalid, ValueError)
    assert invalid.field == "amount"
    unsupported = UnsupportedOperation(
        "no", gateway="g", operation="capture", capability="partial_capture"
    )
    assert unsupported.capability == "partial_capture"
    missing = PaymentNotFound(gateway="g", operation="get_charge", object_id="ch_1")
    assert isinstance(missing, NotFound)
    assert isinstance(missing, LookupError)
    assert missing.object_id == "ch_1"
    webhook = WebhookVerificationFailed("bad", gateway="g", reason="stale_timestamp")
    assert (webhook.operation, webhook.reason) == ("parse_webhook", "stale_timestamp")


def test_a_gateway_conflict_is_also_an_idempotency_conflict() -> None:
    error = GatewayIdempotencyConflict(gateway="g", operation="charge", idempotency_key="k")
    assert isinstance(error, IdempotencyConflict)
    assert error.key == error.idempotency_key == "k"
    assert error.operation == "charge"
    with pytest.raises(IdempotencyConflict):
        raise error
