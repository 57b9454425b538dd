"""The manual clock: it moves only forward, and only in aware time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from gigmarket.clock import ManualClock, SystemClock, require_aware
from gigmarket.errors import ValidationError

START = datetime(2026, 1, 1, tzinfo=UTC)


def test_a_manual_clock_moves_when_told_and_reports_utc() -> None:
    clock = ManualClock(datetime(2026, 1, 1, 6, tzinfo=timezone(timedelta(hours=6))))
    assert clock.now() == START  # Dhaka 06:00 is midnight UTC
    assert clock.now().tzinfo is UTC
    assert clock.advance(timedelta(days=14)) == START + timedelta(days=14)
    assert clock.set(START + timedelta(days=20)) == clock.now()


@pytest.mark.parametrize(
    "move",
    [
        lambda c: c.advance(timedelta(seconds=-1)),
        lambda c: c.set(START - timedelta(seconds=1)),
        lambda c: c.set(datetime(2026, 2, 1)),  # noqa: DTZ001 -- the naive time under test
    ],
    ids=["advance backward", "set backward", "naive"],
)
def test_a_manual_clock_refuses_to_go_back_or_guess(move: object) -> None:
    clock = ManualClock(START)
    with pytest.raises(ValidationError):
        move(clock)  # type: ignore[operator]
    assert clock.now() == START


def test_naive_and_non_datetimes_are_refused() -> None:
    with pytest.raises(ValidationError):
        ManualClock(datetime(2026, 1, 1))  # noqa: DTZ001
    with pytest.raises(ValidationError) as refused:
        require_aware("2026-01-01", "when")
    assert refused.value.field == "when"
    assert SystemClock().now().tzinfo is UTC
