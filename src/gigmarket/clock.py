"""Time, injected.

No gigmarket code asks the operating system for the time: it asks a
:class:`Clock`. Production passes :class:`SystemClock`; tests and simulations
pass a :class:`ManualClock` and move it forward, so "three days later" takes
no time at all and every run is reproducible.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Protocol, runtime_checkable

from gigmarket.errors import ValidationError

__all__ = ["Clock", "ManualClock", "SystemClock", "require_aware"]


@runtime_checkable
class Clock(Protocol):
    """Anything that can tell the current time as an aware UTC ``datetime``."""

    def now(self) -> datetime:
        """The current instant, timezone-aware, in UTC."""
        ...


def require_aware(moment: object, field: str = "time") -> datetime:
    """Return ``moment`` in UTC, refusing naive datetimes.

    A naive datetime means "local time somewhere", which is how a timer fires
    an hour early twice a year; gigmarket refuses to guess.
    """
    if not isinstance(moment, datetime):
        raise ValidationError(f"expected a datetime, got {type(moment).__name__}", field=field)
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValidationError(
            "naive datetimes are ambiguous; pass a timezone-aware one", field=field
        )
    try:
        return moment.astimezone(UTC)
    except OverflowError:  # datetime.min at UTC-14, say: no such instant in UTC
        raise ValidationError("outside the range of datetimes in UTC", field=field) from None


class SystemClock:
    """The real time, from the operating system."""

    def now(self) -> datetime:
        """The current time, timezone-aware in UTC."""
        return datetime.now(UTC)

    def __repr__(self) -> str:
        return "SystemClock()"


class ManualClock:
    """A clock that only moves when told to: for tests, demos and simulations."""

    def __init__(self, start: datetime) -> None:
        self._now = require_aware(start, "start")

    def now(self) -> datetime:
        """The clock's time: where it started, moved only by ``advance`` and ``set``."""
        return self._now

    def advance(self, delta: timedelta) -> datetime:
        """Move forward by ``delta`` (never backward) and return the new time."""
        if delta < timedelta(0):
            raise ValidationError("a clock does not run backward", field="delta")
        self._now += delta
        return self._now

    def set(self, moment: datetime) -> datetime:
        """Jump to ``moment``, which must not be in this clock's past."""
        moment = require_aware(moment, "moment")
        if moment < self._now:
            raise ValidationError("a clock does not run backward", field="moment")
        self._now = moment
        return self._now

    def __repr__(self) -> str:
        return f"ManualClock({self._now.isoformat()})"
