"""gigmarket's disbursement kit, run on StripeGateway against a fake of
Stripe's Connect endpoints built from Stripe's published API shapes (not
Stripe itself): ``gigmarket_stripe.fake_connect``.

localstripe has no Connect; the fake keeps connected accounts, transfers,
payouts and events in memory, honours ``Idempotency-Key`` as Stripe
documents it, and answers in Stripe's shapes. The ``stripe`` library talks to
it through an HTTP client that never touches the network. Below the kit:
checks of the fake's own answers (so that a green kit means something), and
of what the kit cannot ask.
"""

from __future__ import annotations

import json
import urllib.parse
from datetime import timedelta
from typing import Any, ClassVar

import pytest
import stripe
from gigmarket.clock import ManualClock
from gigmarket.errors import GatewayUnavailable, InvalidPaymentRequest, PaymentNotFound
from gigmarket.gateways import Fault, Operation, PayeeStatus, PayoutStatus
from gigmarket.money import Amount
from gigmarket.testing.gateways import BankBehaviour, DisbursementConformance, SandboxDriver
from gigmarket.testing.gateways._base import START

from gigmarket_stripe import StripeGateway
from gigmarket_stripe.fake_connect import FakeStripeConnect, _Saved
from gigmarket_stripe.testing import TEST_BANK_TOKENS, FakeConnectDriver, FakeConnectHTTPClient

API_KEY = "sk_test_fakeconnect_9Tq2LmXv"
WEBHOOK_SECRET = "whsec_fakeconnect_Rk4w"
USD = "USD"

CANNOT: dict[str, str] = {
    "test_an_unavailable_payout_did_not_happen": (
        "its last step asks get_payout('po_any') to reach the gateway; StripeGateway's payout "
        "ids are 'acct_.../po_...' and it answers PaymentNotFound for any other id without a "
        "request, so no fault can reach it: the same check with an id of Stripe's shape is "
        "test_fake_an_unavailable_payout_did_not_happen below"
    ),
}
"""Kit checks this adapter cannot take as written, and why."""


def fake_gateway(clock: ManualClock) -> tuple[StripeGateway, FakeConnectHTTPClient]:
    client = FakeConnectHTTPClient(FakeStripeConnect(api_key=API_KEY, clock=clock))
    made = StripeGateway(
        api_key=API_KEY, webhook_secret=WEBHOOK_SECRET, http_client=client, clock=clock
    )
    return made, client


class TestStripeConnectOnAFakeOfStripesPublishedAPI(DisbursementConformance):
    """The disbursement kit on StripeGateway, against the fake (not Stripe itself)."""

    secrets: ClassVar[tuple[str, ...]] = (API_KEY, WEBHOOK_SECRET)

    @pytest.fixture(autouse=True)
    def _cannot(self, request: pytest.FixtureRequest) -> None:
        name = request.node.originalname
        if name in CANNOT:
            pytest.skip(CANNOT[name])

    def make_gateway(self, clock: ManualClock) -> StripeGateway:
        return fake_gateway(clock)[0]

    def make_driver(self, gateway: StripeGateway) -> SandboxDriver:
        assert isinstance(gateway.http_client, FakeConnectHTTPClient)
        return FakeConnectDriver(
            client=gateway.http_client, webhook_secret=WEBHOOK_SECRET, clock=gateway._clock
        )


# -- the fake's own answers --------------------------------------------------------


@pytest.fixture
def fake() -> FakeStripeConnect:
    return FakeStripeConnect(api_key=API_KEY, clock=ManualClock(START))


def call(
    fake: FakeStripeConnect,
    method: str,
    path: str,
    form: dict[str, str] | None = None,
    *,
    key: str | None = None,
    account: str | None = None,
    api_key: str = API_KEY,
) -> tuple[int, dict[str, Any], dict[str, str]]:
    headers = {"Authorization": f"Bearer {api_key}"}
    if key is not None:
        headers["Idempotency-Key"] = key
    if account is not None:
        headers["Stripe-Account"] = account
    encoded = urllib.parse.urlencode(form or {})
    url = f"https://api.stripe.com{path}" + (f"?{encoded}" if method == "GET" and form else "")
    body, status, answer_headers = fake.handle(
        method, url, headers, encoded if method == "POST" else None
    )
    return status, json.loads(body), dict(answer_headers)


def account_form(token: str = "btok_us_verified", key: str = "k") -> dict[str, str]:
    return {
        "type": "custom",
        "default_currency": "usd",
        "external_account": token,
        "settings[payouts][schedule][interval]": "manual",
        "metadata[gigmarket_idempotency_key]": key,
    }


def test_fake_account_has_stripes_shape(fake: FakeStripeConnect) -> None:
    status, account, headers = call(fake, "POST", "/v1/accounts", account_form(), key="k1")
    assert status == 200
    assert account["object"] == "account"
    assert account["id"].startswith("acct_")
    assert account["metadata"] == {"gigmarket_idempotency_key": "k"}
    bank = account["external_accounts"]["data"][0]
    assert (bank["object"], bank["last4"], bank["currency"]) == ("bank_account", "6789", "usd")
    assert "btok_us_verified" not in json.dumps(account)  # a token is used, never shown
    assert headers["request-id"].startswith("req_")
    assert "idempotent-replayed" not in headers


