"""What an operator does to a store: open it from a URL, migrate it, run its
timers, reconcile its payments, decide a payment the gateway cannot settle.

The ``gigmarket`` command line is a thin shell over these functions (and over
:mod:`gigmarket.store_audit`); a host's own scheduler can call them too.

A store is named by a URL:

* ``sqlite:///relative/path.db`` or ``sqlite:////absolute/path.db`` (the
  SQLAlchemy convention: what follows ``sqlite:///`` is the path as written),
  or a plain file path;
* ``postgresql://user@host:5432/dbname``, optionally with ``?schema=name``
  for a store that lives in a PostgreSQL schema other than ``public``.

A payment gateway is named as the host's configuration names it
(:mod:`gigmarket.payments.registry`) and configured from ``GIGMARKET_GATEWAY_*``
environment variables (:func:`gateway_settings`), so that its secrets never
appear on a command line.

Only :func:`migrate_store` creates or changes a schema. Every other function
first reads the store's schema version without touching anything, and refuses
a store that does not exist, is older than this code (run ``gigmarket
migrate``) or newer (:class:`~gigmarket.errors.SchemaTooNew`).
"""

from __future__ import annotations

import re
import sqlite3
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import closing, contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Literal
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import attrs

from gigmarket.cashier import PaymentOperation, ReconcileFix
from gigmarket.cashier.audit import Attention
from gigmarket.cashier.resolve import resolution
from gigmarket.clock import Clock, SystemClock, require_aware
from gigmarket.errors import (
    GatewayMisconfigured,
    GigmarketError,
    SchemaTooNew,
    StorageError,
    ValidationError,
)
from gigmarket.marketplace import Marketplace
from gigmarket.orders import LifecyclePolicy, fiverr_policy, upwork_policy
from gigmarket.payments import registry
from gigmarket.payments.protocols import CollectionGateway, DisbursementGateway
from gigmarket.payments.secret import REDACTED
from gigmarket.retry import retrying
from gigmarket.storage import sqlite_schema
from gigmarket.storage.sqlite import SQLiteStorage
from gigmarket.storage.urls import redact_url, scrub, url_secrets

__all__ = [
    "GATEWAY_VARIABLE_PREFIX",
    "POLICIES",
    "DueSummary",
    "ReconcileSummary",
    "StoreLocation",
    "gateway_settings",
    "migrate_store",
    "open_gateway",
    "open_store",
    "parse_duration",
    "parse_instant",
    "parse_location",
    "reconcile_store",
    "resolve_operation",
    "run_due",
    "stored_version",
]

POLICIES: dict[str, Callable[..., LifecyclePolicy]] = {
    "fiverr": fiverr_policy,
    "upwork": upwork_policy,
}
"""The policy presets an operator can name (``--policy``); each takes the
preset's overrides as keywords (``POLICIES["fiverr"](gateway="acmepay")``)."""

REFUNDS_PER_RUN = 10_000
"""Queued card refunds ``run-due`` sends at most, per run."""

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
def _secrets_kept(location: StoreLocation) -> Iterator[None]:
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


# -- schema versions ----------------------------------------------------------


def _code_version(location: StoreLocation) -> int:
    if location.engine == "sqlite":
        return sqlite_schema.SCHEMA_VERSION
    from gigmarket.storage import postgres_schema  # noqa: PLC0415 -- keep imports light

    return postgres_schema.SCHEMA_VERSION


def stored_version(location: StoreLocation) -> int | None:
    """The schema version recorded in the store, read without changing anything.

    ``None``: there is no such SQLite file. ``0``: the file or PostgreSQL
    schema exists but holds no gigmarket store.
    """
    if location.engine == "sqlite":
        return _sqlite_version(Path(location.target))
    return _postgres_version(location)


