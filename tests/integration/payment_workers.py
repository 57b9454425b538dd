"""The two processes of the payment crash test, and the gateway both of them reach.

A real gateway is someone else's computer: it outlives the host process that
called it. So the :class:`~gigmarket.gateways.sandbox.SandboxGateway` lives in
the server process of a :class:`GatewayManager` (a
:class:`multiprocessing.managers.BaseManager`), together with the
:class:`~gigmarket.clock.ManualClock` it runs on, as one
:class:`GatewayWorld`. The test process and the worker it kills both reach
it through manager proxies, wrapped in :class:`RemoteGateway` (a proxy
forwards method calls only; the adapter adds the ``name`` and
``capabilities`` properties the protocols require).

The server is a process of its own rather than a thread of the test process
because the manager's connection threads end with ``sys.exit()``, which
pytest reports as an unhandled exception in a thread.

:func:`crash_worker` is the host that dies: it runs one payment command
through a :class:`CrashingGateway`, which SIGKILLs the process just before or
just after the chosen gateway call, or it dies right after the command
returned (its apply transaction committed).
"""

from __future__ import annotations

import dataclasses
import enum
import os
import signal
import traceback
from collections.abc import Mapping
from datetime import datetime
from multiprocessing.managers import BaseManager
from typing import TYPE_CHECKING, NoReturn

from gigmarket.clock import ManualClock
from gigmarket.errors import PaymentNotFound
from gigmarket.gateways.protocols import Capabilities
from gigmarket.gateways.results import Charge, Payee, Payout, Refund
from gigmarket.gateways.sandbox import SandboxGateway
from gigmarket.gateways.secret import Secret
from gigmarket.gateways.webhooks import WebhookEvent
from gigmarket.ids import sequential_ids
from gigmarket.marketplace import Marketplace
from gigmarket.money import Amount
from gigmarket.orders import RefundDestination, fiverr_policy
from gigmarket.storage.sqlite.store import SQLiteStorage

API_KEY = "sk_sandbox_payment_crash_4Rw8"
WEBHOOK_SECRET = "whsec_payment_crash_Zt61"


# -- the gateway's side: in the manager's server process ----------------------


class GatewayWorld:
    """The sandbox and the clock it runs on, and what the test asks of them
    beyond the protocols: moving time, and everything the sandbox ever made."""

    def __init__(self, start: datetime) -> None:
        self.clock = ManualClock(start)
        self.sandbox = SandboxGateway(
            api_key=API_KEY, webhook_secret=WEBHOOK_SECRET, clock=self.clock
        )

    def now(self) -> datetime:
        return self.clock.now()

    def set_time(self, moment: datetime) -> datetime:
        return self.clock.set(moment)

    def identity(self) -> tuple[str, Capabilities]:
        return self.sandbox.name, self.sandbox.capabilities

    def charges(self) -> list[Charge]:
        """Every charge the sandbox made, oldest first (its ids count up)."""
        found: list[Charge] = []
        while True:
            try:
                found.append(self.sandbox.get_charge(f"ch_{len(found) + 1:06d}"))
            except PaymentNotFound:
                return found

    def payouts(self) -> list[Payout]:
        """Every payout the sandbox made, oldest first."""
        found: list[Payout] = []
        while True:
            try:
                found.append(self.sandbox.get_payout(f"po_{len(found) + 1:06d}"))
            except PaymentNotFound:
                return found


_WORLD: list[GatewayWorld] = []
"""The server process's one world (set by :func:`open_world`)."""


def open_world(start: datetime) -> None:
    """The manager server's initializer: make the world, at ``start``."""
    _WORLD[:] = [GatewayWorld(start)]


def _world() -> GatewayWorld:
    return _WORLD[0]


def _sandbox() -> SandboxGateway:
    return _WORLD[0].sandbox


class GatewayManager(BaseManager):
    """Serves the one :class:`GatewayWorld` (``world()``) and its sandbox
    (``sandbox()``) to every process that connects."""

    if TYPE_CHECKING:  # what the registered methods return: proxies of these

        def world(self) -> GatewayWorld: ...

        def sandbox(self) -> SandboxGateway: ...


