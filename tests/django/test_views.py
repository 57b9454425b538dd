"""The Django example's views, its error middleware and its jobs command, through
Django's test client: checkout with the sandbox card, 3-D Secure finished by the
gateway's signed webhook, and the worker completing an order by itself."""

from __future__ import annotations

import io
from datetime import timedelta

from gigmarket.orders import OrderState
from tests.django.conftest import Market, published_gig, signed_up


def _order_id(location: str) -> str:
    assert location.startswith("/orders/"), location
    return location.removeprefix("/orders/")


def test_the_app_config_builds_one_marketplace_at_startup(django_project: None) -> None:
    from django.conf import settings  # noqa: PLC0415 -- optional
    from gigmarket_django.apps import market  # noqa: PLC0415

    assert market() is market()
    assert market().storage.path == settings.GIGMARKET["DATABASE"]


def test_a_buyer_checks_out_and_pays_with_the_sandbox_card(market: Market) -> None:
    from django.test import Client  # noqa: PLC0415 -- optional

    _, gig_id = published_gig(market.market)
    client = Client()
    rahim = signed_up(client, "rahim")

    response = client.post(f"/gigs/{gig_id}/checkout", {"package": "Basic", "card": "tok_visa"})
    assert response.status_code == 302
    order_id = _order_id(response["Location"])
    page = client.get(f"/orders/{order_id}")
    assert page.json() == {"id": order_id, "state": "awaiting_requirements", "total": "55.75 USD"}
    order = market.market.orders.get(order_id)
    assert order.buyer_id == rahim
    (charge,) = market.sandbox.charges
    assert str(charge.captured) == "55.75 USD"
    assert market.market.audit() == []


def test_3d_secure_is_finished_by_the_signed_webhook(market: Market) -> None:
    from django.test import Client  # noqa: PLC0415 -- optional

    _, gig_id = published_gig(market.market)
    client = Client()
    signed_up(client, "rahim")
    response = client.post(
        f"/gigs/{gig_id}/checkout", {"package": "Basic", "card": "tok_requires_action"}
    )
    assert response.status_code == 302
    (charge,) = market.sandbox.charges
    assert response["Location"] == charge.action_url  # off to the buyer's bank
    (order_id,) = {event.order_id for event in market.market.events()}  # order.placed
    assert market.market.orders.get(order_id).state is OrderState.PENDING_PAYMENT

    market.sandbox.complete_action(charge.id)  # the buyer passes 3-D Secure at the bank
    deliveries = market.sandbox.deliver_webhooks()
    assert deliveries
    gateway = Client(enforce_csrf_checks=True)  # the gateway has no CSRF token: none is needed

    def post(body: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
        answer = gateway.post(
            "/webhooks/gateway", body, content_type="application/json", headers=headers
        )
        return answer.status_code, answer.content

    for delivery in deliveries:
        assert post(delivery.payload, dict(delivery.headers)) == (200, b"ok")
    assert market.market.orders.get(order_id).state is OrderState.AWAITING_REQUIREMENTS
    for delivery in deliveries:  # a provider's retry books nothing twice
        assert post(delivery.payload, dict(delivery.headers)) == (200, b"duplicate")
    last = deliveries[-1]
    assert post(last.payload + b" ", dict(last.headers))[0] == 400  # not what was signed
    assert post(last.payload, {})[0] == 400  # no signature at all
    assert gateway.get("/webhooks/gateway").status_code == 405
    assert market.market.audit() == []


def test_errors_are_answered_once_by_the_middleware(market: Market) -> None:
    from django.test import Client  # noqa: PLC0415 -- optional

    _, gig_id = published_gig(market.market)
    client = Client()
    assert client.post(f"/gigs/{gig_id}/checkout", {"package": "Basic"}).status_code == 403
    signed_up(client, "rahim")
    missing = client.post("/gigs/no-such-gig/checkout", {"package": "Basic", "card": "tok_visa"})
    assert missing.status_code == 404
    assert missing.json()["error"] == "gig_not_found"
    wrong = client.post(f"/gigs/{gig_id}/checkout", {"package": "Deluxe", "card": "tok_visa"})
    assert wrong.status_code == 422
    assert wrong.json()["errors"][0]["field"]
    assert client.post("/accounts", {"username": ""}).status_code == 422


def test_the_jobs_command_completes_orders_and_delivers_events(market: Market) -> None:
    from django.core.management import call_command  # noqa: PLC0415 -- optional
    from django.test import Client  # noqa: PLC0415

    nadia, gig_id = published_gig(market.market)
    client = Client()
    rahim = signed_up(client, "rahim")
    response = client.post(f"/gigs/{gig_id}/checkout", {"package": "Basic", "card": "tok_visa"})
    order_id = _order_id(response["Location"])
    orders = market.market.orders
    orders.submit_requirements(order_id, buyer_id=rahim, answers={})
    orders.deliver(order_id, seller_id=nadia)

    out = io.StringIO()
    call_command("gigmarket_jobs", stdout=out)
    assert orders.get(order_id).state is OrderState.DELIVERED
    assert out.getvalue().startswith("timers 0, reconciled 0, events ")
    assert market.market.events() == []  # delivered and acknowledged

    market.clock.advance(timedelta(days=3))  # the buyer stays silent
    out = io.StringIO()
    call_command("gigmarket_jobs", stdout=out)
    assert orders.get(order_id).state is OrderState.COMPLETED
    assert out.getvalue().startswith("timers 1, reconciled 0, events ")
    assert str(market.market.seller_balance(nadia, "USD")["pending"]) == "40.00 USD"
    assert market.market.events() == []
