"""``gigmarket reconcile``: the operators' job that settles payments left open.

The sandbox keeps its state in its own process, so these tests share one
:class:`SandboxGateway` between the marketplace that leaves a payment open and
the command line, both in this process: it is registered at run time under
:data:`GATEWAY`, with a factory that checks the settings the command line read
from the ``GIGMARKET_GATEWAY_*`` variables and returns the shared instance.

The marketplace that leaves the payments open runs on a manual clock set
:data:`AGO` before now, so that its operations are older than the grace
period (5 minutes) by the system clock the command line uses.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from gigmarket.admin import cli
from gigmarket.admin.cli import main
from gigmarket.admin.operations import GATEWAY_VARIABLE_PREFIX, gateway_settings
from gigmarket.cashier import OperationStatus
from gigmarket.cashier import reconcile as reconciliation
from gigmarket.catalog import CreateAccount
from gigmarket.clock import ManualClock
from gigmarket.errors import (
    GatewayMisconfigured,
    OutcomeUnknown,
    PaymentNotFound,
)
from gigmarket.gateways import SandboxGateway, registry
from gigmarket.gateways.faults import Fault
from gigmarket.gateways.protocols import Operation
from gigmarket.gateways.secret import REDACTED, Secret
from gigmarket.ids import sequential_ids
from gigmarket.marketplace import Marketplace
from gigmarket.money import Amount
from gigmarket.orders import (
    Actor,
    Offer,
    OfferedPackage,
    OrderState,
    RefundDestination,
    fiverr_policy,
)
from gigmarket.storage.sqlite.store import SQLiteStorage

GATEWAY = "cli_reconcile_sandbox"
OTHER_GATEWAY = "cli_reconcile_other"
API_KEY = "sk_sandbox_cli_reconcile_3Jf8qLw"
WEBHOOK_SECRET = "whsec_cli_reconcile_Qm4tZr9"
AGO = timedelta(minutes=10)
"""How long before now the payments were left open: past the 5-minute grace."""

S = OperationStatus


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    status = main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


def assert_one_line_error(status: int, err: str, *fragments: str) -> None:
    assert status == cli.EXIT_ERROR
    assert err.startswith("gigmarket: error: ")
    assert err.count("\n") == 1, err
    assert "Traceback" not in err
    for fragment in fragments:
        assert fragment in err, err


class Crash(BaseException):
    """The process dies in the middle of a gateway call (nothing catches it)."""


class Shop:
    """A SQLite store whose payments go through the shared sandbox."""

    def __init__(self, path: Path, gateway: SandboxGateway, clock: ManualClock) -> None:
        self.path = path
        self.gateway = gateway
        self.clock = clock
        self.args = ("--db", f"sqlite:///{path}", "--gateway", GATEWAY)
        self._ids = sequential_ids("id")
        with self.market() as market:
            self.seller = market.catalog.create_account(CreateAccount(username="nadia")).id
            self.buyer = market.catalog.create_account(CreateAccount(username="rahim")).id

    @contextmanager
    def market(self) -> Iterator[Marketplace]:
        market = Marketplace(
            SQLiteStorage(self.path), gateway=self.gateway, clock=self.clock, ids=self._ids
        )
        try:
            yield market
        finally:
            market.storage.close()

    def place(self) -> str:
        offer = Offer(
            gig_id="gig-logo",
            gig_version=1,
            seller_id=self.seller,
            title="A minimalist logo",
            package=OfferedPackage(
                name="Basic", price=Amount.of("50.00", "USD"), delivery_days=3, revisions=1
            ),
        )
        with self.market() as market:
            return market.orders.place(offer, buyer_id=self.buyer).id

    def lose_checkout(self) -> str:
        """Check an order out with the card's answer lost: charged, not booked."""
        order_id = self.place()
        self.gateway.faults.on(Operation.CHARGE, Fault.lose_response())
        with self.market() as market, pytest.raises(OutcomeUnknown):
            market.pay(order_id, buyer_id=self.buyer, source="tok_visa")
        assert self.status(f"pay:{order_id}:1") is S.UNKNOWN
        return order_id

    def crash_checkout(self, monkeypatch: pytest.MonkeyPatch) -> str:
        """Check an order out and die once the gateway has charged the card,
        before its answer is booked: the operation is left ``started``."""
        order_id = self.place()
        charge = self.gateway.charge

        def crashing(**call: object) -> object:
            charge(**call)  # type: ignore[arg-type]
            raise Crash

        with monkeypatch.context() as patch:
            patch.setattr(self.gateway, "charge", crashing)
            with self.market() as market, pytest.raises(Crash):
                market.pay(order_id, buyer_id=self.buyer, source="tok_visa")
        assert self.status(f"pay:{order_id}:1") is S.STARTED
        return order_id

    def crash_onboarding(self, monkeypatch: pytest.MonkeyPatch) -> str:
        """Add the seller's bank account and die before the gateway hears of it
        (a payee is never sent again: its bank token is not kept)."""

        def crashing(**call: object) -> object:
            raise Crash

        with monkeypatch.context() as patch:
            patch.setattr(self.gateway, "onboard_payee", crashing)
            with self.market() as market, pytest.raises(Crash):
                market.add_payout_account(self.seller, "USD", bank_token="bank_ok")
        op_id = f"payee:{self.seller}:USD:1"
        assert self.status(op_id) is S.STARTED
        return op_id

    def status(self, operation_id: str) -> OperationStatus:
        with self.market() as market:
            return market.cashier.operation(operation_id).status

    def state(self, order_id: str) -> OrderState:
        with self.market() as market:
            return market.orders.get(order_id).state

    def escrow(self, order_id: str) -> Amount:
        with self.market() as market:
            return market.balance(f"escrow:order:{order_id}").posted


