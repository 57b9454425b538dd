"""``gigmarket payments resolve``: an operator's recorded decision on a stuck payment.

The payments are left open by a marketplace on a SQLite file, with the
sandbox gateway in this process; the command line books the decision on the
same file without calling any gateway.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from gigmarket.admin.cli import EXIT_ERROR, EXIT_OK, main
from gigmarket.cashier import OperationStatus, PaymentOperation
from gigmarket.clock import ManualClock
from gigmarket.errors import OutcomeUnknown
from gigmarket.gateways import SandboxGateway
from gigmarket.gateways.faults import Fault
from gigmarket.gateways.protocols import Operation
from gigmarket.ids import sequential_ids
from gigmarket.marketplace import Marketplace
from gigmarket.money import Amount
from gigmarket.orders import Offer, OfferedPackage, OrderState, fiverr_policy
from gigmarket.storage.sqlite.store import SQLiteStorage

S = OperationStatus
GATEWAY = "cli_resolve_sandbox"


def open_market(path: Path, gateway: SandboxGateway, clock: ManualClock) -> Marketplace:
    return Marketplace(
        SQLiteStorage(path),
        gateway=gateway,
        policy=fiverr_policy(gateway=GATEWAY),
        clock=clock,
        ids=sequential_ids("cli"),
    )


def lost_charge(path: Path, fault: Fault) -> tuple[str, PaymentOperation, SandboxGateway]:
    """An order whose card charge's outcome is unknown (``fault`` on the call)."""
    clock = ManualClock(datetime.now(UTC) - timedelta(hours=1))
    gateway = SandboxGateway(
        api_key="sk_sandbox_cli_resolve",
        webhook_secret="whsec_cli_resolve",
        clock=clock,
        name=GATEWAY,
    )
    market = open_market(path, gateway, clock)
    offer = Offer(
        gig_id="gig",
        gig_version=1,
        seller_id="nadia",
        title="A logo",
        package=OfferedPackage(
            name="basic", price=Amount.of("50.00", "USD"), delivery_days=3, revisions=1
        ),
    )
    order = market.orders.place(offer, buyer_id="rahim")
    gateway.faults.on(Operation.CHARGE, fault)
    with pytest.raises(OutcomeUnknown):
        market.pay(order.id, buyer_id="rahim", source="tok_visa")
    (op,) = market.cashier.operations(order.id)
    market.storage.close()
    return order.id, op, gateway


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    status = main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


def test_an_operator_records_a_charge_as_succeeded_and_the_order_is_paid(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "store.db"
    order_id, op, gateway = lost_charge(path, Fault.lose_response())
    charge = gateway.find_charge(op.id)
    assert charge is not None
    args = ["payments", "resolve", op.id, "--db", str(path), "--operator", "ana"]
    status, out, err = run(
        capsys, *args, "--as", "succeeded", "--ref", charge.id, "--reason", "captured"
    )
    assert (status, err) == (EXIT_OK, "")
    assert out == f"operation {op.id} (payment): succeeded, decided by ana\n"
    storage = SQLiteStorage(path)
    try:
        market = Marketplace(
            storage,
            gateway=gateway,
            policy=fiverr_policy(gateway=GATEWAY),
            clock=ManualClock(datetime.now(UTC)),
        )
        decided = market.cashier.operation(op.id)
        assert (decided.status, decided.resolved_by, decided.resolution) == (
            S.SUCCEEDED,
            "ana",
            "captured",
        )
        assert market.orders.get(order_id).state is OrderState.AWAITING_REQUIREMENTS
        assert [v for v in market.audit() if v.invariant != "9-stuck"] == []
    finally:
        storage.close()

    status, out, err = run(capsys, *args, "--as", "failed", "--reason", "second thoughts")
    assert status == EXIT_ERROR
    assert out == ""
    assert err == f"gigmarket: error: payment operation '{op.id}' is already succeeded: " + (
        "there is nothing to decide\n"
    )


def test_a_decision_that_lacks_the_gateways_id_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "store.db"
    _, op, _ = lost_charge(path, Fault.delay(timedelta(days=2)))
    base = ["payments", "resolve", op.id, "--db", str(path), "--operator", "ana"]
    status, _, err = run(capsys, *base, "--as", "succeeded", "--reason", "seen")
    assert status == EXIT_ERROR
    assert "reference" in err
    status, out, err = run(capsys, *base, "--as", "failed", "--reason", "not there")
    assert (status, err) == (EXIT_OK, "")
    assert out == f"operation {op.id} (payment): failed, decided by ana\n"


def test_an_unknown_operation_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "store.db"
    lost_charge(path, Fault.lose_response())
    status, _, err = run(
        capsys,
        *("payments", "resolve", "pay:nope", "--db", str(path)),
        *("--as", "failed", "--operator", "ana", "--reason", "x"),
    )
    assert status == EXIT_ERROR
    assert "no payment operation 'pay:nope'" in err