def test_fake_idempotency_replays_and_refuses_other_parameters(fake: FakeStripeConnect) -> None:
    first = call(fake, "POST", "/v1/accounts", account_form(), key="k1")
    again = call(fake, "POST", "/v1/accounts", account_form(), key="k1")
    assert again[1] == first[1]
    assert again[2]["idempotent-replayed"] == "true"
    status, body, _ = call(
        fake, "POST", "/v1/accounts", account_form("btok_us_verified_noAccount"), key="k1"
    )
    assert status == 400
    assert body["error"]["type"] == "idempotency_error"
    status, body, _ = call(fake, "POST", "/v1/transfers", {"amount": "1"}, key="k1")
    assert (status, body["error"]["type"]) == (400, "idempotency_error")
    assert "same endpoint" in body["error"]["message"]
    listed = call(fake, "GET", "/v1/accounts")[1]
    assert len(listed["data"]) == 1


def test_fake_keys_are_scoped_by_account_and_kept_a_day(fake: FakeStripeConnect) -> None:
    acct = call(fake, "POST", "/v1/accounts", account_form(), key="k1")[1]["id"]
    call(fake, "POST", "/v1/transfers", {"amount": "100", "currency": "usd", "destination": acct})
    payout = {"amount": "10", "currency": "usd"}
    # The same key on the connected account is another key.
    assert call(fake, "POST", "/v1/payouts", payout, key="k1", account=acct)[0] == 200
    clock = fake._clock
    assert isinstance(clock, ManualClock)
    clock.advance(timedelta(hours=25))
    status, again, headers = call(fake, "POST", "/v1/accounts", account_form(), key="k1")
    assert status == 200
    assert again["id"] != acct  # the key expired: a new request
    assert "idempotent-replayed" not in headers


def test_fake_a_refusal_while_validating_saves_no_answer(fake: FakeStripeConnect) -> None:
    status, body, _ = call(fake, "POST", "/v1/accounts", account_form("btok_nope"), key="k1")
    assert status == 400
    assert body["error"] == {
        "type": "invalid_request_error",
        "code": "resource_missing",
        "doc_url": "https://stripe.com/docs/error-codes/resource-missing",
        "param": "external_account",
        "message": "No such token: 'btok_nope'",
    }
    assert call(fake, "POST", "/v1/accounts", account_form(), key="k1")[0] == 200


def test_fake_a_refused_bank_token_makes_no_account(fake: FakeStripeConnect) -> None:
    token = TEST_BANK_TOKENS[BankBehaviour.REJECTED]
    status, body, _ = call(fake, "POST", "/v1/accounts", account_form(token))
    assert status == 400
    assert (body["error"]["code"], body["error"]["param"]) == (
        "account_number_invalid",
        "external_account",
    )
    assert call(fake, "GET", "/v1/accounts")[1]["data"] == []


def test_fake_unknown_objects(fake: FakeStripeConnect) -> None:
    status, body, _ = call(fake, "GET", "/v1/accounts/acct_1Unknown")
    assert (status, body["error"]["code"]) == (403, "account_invalid")
    assert API_KEY not in body["error"]["message"]  # Stripe masks the key it names
    status, body, _ = call(fake, "GET", "/v1/payouts/po_1Unknown", account="acct_1Unknown")
    assert (status, body["error"]["code"]) == (403, "account_invalid")
    acct = call(fake, "POST", "/v1/accounts", account_form())[1]["id"]
    status, body, _ = call(fake, "GET", "/v1/payouts/po_1Unknown", account=acct)
    assert status == 404
    assert body["error"] | {"doc_url": ""} == {
        "type": "invalid_request_error",
        "code": "resource_missing",
        "param": "id",
        "message": "No such payout: 'po_1Unknown'",
        "doc_url": "",
    }
    assert call(fake, "GET", "/v1/charges")[0] == 404
    assert call(fake, "GET", "/v1/accounts", api_key="sk_test_other")[0] == 401


def test_fake_payouts_need_the_balance_and_give_it_back_when_they_fail(
    fake: FakeStripeConnect,
) -> None:
    token = TEST_BANK_TOKENS[BankBehaviour.FAILS_IN_TRANSIT]
    acct = call(fake, "POST", "/v1/accounts", account_form(token))[1]["id"]
    payout = {"amount": "4000", "currency": "usd"}
    status, body, _ = call(fake, "POST", "/v1/payouts", payout, account=acct)
    assert (status, body["error"]["code"]) == (400, "balance_insufficient")
    transfer = {"amount": "4000", "currency": "usd", "destination": acct}
    assert call(fake, "POST", "/v1/transfers", transfer)[0] == 200
    made = call(fake, "POST", "/v1/payouts", payout, account=acct)[1]
    assert (made["status"], fake.balance(acct, "usd")) == ("pending", 0)
    fake.advance()
    fake.advance()
    failed = call(fake, "GET", f"/v1/payouts/{made['id']}", account=acct)[1]
    assert (failed["status"], failed["failure_code"]) == ("failed", "account_closed")
    assert fake.balance(acct, "usd") == 4000
    kinds = [(e["type"], e.get("account")) for e in fake.new_events()]
    assert kinds == [
        ("transfer.created", None),
        ("payout.created", acct),
        ("payout.updated", acct),
        ("payout.failed", acct),
    ]