@pytest.fixture(autouse=True)
def no_gateway_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    """Whatever the machine's environment holds, no gateway setting leaks in."""
    monkeypatch.delenv("GIGMARKET_DB", raising=False)
    for variable in [name for name in os.environ if name.startswith(GATEWAY_VARIABLE_PREFIX)]:
        monkeypatch.delenv(variable)


@pytest.fixture
def configured(monkeypatch: pytest.MonkeyPatch) -> None:
    """The gateway's settings, where an operator puts them: the environment."""
    monkeypatch.setenv("GIGMARKET_GATEWAY_API_KEY", API_KEY)
    monkeypatch.setenv("GIGMARKET_GATEWAY_WEBHOOK_SECRET", WEBHOOK_SECRET)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(datetime.now(UTC) - AGO)


@pytest.fixture
def sandbox(clock: ManualClock) -> Iterator[SandboxGateway]:
    """The shared sandbox, registered as :data:`GATEWAY` for this test."""
    shared = SandboxGateway(
        api_key=API_KEY, webhook_secret=WEBHOOK_SECRET, clock=clock, name=GATEWAY
    )

    def factory(*, api_key: str, webhook_secret: str) -> SandboxGateway:
        # What a real adapter does with its settings: refuse the wrong ones.
        if Secret(api_key) != Secret(API_KEY) or Secret(webhook_secret) != Secret(WEBHOOK_SECRET):
            raise AssertionError("the command line passed other settings than the environment's")
        return shared

    registry.register(GATEWAY, factory, replace=True)
    yield shared
    registry.unregister(GATEWAY)


@pytest.fixture
def shop(tmp_path: Path, sandbox: SandboxGateway, clock: ManualClock, configured: None) -> Shop:
    return Shop(tmp_path / "market.db", sandbox, clock)


# -- help ------------------------------------------------------------------------


