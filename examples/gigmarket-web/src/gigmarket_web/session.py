"""Who is signed in: a signed cookie naming the account, and nothing more.

This is a reference app. It has no passwords: anyone may sign in as any
username, which is what a demo for a classroom needs and what no production
site may do. A host brings its own authentication (and CSRF protection) and
hands gigmarket the account id it trusts; gigmarket never sees a session.
"""

from __future__ import annotations

import hashlib
import hmac

__all__ = ["COOKIE", "sign", "unsign"]

COOKIE = "gigmarket_web_session"


def _mac(secret: str, value: str) -> str:
    return hmac.new(secret.encode(), value.encode(), hashlib.sha256).hexdigest()


def sign(secret: str, account_id: str) -> str:
    """The cookie value naming ``account_id``."""
    return f"{account_id}.{_mac(secret, account_id)}"


def unsign(secret: str, cookie: str | None) -> str | None:
    """The account id a cookie names, or ``None`` if it is absent or forged."""
    if not cookie or "." not in cookie:
        return None
    account_id, mac = cookie.rsplit(".", 1)
    return account_id if hmac.compare_digest(mac, _mac(secret, account_id)) else None