def test_fake_a_concurrent_request_with_a_key_in_flight_is_a_409(
    fake: FakeStripeConnect,
) -> None:
    # Another thread's request with this key is being processed (no answer saved yet).
    fake._keys[("platform", "k1")] = _Saved(
        fingerprint=("POST", "/v1/accounts", ()), created=START.timestamp()
    )
    status, body, _ = call(fake, "POST", "/v1/accounts", account_form(), key="k1")
    assert (status, body["error"]["type"], body["error"]["code"]) == (
        409,
        "idempotency_error",
        "idempotency_key_in_use",
    )


# -- what the kit cannot ask ---------------------------------------------------------


def test_fake_an_unavailable_payout_did_not_happen() -> None:
    gateway, client = fake_gateway(ManualClock(START))
    payee = gateway.onboard_payee(
        reference="seller-nadia",
        currency=USD,
        bank_token=TEST_BANK_TOKENS[BankBehaviour.PAYS],
        idempotency_key="k-payee",
    )
    made = gateway.payout(
        payee_id=payee.id, amount=Amount(units=10, currency=USD), idempotency_key="k-made"
    )
    client.fail_next(Operation.PAYOUT, Fault.unavailable())
    with pytest.raises(GatewayUnavailable):
        gateway.payout(
            payee_id=payee.id, amount=Amount(units=10, currency=USD), idempotency_key="k-lost"
        )
    assert gateway.find_payout("k-lost") is None
    client.fail_next(Operation.GET_PAYOUT, Fault.unavailable())
    with pytest.raises(GatewayUnavailable):
        gateway.get_payout(made.id)
    assert gateway.get_payout(made.id).status is PayoutStatus.PENDING


def test_fake_unknown_accounts_are_not_found() -> None:
    gateway, _ = fake_gateway(ManualClock(START))
    with pytest.raises(PaymentNotFound):
        gateway.get_payee("acct_1UnknownAccount")
    with pytest.raises(PaymentNotFound):
        gateway.get_payout("acct_1UnknownAccount/po_1Unknown")
    with pytest.raises(PaymentNotFound):
        gateway.payout(
            payee_id="acct_1UnknownAccount",
            amount=Amount(units=10, currency=USD),
            idempotency_key="k",
        )


def test_fake_a_payout_retried_after_a_day_still_pays_once() -> None:
    """A payout whose last step was refused leaves its transfer on the account;
    Stripe's default daily schedule would pay it out by itself, and the retry
    with the same key would then find no balance. The adapter's accounts are
    on a manual schedule, so the retry pays it, once."""
    gateway, client = fake_gateway(ManualClock(START))
    payee = gateway.onboard_payee(
        reference="seller-nadia",
        currency=USD,
        bank_token=TEST_BANK_TOKENS[BankBehaviour.PAYS],
        idempotency_key="k-payee",
    )
    amount = Amount(units=4000, currency=USD)
    client.fail_next(Operation.PAYOUT, Fault.unavailable())
    with pytest.raises(GatewayUnavailable):
        gateway.payout(payee_id=payee.id, amount=amount, idempotency_key="k-payout")
    client.fake.advance()  # a day passes before the retry
    assert client.fake.balance(payee.id, USD) == 4000
    paid = gateway.payout(payee_id=payee.id, amount=amount, idempotency_key="k-payout")
    assert (paid.status, paid.amount) == (PayoutStatus.PENDING, amount)
    assert client.fake.balance(payee.id, USD) == 0


def test_fake_a_refused_bank_account_is_kept_as_a_rejected_payee_once() -> None:
    gateway, _ = fake_gateway(ManualClock(START))
    token = TEST_BANK_TOKENS[BankBehaviour.REJECTED]
    made = [
        gateway.onboard_payee(
            reference="r", currency=USD, bank_token=token, idempotency_key="k-rejected"
        )
        for _ in range(2)
    ]
    assert made[0] == made[1]
    assert made[0].status is PayeeStatus.REJECTED
    assert gateway.find_payee("k-rejected") == made[0]
    with pytest.raises(InvalidPaymentRequest):
        gateway.payout(
            payee_id=made[0].id, amount=Amount(units=10, currency=USD), idempotency_key="k"
        )


def test_fake_client_never_reaches_the_network() -> None:
    client = FakeConnectHTTPClient(FakeStripeConnect(api_key=API_KEY, clock=ManualClock(START)))
    stripe_client = stripe.StripeClient(API_KEY, http_client=client, max_network_retries=0)
    listed = stripe_client.raw_request("get", "/v1/accounts")
    assert json.loads(listed.body)["data"] == []
