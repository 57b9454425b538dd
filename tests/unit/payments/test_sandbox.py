"""What the sandbox does beyond the conformance kit: time, delays, webhook faults, tokens."""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest

from gigmarket.clock import ManualClock
from gigmarket.errors import (
    GatewayIdempotencyConflict,
    GatewayMisconfigured,
    GatewayUnavailable,
    InvalidPaymentRequest,
    OutcomeUnknown,
    UnsupportedOperation,
    ValidationError,
    WebhookVerificationFailed,
)
from gigmarket.gateways import (
    Capabilities,
    ChargeStatus,
    EventType,
    Fault,
    Operation,
    PayoutStatus,
    SandboxGateway,
)
from gigmarket.gateways.sandbox import CARD_TOKENS, RAW_DECLINE_CODES
from gigmarket.money import Amount
from tests.unit.payments.helpers import API_KEY, T0, WEBHOOK_SECRET, usd


def events(sandbox: SandboxGateway) -> list[tuple[str, str]]:
    parsed = [sandbox.parse_webhook(d.payload, d.headers) for d in sandbox.deliver_webhooks()]
    return [(event.type, event.object_id) for event in parsed]


def test_a_pending_charge_settles_when_the_clock_says(
    sandbox: SandboxGateway, clock: ManualClock
) -> None:
    charge = sandbox.charge(amount=usd("10.00"), source="tok_pending", idempotency_key="k")
    clock.advance(timedelta(minutes=9, seconds=59))
    assert sandbox.get_charge(charge.id).status is ChargeStatus.PENDING
    clock.advance(timedelta(seconds=1))
    assert sandbox.get_charge(charge.id).status is ChargeStatus.CAPTURED
    parsed = [sandbox.parse_webhook(d.payload, d.headers) for d in sandbox.deliver_webhooks()]
    assert [e.type for e in parsed] == [EventType.CHARGE_PENDING, EventType.CHARGE_CAPTURED]
    assert parsed[1].created_at == T0 + timedelta(minutes=10)  # when it happened


def test_a_manual_pending_charge_settles_to_authorized(
    sandbox: SandboxGateway, clock: ManualClock
) -> None:
    charge = sandbox.charge(
        amount=usd("10.00"), source="tok_pending", idempotency_key="k", capture=False
    )
    clock.advance(timedelta(hours=1))
    assert sandbox.get_charge(charge.id).status is ChargeStatus.AUTHORIZED


def test_a_payout_moves_with_the_clock(sandbox: SandboxGateway, clock: ManualClock) -> None:
    payee = sandbox.onboard_payee(
        reference="nadia", currency="USD", bank_token="bank_ok", idempotency_key="p"
    )
    payout = sandbox.payout(payee_id=payee.id, amount=usd("40.00"), idempotency_key="po")
    clock.advance(timedelta(minutes=59))
    assert sandbox.get_payout(payout.id).status is PayoutStatus.PENDING
    clock.advance(timedelta(days=3))  # both steps happen, each at its own time
    assert sandbox.get_payout(payout.id).status is PayoutStatus.PAID
    parsed = [sandbox.parse_webhook(d.payload, d.headers) for d in sandbox.deliver_webhooks()]
    paid = parsed[-1]
    assert (paid.type, paid.created_at) == ("payout.paid", T0 + timedelta(days=2, hours=1))


def test_a_delayed_request_lands_later_unless_retried(
    sandbox: SandboxGateway, clock: ManualClock
) -> None:
    sandbox.faults.on(Operation.CHARGE, Fault.delay(timedelta(seconds=30)))
    with pytest.raises(OutcomeUnknown):
        sandbox.charge(amount=usd("10.00"), source="tok_visa", idempotency_key="k")
    assert sandbox.find_charge("k") is None  # not yet: "not found" proves nothing
    clock.advance(timedelta(seconds=30))
    landed = sandbox.find_charge("k")
    assert landed is not None
    assert landed.created_at == T0 + timedelta(seconds=30)
    again = sandbox.charge(amount=usd("10.00"), source="tok_visa", idempotency_key="k")
    assert again.id == landed.id


