"""The sandbox's moving parts: a clock-driven timeline and a webhook outbox.

Kept apart from :mod:`gigmarket.gateways.sandbox` so that the gateway reads as
the payment rules, and these as the simulation around them. Neither locks:
the sandbox calls them under its own lock.
"""

from __future__ import annotations

import heapq
import itertools
import json
import logging
import threading
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any, Protocol, TypeVar

import attrs

from gigmarket.clock import Clock
from gigmarket.errors import (
    GatewayIdempotencyConflict,
    GatewayUnavailable,
    InvalidPaymentRequest,
    OutcomeUnknown,
    PaymentError,
    RateLimited,
    ValidationError,
)
from gigmarket.gateways.faults import Fault, FaultKind, FaultPlan
from gigmarket.gateways.protocols import Operation
from gigmarket.gateways.secret import Secret
from gigmarket.gateways.webhooks import (
    SIGNATURE_HEADER,
    WebhookDelivery,
    WebhookEvent,
    encode_event,
    sign,
)
from gigmarket.idempotency import check_key, fingerprint

__all__ = ["CallDesk", "Step", "Timeline", "WebhookOutbox"]

_log = logging.getLogger("gigmarket.gateways.sandbox")

T = TypeVar("T")
R = TypeVar("R", bound="_HasId")


class _HasId(Protocol):
    @property
    def id(self) -> str: ...


@attrs.define(eq=False)
class Step:
    """Work to do when the clock reaches ``due``; ``cancelled`` steps are skipped."""

    due: datetime
    seq: int
    run: Callable[[datetime], None]
    cancelled: bool = False

    def __lt__(self, other: Step) -> bool:
        return (self.due, self.seq) < (other.due, other.seq)


class Timeline:
    """Steps in due order (ties in the order they were scheduled)."""

    def __init__(self) -> None:
        self._seq = itertools.count(1)
        self._steps: list[Step] = []

    def schedule(self, due: datetime, run: Callable[[datetime], None]) -> Step:
        step = Step(due, next(self._seq), run)
        heapq.heappush(self._steps, step)
        return step

    def advance(self, now: datetime) -> None:
        """Run every step due by ``now``, each at its own due time, including
        steps that running them schedules within the window."""
        while self._steps and self._steps[0].due <= now:
            step = heapq.heappop(self._steps)
            if not step.cancelled:
                step.run(step.due)

    def run_waiting(self, now: datetime) -> None:
        """Run every step scheduled so far at ``now``, due or not; the steps
        they schedule wait for the next call."""
        waiting = sorted(self._steps)
        self._steps.clear()
        for step in waiting:
            if not step.cancelled:
                step.run(now)


@attrs.define
class _Outgoing:
    deliver_at: datetime
    seq: int
    payload: bytes
    tamper: bool = False


class WebhookOutbox:
    """Events waiting to be delivered, with the plan's webhook faults applied.

    Each event is encoded when it happens and signed when it is delivered
    (every attempt is signed afresh with the delivery time, as gateways do).
    """

    def __init__(self, secret: Secret, faults: FaultPlan) -> None:
        self._secret = secret
        self._faults = faults
        self._seq = itertools.count(1)
        self._waiting: list[_Outgoing] = []
        self._held: list[_Outgoing] = []

    def emit(self, event: WebhookEvent) -> None:
        outgoing = _Outgoing(event.created_at, next(self._seq), encode_event(event))
        fault = self._faults.take_webhook()
        kind = fault.kind if fault is not None else None
        if fault is not None and kind is FaultKind.DELAY:
            outgoing.deliver_at += fault.duration
        outgoing.tamper = kind is FaultKind.TAMPER
        if kind is FaultKind.OUT_OF_ORDER:
            self._held.append(outgoing)
            return
        self._waiting.append(outgoing)
        if kind is FaultKind.DUPLICATE:
            self._waiting.append(attrs.evolve(outgoing, seq=next(self._seq)))
        for held in self._held:  # the events held back go right after this one
            held.deliver_at = max(held.deliver_at, outgoing.deliver_at)
            held.seq = next(self._seq)
            self._waiting.append(held)
        self._held.clear()

    def deliver(self, now: datetime) -> list[WebhookDelivery]:
        """Everything due by ``now``, in delivery order; events held back
        behind a successor that never came go last."""
        due = sorted(
            (o for o in self._waiting if o.deliver_at <= now), key=lambda o: (o.deliver_at, o.seq)
        )
        self._waiting = [o for o in self._waiting if o.deliver_at > now]
        due.extend(self._held)
        self._held.clear()
        return [self._signed(outgoing, now) for outgoing in due]

    def _signed(self, outgoing: _Outgoing, now: datetime) -> WebhookDelivery:
        header = sign(self._secret, now, outgoing.payload)
        payload = outgoing.payload
        if outgoing.tamper:  # changed after signing, still well-formed JSON
            body = json.loads(payload)
            body["data"]["tampered"] = True
            payload = json.dumps(body, sort_keys=True, separators=(",", ":")).encode()
        return WebhookDelivery(payload=payload, headers={SIGNATURE_HEADER: header})


@attrs.define
class _KeyRecord:
    """What an idempotency key was used for; ``step`` while a delay holds it."""

    operation: Operation
    digest: str
    object_id: str | None = None
    step: Step | None = None


