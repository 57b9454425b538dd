"""The whole seed story, clicked through the reference web app in headless Chromium.

Nadia signs up, sets up her profile and posts a logo gig with three packages.
Rahim signs up, searches, orders the Basic package and pays with a card that
asks for 3-D Secure; he authenticates at the (sandbox) bank, and the charge
reaches the books through a signed webhook POSTed to the app's real endpoint.
He sends his requirements; Nadia delivers; he asks for a revision; she
delivers again; he accepts and both review. Time moves past the clearance
period; Nadia adds her bank account and withdraws; the bank confirms. The
escrow page shows every balance, to the cent.

Needs the app (``pip install -e examples/gigmarket-web``), Playwright (the
Python package only) and a Chromium named by ``GIGMARKET_BROWSER``; skips,
saying which is missing, unless ``GIGMARKET_REQUIRE_BROWSER=1``.
"""

from __future__ import annotations

import importlib.util
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.webapp.conftest import Served, unavailable


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    if importlib.util.find_spec("playwright") is None:
        unavailable("playwright is not installed: python -m pip install playwright")
    binary = os.environ.get("GIGMARKET_BROWSER")
    if not binary:
        unavailable("GIGMARKET_BROWSER does not name a Chromium binary (e.g. /usr/bin/chromium)")
    if not (Path(binary).is_file() and os.access(binary, os.X_OK)):
        unavailable(f"GIGMARKET_BROWSER={binary} is not an executable file")
    from playwright.sync_api import sync_playwright  # noqa: PLC0415 -- optional

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=binary, headless=True)
        try:
            yield browser
        finally:
            browser.close()


def artifacts(tmp_path: Path) -> Path:
    """Where screenshots go: ``$GIGMARKET_ARTIFACTS`` if set, else the test's tmp dir."""
    target = Path(os.environ.get("GIGMARKET_ARTIFACTS") or tmp_path)
    target.mkdir(parents=True, exist_ok=True)
    return target


def balance_of(page: Any, account: str) -> str:
    """The trial balance's line for ``account`` on the escrow page."""
    return str(
        page.locator(f'[data-testid="trial-balance"] td[data-account="{account}"]').inner_text()
    )


