"""The example's routes."""

from __future__ import annotations

from django.urls import path

from gigmarket_django import views

urlpatterns = [
    path("accounts", views.sign_up, name="sign-up"),
    path("gigs/<str:gig_id>/checkout", views.checkout, name="checkout"),
    path("orders/<str:order_id>", views.order, name="order"),
    path("webhooks/gateway", views.gateway_webhook, name="gateway-webhook"),
]
