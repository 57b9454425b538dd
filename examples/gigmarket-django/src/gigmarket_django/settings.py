"""Settings of the example project: Django's own, and one ``GIGMARKET`` dict.

The project keeps no Django database (``DATABASES`` is empty): gigmarket keeps
its own tables, through its own storage. A real project keeps its
``DATABASES`` beside ``GIGMARKET``; nothing here is a Django model.
"""

from __future__ import annotations

import os

DEBUG = os.environ.get("DJANGO_DEBUG") == "1"
SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY") or (
    "insecure-example-key" if DEBUG else ""  # Django refuses to start without one
)
ALLOWED_HOSTS = os.environ.get("DJANGO_ALLOWED_HOSTS", "127.0.0.1,localhost").split(",")

INSTALLED_APPS = ["gigmarket_django.apps.GigmarketConfig"]
MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "gigmarket_django.middleware.GigmarketErrors",
]
ROOT_URLCONF = "gigmarket_django.urls"
DATABASES: dict[str, dict[str, str]] = {}
USE_TZ = True
TIME_ZONE = "UTC"

# --8<-- [start:settings]
GIGMARKET = {
    # A SQLite file, or a PostgreSQL URL (postgresql://user@host/db?schema=name).
    "DATABASE": os.environ.get("GIGMARKET_DATABASE", "gigmarket.db"),
    # Production runs `gigmarket migrate` on deploy and opens the store without migrating.
    "MIGRATE": os.environ.get("GIGMARKET_MIGRATE", "1") == "1",
    "POOL_SIZE": int(os.environ.get("GIGMARKET_POOL_SIZE", "10")),
    # The sandbox's test keys; a real gateway's come from the environment, never from git.
    "GATEWAY_API_KEY": os.environ.get("GIGMARKET_GATEWAY_API_KEY", "sk_sandbox_django"),
    "GATEWAY_WEBHOOK_SECRET": os.environ.get(
        "GIGMARKET_GATEWAY_WEBHOOK_SECRET", "whsec_sandbox_django"
    ),
}
# --8<-- [end:settings]