def test_the_seed_story_in_a_browser(served: Served, chromium: Any, tmp_path: Path) -> None:
    from playwright.sync_api import expect  # noqa: PLC0415 -- optional

    seller = chromium.new_context(base_url=served.url).new_page()
    buyer = chromium.new_context(base_url=served.url).new_page()
    for page in (seller, buyer):
        page.set_default_timeout(15_000)

    def state(page: Any) -> Any:
        return page.get_by_test_id("order-state")

    # -- Nadia: account, profile, gig, publish ------------------------------------
    seller.goto("/signup")
    seller.get_by_label("Username").fill("nadia")
    seller.get_by_role("button", name="Create my account").click()
    expect(seller.get_by_test_id("who")).to_have_text("@nadia")

    seller.goto("/profile")
    seller.get_by_label("Display name").fill("Nadia Rahman")
    seller.get_by_label("Headline").fill("Minimal logos for small shops")
    seller.get_by_label("About you").fill("Logo designer in Dhaka; ten years of brands for shops.")
    seller.get_by_label("Skills").fill("logo design, branding")
    seller.get_by_label("Native language").fill("bn")
    seller.get_by_label("Country").fill("BD")
    seller.get_by_role("button", name="Save profile").click()

    expect(seller).to_have_url(re.compile(r"/gigs/new$"))
    seller.get_by_label("Title").fill("I will design a minimalist logo for your shop")
    seller.get_by_label("Tags").fill("logo, minimalist, branding")
    seller.get_by_label("Description").fill(
        "A clean, memorable logo for a small shop, with the source files. " * 2
    )
    for tier, price, days, revisions in (
        ("Basic", "50.00", "3", "1"),
        ("Standard", "120.00", "5", "3"),
        ("Premium", "250.00", "7", "5"),
    ):
        seller.get_by_label(f"{tier} price").fill(price)
        seller.get_by_label(f"{tier} delivery days").fill(days)
        seller.get_by_label(f"{tier} revisions").fill(revisions)
    seller.get_by_label("Gallery image").fill("gallery/nadia-logo-1.png")
    seller.get_by_label("A question for the buyer").fill("What is your shop called?")
    seller.get_by_role("button", name="Save the gig").click()
    expect(seller.get_by_test_id("gig-status")).to_have_text("draft")
    seller.get_by_role("button", name="Publish").click()
    expect(seller.get_by_test_id("gig-status")).to_have_text("active")

    # -- Rahim: account, search, order, 3-D Secure payment -------------------------
    buyer.goto("/signup")
    buyer.get_by_label("Username").fill("rahim")
    buyer.get_by_role("button", name="Create my account").click()
    buyer.get_by_label("Search gigs").fill("logo shop")
    buyer.get_by_role("button", name="Search").click()
    expect(buyer.get_by_test_id("hit-count")).to_have_text("1 gig found")
    buyer.get_by_role("link", name="I will design a minimalist logo for your shop").click()
    buyer.get_by_role("button", name="Order Basic").click()

    expect(state(buyer)).to_have_text("pending_payment")
    expect(buyer.get_by_test_id("subtotal")).to_have_text("50.00 USD")
    expect(buyer.get_by_test_id("total")).to_have_text("55.75 USD")
    expect(buyer.get_by_test_id("seller-net")).to_have_text("40.00 USD")
    expect(buyer.get_by_test_id("platform-revenue")).to_have_text("15.75 USD")
    order_id = buyer.url.rsplit("/", 1)[1]

    buyer.get_by_label("asks for 3-D Secure").check()
    buyer.get_by_role("button", name="Pay 55.75 USD").click()
    expect(buyer.get_by_role("heading", name="Confirm your payment")).to_be_visible()
    expect(buyer.get_by_test_id("bank-amount")).to_have_text("55.75 USD")
    buyer.get_by_role("button", name="Authenticate").click()
    expect(buyer.get_by_test_id("waiting")).to_be_visible()  # the books wait for the webhook
    expect(state(buyer)).to_have_text("pending_payment")

    # The jobs POST the gateway's signed webhook to /webhooks/gateway.
    buyer.get_by_role("button", name="Run the jobs now").click()
    expect(state(buyer)).to_have_text("awaiting_requirements")
    expect(buyer.get_by_test_id("payment-status")).to_have_text("succeeded")

    buyer.get_by_label("What is your shop called?").fill("Rahim's Tea Stall")
    buyer.get_by_role("button", name="Send requirements").click()
    expect(state(buyer)).to_have_text("in_progress")

    # -- delivery, a revision, delivery again, acceptance ---------------------------
    seller.goto("/orders")
    seller.get_by_role("link", name=order_id).click()
    seller.get_by_role("button", name="Deliver now").click()
    expect(state(seller)).to_have_text("delivered")

    buyer.reload()
    buyer.get_by_role("button", name="Request a revision").click()
    expect(state(buyer)).to_have_text("in_progress")

    seller.reload()
    seller.get_by_role("button", name="Deliver now").click()
    expect(state(seller)).to_have_text("delivered")

    buyer.reload()
    buyer.get_by_role("button", name="Accept and complete").click()
    expect(state(buyer)).to_have_text("completed")

    # -- reviews, published once both are in -----------------------------------
    buyer.get_by_label("Your words").fill("Beautiful logo, fast.")
    buyer.get_by_role("button", name="Publish review").click()
    expect(buyer.get_by_test_id("reviewed")).to_be_visible()
    seller.reload()
    seller.get_by_label("Your words").fill("A pleasure.")
    seller.get_by_role("button", name="Publish review").click()
    expect(seller.get_by_test_id("reviews")).to_contain_text("Beautiful logo, fast.")

    # -- released: pending for the seller, revenue for the platform ------------------
    seller.goto("/escrow")
    nadia = "seller:{}:{}:USD"
    seller_id = served.app.state.market.orders.get(order_id).seller_id
    assert balance_of(seller, f"escrow:order:{order_id}") == "0.00 USD"
    assert balance_of(seller, nadia.format(seller_id, "pending")) == "40.00 USD"
    assert balance_of(seller, "platform:revenue:USD") == "15.75 USD"

    seller.goto("/earnings")
    expect(seller.get_by_test_id("pending-USD")).to_have_text("40.00 USD")
    expect(seller.get_by_test_id("available-USD")).to_have_text("0.00 USD")

    # -- time moves past the clearance period (the jobs run as cron would) -----------
    seller.get_by_role("button", name="+14 days").click()
    expect(seller.get_by_test_id("available-USD")).to_have_text("40.00 USD")
    expect(seller.get_by_test_id("pending-USD")).to_have_text("0.00 USD")

    # -- the bank account and the withdrawal ------------------------------------------
    seller.get_by_label("Sandbox Bank").check()
    seller.get_by_role("button", name="Add bank account").click()
    expect(seller.get_by_label("Amount")).to_have_value("40.00")
    seller.get_by_role("button", name="Withdraw").click()
    expect(seller.get_by_test_id("withdrawals")).to_contain_text("pending")
    expect(seller.get_by_test_id("available-USD")).to_have_text("0.00 USD")

    seller.get_by_role("button", name="+3 days").click()  # the payout arrives; a webhook says so
    expect(seller.get_by_test_id("withdrawals")).to_contain_text("succeeded")

    # -- the escrow page at the end of the story ---------------------------------------
    seller.goto("/escrow")
    assert balance_of(seller, "gateway:sandbox:USD") == "-15.75 USD"  # 55.75 in, 40.00 out
    assert balance_of(seller, f"escrow:order:{order_id}") == "0.00 USD"
    assert balance_of(seller, nadia.format(seller_id, "pending")) == "0.00 USD"
    assert balance_of(seller, nadia.format(seller_id, "available")) == "0.00 USD"
    assert balance_of(seller, "payouts:in_flight:USD") == "0.00 USD"
    assert balance_of(seller, "platform:revenue:USD") == "15.75 USD"
    expect(seller.get_by_test_id("trial-balance")).to_contain_text("All USD accounts")
    gateway = seller.locator('[data-account="gateway:sandbox:USD"]').first
    expect(gateway.get_by_test_id("balance")).to_have_text("15.75 USD Dr")
    seller.set_viewport_size({"width": 1280, "height": 900})
    seller.screenshot(path=str(artifacts(tmp_path) / "escrow.png"), full_page=True)

    seller.goto("/events")
    expect(seller.get_by_test_id("events")).to_contain_text("order.completed")
    assert served.app.state.market.audit() == []
