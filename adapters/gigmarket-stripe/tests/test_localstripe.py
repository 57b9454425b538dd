"""gigmarket's conformance kit, run on StripeGateway against localstripe.

localstripe is a stateful Stripe emulator started on a loopback port for the
session (see ``conftest.py``). What it does not serve is checked against
recorded responses instead (``test_recorded_responses.py``); the checks that
need it skip here and name the file. The kit's other skips are its own: the
driver cannot force what localstripe does not do (decline codes other than
``card_declined``, pending card payments, bank accounts).
"""

from __future__ import annotations

from typing import ClassVar

import pytest
from gigmarket.clock import ManualClock
from gigmarket.testing.gateways import CollectionConformance, SandboxDriver

from gigmarket_stripe import StripeGateway
from gigmarket_stripe.testing import LocalstripeDriver, LocalstripeHTTPClient

API_KEY = "sk_test_localstripe_4eC39HqLyjWDarjt"
WEBHOOK_SECRET = "whsec_localstripe_T1zdp7dc"
ELSEWHERE = "checked against recorded responses in test_recorded_responses.py"

NOT_SERVED: dict[str, str] = {
    "test_unknown_charges_are_not_found": "localstripe has no Search API",
    "test_partial_capture": "localstripe books the uncaptured rest as a refund",
    "test_cancel_releases_an_authorization": "localstripe captures a cancelled PaymentIntent",
    "test_several_partial_refunds_add_up": "localstripe refunds the whole charge, not the rest",
    "test_refunding_more_than_captured_is_invalid": "localstripe does not check a refund's amount",
    "test_refunding_an_uncaptured_charge_is_invalid": "localstripe refunds an uncaptured charge",
    "test_a_replayed_key_returns_the_same_charge": "localstripe ignores Idempotency-Key",
    "test_two_concurrent_calls_with_one_key_make_one_charge": "localstripe ignores Idempotency-Key",
    "test_a_key_reused_with_other_parameters_conflicts": "localstripe ignores Idempotency-Key",
    "test_a_key_reused_for_another_operation_conflicts": "localstripe ignores Idempotency-Key",
    "test_refunds_replay_and_conflict": "localstripe ignores Idempotency-Key",
    "test_unavailable_means_nothing_happened": "localstripe has no Search API",
    "test_rate_limited_means_nothing_happened": "localstripe has no Search API",
    "test_a_lost_response_is_reconciled_by_a_status_query": "localstripe has no Search API",
    "test_a_timeout_is_reconciled_once_the_request_lands": "localstripe has no Search API",
    "test_a_lost_capture_is_reconciled": "localstripe ignores Idempotency-Key",
    "test_a_lost_refund_is_reconciled": "localstripe ignores Idempotency-Key",
    "test_webhooks_announce_changes": "localstripe emits no refund events",
    "test_no_secret_in_reprs_errors_or_logs": "its errors need a key conflict and a refund check",
    "test_out_of_order_webhooks_carry_their_own_time": "localstripe stamps events with real time",
}
"""Kit checks localstripe cannot serve, and why."""


class TestStripeOnLocalstripe(CollectionConformance):
    """The collection kit on StripeGateway, over HTTP, against localstripe."""

    secrets: ClassVar[tuple[str, ...]] = (API_KEY, WEBHOOK_SECRET)

    @pytest.fixture(autouse=True)
    def _emulator(self, localstripe_url: str, request: pytest.FixtureRequest) -> None:
        name = request.node.originalname
        if name in NOT_SERVED:
            pytest.skip(f"{NOT_SERVED[name]}: {ELSEWHERE}")
        self.base_url = localstripe_url

    def make_gateway(self, clock: ManualClock) -> StripeGateway:
        return StripeGateway(
            api_key=API_KEY,
            webhook_secret=WEBHOOK_SECRET,
            api_base=self.base_url,
            http_client=LocalstripeHTTPClient(timeout=10),
            clock=clock,
        )

    def make_driver(self, gateway: StripeGateway) -> SandboxDriver:
        assert isinstance(gateway.http_client, LocalstripeHTTPClient)
        return LocalstripeDriver(
            base_url=self.base_url,
            api_key=API_KEY,
            webhook_secret=WEBHOOK_SECRET,
            client=gateway.http_client,
            clock=gateway._clock,
        )

    def make_misconfigured_gateway(self, clock: ManualClock) -> StripeGateway:
        # localstripe takes any sk_ key; a publishable key in its place is the
        # mistake Stripe itself refuses, and the adapter refuses it first.
        return StripeGateway(
            api_key="pk_test_" + API_KEY[8:], webhook_secret=WEBHOOK_SECRET, api_base=self.base_url
        )
