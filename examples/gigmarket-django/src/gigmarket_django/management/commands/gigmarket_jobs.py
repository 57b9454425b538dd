"""``python manage.py gigmarket_jobs [--loop SECONDS]``: timers, reconciliation, events."""

from __future__ import annotations

import logging
import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from gigmarket import Marketplace
from gigmarket.orders import OrderEvent

from gigmarket_django.apps import market

log = logging.getLogger("gigmarket_django.events")


# --8<-- [start:jobs]
def send(event: OrderEvent) -> None:
    """Where the project's side effects go: e-mails, webhooks to its own systems."""
    log.info("%s %s order=%s", event.id, event.type, event.order_id)


def run_jobs(m: Marketplace, *, batch: int = 100) -> dict[str, int]:
    """One round of every job; each is idempotent, so a late or doubled run is harmless."""
    done = {"timers": m.run_due().count}
    report = m.reconcile()
    if report.skipped:  # the gateway could not answer: the next run tries again
        raise CommandError(f"reconcile: {len(report.skipped)} operations not settled")
    done["reconciled"] = len(report.fixed)
    done["events"] = 0
    while events := m.events(limit=batch):
        for event in events:
            send(event)
        m.acknowledge([event.id for event in events])  # after sending: at least once
        done["events"] += len(events)
    return done


class Command(BaseCommand):
    help = "Run gigmarket's timers and reconciliation, and deliver its events"

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--loop", type=float, help="repeat every so many seconds")

    def handle(self, *args: Any, **options: Any) -> None:
        loop: float | None = options["loop"]
        while True:
            done = run_jobs(market())
            self.stdout.write(", ".join(f"{job} {count}" for job, count in done.items()))
            if loop is None:
                return
            time.sleep(loop)


# --8<-- [end:jobs]