def _sqlite_version(path: Path) -> int | None:
    if not path.exists():
        return None
    if not path.is_file():
        raise StorageError(f"{path} is not a file")
    try:
        with closing(sqlite3.connect(path)) as connection:
            table = connection.execute(
                "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'gigmarket_schema'"
            ).fetchone()
            if table is None:
                return 0
            row = connection.execute("SELECT version FROM gigmarket_schema").fetchone()
    except sqlite3.Error as error:
        raise StorageError(f"cannot read {path} as a SQLite database: {error}") from error
    return int(row[0]) if row else 0


def _psycopg() -> Any:
    try:
        import psycopg  # noqa: PLC0415 -- an optional extra
    except ImportError:
        raise StorageError(
            "PostgreSQL stores need psycopg 3: pip install 'gigmarket[postgres]'"
        ) from None
    return psycopg


def _postgres_version(location: StoreLocation) -> int:
    psycopg = _psycopg()
    try:
        with psycopg.connect(location.target, connect_timeout=10, autocommit=True) as connection:
            table = f'"{location.schema}".gigmarket_schema'
            (exists,) = connection.execute("SELECT to_regclass(%s)", (table,)).fetchone()
            if exists is None:
                return 0
            # the schema name was checked against _SCHEMA_NAME: a plain identifier
            row = connection.execute(f"SELECT version FROM {table}").fetchone()  # noqa: S608
    except psycopg.Error as error:
        # The driver's message may quote the URL (a malformed password, say):
        # then it is scrubbed, and not chained, so no traceback shows it either.
        said = str(error).strip()
        shown = location.scrub(said)
        failure = StorageError(f"cannot read the PostgreSQL store: {shown}")
        if shown != said:
            raise failure from None
        raise failure from error
    return int(row[0]) if row else 0


def open_store(location: StoreLocation) -> Any:
    """Open an existing store at this code's schema version, without migrating it.

    The caller closes it. A missing, empty, older or newer store is refused
    with a message that says what to do.
    """
    with _secrets_kept(location):
        found = stored_version(location)
    needed = _code_version(location)
    if found is None:
        raise StorageError(f"no database file at {location.display}")
    if found == 0:
        raise StorageError(
            f"{location.display} holds no gigmarket store; create one with `gigmarket migrate`"
        )
    if found > needed:
        raise SchemaTooNew(found=found, supported=needed)
    if found < needed:
        raise StorageError(
            f"{location.display} has schema version {found}, this gigmarket needs {needed}: "
            "run `gigmarket migrate` first"
        )
    with _secrets_kept(location):
        return _construct(location, migrate=False)


def _construct(location: StoreLocation, *, migrate: bool) -> Any:
    if location.engine == "sqlite":
        return SQLiteStorage(location.target, migrate=migrate)
    _psycopg()
    from gigmarket.storage.postgres import PostgresStorage  # noqa: PLC0415 -- an optional extra

    return PostgresStorage(location.target, schema=location.schema, migrate=migrate)


def migrate_store(location: StoreLocation) -> tuple[int, int]:
    """Migrate the store forward to this code's schema version, creating it if
    it does not exist; return the versions before and after.

    Safe to run repeatedly and from two processes at once: the adapters
    migrate under a lock, each migration in one transaction.
    """
    with _secrets_kept(location):
        before = stored_version(location) or 0
        needed = _code_version(location)
        if before > needed:
            raise SchemaTooNew(found=before, supported=needed)
        storage = _construct(location, migrate=True)
        try:
            after = int(storage.schema_version())
        finally:
            storage.close()
    return before, after


# -- timers -------------------------------------------------------------------


