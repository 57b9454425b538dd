"""What an operator does to a store: open it from a URL, migrate it, run its
timers, reconcile its payments, decide a payment the gateway cannot settle.

The ``gigmarket`` command line is a thin shell over these functions (and over
:mod:`gigmarket.admin.audit`); a host's own scheduler can call them too.

A store is named by a URL (:mod:`gigmarket.storage.urls`) and opened by the
adapter the URL names (:func:`gigmarket.storage.open_store`); every function
here takes it as a :class:`gigmarket.ports.Storage`.

A payment gateway is named as the host's configuration names it
(:mod:`gigmarket.gateways.registry`) and configured from ``GIGMARKET_GATEWAY_*``
environment variables (:func:`gateway_settings`), so that its secrets never
appear on a command line.

Only :func:`migrate_store` creates or changes a schema. Every other function
first reads the store's schema version without touching anything, and refuses
a store that does not exist, is older than this code (run ``gigmarket
migrate``) or newer (:class:`~gigmarket.errors.SchemaTooNew`).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any

import attrs

from gigmarket.cashier import PaymentOperation, ReconcileFix
from gigmarket.cashier.audit import Attention
from gigmarket.cashier.resolve import resolution
from gigmarket.clock import Clock, SystemClock, require_aware
from gigmarket.errors import GatewayMisconfigured, GigmarketError, ValidationError
from gigmarket.gateways import registry
from gigmarket.gateways.protocols import CollectionGateway, DisbursementGateway
from gigmarket.gateways.secret import REDACTED
from gigmarket.marketplace import Marketplace
from gigmarket.orders import LifecyclePolicy, fiverr_policy, upwork_policy
from gigmarket.ports import Storage
from gigmarket.retry import retrying
from gigmarket.storage import migrate_store, open_store, stored_version
from gigmarket.storage.urls import StoreLocation, parse_location

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
    storage: Storage,
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
    """The adapter registered as ``name`` (:mod:`gigmarket.gateways.registry`),
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
    storage: Storage,
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
    storage: Storage,
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
