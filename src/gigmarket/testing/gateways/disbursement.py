"""The conformance suite of the disbursement protocol (payees and payouts)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from gigmarket.errors import (
    GatewayIdempotencyConflict,
    GatewayUnavailable,
    InvalidPaymentRequest,
    OutcomeUnknown,
    PaymentError,
    PaymentNotFound,
    UnsupportedOperation,
)
from gigmarket.gateways.faults import Fault
from gigmarket.gateways.protocols import Capability, DisbursementGateway, Operation
from gigmarket.gateways.results import DeclineCode, Payee, PayeeStatus, Payout, PayoutStatus
from gigmarket.gateways.webhooks import EventType
from gigmarket.testing.gateways._base import GatewayKit
from gigmarket.testing.gateways.driver import BankBehaviour, SandboxDriver

__all__ = ["DisbursementConformance"]

Keys = Iterator[str]


class DisbursementConformance(GatewayKit):
    """Every behaviour of a :class:`~gigmarket.gateways.protocols.DisbursementGateway`.

    Subclass it like :class:`~gigmarket.testing.gateways.CollectionConformance`
    (the same hooks); an adapter implementing both protocols subclasses both.
    """

    def payee(
        self,
        gateway: Any,
        driver: SandboxDriver,
        keys: Keys,
        behaviour: BankBehaviour = BankBehaviour.PAYS,
    ) -> Payee:
        """A payee onboarded in the test currency with a bank token that behaves as
        ``behaviour`` (paid, by default)."""
        payee: Payee = gateway.onboard_payee(
            reference="seller-nadia",
            currency=self.currency(gateway),
            bank_token=self.bank(driver, behaviour),
            idempotency_key=next(keys),
        )
        return payee

    def paid_out(
        self, gateway: Any, driver: SandboxDriver, keys: Keys, units: int = 4000
    ) -> Payout:
        """A payout of ``units`` minor units to a fresh, active payee, as the
        gateway returns it (usually still pending)."""
        payee = self.payee(gateway, driver, keys)
        payout: Payout = gateway.payout(
            payee_id=payee.id, amount=self.money(gateway, units), idempotency_key=next(keys)
        )
        return payout

    # -- the protocol -------------------------------------------------------

    def test_implements_the_protocol(self, gateway: Any) -> None:
        assert isinstance(gateway, DisbursementGateway)
        assert gateway.capabilities.payouts

    # -- payees -------------------------------------------------------------

    def test_onboarding_keeps_only_the_gateways_handle(
        self, gateway: Any, driver: SandboxDriver, keys: Keys
    ) -> None:
        key = next(keys)
        token = self.bank(driver, BankBehaviour.PAYS)
        payee = gateway.onboard_payee(
            reference="seller-nadia",
            currency=self.currency(gateway),
            bank_token=token,
            idempotency_key=key,
        )
        assert payee.status is PayeeStatus.ACTIVE
        assert payee.reference == "seller-nadia"
        assert payee.idempotency_key == key
        assert token not in repr(payee)
        assert gateway.get_payee(payee.id) == payee
        assert gateway.find_payee(key) == payee

    def test_a_rejected_bank_account_is_a_result(
        self, gateway: Any, driver: SandboxDriver, keys: Keys
    ) -> None:
        payee = self.payee(gateway, driver, keys, BankBehaviour.REJECTED)
        assert payee.status is PayeeStatus.REJECTED
        assert payee.decline is not None
        assert payee.decline.code is DeclineCode.INVALID_BANK_ACCOUNT
        assert payee.decline.raw_code
        with pytest.raises(InvalidPaymentRequest):
            gateway.payout(
                payee_id=payee.id, amount=self.money(gateway, 100), idempotency_key=next(keys)
            )

    def test_onboarding_replays_and_conflicts(
        self, gateway: Any, driver: SandboxDriver, keys: Keys
    ) -> None:
        key = next(keys)
        token = self.bank(driver, BankBehaviour.PAYS)
        currency = self.currency(gateway)
        first = gateway.onboard_payee(
            reference="r", currency=currency, bank_token=token, idempotency_key=key
        )
        again = gateway.onboard_payee(
            reference="r", currency=currency, bank_token=token, idempotency_key=key
        )
        assert again.id == first.id
        other = self.bank(driver, BankBehaviour.FAILS_IN_TRANSIT)
        with pytest.raises(GatewayIdempotencyConflict):
            gateway.onboard_payee(
                reference="r", currency=currency, bank_token=other, idempotency_key=key
            )

    def test_unknown_payees_and_payouts_are_not_found(self, gateway: Any, keys: Keys) -> None:
        with pytest.raises(PaymentNotFound):
            gateway.get_payee("pe_does_not_exist")
        with pytest.raises(PaymentNotFound):
            gateway.get_payout("po_does_not_exist")
        assert gateway.find_payee(next(keys)) is None
        assert gateway.find_payout(next(keys)) is None

    # -- payouts ------------------------------------------------------------

    def test_the_whole_payout_lifecycle(
        self, gateway: Any, driver: SandboxDriver, keys: Keys
    ) -> None:
        payout = self.paid_out(gateway, driver, keys)
        assert payout.status is PayoutStatus.PENDING
        assert payout.amount == self.money(gateway, 4000)
        driver.settle_pending()
        assert gateway.get_payout(payout.id).status is PayoutStatus.IN_TRANSIT
        driver.settle_pending()
        paid = gateway.get_payout(payout.id)
        assert paid.status is PayoutStatus.PAID
        assert paid.failure is None
        assert gateway.find_payout(payout.idempotency_key) == paid
        if gateway.capabilities.webhooks:
            events = [gateway.parse_webhook(d.payload, d.headers) for d in driver.webhooks()]
            types = [event.type for event in events if event.object_id == payout.id]
            assert types == [
                EventType.PAYOUT_PENDING,
                EventType.PAYOUT_IN_TRANSIT,
                EventType.PAYOUT_PAID,
            ]

    def test_a_payout_the_bank_returns_fails(
        self, gateway: Any, driver: SandboxDriver, keys: Keys
    ) -> None:
        payee = self.payee(gateway, driver, keys, BankBehaviour.FAILS_IN_TRANSIT)
        assert payee.status is PayeeStatus.ACTIVE
        payout = gateway.payout(
            payee_id=payee.id, amount=self.money(gateway, 4000), idempotency_key=next(keys)
        )
        driver.settle_pending()
        driver.settle_pending()
        failed = gateway.get_payout(payout.id)
        assert failed.status is PayoutStatus.FAILED
        assert failed.failure is not None
        assert failed.failure.code is DeclineCode.BANK_ACCOUNT_CLOSED
        assert failed.failure.raw_code

    def test_a_pending_payout_can_be_cancelled(
        self, gateway: Any, driver: SandboxDriver, keys: Keys
    ) -> None:
        self.need(gateway, Capability.PAYOUT_CANCELLATION)
        payout = self.paid_out(gateway, driver, keys)
        cancelled = gateway.cancel_payout(payout.id, idempotency_key=next(keys))
        assert cancelled.status is PayoutStatus.CANCELLED
        driver.settle_pending()
        assert gateway.get_payout(payout.id).status is PayoutStatus.CANCELLED

    def test_a_payout_in_transit_cannot_be_cancelled(
        self, gateway: Any, driver: SandboxDriver, keys: Keys
    ) -> None:
        self.need(gateway, Capability.PAYOUT_CANCELLATION)
        payout = self.paid_out(gateway, driver, keys)
        driver.settle_pending()
        with pytest.raises(InvalidPaymentRequest):
            gateway.cancel_payout(payout.id, idempotency_key=next(keys))

    def test_payout_cancellation_is_refused_when_undeclared(
        self, gateway: Any, driver: SandboxDriver, keys: Keys
    ) -> None:
        self.lack(gateway, Capability.PAYOUT_CANCELLATION)
        payout = self.paid_out(gateway, driver, keys)
        with pytest.raises(UnsupportedOperation):
            gateway.cancel_payout(payout.id, idempotency_key=next(keys))

    def test_invalid_payouts(self, gateway: Any, driver: SandboxDriver, keys: Keys) -> None:
        payee = self.payee(gateway, driver, keys)
        with pytest.raises(InvalidPaymentRequest):
            gateway.payout(
                payee_id=payee.id, amount=self.money(gateway, 0), idempotency_key=next(keys)
            )
        with pytest.raises(PaymentNotFound):
            gateway.payout(
                payee_id="pe_nobody", amount=self.money(gateway, 100), idempotency_key=next(keys)
            )
        others = sorted(gateway.capabilities.currencies - {payee.currency})
        if others:
            from gigmarket.money import Amount  # noqa: PLC0415 -- only this branch needs it

            with pytest.raises(InvalidPaymentRequest):
                gateway.payout(
                    payee_id=payee.id,
                    amount=Amount(units=100, currency=others[0]),
                    idempotency_key=next(keys),
                )

    def test_payouts_replay_and_conflict(
        self, gateway: Any, driver: SandboxDriver, keys: Keys
    ) -> None:
        payee, key = self.payee(gateway, driver, keys), next(keys)
        first = gateway.payout(
            payee_id=payee.id, amount=self.money(gateway, 10), idempotency_key=key
        )
        again = gateway.payout(
            payee_id=payee.id, amount=self.money(gateway, 10), idempotency_key=key
        )
        assert again.id == first.id
        with pytest.raises(GatewayIdempotencyConflict):
            gateway.payout(payee_id=payee.id, amount=self.money(gateway, 11), idempotency_key=key)

    def test_two_concurrent_payouts_with_one_key_pay_once(
        self, gateway: Any, driver: SandboxDriver, keys: Keys
    ) -> None:
        payee, key = self.payee(gateway, driver, keys), next(keys)
        amount = self.money(gateway, 4000)
        barrier, lock = threading.Barrier(8), threading.Lock()
        outcomes: list[Payout | BaseException] = []

        def call() -> None:
            barrier.wait()
            try:
                result: Payout | BaseException = gateway.payout(
                    payee_id=payee.id, amount=amount, idempotency_key=key
                )
            except Exception as error:  # collected and checked below
                result = error
            with lock:
                outcomes.append(result)

        workers = [threading.Thread(target=call) for _ in range(8)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join(timeout=30)
        made = gateway.find_payout(key)
        assert made is not None
        assert len(outcomes) == 8
        for outcome in outcomes:
            assert isinstance(outcome, Payout | GatewayUnavailable), outcome
            assert not isinstance(outcome, Payout) or outcome.id == made.id

    def test_a_lost_payout_response_is_reconciled(
        self, gateway: Any, driver: SandboxDriver, keys: Keys
    ) -> None:
        payee, key = self.payee(gateway, driver, keys), next(keys)
        amount = self.money(gateway, 4000)
        self.arm(driver, Operation.PAYOUT, Fault.lose_response())
        with pytest.raises(OutcomeUnknown) as info:
            gateway.payout(payee_id=payee.id, amount=amount, idempotency_key=key)
        assert info.value.idempotency_key == key
        found = gateway.find_payout(key)
        assert found is not None
        assert found.amount == amount
        assert gateway.payout(payee_id=payee.id, amount=amount, idempotency_key=key).id == found.id

    def test_a_lost_onboarding_response_is_reconciled(
        self, gateway: Any, driver: SandboxDriver, keys: Keys
    ) -> None:
        key = next(keys)
        self.arm(driver, Operation.ONBOARD_PAYEE, Fault.lose_response())
        with pytest.raises(OutcomeUnknown):
            gateway.onboard_payee(
                reference="r",
                currency=self.currency(gateway),
                bank_token=self.bank(driver, BankBehaviour.PAYS),
                idempotency_key=key,
            )
        found = gateway.find_payee(key)
        assert found is not None
        assert found.status is PayeeStatus.ACTIVE

    def test_an_unavailable_payout_did_not_happen(
        self, gateway: Any, driver: SandboxDriver, keys: Keys
    ) -> None:
        payee, key = self.payee(gateway, driver, keys), next(keys)
        self.arm(driver, Operation.PAYOUT, Fault.unavailable())
        with pytest.raises(GatewayUnavailable):
            gateway.payout(payee_id=payee.id, amount=self.money(gateway, 10), idempotency_key=key)
        assert gateway.find_payout(key) is None
        self.arm(driver, Operation.GET_PAYOUT, Fault.unavailable())
        with pytest.raises(GatewayUnavailable):
            gateway.get_payout("po_any")

    # -- secrets ------------------------------------------------------------

    def test_no_bank_token_or_key_in_reprs_errors_or_logs(
        self,
        gateway: Any,
        driver: SandboxDriver,
        keys: Keys,
        caplog: pytest.LogCaptureFixture,
    ) -> None:
        caplog.set_level(logging.DEBUG)
        tokens = [self.bank(driver, behaviour) for behaviour in BankBehaviour]
        payees = [self.payee(gateway, driver, keys, behaviour) for behaviour in BankBehaviour]
        errors: list[BaseException] = []
        attempts: list[Callable[[], object]] = [
            lambda: gateway.onboard_payee(
                reference="r",
                currency=self.currency(gateway),
                bank_token=tokens[1],
                idempotency_key=payees[0].idempotency_key,  # a conflict
            ),
            lambda: gateway.onboard_payee(
                reference="r",
                currency=self.currency(gateway),
                bank_token=tokens[0] + "-unknown",
                idempotency_key=next(keys),
            ),
            lambda: gateway.payout(
                payee_id=payees[2].id, amount=self.money(gateway, 10), idempotency_key=next(keys)
            ),
        ]
        for attempt in attempts:
            try:
                attempt()
            except PaymentError as error:
                errors.append(error)
        assert len(errors) == len(attempts)
        texts = [repr(gateway), repr(driver), *map(repr, payees)]
        secrets = [*self.secrets, *tokens]
        self.assert_no_secret(secrets, texts=texts, errors=errors, records=caplog.records)