def parse_instant(text: str, *, field: str = "--until") -> datetime:
    """An ISO 8601 time with its zone (``2026-01-20T09:00:00Z``); a time without
    one is refused, never taken as local time."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ValidationError(
            f"{text!r} is not an ISO 8601 time such as 2026-01-20T09:00:00Z", field=field
        ) from None
    if moment.tzinfo is None:
        raise ValidationError(
            f"{text!r} has no time zone: add one, as in 2026-01-20T09:00:00Z", field=field
        )
    return moment


_DURATION = re.compile(r"(?P<n>[1-9][0-9]{0,5})(?P<unit>[smhd])")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


def parse_duration(text: str, *, field: str = "--open-limit") -> timedelta:
    """A positive whole number of seconds, minutes, hours or days: ``90s``,
    ``30m``, ``24h``, ``7d``."""
    match = _DURATION.fullmatch(text.strip()) if isinstance(text, str) else None
    if match is None:
        raise ValidationError(f"{text!r} is not a duration such as 30m, 24h or 7d", field=field)
    return timedelta(**{_UNITS[match["unit"]]: int(match["n"])})


@attrs.frozen(kw_only=True)
class DueSummary:
    """What :func:`run_due` did: every timer it retired, as (timer, order, outcome)."""

    until: datetime
    executed: tuple[tuple[str, str, str], ...] = ()
    refunds: tuple[PaymentOperation, ...] = ()
    """Card refunds sent to the gateway after the timers (when one was given),
    as they ended up."""

    @property
    def count(self) -> int:
        return len(self.executed)

    def outcomes(self) -> Counter[str]:
        """How many timers ended with each outcome (``auto_complete``, ``cleared``...)."""
        return Counter(outcome for _, _, outcome in self.executed)

    def failures(self) -> list[tuple[str, str, str]]:
        """The timers whose action was refused (each recorded as ``failed: <code>``)."""
        return [done for done in self.executed if done[2].startswith("failed")]


def run_due(
    storage: Any,
    *,
    policy: LifecyclePolicy,
    gateway: CollectionGateway | None = None,
    payouts: DisbursementGateway | None = None,
    until: datetime | None = None,
    clock: Clock | None = None,
    batch: int = 100,
    progress: Callable[[int], None] | None = None,
) -> DueSummary:
    """Run every timer due at or before ``until`` (default: now), in batches of
    ``batch``, calling ``progress(count so far)`` after each full batch.

    Runs through a :class:`~gigmarket.marketplace.Marketplace`, so releases
    see the catalog's seller levels (top-rated sellers clear sooner) exactly
    as the host's own calls do. ``policy`` must be the host's. A time in the
    future is refused: a timer never runs before it is due. Running again
    runs nothing more.
    """
    clock = clock if clock is not None else SystemClock()
    now = clock.now()
    if until is None:
        until = now
    else:
        until = require_aware(until, "--until")
        if until > now:
            raise ValidationError(
                f"{until.isoformat()} is in the future; a timer never runs before it is due",
                field="--until",
            )
    market = Marketplace(storage, gateway=gateway, payouts=payouts, policy=policy, clock=clock)
    executed: list[tuple[str, str, str]] = []
    while True:
        run = market.orders.run_due(until, limit=batch)
        executed.extend(run.executed)
        if run.count < batch:
            break
        if progress is not None:
            progress(len(executed))
    refunds: list[PaymentOperation] = []
    if gateway is not None:  # the charges of orders that expired are settled with its word
        for _, order_id, outcome in executed:
            if outcome == "expire":
                market.cashier.settle_order(order_id)
    if gateway is not None:  # the refunds the timers queued leave now, through the real gateway
        # One pass: a refund the gateway could not take now stays queued for the
        # next run (or reconcile), rather than being tried again in a loop here.
        refunds.extend(market.cashier.send_refunds(limit=REFUNDS_PER_RUN))
    return DueSummary(until=until, executed=tuple(executed), refunds=tuple(refunds))


# -- payment gateways ---------------------------------------------------------

GATEWAY_VARIABLE_PREFIX = "GIGMARKET_GATEWAY_"
"""``GIGMARKET_GATEWAY_API_KEY=...`` configures the gateway with ``api_key=...``."""

_SETTING_NAME = re.compile(r"[a-z_][a-z0-9_]*")
_SHORTEST_REDACTED = 4
"""Setting values shorter than this are not hidden in messages (no secret is that short)."""


def gateway_settings(environ: Mapping[str, str]) -> dict[str, str]:
    """A gateway's configuration from its ``GIGMARKET_GATEWAY_<SETTING>`` variables.

    ``GIGMARKET_GATEWAY_WEBHOOK_SECRET=whsec_...`` becomes
    ``webhook_secret="whsec_..."``: secrets come from the environment (or a
    secrets manager that fills it), never from a command line that ``ps``
    shows to every user of the machine. A variable that is set but empty is
    refused: a secret lost in a deploy should stop the job, not reach the
    adapter as ``""``. No message ever shows a value.
    """
    settings: dict[str, str] = {}
    for variable, value in sorted(environ.items()):
        if not variable.startswith(GATEWAY_VARIABLE_PREFIX):
            continue
        name = variable[len(GATEWAY_VARIABLE_PREFIX) :].lower()
        if not _SETTING_NAME.fullmatch(name):
            raise ValidationError(
                "does not name a gateway setting (letters, digits and _ after the prefix)",
                field=variable,
            )
        if not value.strip():
            raise ValidationError("is set but empty", field=variable)
        settings[name] = value
    return settings


def _variable(setting: str) -> str:
    return f"{GATEWAY_VARIABLE_PREFIX}{setting.upper()}"


def _redact(message: str, values: Iterable[str]) -> str:
    """``message`` with every setting's value replaced by the redaction mark."""
    for value in sorted(values, key=len, reverse=True):
        if len(value) >= _SHORTEST_REDACTED:
            message = message.replace(value, REDACTED)
    return message