def test_a_retry_overtakes_its_delayed_first_attempt(
    sandbox: SandboxGateway, clock: ManualClock
) -> None:
    sandbox.faults.on(Operation.CHARGE, Fault.delay(timedelta(seconds=30)))
    with pytest.raises(OutcomeUnknown):
        sandbox.charge(amount=usd("10.00"), source="tok_visa", idempotency_key="k")
    with pytest.raises(InvalidPaymentRequest):  # the key is held for *this* request
        sandbox.charge(amount=usd("10.00"), source="tok_nope", idempotency_key="k2")
    retried = sandbox.charge(amount=usd("10.00"), source="tok_visa", idempotency_key="k")
    clock.advance(timedelta(minutes=5))
    assert sandbox.find_charge("k") == sandbox.get_charge(retried.id)
    assert [t for t, _ in events(sandbox)] == [EventType.CHARGE_CAPTURED]  # one charge


def test_a_delayed_request_refused_at_the_gateway_is_never_found(
    sandbox: SandboxGateway, clock: ManualClock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="gigmarket.gateways.sandbox")
    sandbox.faults.on(Operation.CHARGE, Fault.delay(timedelta(seconds=30)))
    with pytest.raises(OutcomeUnknown):
        sandbox.charge(amount=usd("10.00"), source="tok_unknown", idempotency_key="k")
    clock.advance(timedelta(minutes=1))
    assert sandbox.find_charge("k") is None
    assert any("refused late" in r.getMessage() for r in caplog.records)
    assert sandbox.charge(amount=usd("1.00"), source="tok_visa", idempotency_key="k").captured.units


def test_a_reused_key_conflicts_with_a_delayed_request(sandbox: SandboxGateway) -> None:
    sandbox.faults.on(Operation.CHARGE, Fault.delay(timedelta(seconds=30)))
    with pytest.raises(OutcomeUnknown):
        sandbox.charge(amount=usd("10.00"), source="tok_visa", idempotency_key="k")
    with pytest.raises(GatewayIdempotencyConflict):
        sandbox.charge(amount=usd("11.00"), source="tok_visa", idempotency_key="k")


def test_reads_never_report_an_unknown_outcome(sandbox: SandboxGateway) -> None:
    for fault in (Fault.lose_response(), Fault.delay(timedelta(seconds=1))):
        sandbox.faults.on(Operation.FIND_CHARGE, fault)
        with pytest.raises(GatewayUnavailable):
            sandbox.find_charge("k")


def test_a_replay_shows_the_object_as_it_is_now(sandbox: SandboxGateway) -> None:
    charge = sandbox.charge(amount=usd("10.00"), source="tok_visa", idempotency_key="k")
    sandbox.refund(charge.id, idempotency_key="r", amount=usd("4.00"))
    replay = sandbox.charge(amount=usd("10.00"), source="tok_visa", idempotency_key="k")
    assert replay.refunded == usd("4.00")


def test_declines_keep_the_sandbox_raw_codes(sandbox: SandboxGateway) -> None:
    charge = sandbox.charge(
        amount=usd("10.00"), source="tok_decline_insufficient_funds", idempotency_key="k"
    )
    assert charge.decline is not None
    assert (charge.decline.code, charge.decline.raw_code) == ("insufficient_funds", "51")
    assert set(RAW_DECLINE_CODES.values()) >= {"05", "51", "R02", "R03"}
    assert "tok_decline_invalid_bank_account" not in CARD_TOKENS


def test_unknown_tokens_are_refused_without_echo(sandbox: SandboxGateway) -> None:
    with pytest.raises(InvalidPaymentRequest) as info:
        sandbox.charge(amount=usd("1.00"), source="tok_4242424242424242", idempotency_key="k")
    assert info.value.field == "source"
    assert "4242" not in str(info.value)
    with pytest.raises(InvalidPaymentRequest) as info:
        sandbox.onboard_payee(
            reference="r", currency="USD", bank_token="DE89370400440532013000", idempotency_key="p"
        )
    assert info.value.field == "bank_token"
    assert "DE89" not in str(info.value)


