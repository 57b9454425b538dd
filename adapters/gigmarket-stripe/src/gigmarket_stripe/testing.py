"""Test helpers: localstripe as a process, HTTP clients that inject faults,
and the drivers gigmarket's conformance kit uses to force outcomes.

`localstripe <https://pypi.org/project/localstripe/>`_ is a stateful Stripe
emulator (``pip install localstripe``). :func:`localstripe` starts it on a free
loopback port in a child process (it is never imported here) and stops it.
It serves PaymentIntents (3-D Secure included), refunds, test cards and
events; it does not honour ``Idempotency-Key``, has no Search API and no
Connect, takes no PaymentIntent ``description`` and emits no refund events.
:class:`LocalstripeDriver` answers ``None``/``False`` for what it cannot force,
and the kit skips those checks, saying so.

Faults are the client's: :class:`FaultyHTTPClient` refuses a request before
sending it (``unavailable``), answers a 429 in Stripe's shape without sending
it (``rate_limit``), or sends it and then drops the answer
(``lose_response``).

Connect (payees, transfers, payouts) runs against
:class:`~gigmarket_stripe.fake_connect.FakeStripeConnect`, a fake built from
Stripe's published API shapes (not Stripe itself): :class:`FakeConnectHTTPClient`
hands the ``stripe`` library's requests to it in memory (with the same
faults), and :class:`FakeConnectDriver` serves the disbursement kit, with
Stripe's test bank tokens (:data:`TEST_BANK_TOKENS`). Importing this module
needs pytest only through gigmarket's kit types.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import stripe
from gigmarket.clock import Clock
from gigmarket.gateways import DeclineCode, Fault, FaultKind, Operation
from gigmarket.gateways.webhooks import WebhookDelivery
from gigmarket.testing.gateways import BankBehaviour, CardBehaviour

from gigmarket_stripe.fake_connect import FakeStripeConnect
from gigmarket_stripe.gateway import SIGNATURE_HEADER
from gigmarket_stripe.http import DEFAULT_TIMEOUT, RequestNotSent, StdlibHTTPClient

__all__ = [
    "ROUTES",
    "TEST_BANK_TOKENS",
    "TEST_CARDS",
    "FakeConnectDriver",
    "FakeConnectHTTPClient",
    "FaultyHTTPClient",
    "LocalstripeDriver",
    "LocalstripeHTTPClient",
    "localstripe",
    "stripe_signature",
]

ROUTES: Mapping[Operation, tuple[str, re.Pattern[str]]] = {
    Operation.CHARGE: ("POST", re.compile(r"/v1/payment_intents$")),
    Operation.CAPTURE: ("POST", re.compile(r"/v1/payment_intents/[^/]+/capture$")),
    Operation.CANCEL: ("POST", re.compile(r"/v1/payment_intents/[^/]+/cancel$")),
    Operation.REFUND: ("POST", re.compile(r"/v1/refunds$")),
    Operation.GET_CHARGE: ("GET", re.compile(r"/v1/payment_intents/pi_[^/]+$")),
    Operation.FIND_CHARGE: ("GET", re.compile(r"/v1/payment_intents/search$")),
    Operation.ONBOARD_PAYEE: ("POST", re.compile(r"/v1/accounts$")),
    Operation.GET_PAYEE: ("GET", re.compile(r"/v1/accounts/acct_[^/]+$")),
    Operation.PAYOUT: ("POST", re.compile(r"/v1/payouts$")),
    Operation.CANCEL_PAYOUT: ("POST", re.compile(r"/v1/payouts/[^/]+/cancel$")),
    Operation.GET_PAYOUT: ("GET", re.compile(r"/v1/payouts/po_[^/]+$")),
}
"""The request each operation of the protocols ends with (the one a fault hits)."""

TEST_CARDS: Mapping[str, str] = {
    "succeed": "4242424242424242",
    "decline": "4000000000000341",
    "require_action": "4000002500003155",
}
"""Stripe's test card numbers that localstripe knows: approved, declined
(``card_declined``), and 3-D Secure required."""

TEST_BANK_TOKENS: Mapping[BankBehaviour, str] = {
    BankBehaviour.PAYS: "btok_us_verified",
    BankBehaviour.FAILS_IN_TRANSIT: "btok_us_verified_accountClosed",
    BankBehaviour.REJECTED: "btok_fake_refused_account_number_invalid",
}
"""The bank token the fake of Stripe's Connect endpoints takes for each of the
kit's behaviours: Stripe's own test tokens, and the fake's refused one (see
:mod:`gigmarket_stripe.fake_connect`)."""

_RATE_LIMITED = json.dumps(
    {
        "error": {
            "type": "invalid_request_error",
            "code": "rate_limit",
            "message": "Too many requests hit the API too quickly.",
        }
    }
)

_LAUNCHER = """
import socket, sys
from aiohttp import web
from localstripe import resources, server
# Keep the store in memory: localstripe pickles it to one fixed file in /tmp
# after every write, which concurrent runs would share.
resources.Store.dump_to_disk = lambda self: None
sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
sock.bind(("127.0.0.1", 0))
print(sock.getsockname()[1], flush=True)
web.run_app(server.app, sock=sock, print=None, access_log=None, handle_signals=True)
"""


@contextmanager
def localstripe(*, startup: float = 30.0) -> Iterator[str]:
    """Run localstripe on a free loopback port; yields its base URL
    (``http://127.0.0.1:<port>``) and stops it on exit."""
    process = subprocess.Popen(  # noqa: S603 -- our own interpreter, a fixed script
        [sys.executable, "-c", _LAUNCHER],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        line = process.stdout.readline().strip() if process.stdout is not None else ""
        if not line.isdigit():
            raise RuntimeError("localstripe did not start (is it installed?)")
        url = f"http://127.0.0.1:{line}"
        deadline = time.monotonic() + startup
        while True:
            try:
                _plain(url, "sk_test_probe", "GET", "/v1/balance")
                break
            except OSError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise RuntimeError("localstripe did not answer") from None
                time.sleep(0.05)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if process.stdout is not None:
            process.stdout.close()


def _plain(
    base: str, api_key: str, method: str, path: str, params: Mapping[str, str] | None = None
) -> Any:
    """A request to the emulator itself (the driver's side, not the adapter's)."""
    data = urllib.parse.urlencode(params or {}).encode() if method != "GET" else None
    query = f"?{urllib.parse.urlencode(params)}" if method == "GET" and params else ""
    auth = base64.b64encode(f"{api_key}:".encode()).decode()
    request = urllib.request.Request(  # noqa: S310 -- the emulator on loopback
        base + path + query, data=data, method=method, headers={"Authorization": f"Basic {auth}"}
    )
    with urllib.request.urlopen(request, timeout=DEFAULT_TIMEOUT) as response:  # noqa: S310
        body = response.read()
    return json.loads(body) if body else None


def stripe_signature(secret: str, timestamp: int, payload: bytes) -> str:
    """The ``Stripe-Signature`` value Stripe sends: ``t=<unix>,v1=<hex HMAC-SHA256
    of "<unix>.<body>">``."""
    signed = str(timestamp).encode() + b"." + payload
    digest = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


class _FaultQueue:
    """The faults armed for the next requests of each operation (see :data:`ROUTES`)."""

    kinds = frozenset({FaultKind.UNAVAILABLE, FaultKind.RATE_LIMIT, FaultKind.LOSE_RESPONSE})

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: dict[Operation, list[FaultKind]] = {}

    def arm(self, operation: Operation, fault: Fault) -> bool:
        if operation not in ROUTES or fault.kind not in self.kinds:
            return False
        with self._lock:
            self._faults.setdefault(operation, []).append(fault.kind)
        return True

    def take(self, method: str, url: str) -> FaultKind | None:
        path = urllib.parse.urlsplit(url).path
        with self._lock:
            for operation, (verb, pattern) in ROUTES.items():
                queue = self._faults.get(operation)
                if queue and verb == method.upper() and pattern.search(path):
                    return queue.pop(0)
        return None


def _faulty(
    fault: FaultKind | None, send: Callable[[], tuple[str, int, Mapping[str, str]]]
) -> tuple[str, int, Mapping[str, str]]:
    """``send()``'s answer, or the failure ``fault`` stands for."""
    if fault is FaultKind.UNAVAILABLE:
        raise RequestNotSent("connection refused (a fault of the test client)")  # type: ignore[no-untyped-call]
    if fault is FaultKind.RATE_LIMIT:
        return _RATE_LIMITED, 429, {"retry-after": "2"}
    answer = send()
    if fault is FaultKind.LOSE_RESPONSE:
        raise stripe.APIConnectionError("read timed out (a fault of the test client)")  # type: ignore[no-untyped-call]
    return answer


class FaultyHTTPClient(StdlibHTTPClient):
    """:class:`~gigmarket_stripe.http.StdlibHTTPClient` that fails the next
    request of an operation as told (see the module docs)."""

    name = "gigmarket-faulty"

    def __init__(self, *, timeout: float = DEFAULT_TIMEOUT) -> None:
        super().__init__(timeout=timeout)
        self._faults = _FaultQueue()

    def fail_next(self, operation: Operation, fault: Fault) -> bool:
        return self._faults.arm(operation, fault)

    def request(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str] | None,
        post_data: Any = None,
        *,
        _usage: list[str] | None = None,
    ) -> tuple[str, int, Mapping[str, str]]:
        fault = self._faults.take(method, url)
        return _faulty(
            fault, lambda: StdlibHTTPClient.request(self, method, url, headers, post_data)
        )


class LocalstripeHTTPClient(FaultyHTTPClient):
    """:class:`FaultyHTTPClient` for localstripe, which refuses a PaymentIntent
    ``description`` (Stripe takes one): the parameter is left out on the way."""

    name = "gigmarket-localstripe"

    def request(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str] | None,
        post_data: Any = None,
        *,
        _usage: list[str] | None = None,
    ) -> tuple[str, int, Mapping[str, str]]:
        path = urllib.parse.urlsplit(url).path
        if isinstance(post_data, str) and ROUTES[Operation.CHARGE][1].search(path):
            pairs = urllib.parse.parse_qsl(post_data, keep_blank_values=True)
            post_data = urllib.parse.urlencode([(k, v) for k, v in pairs if k != "description"])
        return super().request(method, url, headers, post_data)


