"""Database URLs without their secrets, for every message that shows one.

A PostgreSQL URL may carry a password twice over: as the userinfo's password
(``postgresql://shop:s3cret@db/market``) and as a query parameter that libpq
reads (``?password=s3cret``, ``?sslpassword=...``). Both are replaced by
:data:`MASK` wherever a URL is shown, and :func:`scrub` takes them out of any
text that might quote them, such as a driver's error message:

>>> redact_url("postgresql://shop:s3cret@db/market?sslmode=require&password=s3cret")
'postgresql://shop:***@db/market?sslmode=require&password=***'
>>> scrub("connection failed for password s3cret", url_secrets("postgresql://shop:s3cret@db/m"))
'connection failed for password ***'
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from urllib.parse import parse_qsl, quote, unquote, urlsplit, urlunsplit

__all__ = ["MASK", "is_secret_parameter", "redact_url", "scrub", "url_secrets"]

MASK = "***"
"""What a secret in a URL or a message is shown as."""

_SECRET_PARAMETER = re.compile(r"pass|secret|token|(?:^|_)key$|credential", re.IGNORECASE)
_SHORTEST = 3
"""Values shorter than this are not scrubbed from free text (they would mangle it)."""


def is_secret_parameter(name: str) -> bool:
    """Whether a URL query parameter holds a secret (``password``, ``sslpassword``,
    ``api_key``, ``token``...)."""
    return bool(_SECRET_PARAMETER.search(name))


def url_secrets(url: str) -> list[str]:
    """Every secret ``url`` carries, raw and percent-decoded, longest first."""
    try:
        parts = urlsplit(url)
        found = [parts.password] if parts.password else []
        query = parse_qsl(parts.query, keep_blank_values=True)
    except ValueError:  # a malformed URL: find what looks like userinfo by hand
        found, query = [], []
    userinfo = re.match(r"[a-z][a-z0-9+.-]*://[^/@?#]*?:([^/@?#]*)@", url, re.IGNORECASE)
    if userinfo is not None and userinfo.group(1):
        found.append(userinfo.group(1))
    found.extend(value for name, value in query if is_secret_parameter(name) and value)
    for raw in re.findall(r"[?&]([^=&#]+)=([^&#]*)", url):
        if is_secret_parameter(unquote(raw[0])) and raw[1]:
            found.append(raw[1])
    variants = {variant for value in found for variant in (value, unquote(value), quote(value))}
    return sorted((v for v in variants if v), key=len, reverse=True)


def scrub(text: str, secrets: Iterable[str]) -> str:
    """``text`` with every secret replaced by :data:`MASK`."""
    for secret in sorted(secrets, key=len, reverse=True):
        if len(secret) >= _SHORTEST:
            text = text.replace(secret, MASK)
    return text


def redact_url(url: str) -> str:
    """``url`` with its userinfo password and its secret query parameters masked."""
    try:
        parts = urlsplit(url)
        password = parts.password
    except ValueError:
        return scrub(url, url_secrets(url))
    netloc = parts.netloc
    if password is not None:
        userinfo, _, host = netloc.rpartition("@")
        netloc = f"{userinfo.partition(':')[0]}:{MASK}@{host}"
    query = "&".join(
        f"{name}={MASK}" if is_secret_parameter(unquote(name)) and value else piece
        for piece in parts.query.split("&")
        if piece
        for name, _, value in [piece.partition("=")]
    )
    shown = urlunsplit(parts._replace(netloc=netloc, query=query))
    return scrub(shown, url_secrets(url))