def _settings_problem(error: TypeError, settings: Mapping[str, str]) -> str:
    """What a factory's ``TypeError`` says about the settings, in the operator's terms."""
    text = str(error)
    missing = re.search(
        r"missing \d+ required (?:keyword-only |positional )?arguments?: (.*)", text
    )
    if missing is not None:
        names = re.findall(r"'(\w+)'", missing.group(1))
        if names:
            return "not configured: set " + ", ".join(_variable(name) for name in names)
    unexpected = re.search(r"unexpected keyword argument '(\w+)'", text)
    if unexpected is not None:
        name = unexpected.group(1)
        return f"takes no setting {name!r}: unset {_variable(name)}"
    shown = _redact(text, settings.values())
    return f"cannot be built from the {GATEWAY_VARIABLE_PREFIX}* variables: TypeError: {shown}"


def open_gateway(
    name: str, settings: Mapping[str, str]
) -> tuple[CollectionGateway, DisbursementGateway | None]:
    """The adapter registered as ``name`` (:mod:`gigmarket.payments.registry`),
    built with ``settings`` (see :func:`gateway_settings`): it collects, and
    pays out too when it implements the disbursement protocol.

    Every failure is a :class:`~gigmarket.errors.GatewayMisconfigured` (or the
    adapter's own :class:`~gigmarket.errors.GigmarketError`) whose message
    shows no setting's value: a missing setting is named by its variable.
    """
    if not isinstance(name, str) or not name.isidentifier():
        raise ValidationError(f"{name!r} is not a payment gateway name", field="--gateway")
    build = registry.factory(name)
    values = list(settings.values())
    try:
        adapter = build(**settings)
    except TypeError as error:
        raise GatewayMisconfigured(
            _settings_problem(error, settings), gateway=name, operation="configure"
        ) from None
    except GigmarketError as error:
        if _redact(str(error), values) == str(error):
            raise
        raise GatewayMisconfigured(
            _redact(error.message, values), gateway=name, operation="configure"
        ) from None
    except Exception as error:
        raise GatewayMisconfigured(
            f"cannot be built: {type(error).__name__}: {_redact(str(error), values)}",
            gateway=name,
            operation="configure",
        ) from None
    if not isinstance(adapter, CollectionGateway):
        raise GatewayMisconfigured(
            "the adapter does not implement the collection protocol",
            gateway=name,
            operation="configure",
        )
    payouts = adapter if isinstance(adapter, DisbursementGateway) else None
    return adapter, payouts


# -- reconciliation -----------------------------------------------------------

_WAITING = ""
_CLOSED = None