GatewayManager.register("world", callable=_world)
GatewayManager.register("sandbox", callable=_sandbox)


# -- the host's side: the adapters ------------------------------------------


class RemoteGateway:
    """Both gateway protocols, forwarded to a sandbox in another process."""

    def __init__(self, proxy: SandboxGateway, *, name: str, capabilities: Capabilities) -> None:
        self._proxy = proxy
        self._name = name
        self._capabilities = capabilities

    @classmethod
    def of(cls, manager: GatewayManager) -> RemoteGateway:
        name, capabilities = manager.world().identity()
        return cls(manager.sandbox(), name=name, capabilities=capabilities)

    @property
    def name(self) -> str:
        return self._name

    @property
    def capabilities(self) -> Capabilities:
        return self._capabilities

    # -- collection

    def charge(
        self,
        *,
        amount: Amount,
        source: str,
        idempotency_key: str,
        capture: bool = True,
        description: str = "",
    ) -> Charge:
        return self._proxy.charge(
            amount=amount,
            source=source,
            idempotency_key=idempotency_key,
            capture=capture,
            description=description,
        )

    def capture(
        self, charge_id: str, *, idempotency_key: str, amount: Amount | None = None
    ) -> Charge:
        return self._proxy.capture(charge_id, idempotency_key=idempotency_key, amount=amount)

    def cancel(self, charge_id: str, *, idempotency_key: str) -> Charge:
        return self._proxy.cancel(charge_id, idempotency_key=idempotency_key)

    def refund(
        self,
        charge_id: str,
        *,
        idempotency_key: str,
        amount: Amount | None = None,
        reason: str = "",
    ) -> Refund:
        return self._proxy.refund(
            charge_id, idempotency_key=idempotency_key, amount=amount, reason=reason
        )

    def get_charge(self, charge_id: str) -> Charge:
        return self._proxy.get_charge(charge_id)

    def find_charge(self, idempotency_key: str) -> Charge | None:
        return self._proxy.find_charge(idempotency_key)

    def parse_webhook(self, payload: bytes, headers: Mapping[str, str]) -> WebhookEvent:
        return self._proxy.parse_webhook(payload, dict(headers))

    # -- disbursement

    def onboard_payee(
        self,
        *,
        reference: str,
        currency: str,
        bank_token: Secret | str,
        idempotency_key: str,
    ) -> Payee:
        return self._proxy.onboard_payee(
            reference=reference,
            currency=currency,
            bank_token=bank_token,
            idempotency_key=idempotency_key,
        )

    def get_payee(self, payee_id: str) -> Payee:
        return self._proxy.get_payee(payee_id)

    def find_payee(self, idempotency_key: str) -> Payee | None:
        return self._proxy.find_payee(idempotency_key)

    def payout(
        self, *, payee_id: str, amount: Amount, idempotency_key: str, description: str = ""
    ) -> Payout:
        return self._proxy.payout(
            payee_id=payee_id,
            amount=amount,
            idempotency_key=idempotency_key,
            description=description,
        )

    def cancel_payout(self, payout_id: str, *, idempotency_key: str) -> Payout:
        return self._proxy.cancel_payout(payout_id, idempotency_key=idempotency_key)

    def get_payout(self, payout_id: str) -> Payout:
        return self._proxy.get_payout(payout_id)

    def find_payout(self, idempotency_key: str) -> Payout | None:
        return self._proxy.find_payout(idempotency_key)


class KillPoint(enum.StrEnum):
    """Where the host dies, around the gateway call of a payment command."""

    BEFORE_CALL = "before_call"
    """The ``started`` operation is committed; the gateway has not been called."""
    AFTER_CALL = "after_call"
    """The gateway did the work and answered; the answer was not yet applied."""
    AFTER_COMMIT = "after_commit"
    """The command returned: its apply transaction is committed (the control)."""


def die() -> NoReturn:
    """SIGKILL this process: no cleanup, no flush, no rollback."""
    os.kill(os.getpid(), signal.SIGKILL)
    raise AssertionError("still alive after SIGKILL")  # pragma: no cover


