"""The views: sign up, check out and pay, an order's state, and the gateway's webhook.

Authentication is the host's business: here a signed cookie names the
gigmarket account (no passwords, on purpose), where a real project would map
``request.user`` to its gigmarket account id.
"""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseBase, JsonResponse
from django.shortcuts import redirect
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST
from gigmarket import NotFound
from gigmarket.catalog import CreateAccount
from gigmarket.errors import PaymentError, WebhookVerificationFailed

from gigmarket_django.apps import market

ACCOUNT_COOKIE = "gigmarket_account"
_SALT = "gigmarket_django.account"
MAX_WEBHOOK_BODY = 64 * 1024
"""No gateway event comes near this; a larger body is refused unread."""


def signed_in(request: HttpRequest) -> str:
    """The gigmarket account id the request's signed cookie names (403 without one)."""
    account = request.get_signed_cookie(ACCOUNT_COOKIE, default=None, salt=_SALT)
    if not account:
        raise PermissionDenied("sign up first")
    return str(account)


@require_POST
def sign_up(request: HttpRequest) -> HttpResponse:
    account = market().catalog.create_account(
        CreateAccount.model_validate({"username": request.POST.get("username", "")})
    )
    response = JsonResponse({"id": account.id, "username": account.username}, status=201)
    response.set_signed_cookie(
        ACCOUNT_COOKIE, account.id, salt=_SALT, httponly=True, samesite="Lax"
    )
    return response


# --8<-- [start:checkout]
@require_POST
def checkout(request: HttpRequest, gig_id: str) -> HttpResponseBase:
    """Order a gig's package and pay it with the card token the form sent."""
    buyer = signed_in(request)
    m = market()
    order = m.checkout(
        gig_id,
        buyer_id=buyer,
        package=request.POST.get("package", ""),
        idempotency_key=request.POST.get("idempotency_key") or None,  # a double click orders once
    )
    result = m.pay(order.id, buyer_id=buyer, source=request.POST.get("card", ""))
    if result.action_url is not None:
        return redirect(result.action_url)  # 3-D Secure: the buyer's bank sends them back
    return redirect("order", order_id=order.id)


@require_GET
def order(request: HttpRequest, order_id: str) -> HttpResponse:
    """The order as its buyer or seller sees it; ``pending_payment`` after 3-D Secure
    means "waiting for your bank": the webhook (or ``reconcile``) pays it."""
    me = signed_in(request)
    found = market().orders.get(order_id)
    if me not in (found.buyer_id, found.offer.seller_id):
        raise NotFound(f"no order {order_id}")  # another account's order does not exist
    return JsonResponse(
        {
            "id": found.id,
            "state": found.state.value,
            "total": str(found.price.total_charged),
        }
    )


# --8<-- [end:checkout]


# --8<-- [start:webhook]
@csrf_exempt  # the gateway's signature protects this view, not a CSRF token
@require_POST
def gateway_webhook(request: HttpRequest) -> HttpResponse:
    """Verify, deduplicate and apply one gateway event, from the raw body."""
    if len(request.body) > MAX_WEBHOOK_BODY:
        return HttpResponse("too large", status=413)
    try:
        outcome = market().handle_webhook(request.body, dict(request.headers))
    except WebhookVerificationFailed as error:
        return HttpResponse(error.reason, status=400)  # forged, stale or malformed
    except PaymentError:
        return HttpResponse("try again later", status=503)  # the gateway delivers again
    return HttpResponse("duplicate" if outcome.duplicate else "ok")


# --8<-- [end:webhook]