@attrs.frozen(kw_only=True)
class ReconcileSummary:
    """What :func:`reconcile_store` did, over all its runs."""

    gateway: str
    runs: int = 0
    checked: int = 0
    """How many distinct operations were looked at."""
    fixed: tuple[ReconcileFix, ...] = ()
    """Every change of status, in the order made (an operation that moved
    twice, ``unknown`` → ``pending`` → ``succeeded``, is there twice)."""
    waiting: tuple[str, ...] = ()
    """Operations still open at the end: in flight, or pending at the gateway."""
    skipped: tuple[tuple[str, str], ...] = ()
    """(operation id, error code): the gateway could not answer for them now."""
    others: int = 0
    """Open operations made on another gateway, left to a run with that gateway."""
    attention: tuple[Attention, ...] = ()
    """Operations open past the policy's limit: a person must decide them
    (``gigmarket payments resolve``)."""

    def changes(self) -> Counter[str]:
        """How many changes went from each status to each other (``unknown→succeeded``)."""
        return Counter(f"{fix.before}→{fix.after}" for fix in self.fixed)


def reconcile_store(
    storage: Any,
    *,
    gateway: CollectionGateway,
    payouts: DisbursementGateway | None = None,
    policy: LifecyclePolicy,
    clock: Clock | None = None,
    progress: Callable[[int], None] | None = None,
) -> ReconcileSummary:
    """Settle the store's payment operations left open with the gateway's word
    (:meth:`~gigmarket.marketplace.Marketplace.reconcile`), oldest first, past
    the ones that stay open, calling ``progress(operations checked so far)``
    now and then. ``policy`` must be the host's, with ``gateway``'s name as its
    gateway.

    Open operations made on another gateway are left alone and counted:
    ``gateway`` would find no trace of them and send them again.
    """
    market = Marketplace(
        storage,
        gateway=gateway,
        payouts=payouts,
        policy=policy,
        clock=clock if clock is not None else SystemClock(),
    )
    run = market.cashier.reconcile(progress=progress)
    return ReconcileSummary(
        gateway=gateway.name,
        runs=1,
        checked=run.checked,
        fixed=run.fixed,
        waiting=run.waiting,
        skipped=run.skipped,
        others=run.others,
        attention=run.attention,
    )


# -- operators' decisions -------------------------------------------------------


def resolve_operation(
    storage: Any,
    operation_id: str,
    *,
    outcome: str,
    reason: str,
    operator: str,
    reference: str | None = None,
    policy: str = "fiverr",
    clock: Clock | None = None,
) -> PaymentOperation:
    """Record an operator's decision on an open payment operation
    (:meth:`gigmarket.cashier.Cashier.resolve`), without calling any gateway.

    ``policy`` names the host's preset (:data:`POLICIES`); it is built on the
    operation's own gateway, so that the books move the same ledger accounts
    the gateway's answer would have moved.
    """
    decision = resolution(
        operation_id, outcome=outcome, reason=reason, operator=operator, reference=reference
    )
    if policy not in POLICIES:
        raise ValidationError(f"one of {', '.join(sorted(POLICIES))}", field="--policy")
    clock = clock if clock is not None else SystemClock()
    with storage() as uow:
        found = uow.payments.get_operation(decision.operation_id)
    if found is None:
        raise ValidationError(f"no payment operation {operation_id!r}", field="operation_id")
    offline = _Offline(found.gateway)
    market = Marketplace(
        storage,
        gateway=offline,
        payouts=offline,
        policy=POLICIES[policy](gateway=found.gateway),
        clock=clock,
    )

    def attempt() -> PaymentOperation:
        with storage() as uow:
            done = decision.apply(uow, market.cashier.books)
            uow.commit()
            return done

    return retrying(attempt)


class _Offline:
    """The gateway an operator's decision is booked on, by name only: a decision
    never calls the gateway, and any call would be a bug."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __getattr__(self, attribute: str) -> Any:
        raise GatewayMisconfigured(
            "an operator's decision does not call the gateway",
            gateway=self.name,
            operation=attribute,
        )
