"""Store URLs: where a store lives, and its URL without secrets in every message.

A store is named by a URL (:func:`parse_location`):

* ``sqlite:///relative/path.db`` or ``sqlite:////absolute/path.db`` (the
  SQLAlchemy convention: what follows ``sqlite:///`` is the path as written),
  or a plain file path;
* ``postgresql://user@host:5432/dbname``, optionally with ``?schema=name``
  for a store that lives in a PostgreSQL schema other than ``public``.

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
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Literal
from urllib.parse import parse_qsl, quote, unquote, urlencode, urlsplit, urlunsplit

import attrs

from gigmarket.errors import GigmarketError, StorageError, ValidationError

__all__ = [
    "MASK",
    "Engine",
    "StoreLocation",
    "is_secret_parameter",
    "parse_location",
    "redact_url",
    "scrub",
    "secrets_kept",
    "url_secrets",
]

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


_SCHEMA_NAME = re.compile(r"[a-z_][a-z0-9_]{0,62}")
Engine = Literal["sqlite", "postgres"]


@attrs.frozen(kw_only=True, repr=False)
class StoreLocation:
    """Where a store lives: a SQLite file, or a PostgreSQL database and schema.

    Its ``repr()`` and :attr:`display` never show a password: neither the
    URL's own nor one passed as a query parameter (``?password=...``).
    """

    engine: Engine
    target: str
    """The SQLite file's path, or the PostgreSQL connection URL (without ``schema``)."""
    schema: str = "public"

    @property
    def display(self) -> str:
        """The location for messages: a PostgreSQL password never appears in it."""
        if self.engine == "sqlite":
            return self.target
        shown = redact_url(self.target)
        return shown if self.schema == "public" else f"{shown} (schema {self.schema})"

    @property
    def secrets(self) -> list[str]:
        """The secrets the location carries (what :meth:`scrub` hides)."""
        return url_secrets(self.target) if self.engine == "postgres" else []

    def scrub(self, text: str) -> str:
        """``text`` (a driver's message, say) without any secret of this location."""
        return scrub(text, self.secrets)

    def __repr__(self) -> str:
        target = redact_url(self.target) if self.engine == "postgres" else self.target
        return f"StoreLocation(engine={self.engine!r}, target={target!r}, schema={self.schema!r})"


@contextmanager
def secrets_kept(location: StoreLocation) -> Iterator[None]:
    """Errors raised inside leave without the location's secrets in their
    message, and without the driver's exception (which may quote them) chained."""
    try:
        yield
    except GigmarketError as error:
        shown = location.scrub(str(error))
        if shown == str(error):
            raise
        raise StorageError(shown) from None
    except Exception as error:  # a driver's own error, not translated below us
        if not location.secrets:
            raise
        raise StorageError(
            f"{type(error).__name__}: {location.scrub(str(error).strip())}"
        ) from None


def parse_location(url: str, *, schema: str | None = None) -> StoreLocation:
    """Read a store URL (see the module's docstring); ``schema`` is the
    ``--schema`` option, which must agree with a ``?schema=`` in the URL."""
    if not isinstance(url, str) or not url.strip():
        raise ValidationError("give a database URL or a file path", field="--db")
    url = url.strip()
    scheme, sep, rest = url.partition("://")
    scheme = scheme.lower() if sep else ""  # "": a plain file path
    if scheme in ("postgresql", "postgres"):
        return _postgres_location(url, schema)
    if scheme not in ("", "sqlite"):
        raise ValidationError(
            f"unsupported database URL scheme {scheme!r}: use sqlite:///PATH, a file path, "
            "or postgresql://...",
            field="--db",
        )
    if schema is not None:
        raise ValidationError("only a PostgreSQL store has a schema", field="--schema")
    if not scheme:
        return StoreLocation(engine="sqlite", target=url)
    if not rest.startswith("/") or len(rest) < 2:
        raise ValidationError(
            "a SQLite URL is sqlite:///relative/path.db or sqlite:////absolute/path.db",
            field="--db",
        )
    return StoreLocation(engine="sqlite", target=rest[1:])


def _postgres_location(url: str, schema: str | None) -> StoreLocation:
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 -- raises ValueError on a malformed port
    except ValueError as error:
        raise ValidationError(f"not a valid PostgreSQL URL ({error})", field="--db") from None
    query = parse_qsl(parts.query, keep_blank_values=True)
    in_url = [value for key, value in query if key == "schema"]
    if len(in_url) > 1 or (in_url and schema is not None and in_url[0] != schema):
        raise ValidationError("the URL's ?schema= and --schema disagree", field="--schema")
    chosen = schema if schema is not None else (in_url[0] if in_url else "public")
    if not _SCHEMA_NAME.fullmatch(chosen):
        raise ValidationError(
            f"{chosen!r} is not a plain lower-case PostgreSQL schema name", field="--schema"
        )
    rest = urlencode([(key, value) for key, value in query if key != "schema"])
    return StoreLocation(
        engine="postgres", target=urlunsplit(parts._replace(query=rest)), schema=chosen
    )
