"""The conformance suite of the collection protocol (charge, capture, cancel, refund)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import pytest

from gigmarket.clock import ManualClock
from gigmarket.errors import (
    GatewayIdempotencyConflict,
    GatewayMisconfigured,
    GatewayUnavailable,
    IdempotencyConflict,
    InvalidPaymentRequest,
    OutcomeUnknown,
    PaymentError,
    PaymentNotFound,
    RateLimited,
    UnsupportedOperation,
    WebhookVerificationFailed,
)
from gigmarket.gateways.faults import Fault
from gigmarket.gateways.protocols import Capability, CollectionGateway, Operation
from gigmarket.gateways.results import CARD_DECLINE_CODES, Charge, ChargeStatus, DeclineCode
from gigmarket.gateways.webhooks import EventType, WebhookEvent
from gigmarket.money import Amount
from gigmarket.testing.gateways._base import GatewayKit
from gigmarket.testing.gateways.driver import CardBehaviour, SandboxDriver

__all__ = ["CollectionConformance"]

Keys = Iterator[str]
CARD_CODES = sorted(CARD_DECLINE_CODES)


class CollectionConformance(GatewayKit):
    """Every behaviour of a :class:`~gigmarket.gateways.protocols.CollectionGateway`.

    Subclass it, implement :meth:`make_gateway` and :meth:`make_driver`, and
    list your credentials in ``secrets``. Tests of a capability your adapter
    does not declare skip and say so; the refusal of that capability is
    tested instead.
    """

    # -- shared steps -------------------------------------------------------

    def charged(self, gateway: Any, driver: SandboxDriver, keys: Keys, **kwargs: Any) -> Charge:
        """A successful charge of 25.00 (2,500 minor units)."""
        charge: Charge = gateway.charge(
            amount=self.money(gateway, 2500),
            source=self.card(driver, CardBehaviour.SUCCEED),
            idempotency_key=next(keys),
            **kwargs,
        )
        return charge

    def authorized(self, gateway: Any, driver: SandboxDriver, keys: Keys) -> Charge:
        """An authorized, uncaptured charge of 25.00; skips the test unless the
        gateway declares ``manual_capture``."""
        self.need(gateway, Capability.MANUAL_CAPTURE)
        charge = self.charged(gateway, driver, keys, capture=False)
        assert charge.status is ChargeStatus.AUTHORIZED
        return charge

    # -- the protocol and its declaration -----------------------------------

    def test_implements_the_protocol(self, gateway: Any) -> None:
        assert isinstance(gateway, CollectionGateway)
        assert isinstance(gateway.name, str)
        assert gateway.name

    def test_declares_its_currencies(self, gateway: Any) -> None:
        currencies = gateway.capabilities.currencies
        assert currencies
        assert all(Amount.zero(code).currency == code for code in currencies)

    # -- charge -------------------------------------------------------------

    def test_charge_with_automatic_capture(
        self, gateway: Any, driver: SandboxDriver, keys: Keys
    ) -> None:
        key = next(keys)
        charge = gateway.charge(
            amount=self.money(gateway, 2500),
            source=self.card(driver, CardBehaviour.SUCCEED),
            idempotency_key=key,
            description="order 1001",
        )
        assert charge.status is ChargeStatus.CAPTURED
        assert charge.amount == charge.captured == self.money(gateway, 2500)
        assert charge.refunded == self.money(gateway, 0)
        assert charge.idempotency_key == key
        assert charge.decline is None
        assert charge.gateway == gateway.name
        assert gateway.get_charge(charge.id) == charge

    @pytest.mark.parametrize("code", CARD_CODES, ids=[c.value for c in CARD_CODES])
    def test_a_decline_is_a_result(
        self, gateway: Any, driver: SandboxDriver, keys: Keys, code: DeclineCode
    ) -> None:
        charge = gateway.charge(
            amount=self.money(gateway, 2500),
            source=self.card(driver, CardBehaviour.DECLINE, code),
            idempotency_key=next(keys),
        )
        assert charge.status is ChargeStatus.FAILED
        assert charge.decline is not None
        assert charge.decline.code is code
        assert charge.decline.raw_code  # the provider's own code is kept
        assert charge.captured == self.money(gateway, 0)

    @pytest.mark.parametrize("succeed", [True, False], ids=["passes", "fails"])
    def test_charge_that_requires_action(
        self, gateway: Any, driver: SandboxDriver, keys: Keys, succeed: bool
    ) -> None:
        charge = gateway.charge(
            amount=self.money(gateway, 2500),
            source=self.card(driver, CardBehaviour.REQUIRE_ACTION),
            idempotency_key=next(keys),
        )
        assert charge.status is ChargeStatus.REQUIRES_ACTION
        assert charge.action_url
        if not driver.complete_action(charge.id, succeed=succeed):
            pytest.skip("the driver cannot play the buyer of a requires_action charge")
        done = gateway.get_charge(charge.id)
        if succeed:
            assert done.status is ChargeStatus.CAPTURED
        else:
            assert done.status is ChargeStatus.FAILED
            assert done.decline is not None
            assert done.decline.code is DeclineCode.AUTHENTICATION_FAILED

    @pytest.mark.parametrize("succeed", [True, False], ids=["settles", "fails"])
    def test_pending_then_settled(
        self, gateway: Any, driver: SandboxDriver, keys: Keys, succeed: bool
    ) -> None:
        behaviour = CardBehaviour.PEND_THEN_SUCCEED if succeed else CardBehaviour.PEND_THEN_DECLINE
        charge = gateway.charge(
            amount=self.money(gateway, 2500),
            source=self.card(driver, behaviour),
            idempotency_key=next(keys),
        )
        assert charge.status is ChargeStatus.PENDING
        assert gateway.get_charge(charge.id).status is ChargeStatus.PENDING
        driver.settle_pending()
        settled = gateway.get_charge(charge.id)
        assert settled.status is (ChargeStatus.CAPTURED if succeed else ChargeStatus.FAILED)
        assert (settled.decline is None) is succeed

    @pytest.mark.parametrize("units", [0, -100])
    def test_a_non_positive_amount_is_invalid(
        self, gateway: Any, driver: SandboxDriver, keys: Keys, units: int
    ) -> None:
        with pytest.raises(InvalidPaymentRequest) as info:
            gateway.charge(
                amount=self.money(gateway, units),
                source=self.card(driver, CardBehaviour.SUCCEED),
                idempotency_key=next(keys),
            )
        assert isinstance(info.value, ValueError)

    def test_an_undeclared_currency_is_unsupported(
        self, gateway: Any, driver: SandboxDriver, keys: Keys
    ) -> None:
        candidates = ("XAF", "CLF", "ISK", "UYU", "USD", "EUR")
        other = next((c for c in candidates if c not in gateway.capabilities.currencies), None)
        if other is None:
            pytest.skip(f"{gateway.name} takes every currency this test would try")
        with pytest.raises(UnsupportedOperation) as info:
            gateway.charge(
                amount=Amount(units=2500, currency=other),
                source=self.card(driver, CardBehaviour.SUCCEED),
                idempotency_key=next(keys),
            )
        assert info.value.capability == "currencies"

    def test_an_empty_idempotency_key_is_invalid(self, gateway: Any, driver: SandboxDriver) -> None:
        with pytest.raises(InvalidPaymentRequest):
            gateway.charge(
                amount=self.money(gateway, 2500),
                source=self.card(driver, CardBehaviour.SUCCEED),
                idempotency_key="",
            )

    def test_unknown_charges_are_not_found(self, gateway: Any, keys: Keys) -> None:
        with pytest.raises(PaymentNotFound) as info:
            gateway.get_charge("ch_does_not_exist")
        assert isinstance(info.value, LookupError)
        assert gateway.find_charge(next(keys)) is None

    # -- capture and cancel -------------------------------------------------

    def test_manual_capture(self, gateway: Any, driver: SandboxDriver, keys: Keys) -> None:
        charge = self.authorized(gateway, driver, keys)
        assert charge.captured == self.money(gateway, 0)
        assert charge.capturable == charge.amount
        captured = gateway.capture(charge.id, idempotency_key=next(keys))
        assert captured.status is ChargeStatus.CAPTURED
        assert captured.captured == charge.amount
        assert captured.id == charge.id

    def test_manual_capture_is_refused_when_undeclared(
        self, gateway: Any, driver: SandboxDriver, keys: Keys
    ) -> None:
        self.lack(gateway, Capability.MANUAL_CAPTURE)
        with pytest.raises(UnsupportedOperation) as info:
            self.charged(gateway, driver, keys, capture=False)
        assert info.value.capability == Capability.MANUAL_CAPTURE.value

    def test_partial_capture(self, gateway: Any, driver: SandboxDriver, keys: Keys) -> None:
        self.need(gateway, Capability.PARTIAL_CAPTURE)
        charge = self.authorized(gateway, driver, keys)
        part = self.money(gateway, 1999)
        captured = gateway.capture(charge.id, idempotency_key=next(keys), amount=part)
        assert captured.status is ChargeStatus.CAPTURED
        assert captured.captured == part
        assert captured.amount == charge.amount  # what was authorized stays on record
        assert captured.refundable == part

    def test_partial_capture_is_refused_when_undeclared(
        self, gateway: Any, driver: SandboxDriver, keys: Keys
    ) -> None:
        self.lack(gateway, Capability.PARTIAL_CAPTURE)
        charge = self.authorized(gateway, driver, keys)
        with pytest.raises(UnsupportedOperation) as info:
            gateway.capture(charge.id, idempotency_key=next(keys), amount=self.money(gateway, 1))
        assert info.value.capability == Capability.PARTIAL_CAPTURE.value
        assert gateway.get_charge(charge.id).status is ChargeStatus.AUTHORIZED

    def test_capturing_more_than_authorized_is_invalid(
        self, gateway: Any, driver: SandboxDriver, keys: Keys
    ) -> None:
        charge = self.authorized(gateway, driver, keys)
        too_much = self.money(gateway, 2501)
        with pytest.raises(InvalidPaymentRequest):
            gateway.capture(charge.id, idempotency_key=next(keys), amount=too_much)
        assert gateway.get_charge(charge.id).status is ChargeStatus.AUTHORIZED

    def test_capturing_twice_is_invalid(
        self, gateway: Any, driver: SandboxDriver, keys: Keys
    ) -> None:
        charge = self.authorized(gateway, driver, keys)
        gateway.capture(charge.id, idempotency_key=next(keys))
        with pytest.raises(InvalidPaymentRequest):
            gateway.capture(charge.id, idempotency_key=next(keys))
        assert gateway.get_charge(charge.id).captured == charge.amount

    def test_capturing_an_unknown_charge(self, gateway: Any, keys: Keys) -> None:
        with pytest.raises(PaymentNotFound):
            gateway.capture("ch_does_not_exist", idempotency_key=next(keys))

    def test_cancel_releases_an_authorization(
        self, gateway: Any, driver: SandboxDriver, keys: Keys
    ) -> None:
        charge = self.authorized(gateway, driver, keys)
        cancelled = gateway.cancel(charge.id, idempotency_key=next(keys))
        assert cancelled.status is ChargeStatus.CANCELLED
        assert cancelled.captured == self.money(gateway, 0)
        with pytest.raises(InvalidPaymentRequest):
            gateway.capture(charge.id, idempotency_key=next(keys))

    def test_a_captured_charge_cannot_be_cancelled(
        self, gateway: Any, driver: SandboxDriver, keys: Keys
    ) -> None:
        charge = self.charged(gateway, driver, keys)
        with pytest.raises(InvalidPaymentRequest):
            gateway.cancel(charge.id, idempotency_key=next(keys))
        assert gateway.get_charge(charge.id).status is ChargeStatus.CAPTURED

    # -- refunds ------------------------------------------------------------

    def test_full_refund(self, gateway: Any, driver: SandboxDriver, keys: Keys) -> None:
        charge = self.charged(gateway, driver, keys)
        key = next(keys)
        refund = gateway.refund(charge.id, idempotency_key=key, reason="buyer cancelled")
        assert refund.amount == charge.captured
        assert refund.charge_id == charge.id
        assert refund.idempotency_key == key
        after = gateway.get_charge(charge.id)
        assert after.refunded == charge.captured
        assert after.refundable == self.money(gateway, 0)
        assert after.refund_for(key) == refund

    def test_several_partial_refunds_add_up(
        self, gateway: Any, driver: SandboxDriver, keys: Keys
    ) -> None:
        self.need(gateway, Capability.PARTIAL_REFUND)
        charge = self.charged(gateway, driver, keys)
        parts = [self.money(gateway, units) for units in (1000, 333, 1)]
        for part in parts:
            assert gateway.refund(charge.id, idempotency_key=next(keys), amount=part).amount == part
        rest = gateway.refund(charge.id, idempotency_key=next(keys))  # all that is left
        assert rest.amount == self.money(gateway, 2500 - 1334)
        after = gateway.get_charge(charge.id)
        assert after.refunded == charge.captured
        assert len(after.refunds) == 4
        with pytest.raises(InvalidPaymentRequest):
            gateway.refund(charge.id, idempotency_key=next(keys), amount=self.money(gateway, 1))

    def test_partial_refund_is_refused_when_undeclared(
        self, gateway: Any, driver: SandboxDriver, keys: Keys
    ) -> None:
        self.lack(gateway, Capability.PARTIAL_REFUND)
        charge = self.charged(gateway, driver, keys)
        with pytest.raises(UnsupportedOperation) as info:
            gateway.refund(charge.id, idempotency_key=next(keys), amount=self.money(gateway, 1))
        assert info.value.capability == Capability.PARTIAL_REFUND.value
        assert gateway.get_charge(charge.id).refunded == self.money(gateway, 0)

    def test_refunding_more_than_captured_is_invalid(
        self, gateway: Any, driver: SandboxDriver, keys: Keys
    ) -> None:
        charge = self.charged(gateway, driver, keys)
        with pytest.raises(InvalidPaymentRequest):
            gateway.refund(charge.id, idempotency_key=next(keys), amount=self.money(gateway, 2501))
        assert gateway.get_charge(charge.id).refunds == ()

    def test_refunding_an_uncaptured_charge_is_invalid(
        self, gateway: Any, driver: SandboxDriver, keys: Keys
    ) -> None:
        charge = self.authorized(gateway, driver, keys)
        with pytest.raises(InvalidPaymentRequest):
            gateway.refund(charge.id, idempotency_key=next(keys))

    def test_refunding_a_declined_charge_is_invalid(
        self, gateway: Any, driver: SandboxDriver, keys: Keys
    ) -> None:
        charge = gateway.charge(
            amount=self.money(gateway, 2500),
            source=self.card(driver, CardBehaviour.DECLINE, DeclineCode.CARD_DECLINED),
            idempotency_key=next(keys),
        )
        with pytest.raises(InvalidPaymentRequest):
            gateway.refund(charge.id, idempotency_key=next(keys))

    # -- idempotency --------------------------------------------------------

    def test_a_replayed_key_returns_the_same_charge(
        self, gateway: Any, driver: SandboxDriver, keys: Keys
    ) -> None:
        key, amount = next(keys), self.money(gateway, 2500)
        source = self.card(driver, CardBehaviour.SUCCEED)
        first = gateway.charge(amount=amount, source=source, idempotency_key=key)
        second = gateway.charge(amount=amount, source=source, idempotency_key=key)
        assert second.id == first.id
        assert gateway.find_charge(key).id == first.id

    def test_two_concurrent_calls_with_one_key_make_one_charge(
        self, gateway: Any, driver: SandboxDriver, keys: Keys
    ) -> None:
        key, amount = next(keys), self.money(gateway, 2500)
        source = self.card(driver, CardBehaviour.SUCCEED)
        threads = 8
        barrier = threading.Barrier(threads)
        outcomes: list[Charge | BaseException] = []
        lock = threading.Lock()

        def call() -> None:
            barrier.wait()
            try:
                result: Charge | BaseException = gateway.charge(
                    amount=amount, source=source, idempotency_key=key
                )
            except Exception as error:  # collected and checked below
                result = error
            with lock:
                outcomes.append(result)

        workers = [threading.Thread(target=call) for _ in range(threads)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join(timeout=30)
        charges = [o for o in outcomes if isinstance(o, Charge)]
        errors = [o for o in outcomes if not isinstance(o, Charge)]
        # A gateway may refuse a request while its twin is in flight, but only
        # as "surely not processed": never a conflict, never an unknown outcome.
        assert all(isinstance(e, GatewayUnavailable) for e in errors), errors
        assert len(outcomes) == threads
        made = gateway.find_charge(key)
        assert made is not None
        assert {c.id for c in charges} <= {made.id}
        assert gateway.charge(amount=amount, source=source, idempotency_key=key).id == made.id

    def test_a_key_reused_with_other_parameters_conflicts(
        self, gateway: Any, driver: SandboxDriver, keys: Keys
    ) -> None:
        key, source = next(keys), self.card(driver, CardBehaviour.SUCCEED)
        first = gateway.charge(amount=self.money(gateway, 2500), source=source, idempotency_key=key)
        with pytest.raises(GatewayIdempotencyConflict) as info:
            gateway.charge(amount=self.money(gateway, 2600), source=source, idempotency_key=key)
        assert isinstance(info.value, IdempotencyConflict)
        assert info.value.idempotency_key == key
        assert not info.value.should_retry
        assert gateway.find_charge(key) == gateway.get_charge(first.id)

    def test_a_key_reused_for_another_operation_conflicts(
        self, gateway: Any, driver: SandboxDriver, keys: Keys
    ) -> None:
        charge = self.charged(gateway, driver, keys)
        with pytest.raises(GatewayIdempotencyConflict):
            gateway.refund(charge.id, idempotency_key=charge.idempotency_key)

    def test_refunds_replay_and_conflict(
        self, gateway: Any, driver: SandboxDriver, keys: Keys
    ) -> None:
        charge = self.charged(gateway, driver, keys)
        key = next(keys)
        first = gateway.refund(charge.id, idempotency_key=key)
        assert gateway.refund(charge.id, idempotency_key=key).id == first.id
        assert gateway.get_charge(charge.id).refunded == charge.captured  # once
        with pytest.raises(GatewayIdempotencyConflict):
            gateway.refund(charge.id, idempotency_key=key, amount=self.money(gateway, 1))

    # -- failures and reconciliation -----------------------------------------

    def test_unavailable_means_nothing_happened(
        self, gateway: Any, driver: SandboxDriver, keys: Keys
    ) -> None:
        key, amount = next(keys), self.money(gateway, 2500)
        source = self.card(driver, CardBehaviour.SUCCEED)
        self.arm(driver, Operation.CHARGE, Fault.unavailable())
        with pytest.raises(GatewayUnavailable) as info:
            gateway.charge(amount=amount, source=source, idempotency_key=key)
        assert info.value.should_retry
        assert info.value.operation == Operation.CHARGE
        assert gateway.find_charge(key) is None
        charge = gateway.charge(amount=amount, source=source, idempotency_key=key)
        assert charge.status is ChargeStatus.CAPTURED

    def test_rate_limited_means_nothing_happened(
        self, gateway: Any, driver: SandboxDriver, keys: Keys
    ) -> None:
        key = next(keys)
        self.arm(driver, Operation.CHARGE, Fault.rate_limit())
        with pytest.raises(RateLimited) as info:
            self.charged(gateway, driver, iter([key]))
        assert isinstance(info.value, GatewayUnavailable)
        assert info.value.should_retry
        assert gateway.find_charge(key) is None

    def test_a_lost_response_is_reconciled_by_a_status_query(
        self, gateway: Any, driver: SandboxDriver, keys: Keys
    ) -> None:
        key, amount = next(keys), self.money(gateway, 2500)
        source = self.card(driver, CardBehaviour.SUCCEED)
        self.arm(driver, Operation.CHARGE, Fault.lose_response())
        with pytest.raises(OutcomeUnknown) as info:
            gateway.charge(amount=amount, source=source, idempotency_key=key)
        assert not info.value.should_retry
        assert info.value.idempotency_key == key
        found = gateway.find_charge(key)  # reconcile first
        assert found is not None
        assert found.status is ChargeStatus.CAPTURED
        assert found.captured == amount
        retried = gateway.charge(amount=amount, source=source, idempotency_key=key)
        assert retried.id == found.id  # the same key never charges twice

    def test_a_timeout_is_reconciled_once_the_request_lands(
        self, gateway: Any, driver: SandboxDriver, keys: Keys
    ) -> None:
        key, amount = next(keys), self.money(gateway, 2500)
        source = self.card(driver, CardBehaviour.SUCCEED)
        self.arm(driver, Operation.CHARGE, Fault.delay(timedelta(seconds=30)))
        with pytest.raises(OutcomeUnknown):
            gateway.charge(amount=amount, source=source, idempotency_key=key)
        early = gateway.find_charge(key)  # "not found" is no proof yet
        retried = gateway.charge(amount=amount, source=source, idempotency_key=key)
        assert early is None or early.id == retried.id
        driver.settle_pending()  # the held first attempt lands now, if it ever does
        assert gateway.find_charge(key).id == retried.id

    def test_a_lost_capture_is_reconciled(
        self, gateway: Any, driver: SandboxDriver, keys: Keys
    ) -> None:
        charge = self.authorized(gateway, driver, keys)
        key = next(keys)
        self.arm(driver, Operation.CAPTURE, Fault.lose_response())
        with pytest.raises(OutcomeUnknown):
            gateway.capture(charge.id, idempotency_key=key)
        assert gateway.get_charge(charge.id).status is ChargeStatus.CAPTURED
        again = gateway.capture(charge.id, idempotency_key=key)  # a replay, not a second capture
        assert again.captured == charge.amount

    def test_a_lost_refund_is_reconciled(
        self, gateway: Any, driver: SandboxDriver, keys: Keys
    ) -> None:
        charge = self.charged(gateway, driver, keys)
        key = next(keys)
        self.arm(driver, Operation.REFUND, Fault.lose_response())
        with pytest.raises(OutcomeUnknown):
            gateway.refund(charge.id, idempotency_key=key)
        refund = gateway.get_charge(charge.id).refund_for(key)
        assert refund is not None
        assert gateway.refund(charge.id, idempotency_key=key).id == refund.id
        assert gateway.get_charge(charge.id).refunded == charge.captured

    def test_a_failed_status_query(self, gateway: Any, driver: SandboxDriver, keys: Keys) -> None:
        charge = self.charged(gateway, driver, keys)
        self.arm(driver, Operation.GET_CHARGE, Fault.unavailable())
        with pytest.raises(GatewayUnavailable):
            gateway.get_charge(charge.id)
        assert gateway.get_charge(charge.id) == charge

    def test_misconfiguration_is_reported(self, clock: ManualClock) -> None:
        def use() -> None:  # refused when built, or at the first call, as real gateways do
            self.make_misconfigured_gateway(clock).get_charge("ch_any")

        with pytest.raises(GatewayMisconfigured) as info:
            use()
        assert not info.value.should_retry
        self.assert_no_secret(self.secrets, errors=[info.value])

    # -- webhooks -----------------------------------------------------------

    def events(self, gateway: Any, driver: SandboxDriver) -> list[WebhookEvent]:
        """The webhooks delivered since the last call, each verified and read by the
        gateway's ``parse_webhook``."""
        return [gateway.parse_webhook(d.payload, d.headers) for d in driver.webhooks()]

    def test_webhooks_announce_changes(
        self, gateway: Any, driver: SandboxDriver, keys: Keys
    ) -> None:
        self.need(gateway, Capability.WEBHOOKS)
        charge = self.charged(gateway, driver, keys)
        gateway.refund(charge.id, idempotency_key=next(keys))
        events = self.events(gateway, driver)
        assert len({event.id for event in events}) == len(events)
        mine = [event for event in events if event.object_id == charge.id]
        types = [event.type for event in mine]
        assert EventType.CHARGE_CAPTURED in types
        assert EventType.CHARGE_REFUNDED in types
        assert all(event.gateway == gateway.name for event in mine)
        assert all(event.created_at.utcoffset() is not None for event in mine)
        assert self.events(gateway, driver) == []  # delivered once

    def test_a_tampered_webhook_is_refused(
        self, gateway: Any, driver: SandboxDriver, keys: Keys
    ) -> None:
        self.need(gateway, Capability.WEBHOOKS)
        charge = self.charged(gateway, driver, keys)
        delivery = driver.webhooks()[0]
        forged = delivery.payload.replace(charge.id.encode(), b"ch_forged", 1)
        if forged == delivery.payload:
            forged = delivery.payload + b" "
        with pytest.raises(WebhookVerificationFailed) as info:
            gateway.parse_webhook(forged, delivery.headers)
        assert info.value.reason == "signature_mismatch"

    def test_an_unsigned_webhook_is_refused(
        self, gateway: Any, driver: SandboxDriver, keys: Keys
    ) -> None:
        self.need(gateway, Capability.WEBHOOKS)
        self.charged(gateway, driver, keys)
        delivery = driver.webhooks()[0]
        with pytest.raises(WebhookVerificationFailed) as info:
            gateway.parse_webhook(delivery.payload, {})
        assert info.value.reason == "missing_signature"

    def test_a_stale_webhook_is_refused(
        self, gateway: Any, driver: SandboxDriver, keys: Keys, clock: ManualClock
    ) -> None:
        self.need(gateway, Capability.WEBHOOKS)
        self.charged(gateway, driver, keys)
        delivery = driver.webhooks()[0]
        clock.advance(self.stale_after)  # a replay of a captured request, much later
        with pytest.raises(WebhookVerificationFailed) as info:
            gateway.parse_webhook(delivery.payload, delivery.headers)
        assert info.value.reason == "stale_timestamp"

    def test_a_duplicated_webhook_is_the_same_event(
        self, gateway: Any, driver: SandboxDriver, keys: Keys
    ) -> None:
        self.need(gateway, Capability.WEBHOOKS)
        self.arm_webhook(driver, Fault.duplicate())
        self.charged(gateway, driver, keys)
        events = self.events(gateway, driver)
        assert len(events) == 2
        assert events[0] == events[1]  # the same id: the core keeps one
        assert len(set(events)) == 1

    def test_out_of_order_webhooks_carry_their_own_time(
        self, gateway: Any, driver: SandboxDriver, keys: Keys, clock: ManualClock
    ) -> None:
        self.need(gateway, Capability.WEBHOOKS)
        charge = self.authorized(gateway, driver, keys)
        self.events(gateway, driver)
        self.arm_webhook(driver, Fault.out_of_order())
        clock.advance(timedelta(seconds=1))
        gateway.cancel(charge.id, idempotency_key=next(keys))  # held back...
        clock.advance(timedelta(seconds=1))
        other = self.charged(gateway, driver, keys)  # ...behind this one
        events = self.events(gateway, driver)
        assert [e.object_id for e in events] == [other.id, charge.id]
        assert events[1].created_at < events[0].created_at  # the core orders by this, or re-reads

    # -- secrets ------------------------------------------------------------

    def test_no_secret_in_reprs_errors_or_logs(
        self,
        gateway: Any,
        driver: SandboxDriver,
        keys: Keys,
        caplog: pytest.LogCaptureFixture,
    ) -> None:
        caplog.set_level(logging.DEBUG)
        errors: list[BaseException] = []
        charge = self.charged(gateway, driver, keys)
        attempts: list[Callable[[], object]] = [
            lambda: gateway.get_charge("ch_does_not_exist"),
            lambda: gateway.refund(charge.id, idempotency_key=charge.idempotency_key),
            lambda: gateway.refund(
                charge.id, idempotency_key=next(keys), amount=self.money(gateway, 9999)
            ),
            lambda: gateway.parse_webhook(b'{"id": "evt_forged"}', {}),
        ]
        for operation, fault in [
            (Operation.CHARGE, Fault.unavailable()),
            (Operation.CHARGE, Fault.lose_response()),
        ]:
            if driver.fail_next(operation, fault):
                attempts.append(lambda: self.charged(gateway, driver, keys))
        for attempt in attempts:
            try:
                attempt()
            except PaymentError as error:
                errors.append(error)
        assert len(errors) == len(attempts)
        texts = [repr(gateway), str(gateway), repr(charge), repr(driver)]
        self.assert_no_secret(self.secrets, texts=texts, errors=errors, records=caplog.records)
