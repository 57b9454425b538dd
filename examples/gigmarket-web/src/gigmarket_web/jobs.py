"""The operator's jobs: what cron, Celery beat or a worker runs in production.

One :meth:`Jobs.tick` does, in order:

1. (sandbox only) POSTs the webhooks the sandbox gateway has due to the app's
   own ``/webhooks/gateway`` endpoint, over real HTTP, exactly as a provider
   would; a real provider needs no help here.
2. ``market.run_due()``: timers (auto-completion, clearance, expiry) and the
   card refunds they queue.
3. ``market.reconcile()``: every payment left open is settled with the
   gateway's word (a lost answer, a webhook that never came).
4. Delivers the outbox: each unacknowledged domain event is "sent" (here:
   logged and kept for the events page), then acknowledged.

Every step is idempotent, so a tick that runs twice, or on two machines at
once, does no harm. :class:`Ticker` runs ticks on a background thread; a
host with cron or a task queue calls :meth:`Jobs.tick` (or one step) instead.
"""

from __future__ import annotations

import logging
import threading
import urllib.error
import urllib.request
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from gigmarket import Marketplace
from gigmarket.gateways import SandboxGateway
from gigmarket.orders import OrderEvent

__all__ = ["EventLog", "Jobs", "TickReport", "Ticker"]

_log = logging.getLogger("gigmarket_web.jobs")


@dataclass(frozen=True)
class TickReport:
    """What one tick did."""

    at: datetime
    webhooks: tuple[int, ...] = ()
    """The HTTP status the endpoint answered to each webhook POSTed."""
    timers_fired: int = 0
    reconciled: int = 0
    events: int = 0


@dataclass
class EventLog:
    """The events delivered so far, newest first (what an e-mail sender would see)."""

    limit: int = 500
    _events: deque[OrderEvent] = field(default_factory=deque)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, events: Sequence[OrderEvent]) -> None:
        with self._lock:
            for event in events:
                self._events.appendleft(event)
            while len(self._events) > self.limit:
                self._events.pop()

    def recent(self) -> list[OrderEvent]:
        with self._lock:
            return list(self._events)


class Jobs:
    """The periodic work of one marketplace; ``webhook_url`` is the app's own endpoint."""

    def __init__(self, market: Marketplace, *, webhook_url: str, events: EventLog) -> None:
        if not webhook_url.startswith(("http://", "https://")):
            raise ValueError(f"webhook_url must be an http(s) URL, not {webhook_url!r}")
        self.market = market
        self.webhook_url = webhook_url
        self.events = events
        self._lock = threading.Lock()

    def deliver_gateway_webhooks(self) -> list[int]:
        """Play the sandbox's webhook sender: POST each due delivery to the endpoint."""
        sandbox = self.market.gateway
        if not isinstance(sandbox, SandboxGateway):
            return []  # a real gateway sends its own
        statuses = []
        for delivery in sandbox.deliver_webhooks():
            request = urllib.request.Request(  # noqa: S310 -- the scheme is checked above
                self.webhook_url,
                data=delivery.payload,
                headers={**delivery.headers, "Content-Type": "application/json"},
                method="POST",
            )
            try:
                with urllib.request.urlopen(request, timeout=10) as answer:  # noqa: S310
                    statuses.append(int(answer.status))
            except urllib.error.HTTPError as error:
                statuses.append(error.code)
                _log.warning("webhook answered %s; reconcile will catch up", error.code)
        return statuses

    # --8<-- [start:tick]
    def deliver_events(self, batch: int = 100) -> int:
        """Send every pending domain event, then acknowledge it (at least once)."""
        delivered = 0
        while events := self.market.events(limit=batch):
            for event in events:  # here a host sends e-mails, webhooks, analytics
                _log.info("event %s %s order=%s", event.sequence, event.type, event.order_id)
            self.events.add(events)
            self.market.acknowledge([event.id for event in events])
            delivered += len(events)
        return delivered

    def tick(self) -> TickReport:
        """One round of every job (one at a time within this process)."""
        with self._lock:
            webhooks = self.deliver_gateway_webhooks()
            due = self.market.run_due()
            reconciled = self.market.reconcile()
            events = self.deliver_events()
            return TickReport(
                at=self.market.clock.now(),
                webhooks=tuple(webhooks),
                timers_fired=due.count,
                reconciled=len(reconciled.fixed),
                events=events,
            )

    # --8<-- [end:tick]


# --8<-- [start:ticker]
class Ticker:
    """Runs :meth:`Jobs.tick` every ``every`` seconds on a daemon thread."""

    def __init__(self, jobs: Jobs, *, every: float) -> None:
        self._jobs = jobs
        self._every = every
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="gigmarket-jobs", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=self._every + 10)

    def _run(self) -> None:
        while not self._stop.wait(self._every):
            try:
                self._jobs.tick()
            except Exception:  # a failed tick is retried by the next one
                _log.exception("the jobs' tick failed")


# --8<-- [end:ticker]