def test_the_bank_token_is_not_kept(sandbox: SandboxGateway) -> None:
    token = "bank_ok"
    payee = sandbox.onboard_payee(
        reference="r", currency="USD", bank_token=token, idempotency_key="p"
    )
    kept = repr(vars(sandbox)) + repr(vars(sandbox._desk)) + repr(payee)
    assert token not in kept


def test_requires_action_can_only_be_completed_once(sandbox: SandboxGateway) -> None:
    charge = sandbox.charge(amount=usd("1.00"), source="tok_requires_action", idempotency_key="k")
    assert sandbox.cancel(charge.id, idempotency_key="c").status is ChargeStatus.CANCELLED
    with pytest.raises(ValidationError):
        sandbox.complete_action(charge.id)


def test_webhook_faults(sandbox: SandboxGateway, clock: ManualClock) -> None:
    sandbox.faults.on_webhook(Fault.delay(timedelta(minutes=30)), Fault.tamper())
    first = sandbox.charge(amount=usd("1.00"), source="tok_visa", idempotency_key="a")  # late
    second = sandbox.charge(amount=usd("2.00"), source="tok_visa", idempotency_key="b")  # tampered
    deliveries = sandbox.deliver_webhooks()
    assert len(deliveries) == 1
    with pytest.raises(WebhookVerificationFailed):
        sandbox.parse_webhook(deliveries[0].payload, deliveries[0].headers)
    assert b'"tampered":true' in deliveries[0].payload
    clock.advance(timedelta(minutes=30))
    late = sandbox.deliver_webhooks()
    event = sandbox.parse_webhook(late[0].payload, late[0].headers)  # signed at delivery: valid
    assert (event.object_id, event.created_at) == (first.id, T0)
    assert second.id != first.id


def test_an_event_held_out_of_order_with_no_successor_comes_last(sandbox: SandboxGateway) -> None:
    sandbox.faults.on_webhook(Fault.out_of_order())
    charge = sandbox.charge(amount=usd("1.00"), source="tok_visa", idempotency_key="a")
    assert events(sandbox) == [(EventType.CHARGE_CAPTURED, charge.id)]


def test_a_sandbox_without_webhooks_sends_none(clock: ManualClock) -> None:
    quiet = SandboxGateway(
        api_key=API_KEY,
        webhook_secret=WEBHOOK_SECRET,
        clock=clock,
        capabilities=Capabilities(currencies={"USD"}),
    )
    quiet.charge(amount=usd("1.00"), source="tok_visa", idempotency_key="a")
    assert quiet.deliver_webhooks() == []
    with pytest.raises(UnsupportedOperation):
        quiet.onboard_payee(
            reference="r", currency="USD", bank_token="bank_ok", idempotency_key="p"
        )


def test_a_wrong_api_key_is_refused_without_showing_it(clock: ManualClock) -> None:
    with pytest.raises(GatewayMisconfigured) as info:
        SandboxGateway(api_key="sk_live_realkey123", webhook_secret=WEBHOOK_SECRET, clock=clock)
    assert "realkey123" not in str(info.value) + repr(info.value)
    assert info.value.operation == "configure"


def test_amounts_must_be_amounts(sandbox: SandboxGateway) -> None:
    with pytest.raises(InvalidPaymentRequest):
        sandbox.charge(amount=10.0, source="tok_visa", idempotency_key="k")  # type: ignore[arg-type]
    held = sandbox.charge(amount=usd("1.00"), source="tok_visa", idempotency_key="h", capture=False)
    with pytest.raises(InvalidPaymentRequest) as info:
        sandbox.capture(held.id, idempotency_key="c", amount=Amount.of("1", "EUR"))
    assert info.value.field == "amount"


def test_the_sandbox_defaults_to_the_system_clock() -> None:
    gateway = SandboxGateway(api_key=API_KEY, webhook_secret=WEBHOOK_SECRET)
    assert "SystemClock" in repr(gateway)
    assert gateway.charge(amount=usd("1.00"), source="tok_visa", idempotency_key="k").captured.units
