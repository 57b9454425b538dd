"""``gigmarket reconcile --gateway acmepay|stripe``: real adapters, built from
``GIGMARKET_GATEWAY_*`` strings in another process, against their test servers.

Each test leaves one payment open in a SQLite store (the Acme fake loses the
charge's answer; Stripe's buyer is still in 3-D Secure, then passes it), runs
``python -m gigmarket reconcile`` in a subprocess with the settings in its
environment, and checks that the operation is settled. The adapters are
separate distributions: without them these tests skip, except under CI.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from gigmarket.cashier import OperationStatus
from gigmarket.catalog import CreateAccount
from gigmarket.clock import ManualClock
from gigmarket.errors import OutcomeUnknown
from gigmarket.marketplace import Marketplace
from gigmarket.money import Amount
from gigmarket.orders import Offer, OfferedPackage, fiverr_policy
from gigmarket.storage.sqlite.store import SQLiteStorage

API_KEY = "sk_test_cli_adapters_8Qw2"
WEBHOOK_SECRET = "whsec_cli_adapters_Zt5"


def _require(module: str, install: str) -> None:
    if importlib.util.find_spec(module) is None:
        if os.environ.get("CI"):
            pytest.fail(f"CI must install {install}: this test may not skip in CI")
        pytest.skip(f"{module} is not installed: pip install -e {install}")


def _leave_open(path: Path, gateway: Any, pay: Any) -> str:
    """An order in a fresh store whose payment ``pay(market, order_id, buyer)`` leaves open."""
    clock = ManualClock(datetime.now(UTC) - timedelta(minutes=10))
    market = Marketplace(
        SQLiteStorage(path),
        gateway=gateway,
        clock=clock,
        policy=fiverr_policy(gateway=gateway.name),
    )
    try:
        seller = market.catalog.create_account(CreateAccount(username="nadia")).id
        buyer = market.catalog.create_account(CreateAccount(username="rahim")).id
        offer = Offer(
            gig_id="gig-logo",
            gig_version=1,
            seller_id=seller,
            title="A minimalist logo",
            package=OfferedPackage(
                name="Basic", price=Amount.of("50.00", "USD"), delivery_days=3, revisions=1
            ),
        )
        order_id = market.orders.place(offer, buyer_id=buyer).id
        pay(market, order_id, buyer)
        return order_id
    finally:
        market.storage.close()


def _status(path: Path, order_id: str) -> OperationStatus:
    market = Marketplace(SQLiteStorage(path))
    try:
        return market.cashier.operation(f"pay:{order_id}:1").status
    finally:
        market.storage.close()


def _reconcile(
    path: Path, gateway: str, settings: dict[str, str]
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIGMARKET_")}
    env.update({f"GIGMARKET_GATEWAY_{name.upper()}": value for name, value in settings.items()})
    env["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if p)
    return subprocess.run(
        [sys.executable, "-m", "gigmarket", "reconcile", "--db", f"sqlite:///{path}",
         "--gateway", gateway, "--verbose", "--no-progress"],
        env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


def test_reconcile_with_acmepay_over_http(tmp_path: Path) -> None:
    _require("gigmarket_acmepay", "examples/gigmarket-acmepay")
    from gigmarket_acmepay import AcmePayGateway, FakeAcmeServer, serve  # noqa: PLC0415

    fake = FakeAcmeServer(api_key=API_KEY, webhook_secret=WEBHOOK_SECRET, clock=ManualClock(
        datetime.now(UTC) - timedelta(minutes=10)))  # fmt: skip
    path = tmp_path / "market.db"
    with serve(fake) as base_url:
        gateway = AcmePayGateway(api_key=API_KEY, webhook_secret=WEBHOOK_SECRET, base_url=base_url)

        def lose_the_answer(market: Marketplace, order_id: str, buyer: str) -> None:
            fake.fail_next("create_payment", "timeout")  # charged at Acme, the answer lost
            with pytest.raises(OutcomeUnknown):
                market.pay(order_id, buyer_id=buyer, source="acme_tok_ok")

        order_id = _leave_open(path, gateway, lose_the_answer)
        assert _status(path, order_id) is OperationStatus.UNKNOWN
        settings = {"api_key": API_KEY, "webhook_secret": WEBHOOK_SECRET, "base_url": base_url}
        done = _reconcile(path, "acmepay", settings)
    assert (done.returncode, done.stderr) == (0, "")
    assert f"operation pay:{order_id}:1 (payment): unknown → succeeded" in done.stdout
    assert "checked 1, fixed 1: unknown→succeeded 1, waiting 0, skipped 0" in done.stdout
    assert _status(path, order_id) is OperationStatus.SUCCEEDED
    assert API_KEY not in done.stdout + done.stderr


def test_acmepay_without_a_base_url_names_the_setting(tmp_path: Path) -> None:
    _require("gigmarket_acmepay", "examples/gigmarket-acmepay")
    done = _reconcile(
        tmp_path / "none.db", "acmepay", {"api_key": API_KEY, "webhook_secret": "w" * 8}
    )
    assert done.returncode == 2
    assert "needs a transport, or a base_url" in done.stderr
    assert "TypeError" not in done.stderr


@pytest.fixture(scope="module")
def localstripe_url() -> Iterator[str]:
    _require("gigmarket_stripe", "adapters/gigmarket-stripe")
    _require("localstripe", "'adapters/gigmarket-stripe[test]'")
    from gigmarket_stripe.testing import localstripe  # noqa: PLC0415

    with localstripe() as url:
        yield url


def test_reconcile_with_stripe_against_localstripe(tmp_path: Path, localstripe_url: str) -> None:
    from gigmarket_stripe import StripeGateway  # noqa: PLC0415
    from gigmarket_stripe.testing import LocalstripeDriver, LocalstripeHTTPClient  # noqa: PLC0415

    client = LocalstripeHTTPClient(timeout=10)
    gateway = StripeGateway(
        api_key=API_KEY, webhook_secret=WEBHOOK_SECRET, api_base=localstripe_url, http_client=client
    )
    driver = LocalstripeDriver(
        base_url=localstripe_url, api_key=API_KEY, webhook_secret=WEBHOOK_SECRET,
        client=client, clock=ManualClock(datetime.now(UTC)),
    )  # fmt: skip
    from gigmarket.testing.gateways import CardBehaviour  # noqa: PLC0415

    card = driver.card_token(CardBehaviour.REQUIRE_ACTION)
    charge_ids: list[str] = []

    def wait_for_the_buyer(market: Marketplace, order_id: str, buyer: str) -> None:
        result = market.pay(order_id, buyer_id=buyer, source=str(card))
        assert result.action_url is not None
        charge_ids.append(str(result.charge.id if result.charge else ""))

    path = tmp_path / "market.db"
    order_id = _leave_open(path, gateway, wait_for_the_buyer)
    assert _status(path, order_id) is OperationStatus.PENDING
    assert driver.complete_action(charge_ids[0], succeed=True)  # the buyer passes 3-D Secure
    settings = {"api_key": API_KEY, "webhook_secret": WEBHOOK_SECRET, "api_base": localstripe_url}
    done = _reconcile(path, "stripe", settings)
    assert (done.returncode, done.stderr) == (0, "")
    assert f"operation pay:{order_id}:1 (payment): pending → succeeded" in done.stdout
    assert "checked 1, fixed 1: pending→succeeded 1, waiting 0, skipped 0" in done.stdout
    assert _status(path, order_id) is OperationStatus.SUCCEEDED
    assert API_KEY not in done.stdout + done.stderr