class CrashingGateway(RemoteGateway):
    """A remote gateway whose ``method`` (charge, payout or refund) kills the
    calling process just before or just after the call."""

    def __init__(
        self,
        proxy: SandboxGateway,
        *,
        name: str,
        capabilities: Capabilities,
        method: str,
        point: KillPoint,
    ) -> None:
        super().__init__(proxy, name=name, capabilities=capabilities)
        self._method = method
        self._point = point

    def _checkpoint(self, method: str, point: KillPoint) -> None:
        if method == self._method and point is self._point:
            die()

    def charge(
        self,
        *,
        amount: Amount,
        source: str,
        idempotency_key: str,
        capture: bool = True,
        description: str = "",
    ) -> Charge:
        self._checkpoint("charge", KillPoint.BEFORE_CALL)
        charge = super().charge(
            amount=amount,
            source=source,
            idempotency_key=idempotency_key,
            capture=capture,
            description=description,
        )
        self._checkpoint("charge", KillPoint.AFTER_CALL)
        return charge

    def refund(
        self,
        charge_id: str,
        *,
        idempotency_key: str,
        amount: Amount | None = None,
        reason: str = "",
    ) -> Refund:
        self._checkpoint("refund", KillPoint.BEFORE_CALL)
        refund = super().refund(
            charge_id, idempotency_key=idempotency_key, amount=amount, reason=reason
        )
        self._checkpoint("refund", KillPoint.AFTER_CALL)
        return refund

    def payout(
        self, *, payee_id: str, amount: Amount, idempotency_key: str, description: str = ""
    ) -> Payout:
        self._checkpoint("payout", KillPoint.BEFORE_CALL)
        payout = super().payout(
            payee_id=payee_id,
            amount=amount,
            idempotency_key=idempotency_key,
            description=description,
        )
        self._checkpoint("payout", KillPoint.AFTER_CALL)
        return payout


def build_market(
    storage: SQLiteStorage, gateway: RemoteGateway, clock: ManualClock, *, ids_prefix: str
) -> Marketplace:
    """The marketplace every process of the test runs: card refunds go back to cards."""
    return Marketplace(
        storage,
        gateway=gateway,
        payouts=gateway,
        policy=fiverr_policy(refund_to=RefundDestination.GATEWAY, gateway=gateway.name),
        clock=clock,
        ids=sequential_ids(ids_prefix),
    )


# -- the host that dies --------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Job:
    """One payment command for the worker, and where it dies."""

    command: str
    """``checkout``, ``withdrawal`` or ``refund``."""
    point: KillPoint
    order_id: str = ""
    buyer_id: str = ""
    seller_id: str = ""
    amount: Amount | None = None

    @property
    def method(self) -> str:
        """The gateway call the command makes."""
        return {"checkout": "charge", "withdrawal": "payout", "refund": "refund"}[self.command]


def crash_worker(
    db_path: str,
    address: str | bytes | tuple[str, int],
    authkey: bytes,
    job: Job,
    now: datetime,
    failure_file: str,
) -> None:
    """Run ``job`` on the SQLite file at ``db_path`` at ``now``, and die where
    it says. Returning at all is a failure; an exception is written to
    ``failure_file`` (the parent cannot see a killed child's stderr)."""
    try:
        manager = GatewayManager(address=address, authkey=authkey)
        manager.connect()
        name, capabilities = manager.world().identity()
        gateway = CrashingGateway(
            manager.sandbox(),
            name=name,
            capabilities=capabilities,
            method=job.method,
            point=job.point,
        )
        storage = SQLiteStorage(db_path)
        market = build_market(storage, gateway, ManualClock(now), ids_prefix="child")
        if job.command == "checkout":
            market.pay(job.order_id, buyer_id=job.buyer_id, source="tok_visa")
        elif job.command == "withdrawal":
            assert job.amount is not None
            market.withdraw(job.seller_id, job.amount)
        else:
            market.cashier.send_refunds()
        if job.point is KillPoint.AFTER_COMMIT:
            die()
        raise AssertionError(f"{job.command} never called {job.method}")
    except BaseException:
        with open(failure_file, "w", encoding="utf-8") as out:
            out.write(traceback.format_exc())
        raise