def test_reconcile_help(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, err = run(capsys, "reconcile", "--help")
    assert (status, err) == (0, "")
    assert out.startswith("usage: gigmarket reconcile")
    for fragment in (
        "--gateway NAME",
        "(default: sandbox)",
        "GIGMARKET_GATEWAY_<SETTING>",
        "GIGMARKET_GATEWAY_API_KEY=... is its api_key",
        "GIGMARKET_GATEWAY_WEBHOOK_SECRET",
        "The built-in sandbox keeps its state in its own process",
        "It is for real adapters (and tests).",
        "1 some operations were skipped because the gateway could not answer",
        "--policy {fiverr,upwork}",
        "--no-progress",
        "GIGMARKET_DB",
    ):
        assert fragment in out, fragment


def test_the_main_help_lists_reconcile_and_its_exit_status(
    capsys: pytest.CaptureFixture[str],
) -> None:
    status, out, _ = run(capsys, "--help")
    assert status == 0
    assert "reconcile" in out
    assert "1 audit found violations, run-due had failed timers or" in out
    assert "reconcile skipped operations" in out


# -- bad input ---------------------------------------------------------------------


def test_an_unknown_gateway_is_one_line(shop: Shop, capsys: pytest.CaptureFixture[str]) -> None:
    status, out, err = run(capsys, "reconcile", "--db", str(shop.path), "--gateway", "nosuchpay")
    assert_one_line_error(
        status, err, "no payment gateway named 'nosuchpay'", "available:", GATEWAY
    )
    assert out == ""


def test_a_gateway_name_that_is_no_name(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    status, _, err = run(capsys, "reconcile", "--db", str(tmp_path), "--gateway", "acme-pay")
    assert_one_line_error(status, err, "--gateway: 'acme-pay' is not a payment gateway name")


@pytest.mark.parametrize(
    ("variables", "fragment"),
    [
        ({}, "set GIGMARKET_GATEWAY_API_KEY, GIGMARKET_GATEWAY_WEBHOOK_SECRET"),
        ({"GIGMARKET_GATEWAY_WEBHOOK_SECRET": WEBHOOK_SECRET}, "set GIGMARKET_GATEWAY_API_KEY"),
        (
            {"GIGMARKET_GATEWAY_API_KEY": "", "GIGMARKET_GATEWAY_WEBHOOK_SECRET": "x"},
            "GIGMARKET_GATEWAY_API_KEY: is set but empty",
        ),
        (
            {"GIGMARKET_GATEWAY_API_KEY": API_KEY, "GIGMARKET_GATEWAY_WEBHOOK_SECRET": "w"}
            | {"GIGMARKET_GATEWAY_COLOUR": "blue"},
            "takes no setting 'colour': unset GIGMARKET_GATEWAY_COLOUR",
        ),
        ({"GIGMARKET_GATEWAY_API-KEY": API_KEY}, "GIGMARKET_GATEWAY_API-KEY: does not name"),
    ],
)
def test_the_built_in_sandbox_without_its_settings(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    variables: dict[str, str],
    fragment: str,
) -> None:
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    path = tmp_path / "market.db"
    assert run(capsys, "migrate", "--db", str(path))[0] == 0
    status, out, err = run(capsys, "reconcile", "--db", str(path))
    assert_one_line_error(status, err, fragment)
    assert out == ""
    assert API_KEY not in err


def test_a_rejected_api_key_is_not_shown(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    live_key = "sk_live_51Hq8Zt2eZvKYlo2C0FFEE"
    monkeypatch.setenv("GIGMARKET_GATEWAY_API_KEY", live_key)
    monkeypatch.setenv("GIGMARKET_GATEWAY_WEBHOOK_SECRET", WEBHOOK_SECRET)
    status, _, err = run(capsys, "reconcile", "--db", str(tmp_path / "market.db"))
    assert_one_line_error(status, err, "only API keys that start with 'sk_sandbox_'")
    assert live_key not in err
    assert WEBHOOK_SECRET not in err


@pytest.mark.parametrize(
    ("error", "shown"),
    [
        (ValueError, f"cannot be built: ValueError: key {REDACTED} refused, secret {REDACTED}"),
        (
            TypeError,
            "cannot be built from the GIGMARKET_GATEWAY_* variables: "
            f"TypeError: key {REDACTED} refused, secret {REDACTED}",
        ),
        (
            lambda message: GatewayMisconfigured(message, gateway="x", operation="login"),
            f"{OTHER_GATEWAY} configure: x login: key {REDACTED} refused, secret {REDACTED}",
        ),
    ],
)
def test_an_adapter_that_prints_its_key_in_an_error_is_redacted(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    configured: None,
    error: Callable[[str], Exception],
    shown: str,
) -> None:
    def careless(*, api_key: str, webhook_secret: str) -> object:
        raise error(f"key {api_key} refused, secret {webhook_secret}")

    registry.register(OTHER_GATEWAY, careless, replace=True)
    try:
        status, _, err = run(capsys, "reconcile", "--db", str(tmp_path), "--gateway", OTHER_GATEWAY)
    finally:
        registry.unregister(OTHER_GATEWAY)
    assert_one_line_error(status, err, shown)
    assert API_KEY not in err
    assert WEBHOOK_SECRET not in err


def test_an_adapter_error_without_a_secret_is_its_own(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GIGMARKET_GATEWAY_REGION", "eu")  # too short to be taken for a secret

    def strict(*, region: str) -> object:
        raise GatewayMisconfigured(f"no region {region!r}", gateway="x", operation="configure")

    registry.register(OTHER_GATEWAY, strict, replace=True)
    try:
        status, _, err = run(capsys, "reconcile", "--db", str(tmp_path), "--gateway", OTHER_GATEWAY)
    finally:
        registry.unregister(OTHER_GATEWAY)
    assert err == "gigmarket: error: x configure: no region 'eu'\n"
    assert status == cli.EXIT_ERROR


def test_an_adapter_that_does_not_collect(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    registry.register(OTHER_GATEWAY, lambda **_: object(), replace=True)
    try:
        status, _, err = run(capsys, "reconcile", "--db", str(tmp_path), "--gateway", OTHER_GATEWAY)
    finally:
        registry.unregister(OTHER_GATEWAY)
    assert_one_line_error(status, err, "does not implement the collection protocol")


def test_a_db_pointing_nowhere_is_one_line_and_creates_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], sandbox: SandboxGateway, configured: None
) -> None:
    missing = tmp_path / "typo.db"
    status, out, err = run(capsys, "reconcile", "--db", str(missing), "--gateway", GATEWAY)
    assert_one_line_error(status, err, f"no database file at {missing}")
    assert out == ""
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("argv", "fragment"),
    [
        ([], "no store given"),
        (["--db", "mysql://db/market"], "unsupported database URL scheme 'mysql'"),
        (["--db", "market.db", "--policy", "ebay"], "invalid choice: 'ebay'"),
    ],
)
def test_reconcile_refuses_other_bad_input(
    capsys: pytest.CaptureFixture[str], configured: None, argv: list[str], fragment: str
) -> None:
    status, _, err = run(capsys, "reconcile", *argv)
    assert_one_line_error(status, err, fragment)


def test_an_open_payment_of_another_gateway_is_left_alone(
    shop: Shop, capsys: pytest.CaptureFixture[str], clock: ManualClock
) -> None:
    order_id = shop.lose_checkout()
    other = SandboxGateway(
        api_key=API_KEY, webhook_secret=WEBHOOK_SECRET, clock=clock, name=OTHER_GATEWAY
    )
    registry.register(OTHER_GATEWAY, lambda **_: other, replace=True)
    try:
        status, out, err = run(
            capsys, "reconcile", "--db", str(shop.path), "--gateway", OTHER_GATEWAY
        )
    finally:
        registry.unregister(OTHER_GATEWAY)
    assert (status, err) == (0, "")
    assert out == "checked 0, fixed 0, waiting 0, skipped 0, left to other gateways 1\n"
    # The other gateway knows nothing of the charge: it would have sent it again.
    assert shop.status(f"pay:{order_id}:1") is S.UNKNOWN


# -- settling ----------------------------------------------------------------------


def test_a_lost_charge_pays_its_order_once(shop: Shop, capsys: pytest.CaptureFixture[str]) -> None:
    order_id = shop.lose_checkout()
    assert shop.state(order_id) is OrderState.PENDING_PAYMENT

    status, out, err = run(capsys, "reconcile", *shop.args, "-v")

    assert (status, err) == (0, "")
    assert out == (
        f"operation pay:{order_id}:1 (payment): unknown → succeeded\n"
        "checked 1, fixed 1: unknown→succeeded 1, waiting 0, skipped 0\n"
    )
    assert shop.status(f"pay:{order_id}:1") is S.SUCCEEDED
    assert shop.state(order_id) is OrderState.AWAITING_REQUIREMENTS
    assert shop.escrow(order_id) == Amount.of("55.75", "USD")

    status, out, _ = run(capsys, "reconcile", *shop.args, "-v")
    assert (status, out) == (0, "checked 0, fixed 0, waiting 0, skipped 0\n")
    assert shop.gateway.find_charge(f"pay:{order_id}:1") is not None
    with pytest.raises(PaymentNotFound):
        shop.gateway.get_charge("ch_000002")  # one charge, booked once
    assert run(capsys, "audit", "--db", str(shop.path))[0] == 0


def test_without_verbose_only_the_summary(shop: Shop, capsys: pytest.CaptureFixture[str]) -> None:
    shop.lose_checkout()
    shop.lose_checkout()
    status, out, _ = run(capsys, "reconcile", *shop.args)
    assert (status, out) == (0, "checked 2, fixed 2: unknown→succeeded 2, waiting 0, skipped 0\n")


def test_an_interrupted_charge_is_booked_after_the_grace_period(
    shop: Shop, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    order_id = shop.crash_checkout(monkeypatch)
    status, out, _ = run(capsys, "reconcile", *shop.args, "--verbose")
    assert status == 0
    assert out == (
        f"operation pay:{order_id}:1 (payment): started → succeeded\n"
        "checked 1, fixed 1: started→succeeded 1, waiting 0, skipped 0\n"
    )
    assert shop.state(order_id) is OrderState.AWAITING_REQUIREMENTS
    assert run(capsys, "audit", "--db", str(shop.path))[0] == 0


def test_a_call_that_never_reached_the_gateway_fails_with_a_note(
    shop: Shop, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    op_id = shop.crash_onboarding(monkeypatch)
    status, out, _ = run(capsys, "reconcile", *shop.args, "-v")
    assert status == 0
    assert out == (
        f"operation {op_id} (payee): started → failed: never reached the gateway\n"
        "checked 1, fixed 1: started→failed 1, waiting 0, skipped 0\n"
    )
    assert shop.status(op_id) is S.FAILED


def test_an_interrupted_call_within_the_grace_period_waits(
    shop: Shop,
    clock: ManualClock,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    clock.set(datetime.now(UTC) - timedelta(minutes=1))  # its answer may still be coming
    order_id = shop.crash_checkout(monkeypatch)
    status, out, _ = run(capsys, "reconcile", *shop.args, "-v")
    assert (status, out) == (0, "checked 1, fixed 0, waiting 1, skipped 0\n")
    assert shop.status(f"pay:{order_id}:1") is S.STARTED


def test_a_pending_charge_waits_then_pays(
    shop: Shop, clock: ManualClock, capsys: pytest.CaptureFixture[str]
) -> None:
    order_id = shop.place()
    with shop.market() as market:
        assert market.pay(order_id, buyer_id=shop.buyer, source="tok_pending").operation.status is (
            S.PENDING
        )
    status, out, _ = run(capsys, "reconcile", *shop.args, "-v")
    assert (status, out) == (0, "checked 1, fixed 0, waiting 1, skipped 0\n")  # exit 0: it waits

    clock.advance(timedelta(minutes=10))  # the sandbox settles it
    status, out, _ = run(capsys, "reconcile", *shop.args, "-v")
    assert status == 0
    assert out == (
        f"operation pay:{order_id}:1 (payment): pending → succeeded\n"
        "checked 1, fixed 1: pending→succeeded 1, waiting 0, skipped 0\n"
    )
    assert shop.state(order_id) is OrderState.AWAITING_REQUIREMENTS


def test_an_unanswered_query_is_skipped_and_exits_1(
    shop: Shop, capsys: pytest.CaptureFixture[str]
) -> None:
    first = shop.lose_checkout()
    second = shop.lose_checkout()
    shop.gateway.faults.on(Operation.FIND_CHARGE, Fault.unavailable())  # the first query fails

    status, out, err = run(capsys, "reconcile", *shop.args, "--quiet")

    assert status == cli.EXIT_SKIPPED == 1
    assert err == ""
    assert out == (
        f"operation pay:{first}:1: skipped, the gateway could not answer: gateway_unavailable\n"
        "checked 2, fixed 1: unknown→succeeded 1, waiting 0, skipped 1\n"
    )
    assert shop.status(f"pay:{first}:1") is S.UNKNOWN
    assert shop.status(f"pay:{second}:1") is S.SUCCEEDED

    status, out, _ = run(capsys, "reconcile", *shop.args)  # the gateway is back
    assert (status, out) == (0, "checked 1, fixed 1: unknown→succeeded 1, waiting 0, skipped 0\n")


def test_quiet_prints_nothing_when_all_is_well(
    shop: Shop, capsys: pytest.CaptureFixture[str]
) -> None:
    order_id = shop.lose_checkout()
    assert run(capsys, "reconcile", *shop.args, "-q") == (0, "", "")
    assert shop.state(order_id) is OrderState.AWAITING_REQUIREMENTS
    assert run(capsys, "reconcile", *shop.args, "-q") == (0, "", "")


def test_reconcile_reads_page_after_page_with_progress(
    shop: Shop, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    orders = [shop.lose_checkout() for _ in range(3)]
    monkeypatch.setattr(reconciliation, "PAGE", 1)
    status, out, err = run(capsys, "reconcile", *shop.args)
    assert status == 0
    assert out == "checked 3, fixed 3: unknown→succeeded 3, waiting 0, skipped 0\n"
    assert err.splitlines() == [
        f"gigmarket: reconcile: {n} operations checked so far" for n in (1, 2, 3)
    ]
    assert all(shop.state(order) is OrderState.AWAITING_REQUIREMENTS for order in orders)

    shop.lose_checkout()
    shop.lose_checkout()
    status, out, err = run(capsys, "reconcile", *shop.args, "--no-progress")
    assert (status, err) == (0, "")
    assert out == "checked 2, fixed 2: unknown→succeeded 2, waiting 0, skipped 0\n"


def test_operations_that_stay_open_are_each_looked_at_once(
    shop: Shop, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for _ in range(2):
        with shop.market() as market:
            market.pay(shop.place(), buyer_id=shop.buyer, source="tok_pending")
    order_id = shop.lose_checkout()
    monkeypatch.setattr(reconciliation, "PAGE", 1)
    status, out, _ = run(capsys, "reconcile", *shop.args, "--no-progress")
    # The two pending payments come first and stay open; the walk goes past them.
    assert (status, out) == (0, "checked 3, fixed 1: unknown→succeeded 1, waiting 2, skipped 0\n")
    assert shop.state(order_id) is OrderState.AWAITING_REQUIREMENTS


def test_reconcile_reads_the_store_from_the_environment(
    shop: Shop, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    shop.lose_checkout()
    monkeypatch.setenv("GIGMARKET_DB", str(shop.path))
    status, out, _ = run(capsys, "reconcile", "--gateway", GATEWAY, "--policy", "upwork")
    assert (status, out) == (0, "checked 1, fixed 1: unknown→succeeded 1, waiting 0, skipped 0\n")


def test_gateway_settings_come_from_the_prefixed_variables() -> None:
    environment = {
        "GIGMARKET_GATEWAY_API_KEY": API_KEY,
        "GIGMARKET_GATEWAY_WEBHOOK_SECRET": WEBHOOK_SECRET,
        "GIGMARKET_GATEWAY": "ignored: no setting name",
        "GIGMARKET_DB": "market.db",
        "HOME": "/root",
    }
    assert gateway_settings(environment) == {"api_key": API_KEY, "webhook_secret": WEBHOOK_SECRET}


# -- run-due with card refunds ----------------------------------------------------


def test_run_due_sends_the_queued_card_refunds_through_the_gateway(
    shop: Shop, capsys: pytest.CaptureFixture[str]
) -> None:
    card_policy = fiverr_policy(gateway=GATEWAY, refund_to=RefundDestination.GATEWAY)
    order_id = shop.place()
    with shop.market() as plain:
        plain.pay(order_id, buyer_id=shop.buyer, source="tok_visa")
    market = Marketplace(
        SQLiteStorage(shop.path), gateway=shop.gateway, policy=card_policy, clock=shop.clock
    )
    try:
        market.orders.request_cancellation(order_id, by=Actor.BUYER, account_id=shop.buyer)
        market.orders.respond_to_cancellation(
            order_id, by=Actor.SELLER, account_id=shop.seller, accept=True
        )
    finally:
        market.storage.close()
    assert shop.status(f"refund:{order_id}:3") is S.QUEUED

    status, out, err = run(capsys, "run-due", *shop.args, "--refund-to", "card", "--no-progress")

    assert (status, err) == (0, "")
    assert out.splitlines()[-1] == "card refunds sent: 1 (succeeded 1)"
    assert shop.status(f"refund:{order_id}:3") is S.SUCCEEDED
    [charge] = [c for c in (shop.gateway.find_charge(f"pay:{order_id}:1"),) if c is not None]
    assert charge.refunded == Amount.of("55.75", "USD")
    assert run(capsys, "run-due", *shop.args, "--refund-to", "card", "-q") == (0, "", "")


def test_run_due_refunding_to_cards_needs_the_gateway(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status, _, err = run(
        capsys, "run-due", "--db", f"sqlite:///{tmp_path / 'm.db'}", "--refund-to", "card"
    )
    assert_one_line_error(status, err, "--gateway")
    assert not (tmp_path / "m.db").exists()
