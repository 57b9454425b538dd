"""The reference web app without a browser: its webhook endpoint and its T-accounts."""

from __future__ import annotations

import io
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from gigmarket import Marketplace
from gigmarket.admin.demo import run_demo
from tests.webapp.conftest import Served, require_web_app


def post(url: str, body: bytes, headers: dict[str, str]) -> tuple[int, str]:
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return answer.status, answer.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def test_the_webhook_endpoint_verifies_signatures(served: Served) -> None:
    endpoint = f"{served.url}/webhooks/gateway"
    assert post(endpoint, b'{"id": "evt_1"}', {}) == (400, "missing_signature")
    assert post(endpoint, b"{}", {"Gigmarket-Signature": "t=1,v1=00"})[0] == 400


def test_the_t_accounts_of_the_demo_balance(tmp_path: Path) -> None:
    require_web_app()
    from gigmarket_web import read_t_accounts  # noqa: PLC0415 -- optional

    run_demo(io.StringIO(), db=tmp_path / "demo.db")
    market = Marketplace.at(tmp_path / "demo.db")
    try:
        accounts = {a.code: a for a in read_t_accounts(market)}
    finally:
        market.storage.close()

    gateway = accounts["gateway:sandbox:USD"]
    assert (str(gateway.debits), str(gateway.credits)) == ("55.75 USD", "40.00 USD")
    assert (str(gateway.balance_magnitude), gateway.side) == ("15.75 USD", "Dr")
    revenue = accounts["platform:revenue:USD"]
    assert (str(revenue.balance), revenue.side) == ("15.75 USD", "Cr")
    assert next(iter(accounts)).startswith("gateway:")  # the story's order, not the alphabet
    assert sum(a.balance.units for a in accounts.values()) == 0
    for account in accounts.values():
        assert all((line.debit is None) != (line.credit is None) for line in account.lines)


def test_a_production_app_needs_a_session_secret(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    require_web_app()
    from gigmarket_web import create_app  # noqa: PLC0415 -- optional

    monkeypatch.delenv("GIGMARKET_WEB_SECRET", raising=False)
    with pytest.raises(ValueError, match="GIGMARKET_WEB_SECRET"):
        create_app(database=tmp_path / "web.db", tick_every=None)
