"""A programmable plan of failures, for the sandbox gateway and for adapter fakes.

Real gateways fail in ways that matter for money, and each needs a different
reaction from the caller. A test arms the next call of an operation (or the
next webhook) with a :class:`Fault`, runs the code under test, and checks the
reaction.

| fault | what happens | the caller sees |
|---|---|---|
| `unavailable()` | refused before any processing | `GatewayUnavailable` |
| `rate_limit(after)` | "too many requests", nothing processed | `RateLimited` |
| `refuse()` | refused outright as invalid, nothing processed | `InvalidPaymentRequest` |
| `lose_response()` | processed, then the response is lost | `OutcomeUnknown` |
| `delay(d)` | held `d` of clock time, then processed; the caller times out | `OutcomeUnknown` |
| `duplicate()` | (webhook) delivered twice | two equal events |
| `out_of_order()` | (webhook) delivered after the event that follows it | an older event last |
| `delay(d)` | (webhook) delivered `d` of clock time late | a late event |
| `tamper()` | (webhook) the body is changed after signing | `WebhookVerificationFailed` |

>>> from gigmarket.gateways.protocols import Operation
>>> plan = FaultPlan().on(Operation.CHARGE, Fault.lose_response(), Fault.unavailable())
>>> plan.take(Operation.CHARGE).kind, plan.take(Operation.CHARGE).kind
(<FaultKind.LOSE_RESPONSE: 'lose_response'>, <FaultKind.UNAVAILABLE: 'unavailable'>)
>>> plan.take(Operation.CHARGE) is None
True
"""

from __future__ import annotations

import enum
import threading
from collections import deque
from datetime import timedelta

import attrs

from gigmarket.errors import ValidationError
from gigmarket.gateways.protocols import Operation

__all__ = ["Fault", "FaultKind", "FaultPlan"]


class FaultKind(enum.StrEnum):
    """What goes wrong."""

    UNAVAILABLE = "unavailable"
    RATE_LIMIT = "rate_limit"
    REFUSE = "refuse"
    LOSE_RESPONSE = "lose_response"
    DELAY = "delay"
    DUPLICATE = "duplicate"
    OUT_OF_ORDER = "out_of_order"
    TAMPER = "tamper"


_CALL_FAULTS = frozenset(
    {
        FaultKind.UNAVAILABLE,
        FaultKind.RATE_LIMIT,
        FaultKind.REFUSE,
        FaultKind.LOSE_RESPONSE,
        FaultKind.DELAY,
    }
)
_WEBHOOK_FAULTS = frozenset(
    {FaultKind.DUPLICATE, FaultKind.OUT_OF_ORDER, FaultKind.DELAY, FaultKind.TAMPER}
)


@attrs.frozen
class Fault:
    """One failure; build it with the named constructors."""

    kind: FaultKind
    duration: timedelta = timedelta(0)
    """For ``delay``: how long the request (or the webhook) is held."""
    retry_after: timedelta | None = None
    """For ``rate_limit``: the pause the gateway asks for."""

    @classmethod
    def unavailable(cls) -> Fault:
        """Refused before processing: surely nothing happened."""
        return cls(FaultKind.UNAVAILABLE)

    @classmethod
    def rate_limit(cls, retry_after: timedelta | None = timedelta(seconds=1)) -> Fault:
        """Refused as one request too many: surely nothing happened."""
        return cls(FaultKind.RATE_LIMIT, retry_after=retry_after)

    @classmethod
    def refuse(cls) -> Fault:
        """Refused outright, as a request the gateway will not take (an expired
        token, a closed account): nothing happened, and sending the same
        request again will not help."""
        return cls(FaultKind.REFUSE)

    @classmethod
    def lose_response(cls) -> Fault:
        """Processed, but the answer never reaches the caller."""
        return cls(FaultKind.LOSE_RESPONSE)

    @classmethod
    def delay(cls, delay: timedelta) -> Fault:
        """Held for ``delay`` of clock time: for a call, the caller times out
        and the request is processed later (or at once, when retried with the
        same key); for a webhook, it is delivered late."""
        if delay <= timedelta(0):
            raise ValidationError("a delay must be positive", field="delay")
        return cls(FaultKind.DELAY, duration=delay)

    @classmethod
    def duplicate(cls) -> Fault:
        """(Webhook) delivered twice."""
        return cls(FaultKind.DUPLICATE)

    @classmethod
    def out_of_order(cls) -> Fault:
        """(Webhook) held back and delivered after the event that follows it."""
        return cls(FaultKind.OUT_OF_ORDER)

    @classmethod
    def tamper(cls) -> Fault:
        """(Webhook) the body is altered after it was signed."""
        return cls(FaultKind.TAMPER)


class FaultPlan:
    """Faults queued per operation (and for webhooks), used in the order given.

    Each call of an operation takes the next fault queued for it, if any;
    calls without a queued fault behave normally. Thread-safe.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._calls: dict[Operation, deque[Fault]] = {}
        self._webhooks: deque[Fault] = deque()

    def on(self, operation: Operation, *faults: Fault) -> FaultPlan:
        """Queue ``faults`` for the next calls of ``operation``; returns the plan."""
        operation = Operation(operation)
        for fault in faults:
            if fault.kind not in _CALL_FAULTS:
                raise ValidationError(f"{fault.kind} is a webhook fault", field="fault")
        with self._lock:
            self._calls.setdefault(operation, deque()).extend(faults)
        return self

    def on_webhook(self, *faults: Fault) -> FaultPlan:
        """Queue ``faults`` for the next webhook events; returns the plan."""
        for fault in faults:
            if fault.kind not in _WEBHOOK_FAULTS:
                raise ValidationError(f"{fault.kind} is a call fault", field="fault")
        with self._lock:
            self._webhooks.extend(faults)
        return self

    def take(self, operation: Operation) -> Fault | None:
        """The next fault for ``operation``, removed from the plan, or ``None``."""
        with self._lock:
            queue = self._calls.get(Operation(operation))
            return queue.popleft() if queue else None

    def take_webhook(self) -> Fault | None:
        """The next webhook fault, removed from the plan, or ``None``."""
        with self._lock:
            return self._webhooks.popleft() if self._webhooks else None

    def clear(self) -> FaultPlan:
        """Forget every fault still queued (for calls and webhooks); returns the plan.

        A test that armed more faults than it used, or a demo that wants the
        gateway well again, starts over without building a new gateway.
        """
        with self._lock:
            self._calls.clear()
            self._webhooks.clear()
        return self

    def pending(self) -> int:
        """How many faults are still queued (a test can check all were used)."""
        with self._lock:
            return sum(map(len, self._calls.values())) + len(self._webhooks)

    def __repr__(self) -> str:
        return f"FaultPlan(pending={self.pending()})"
