"""The fuzz suite's bookkeeping: how many calls it tried, printed at the end of the run."""

from __future__ import annotations

from collections import Counter

import pytest

CALLS_KEY = pytest.StashKey[Counter[str]]()


@pytest.fixture(scope="session")
def fuzz_calls(request: pytest.FixtureRequest) -> Counter[str]:
    """Calls tried, per store and entry point (``"memory Class.method"``), over the session."""
    return request.config.stash.setdefault(CALLS_KEY, Counter())


def pytest_terminal_summary(
    terminalreporter: pytest.TerminalReporter, config: pytest.Config
) -> None:
    calls = config.stash.get(CALLS_KEY, None)
    if not calls:
        return
    terminalreporter.write_sep("-", "fuzz: public entry points")
    per_store: Counter[str] = Counter()
    points: Counter[str] = Counter()
    for key, count in calls.items():
        store = key.split(" ", 1)[0]
        per_store[store] += count
        points[store] += 1
    detail = ", ".join(
        f"{per_store[store]} on {store} ({points[store]} entry points)"
        for store in sorted(per_store)
    )
    terminalreporter.write_line(f"fuzz: {sum(calls.values())} calls tried: {detail}")