class LocalstripeDriver:
    """The kit's :class:`~gigmarket.testing.gateways.SandboxDriver` for a
    gateway on localstripe."""

    def __init__(
        self,
        *,
        base_url: str,
        api_key: str,
        webhook_secret: str,
        client: FaultyHTTPClient,
        clock: Clock,
    ) -> None:
        self.base_url = base_url
        self._api_key = api_key
        self._webhook_secret = webhook_secret
        self.client = client
        self._clock = clock
        self._seen: set[str] = {event["id"] for event in self._events()}
        self._duplicate_next = False

    def _call(self, method: str, path: str, params: Mapping[str, str] | None = None) -> Any:
        return _plain(self.base_url, self._api_key, method, path, params)

    def _events(self) -> list[dict[str, Any]]:
        events: list[dict[str, Any]] = []
        params = {"limit": "100"}
        while True:
            page = self._call("GET", "/v1/events", params)
            events += page["data"]
            if not page["has_more"]:
                return events
            params = {"limit": "100", "starting_after": page["data"][-1]["id"]}

    def card_token(self, behaviour: CardBehaviour, code: DeclineCode | None = None) -> str | None:
        if behaviour is CardBehaviour.DECLINE and code is not DeclineCode.CARD_DECLINED:
            return None  # localstripe declines with card_declined only
        number = TEST_CARDS.get(CardBehaviour(behaviour).value)
        if number is None:
            return None  # no pending card payments in localstripe
        card = {"number": number, "exp_month": "12", "exp_year": "2034", "cvc": "123"}
        params = {"type": "card", **{f"card[{k}]": v for k, v in card.items()}}
        return str(self._call("POST", "/v1/payment_methods", params)["id"])

    def bank_token(self, behaviour: BankBehaviour) -> str | None:
        return None  # localstripe has no Connect

    def fail_next(self, operation: Operation, fault: Fault) -> bool:
        return self.client.fail_next(operation, fault)

    def fail_next_webhook(self, fault: Fault) -> bool:
        if fault.kind is not FaultKind.DUPLICATE:
            return False
        self._duplicate_next = True
        return True

    def settle_pending(self) -> None:
        """Nothing waits on the outside world in localstripe's card payments."""

    def complete_action(self, charge_id: str, *, succeed: bool) -> bool:
        intent = self._call("GET", f"/v1/payment_intents/{charge_id}")
        params = {"client_secret": intent["client_secret"], "success": str(succeed).lower()}
        self._call("POST", f"/v1/payment_intents/{charge_id}/_authenticate", params)
        return True

    def webhooks(self) -> list[WebhookDelivery]:
        """localstripe's new events, signed as Stripe signs them, at the kit's clock."""
        deliveries = []
        for event in self._events():
            if event["id"] in self._seen:
                continue
            self._seen.add(event["id"])
            payload = json.dumps(event, sort_keys=True).encode()
            now = int(self._clock.now().timestamp())
            header = stripe_signature(self._webhook_secret, now, payload)
            delivery = WebhookDelivery(payload=payload, headers={SIGNATURE_HEADER: header})
            deliveries.append(delivery)
            if self._duplicate_next:
                self._duplicate_next = False
                deliveries.append(delivery)
        return deliveries

    def __repr__(self) -> str:
        return f"LocalstripeDriver(base_url={self.base_url!r})"


