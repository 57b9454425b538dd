"""Acme's API over real HTTP: the transport a deployed adapter uses, and the
fake served on loopback for tests that run gigmarket in another process.

:class:`HTTPTransport` is what :class:`~gigmarket_acmepay.AcmePayGateway`
builds from a ``base_url`` setting (``GIGMARKET_GATEWAY_BASE_URL`` for the
command line). It sorts failures the way the adapter needs: no connection is
:class:`~gigmarket_acmepay.fake.AcmeConnectionError` (nothing was sent), a
timeout or a cut answer is :class:`~gigmarket_acmepay.fake.AcmeTimeout`.
:func:`serve` runs a :class:`~gigmarket_acmepay.FakeAcmeServer` behind an
HTTP server on ``127.0.0.1`` and a free port, in a thread.
"""

from __future__ import annotations

import http.client
import json
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from gigmarket_acmepay.fake import AcmeConnectionError, AcmeResponse, AcmeTimeout, FakeAcmeServer

__all__ = ["DEFAULT_TIMEOUT", "HTTPTransport", "serve"]

DEFAULT_TIMEOUT = 30.0


class HTTPTransport:
    """Acme's API at ``base_url`` (``https://api.acme.example``), with ``timeout`` seconds."""

    def __init__(self, base_url: str, *, timeout: float = DEFAULT_TIMEOUT) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout

    def __repr__(self) -> str:
        return f"HTTPTransport({self.base_url!r})"

    def request(
        self,
        method: str,
        path: str,
        *,
        headers: Mapping[str, str],
        body: Mapping[str, Any] | None = None,
    ) -> AcmeResponse:
        data = None if body is None else json.dumps(body).encode()
        sent = {**headers, "Content-Type": "application/json"}
        request = urllib.request.Request(  # noqa: S310 -- the configured API address
            self.base_url + path, data=data, headers=sent, method=method
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310
                return _response(response.status, response.read(), response.headers.items())
        except urllib.error.HTTPError as error:
            with error:
                return _response(error.code, error.read(), error.headers.items())
        except urllib.error.URLError as error:  # while connecting or sending
            route = path.split("?", maxsplit=1)[0]
            raise AcmeConnectionError(f"could not connect: {method} {route}") from error
        except (OSError, http.client.HTTPException) as error:  # while waiting for the answer
            route = path.split("?", maxsplit=1)[0]
            raise AcmeTimeout(f"no complete answer: {method} {route}") from error


def _response(status: int, body: bytes, headers: Any) -> AcmeResponse:
    return AcmeResponse(status, json.loads(body) if body else {}, dict(headers))


@contextmanager
def serve(server: FakeAcmeServer) -> Iterator[str]:
    """Serve ``server`` over HTTP on loopback; yields its base URL. A request the
    fake answers with :class:`AcmeTimeout` gets its connection closed unanswered."""

    class Handler(BaseHTTPRequestHandler):
        def _handle(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = json.loads(self.rfile.read(length)) if length else None
            try:
                answer = server.request(
                    self.command, self.path, headers=dict(self.headers.items()), body=body
                )
            except (AcmeTimeout, AcmeConnectionError):
                self.close_connection = True
                return
            payload = json.dumps(answer.body).encode()
            self.send_response(answer.status)
            for name, value in answer.headers.items():
                self.send_header(name, value)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        do_GET = do_POST = _handle  # noqa: N815 -- http.server's naming

        def log_message(self, format: str, *args: Any) -> None:
            """Quiet: tests read their own output."""

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join()