class CallDesk:
    """Every sandbox call passes here: the clock, the fault plan, the
    idempotency keys and delayed requests, under one re-entrant lock.

    ``mutate`` runs a changing call: transport faults first (nothing
    processed), then the key (a replay answers with the object the key made,
    a conflict is refused), then the work, then the faults that strike after
    the work (a lost response). ``read`` runs a status query.
    """

    def __init__(
        self, *, gateway: str, clock: Clock, faults: FaultPlan, timeline: Timeline
    ) -> None:
        self._gateway = gateway
        self._clock = clock
        self._faults = faults
        self._timeline = timeline
        self._keys: dict[str, _KeyRecord] = {}
        self.lock = threading.RLock()

    def now(self) -> datetime:
        """The clock's time, after running everything that was due by then."""
        now = self._clock.now()
        self._timeline.advance(now)
        return now

    def mutate(
        self,
        operation: Operation,
        key: str,
        params: Mapping[str, Any],
        run: Callable[[datetime], R],
        find: Callable[[str], R],
    ) -> R:
        """One idempotent call: faults before, replay or conflict, the work, faults after."""
        with self.lock:
            now, fault = self._begin(operation, key)
            try:
                check_key(key)
            except ValidationError as error:
                raise InvalidPaymentRequest(
                    error.message,
                    gateway=self._gateway,
                    operation=operation,
                    field="idempotency_key",
                ) from error
            digest = fingerprint({"operation": operation.value, **params})
            record = self._keys.get(key)
            if record is not None and (record.operation, record.digest) != (operation, digest):
                raise GatewayIdempotencyConflict(
                    gateway=self._gateway, operation=operation, idempotency_key=key
                )
            if record is not None and record.object_id is not None:
                _log.debug("%s %s: key %s replayed", self._gateway, operation, key)
                result = find(record.object_id)
            elif fault is not None and fault.kind is FaultKind.DELAY and record is None:
                self._hold(operation, key, digest, run, now + fault.duration)
                raise OutcomeUnknown(
                    f"no answer within the timeout (the request is held {fault.duration})",
                    gateway=self._gateway,
                    operation=operation,
                    idempotency_key=key,
                )
            else:  # first time, or a retry overtaking its own delayed first attempt
                if record is not None and record.step is not None:
                    record.step.cancelled = True
                result = self._process(operation, key, digest, run, now)
            if fault is not None and fault.kind is FaultKind.LOSE_RESPONSE:
                _log.debug("%s %s: key %s processed, response lost", self._gateway, operation, key)
                raise OutcomeUnknown(
                    "the connection dropped before the response arrived",
                    gateway=self._gateway,
                    operation=operation,
                    idempotency_key=key,
                )
            return result

    def _begin(self, operation: Operation, key: str | None) -> tuple[datetime, Fault | None]:
        now = self.now()
        fault = self._faults.take(operation)
        kind = fault.kind if fault is not None else None
        if kind is FaultKind.UNAVAILABLE:
            _log.debug("%s %s: refused before processing", self._gateway, operation)
            raise GatewayUnavailable(
                "the connection was refused; nothing was processed",
                gateway=self._gateway,
                operation=operation,
                idempotency_key=key,
                raw_code="503",
            )
        if kind is FaultKind.REFUSE:
            _log.debug("%s %s: refused outright", self._gateway, operation)
            raise InvalidPaymentRequest(
                "the gateway refuses this request; nothing was processed",
                gateway=self._gateway,
                operation=operation,
                idempotency_key=key,
                raw_code="400",
            )
        if fault is not None and kind is FaultKind.RATE_LIMIT:
            raise RateLimited(
                "too many requests; nothing was processed",
                gateway=self._gateway,
                operation=operation,
                idempotency_key=key,
                raw_code="429",
                retry_after=fault.retry_after,
            )
        return now, fault

    def _process(
        self,
        operation: Operation,
        key: str,
        digest: str,
        run: Callable[[datetime], R],
        at: datetime,
    ) -> R:
        result = run(at)
        self._keys[key] = _KeyRecord(operation, digest, result.id)
        _log.debug("%s %s: key %s -> %s", self._gateway, operation, key, result.id)
        return result

    def _hold(
        self,
        operation: Operation,
        key: str,
        digest: str,
        run: Callable[[datetime], R],
        due: datetime,
    ) -> None:
        def late(at: datetime) -> None:
            del self._keys[key]
            try:
                self._process(operation, key, digest, run, at)
            except PaymentError as error:
                # Refused after the caller gave up: it never learns, and a
                # status query finds nothing. As in real life.
                _log.debug("%s %s: key %s refused late: %s", self._gateway, operation, key, error)

        self._keys[key] = _KeyRecord(operation, digest, step=self._timeline.schedule(due, late))

    def read(self, operation: Operation, read: Callable[[], T]) -> T:
        with self.lock:
            _, fault = self._begin(operation, None)
            if fault is not None:  # lost or late: a read changes nothing, so asking again is safe
                raise GatewayUnavailable(
                    "no answer; a read changes nothing, so it is safe to ask again",
                    gateway=self._gateway,
                    operation=operation,
                )
            return read()

    def made(self, key: str, operation: Operation) -> str | None:
        """The id of what ``key`` created through ``operation``, if anything."""
        record = self._keys.get(key)
        if record is None or record.operation is not operation:
            return None
        return record.object_id
