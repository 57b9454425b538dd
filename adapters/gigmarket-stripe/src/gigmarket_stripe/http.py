"""The HTTP client the adapter gives the ``stripe`` library: the standard
library's, with a timeout, and failures sorted by whether the request left.

Money depends on one question about a failed call: *could Stripe have
processed it?* The ``stripe`` library folds every network failure into one
``APIConnectionError``; this client raises :class:`RequestNotSent` (a subclass)
when the connection itself could not be made, so that the adapter can say
``GatewayUnavailable`` (surely nothing happened) instead of ``OutcomeUnknown``
(ask before doing anything else). A timeout while waiting for the answer is
the other kind: the request was sent.
"""

from __future__ import annotations

import http.client
import urllib.error
import urllib.request
from collections.abc import Mapping
from typing import Any

import stripe

__all__ = ["DEFAULT_TIMEOUT", "RequestNotSent", "StdlibHTTPClient"]

DEFAULT_TIMEOUT = 30.0
"""Seconds to wait for Stripe to connect, and then for each read of its answer."""


class RequestNotSent(stripe.APIConnectionError):
    """The connection to Stripe could not be made: the request never left."""

    should_retry = True


class StdlibHTTPClient(stripe.HTTPClient):
    """``urllib`` with a timeout; no third-party HTTP library needed."""

    name = "gigmarket-urllib"

    def __init__(self, *, timeout: float = DEFAULT_TIMEOUT) -> None:
        super().__init__()
        self.timeout = timeout

    def request(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str] | None,
        post_data: Any = None,
        *,
        _usage: list[str] | None = None,
    ) -> tuple[str, int, Mapping[str, str]]:
        body = post_data.encode("utf-8") if isinstance(post_data, str) else post_data
        request = urllib.request.Request(  # noqa: S310 -- the URL is the configured API base
            url, data=body, headers=dict(headers or {}), method=method.upper()
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310
                return _answer(response.read(), response.status, response.headers.items())
        except urllib.error.HTTPError as error:
            with error:
                return _answer(error.read(), error.code, error.headers.items())
        except urllib.error.URLError as error:
            # urllib raises URLError while connecting and sending; the answer
            # has not been waited for yet, and an incomplete request is not processed.
            raise RequestNotSent(  # type: ignore[no-untyped-call]
                f"could not connect to Stripe: {type(error.reason).__name__}"
            ) from error
        except (OSError, http.client.HTTPException) as error:  # a timeout or a cut while reading
            raise stripe.APIConnectionError(  # type: ignore[no-untyped-call]
                f"no complete answer from Stripe: {type(error).__name__}", should_retry=False
            ) from error

    def request_stream(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str] | None,
        post_data: Any = None,
        *,
        _usage: list[str] | None = None,
    ) -> tuple[Any, int, Mapping[str, str]]:
        return self.request(method, url, headers, post_data)

    def close(self) -> None:
        """Nothing to close: each request has its own connection."""

    def __repr__(self) -> str:
        return f"StdlibHTTPClient(timeout={self.timeout})"


def _answer(body: bytes, status: int, headers: Any) -> tuple[str, int, Mapping[str, str]]:
    return body.decode("utf-8", "replace"), status, {k.lower(): v for k, v in headers}