class FakeConnectHTTPClient(stripe.HTTPClient):
    """The ``stripe`` library's HTTP client for a
    :class:`~gigmarket_stripe.fake_connect.FakeStripeConnect`: requests go to
    the fake in memory, never to the network; faults as in :class:`FaultyHTTPClient`."""

    name = "gigmarket-fake-connect"

    def __init__(self, fake: FakeStripeConnect) -> None:
        super().__init__()
        self.fake = fake
        self._faults = _FaultQueue()

    def fail_next(self, operation: Operation, fault: Fault) -> bool:
        return self._faults.arm(operation, fault)

    def request(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str] | None,
        post_data: Any = None,
        *,
        _usage: list[str] | None = None,
    ) -> tuple[str, int, Mapping[str, str]]:
        fault = self._faults.take(method, url)
        return _faulty(fault, lambda: self.fake.handle(method, url, headers or {}, post_data))

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
        """Nothing to close."""

    def __repr__(self) -> str:
        return f"FakeConnectHTTPClient({self.fake!r})"


class FakeConnectDriver:
    """The kit's :class:`~gigmarket.testing.gateways.SandboxDriver` for a
    gateway on the fake of Stripe's Connect endpoints (built from Stripe's
    published API shapes, not Stripe itself). It serves the disbursement
    kit: no card payments (those run on localstripe)."""

    def __init__(self, *, client: FakeConnectHTTPClient, webhook_secret: str, clock: Clock) -> None:
        self.client = client
        self._webhook_secret = webhook_secret
        self._clock = clock
        self._duplicate_next = False

    def card_token(self, behaviour: CardBehaviour, code: DeclineCode | None = None) -> str | None:
        return None  # the fake serves Connect only

    def bank_token(self, behaviour: BankBehaviour) -> str | None:
        return TEST_BANK_TOKENS.get(BankBehaviour(behaviour))

    def fail_next(self, operation: Operation, fault: Fault) -> bool:
        return self.client.fail_next(operation, fault)

    def fail_next_webhook(self, fault: Fault) -> bool:
        if fault.kind is not FaultKind.DUPLICATE:
            return False
        self._duplicate_next = True
        return True

    def settle_pending(self) -> None:
        self.client.fake.advance()

    def complete_action(self, charge_id: str, *, succeed: bool) -> bool:
        return False

    def webhooks(self) -> list[WebhookDelivery]:
        """The fake's new events, signed as Stripe signs them, at the kit's clock."""
        deliveries = []
        for event in self.client.fake.new_events():
            payload = json.dumps(event, sort_keys=True).encode()
            now = int(self._clock.now().timestamp())
            header = stripe_signature(self._webhook_secret, now, payload)
            delivery = WebhookDelivery(payload=payload, headers={SIGNATURE_HEADER: header})
            deliveries.append(delivery)
            if self._duplicate_next:
                self._duplicate_next = False
                deliveries.append(delivery)
        return deliveries

    def __repr__(self) -> str:
        return f"FakeConnectDriver({self.client.fake!r})"
