"""The reference web app (``examples/gigmarket-web``), served for real.

The app is a separate distribution: on a machine with only gigmarket
installed these tests skip, saying what to install. CI installs it and sets
``GIGMARKET_REQUIRE_BROWSER=1``, which turns every such skip into a failure.
"""

from __future__ import annotations

import importlib.util
import os
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NoReturn

import pytest

STORY_START = datetime(2026, 11, 2, 10, 0, tzinfo=UTC)


def unavailable(reason: str) -> NoReturn:
    """Skip, or fail when CI requires the browser test to run."""
    if os.environ.get("GIGMARKET_REQUIRE_BROWSER") == "1":
        pytest.fail(f"GIGMARKET_REQUIRE_BROWSER=1, but {reason}")
    pytest.skip(reason)


def require_web_app() -> None:
    for module in ("gigmarket_web", "uvicorn"):
        if importlib.util.find_spec(module) is None:
            unavailable(
                f"{module} is not installed: python -m pip install -e examples/gigmarket-web"
            )


@dataclass
class Served:
    url: str
    app: Any
    clock: Any


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    """The app in demo mode on a fresh SQLite file, served by uvicorn on a free
    loopback port in a background thread; the jobs run only when asked."""
    require_web_app()
    import uvicorn  # noqa: PLC0415 -- optional, installed with the app
    from gigmarket_web import create_app  # noqa: PLC0415

    from gigmarket import ManualClock  # noqa: PLC0415

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    clock = ManualClock(STORY_START)
    app = create_app(
        database=tmp_path / "web.db",
        clock=clock,
        base_url=url,
        secret="test-secret",
        demo=True,
        tick_every=None,
    )
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", ws="none")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            pytest.fail("the app's server did not start")
        time.sleep(0.05)
    try:
        yield Served(url=url, app=app, clock=clock)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
