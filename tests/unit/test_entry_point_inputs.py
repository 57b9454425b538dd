"""Wrong types and extreme values at the public entry points: gigmarket's errors, short messages.

One test per finding of the hardening issue; the fuzz suite
(``tests/fuzz/test_public_entry_points.py``) proves the class closed.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from gigmarket import Amount, Marketplace
from gigmarket.catalog import CreateAccount, CreateGig, SetUpProfile
from gigmarket.clock import ManualClock
from gigmarket.errors import (
    MESSAGE_MAX,
    CurrencyMismatch,
    GigmarketError,
    OrderNotFound,
    ValidationError,
    WebhookVerificationFailed,
    brief,
)
from gigmarket.escrow import chart
from gigmarket.escrow.ledger import Ledger
from gigmarket.gateways.secret import Secret
from gigmarket.gateways.webhooks import SIGNATURE_HEADER, compute_signature, sign, verify
from gigmarket.ids import sequential_ids
from gigmarket.storage.memory.store import MemoryStorage
from tests.strategies import gig_payload, profile_payload

START = datetime(2026, 1, 1, 9, 0, tzinfo=UTC)


@pytest.fixture
def shop() -> tuple[Marketplace, str, str, str]:
    market = Marketplace(MemoryStorage(), clock=ManualClock(START), ids=sequential_ids())
    seller = market.catalog.create_account(CreateAccount(username="nadia")).id
    buyer = market.catalog.create_account(CreateAccount(username="rahim")).id
    market.catalog.set_up_profile(seller, SetUpProfile(**profile_payload()))
    gig = market.catalog.create_gig(seller, CreateGig(**gig_payload())).id
    market.catalog.publish(gig, seller_id=seller)
    return market, seller, buyer, gig


# -- 7: wrong types and extreme values -------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"package": None}, "package"),
        ({"package": ["Basic"]}, "package"),
        ({"extras": None}, "extras"),
        ({"extras": 5}, "extras"),
        ({"extras": [None]}, "extras"),
        ({"extras": ["Extra-fast delivery"] * 11}, "extras"),
        ({"buyer_id": ["rahim"]}, "account_id"),
        ({"quantity": 10**30}, "quantity"),
    ],
)
def test_checkout_refuses_wrong_types(shop: Any, changes: dict[str, Any], field: str) -> None:
    market, _, buyer, gig = shop
    arguments: dict[str, Any] = {"buyer_id": buyer, "package": "Basic", **changes}
    with pytest.raises(ValidationError) as refused:
        market.checkout(gig, **arguments)
    assert refused.value.field == field


@pytest.mark.parametrize(
    ("call", "field"),
    [
        (lambda m, gig: m.catalog.gig_version(gig, 10**30), "version"),
        (lambda m, gig: m.catalog.gig_version(gig, True), "version"),
        (lambda m, gig: m.catalog.gig([gig]), "gig_id"),
        (lambda m, gig: m.catalog.account({"id": 1}), "account_id"),
        (lambda m, gig: m.catalog.search("logo"), "query"),
        (lambda m, gig: m.catalog.create_account({"username": "x"}), "command"),
        (lambda m, gig: m.events("5"), "limit"),
        (lambda m, gig: m.events(0), "limit"),
        (lambda m, gig: m.events(10**30), "limit"),
        (lambda m, gig: m.acknowledge(None), "event_ids"),
        (lambda m, gig: m.acknowledge("evt-1"), "event_ids"),
        (lambda m, gig: m.acknowledge([["evt-1"]]), "event_ids"),
        (lambda m, gig: m.orders.get(["o-1"]), "order_id"),
        (lambda m, gig: m.orders.timers({"o": 1}), "order_id"),
        (lambda m, gig: m.orders.run_due(limit="5"), "limit"),
        (lambda m, gig: m.cashier.operation(["op"]), "operation_id"),
        (lambda m, gig: m.cashier.send_refunds(limit=None), "limit"),
        (lambda m, gig: m.reconcile(limit=-1), "limit"),
        (lambda m, gig: m.cashier.resend("op-1"), "op"),
        (lambda m, gig: m.balance(["seller:x:available:USD"]), "account"),
    ],
)
def test_wrong_types_are_validation_errors(shop: Any, call: Any, field: str) -> None:
    market, _, _, gig = shop
    with pytest.raises(ValidationError) as refused:
        call(market, gig)
    assert refused.value.field == field


def test_a_huge_id_gives_a_short_message(shop: Any) -> None:
    market, _, buyer, _ = shop
    huge = "x" * 10**6
    for call in (
        lambda: market.orders.get(huge),
        lambda: market.pay(huge, buyer_id=buyer, source="tok_visa"),
        lambda: market.seller_balance(huge, "USD"),
        lambda: market.catalog.gig(huge),
        lambda: market.ledger.balance(huge),
        lambda: Amount.of(huge, "USD"),
        lambda: Amount.of("1", huge),
    ):
        with pytest.raises(GigmarketError) as refused:
            call()
        assert len(str(refused.value)) <= MESSAGE_MAX


def test_messages_are_bounded_even_when_built_elsewhere() -> None:
    assert len(str(OrderNotFound("o" * 10**6))) <= MESSAGE_MAX
    assert len(str(ValidationError("m" * 10**6, field="f"))) <= MESSAGE_MAX
    # The attribute keeps the value; only the message is cut.
    assert OrderNotFound("o" * 1000).order_id == "o" * 1000


def test_brief_never_fails() -> None:
    class Broken:
        def __repr__(self) -> str:
            raise RuntimeError("no repr")

    assert brief(10**5000) == "<a 16610-bit integer>"
    assert brief(Broken()) == "<Broken object>"
    assert brief("x" * 100).endswith("... (102 characters)")
    assert brief("short") == "'short'"


def test_an_unknown_order_id_is_still_not_found(shop: Any) -> None:
    market, _, _, _ = shop
    with pytest.raises(OrderNotFound):
        market.orders.get("no-such-order")


# -- 10: webhooks ------------------------------------------------------------------------

SECRET = Secret("whsec_test")
BODY = b'{"id": "evt_1"}'


@pytest.mark.parametrize("digits", ["১৭৬৭২৫৮০০০", "١٧٦٧٢٥٨٠٠٠", "１７６７２５８０００", "²"])
def test_a_timestamp_in_other_digits_is_a_malformed_signature(digits: str) -> None:
    signature = compute_signature(SECRET, 1767258000, BODY)
    with pytest.raises(WebhookVerificationFailed) as refused:
        verify(SECRET, f"t={digits},v1={signature}", BODY, now=START)
    assert refused.value.reason == "malformed_signature"


def test_a_str_body_is_a_malformed_payload() -> None:
    header = sign(SECRET, START, BODY)
    with pytest.raises(WebhookVerificationFailed) as refused:
        verify(SECRET, header, BODY.decode(), now=START)  # type: ignore[arg-type]
    assert refused.value.reason == "malformed_payload"


def test_bytes_headers_are_refused_by_the_marketplace(shop: Any) -> None:
    market, _, _, _ = shop
    header = sign(SECRET, START, BODY)
    with pytest.raises(WebhookVerificationFailed) as refused:
        market.handle_webhook(BODY, {SIGNATURE_HEADER.encode(): header.encode()})
    assert refused.value.reason == "malformed_signature"
    with pytest.raises(WebhookVerificationFailed) as refused:
        market.handle_webhook(BODY.decode(), {SIGNATURE_HEADER: header})
    assert refused.value.reason == "malformed_payload"
    with pytest.raises(WebhookVerificationFailed):
        market.handle_webhook(BODY, None)


def test_a_good_signature_still_verifies() -> None:
    verify(SECRET, sign(SECRET, START, BODY), BODY, now=START + timedelta(seconds=30))


# -- 12: a well-formed account never touched reads zero ----------------------------------


def test_a_never_touched_chart_account_reads_zero(shop: Any) -> None:
    market, seller, _, _ = shop
    code = chart.seller_available(seller, "BDT")
    balance = market.balance(code)
    assert (balance.posted, balance.held, balance.available) == (Amount.zero("BDT"),) * 3
    assert market.seller_balance(seller, "BDT")["available"] == market.balance(code).available
    assert market.ledger.balance(code, "BDT").posted == Amount.zero("BDT")


def test_a_code_without_a_currency_needs_one() -> None:
    ledger = Ledger(MemoryStorage())
    assert ledger.balance("escrow:order:42", "USD").posted == Amount.zero("USD")
    with pytest.raises(ValidationError) as refused:
        ledger.balance("escrow:order:42")
    assert refused.value.field == "currency"


def test_a_balance_in_another_currency_is_a_mismatch() -> None:
    ledger = Ledger(MemoryStorage())
    with pytest.raises(CurrencyMismatch):
        ledger.balance("seller:nadia:available:USD", "EUR")
    ledger.open_account("box", "USD")
    with pytest.raises(CurrencyMismatch):
        ledger.balance("box", "EUR")
    assert ledger.balance("box").posted == Amount.zero("USD")


@pytest.mark.parametrize("code", ["", "no spaces", "x" * 201, ":leading", None, 42])
def test_a_malformed_code_is_still_a_validation_error(code: Any) -> None:
    with pytest.raises(ValidationError) as refused:
        Ledger(MemoryStorage()).balance(code, "USD")
    assert refused.value.field == "account"
