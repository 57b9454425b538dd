"""Fixtures of the Stripe adapter's tests: localstripe, started once per session.

Without localstripe installed the emulator tests skip and say why, except
under CI (``CI`` set), where a skip would hide the run: there they fail.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Iterator

import pytest


@pytest.fixture(scope="session")
def localstripe_url() -> Iterator[str]:
    """The base URL of a localstripe process on a free loopback port."""
    if importlib.util.find_spec("localstripe") is None:
        if os.environ.get("CI"):
            pytest.fail("CI must install localstripe: the emulator checks may not skip in CI")
        pytest.skip(
            "localstripe is not installed: pip install -e 'adapters/gigmarket-stripe[test]'"
        )
    from gigmarket_stripe.testing import localstripe  # noqa: PLC0415 -- needs the extra

    with localstripe() as url:
        yield url
