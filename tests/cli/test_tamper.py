"""The tamper suite: a store whose payments went through the cashier is
corrupted by hand, one way at a time (and several at once), and ``gigmarket
audit`` must report each with exit status 1 and a line naming what is wrong.

The corruptions are raw SQL below the library (``hands.py``), past whatever
guard of the schema would refuse them, often with the stored balances put
back in step by hand, as a careful but wrong "fix" would. Together with
``test_audit_corruption.py`` (the ledger's own damage) they cover every kind
of damage a store can hold. Run them with::

    pytest tests/cli/test_tamper.py tests/cli/test_audit_corruption.py

(PostgreSQL variants run when ``GIGMARKET_POSTGRES_URL`` is set.)
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import attrs
import pytest

from gigmarket.admin.cli import main
from gigmarket.gateways import SandboxGateway, registry
from gigmarket.gateways.faults import Fault
from gigmarket.gateways.protocols import Operation
from gigmarket.storage.sqlite.store import SQLiteStorage
from tests.cli.conftest import POSTGRES_URL
from tests.cli.hands import FORGED_AT, Hands, PostgresHands, SQLiteHands, forge_entry
from tests.cli.payment_story import (
    API_KEY,
    GATEWAY,
    WEBHOOK_SECRET,
    PaymentStory,
    new_sandbox,
    story_clock,
    tell_payments,
)


@attrs.frozen
class Tampered:
    """A store with the payment story, the hands to corrupt it, and its sandbox."""

    story: PaymentStory
    hands: Hands
    args: tuple[str, ...]
    sandbox: SandboxGateway
    storage: Callable[[], Any]


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def tampered(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Tampered]:
    clock = story_clock()
    sandbox = new_sandbox(clock)
    registry.register(GATEWAY, lambda **_: sandbox, replace=True)
    monkeypatch.setenv("GIGMARKET_GATEWAY_API_KEY", API_KEY)
    monkeypatch.setenv("GIGMARKET_GATEWAY_WEBHOOK_SECRET", WEBHOOK_SECRET)
    if request.param == "sqlite":
        path = tmp_path / "market.db"
        storage = SQLiteStorage(path)
        try:
            story = tell_payments(storage, sandbox, clock)
        finally:
            storage.close()
        yield Tampered(
            story,
            SQLiteHands(str(path)),
            ("--db", f"sqlite:///{path}"),
            sandbox,
            lambda: SQLiteStorage(path, migrate=False),
        )
    else:
        from gigmarket.storage.postgres.store import PostgresStorage  # noqa: PLC0415 -- optional

        factory = request.getfixturevalue("postgres_storage_factory")
        storage = factory()
        try:
            story = tell_payments(storage, sandbox, clock)
        finally:
            storage.close()
        yield Tampered(
            story,
            PostgresHands(storage.url, storage.schema),
            ("--db", storage.url, "--schema", storage.schema),
            sandbox,
            lambda: PostgresStorage(storage.url, schema=storage.schema, migrate=False),
        )
    registry.unregister(GATEWAY)


# -- the corruptions ---------------------------------------------------------------


def restore_balances(hands: Hands) -> None:
    """Put every stored balance back to the sum of its postings: what hides a
    deletion from ``4-stored-balance``."""
    hands.sql(
        (
            "UPDATE ledger_accounts SET posted = (SELECT COALESCE(SUM(units), 0) "
            "FROM ledger_postings WHERE account = ledger_accounts.code)",
            (),
        )
    )


def delete_entries(hands: Hands, where: str, parameters: tuple[Any, ...]) -> None:
    hands.drop_append_only()
    selected = f"SELECT seq FROM ledger_entries WHERE {where}"
    hands.sql(
        (f"DELETE FROM ledger_postings WHERE entry_seq IN ({selected})", parameters),
        (f"DELETE FROM ledger_references WHERE entry_seq IN ({selected})", parameters),
        (f"DELETE FROM ledger_entries WHERE {where}", parameters),
    )
    restore_balances(hands)


def payout_entries_deleted(t: Tampered) -> None:
    s = t.story
    delete_entries(
        t.hands,
        "hold_id = ? OR idempotency_key = ?",
        (s.payout_hold, f"gigmarket:payout-paid {s.payout_hold}"),
    )


def payment_entry_deleted(t: Tampered) -> None:
    delete_entries(t.hands, "idempotency_key = ?", (f"gigmarket:payment {t.story.open_charge}",))


def refund_sent_entry_deleted(t: Tampered) -> None:
    delete_entries(t.hands, "idempotency_key = ?", (f"gigmarket:refunded {t.story.refund_id}",))


def entry_claiming_a_missing_operation(t: Tampered) -> None:
    s = t.story
    forge_entry(
        t.hands,
        "forged-unwanted",
        [(s.gateway_account, -500), ("refunds:in_flight:USD", 500)],
        key="gigmarket:unwanted pay:ghost:1",
    )


def payment_amount_edited(t: Tampered) -> None:
    t.hands.drop_append_only()
    t.hands.sql(
        (
            "UPDATE ledger_postings SET units = units + SIGN(units) * 100 WHERE entry_seq = "
            "(SELECT seq FROM ledger_entries WHERE idempotency_key = ?)",
            (f"gigmarket:payment {t.story.open_charge}",),
        )
    )


def payout_status_edited(t: Tampered) -> None:
    t.hands.sql(
        ("UPDATE payment_operations SET status = 'failed' WHERE id = ?", (t.story.payout_id,))
    )


def order_document_malformed(t: Tampered) -> None:
    t.hands.sql(("UPDATE orders SET document = '{\"id\": ' WHERE id = ?", (t.story.open_order,)))


def operation_row_malformed(t: Tampered) -> None:
    t.hands.sql(
        (
            "UPDATE payment_operations SET created_at = 'last tuesday' WHERE id = ?",
            (t.story.open_payment,),
        )
    )


def posting_currency_unknown(t: Tampered) -> None:
    t.hands.drop_append_only()
    t.hands.sql(
        (
            "UPDATE ledger_postings SET currency = 'XQQ' WHERE entry_seq = "
            "(SELECT seq FROM ledger_entries WHERE idempotency_key = ?)",
            (f"gigmarket:payment {t.story.open_charge}",),
        )
    )


def _hold(t: Tampered, hold_id: str, units: int) -> None:
    s = t.story
    document = {
        "id": hold_id,
        "source": s.available,
        "destination": "payouts:in_flight:USD",
        "amount": {"units": units, "currency": "USD"},
        "created_at": FORGED_AT,
        "status": "pending",
    }
    t.hands.sql(
        (
            "INSERT INTO ledger_holds (id, source, destination, status, document) "
            "VALUES (?, ?, 'payouts:in_flight:USD', 'pending', ?)",
            (hold_id, s.available, json.dumps(document)),
        ),
        ("UPDATE ledger_accounts SET held = held + ? WHERE code = ?", (units, s.available)),
    )


def orphan_hold(t: Tampered) -> None:
    # Nadia withdrew everything: an orphan hold needs some money to reserve.
    forge_entry(
        t.hands, "forged-earning", [("platform:revenue:USD", -500), (t.story.available, 500)]
    )
    _hold(t, "forged-hold", 500)


def hold_larger_than_balance(t: Tampered) -> None:
    t.hands.drop_non_negative_check()
    _hold(t, "forged-big-hold", 50_000)


def outbox_payload_malformed(t: Tampered) -> None:
    t.hands.sql(("UPDATE outbox SET payload = '[1, 2' WHERE order_id = ?", (t.story.open_order,)))


def outbox_event_for_no_order(t: Tampered) -> None:
    t.hands.sql(
        (
            "INSERT INTO outbox (id, type, order_id, occurred_at, payload) "
            "VALUES ('forged-event', 'order.paid', 'ghost-order', ?, '{}')",
            (FORGED_AT,),
        )
    )


def terminal_order_holding_escrow(t: Tampered) -> None:
    t.hands.set_order_state(t.story.open_order, "completed")


def refund_op_deleted(t: Tampered) -> None:
    t.hands.sql(("DELETE FROM payment_operations WHERE id = ?", (t.story.refund_id,)))


@attrs.frozen
class Kind:
    name: str
    corrupt: Callable[[Tampered], None]
    expected: Callable[[PaymentStory], list[str]]
    """Fragments, each of which some report line must contain."""


KINDS = [
    Kind(
        "payout entries deleted, balances restored",
        payout_entries_deleted,
        lambda s: [
            f"[8-payments] ledger: payout {s.payout_id} (succeeded): "
            "the entry sending the payout is missing",
            f"[8-payments] ledger: payout {s.payout_id} (succeeded): "
            "the entry paying the payout out is missing",
        ],
    ),
    Kind(
        "a succeeded payment without its entry, balances restored",
        payment_entry_deleted,
        lambda s: [
            f"[8-payments] ledger: payment {s.open_payment} (succeeded): "
            f"the entry booking charge {s.open_charge} is missing",
            f"[3-conservation] order {s.open_order}: the order holds 55.75 USD, "
            "its escrow account 0.00 USD",
        ],
    ),
    Kind(
        "a succeeded card refund without its entry, balances restored",
        refund_sent_entry_deleted,
        lambda s: [
            f"[8-payments] ledger: refund {s.refund_id} (succeeded): "
            "the entry sending the refund is missing",
            "refunds in flight hold 55.75 USD, open refund operations add up to 0.00 USD",
        ],
    ),
    Kind(
        "an entry claiming a payment operation that does not exist",
        entry_claiming_a_missing_operation,
        lambda s: [
            "[8-payments] entry forged-unwanted: sets aside a charge of payment operation "
            "pay:ghost:1, which does not exist",
        ],
    ),
    Kind(
        "a payment entry's amount edited",
        payment_amount_edited,
        lambda s: [
            "[8-payments] entry id-",
            f"payment {s.open_payment} (succeeded): the entry booking charge {s.open_charge} "
            f"should move 55.75 USD to escrow:order:{s.open_order}; it moves 56.75 USD",
            f"[4-stored-balance] account escrow:order:{s.open_order}: stored balance 55.75 USD, "
            "but its postings sum to 56.75 USD",
        ],
    ),
    Kind(
        "a paid payout's status edited to failed",
        payout_status_edited,
        lambda s: [
            f"payout {s.payout_id} (failed): an entry paying the payout out exists, "
            "but the operation did not succeed so",
            f"payout {s.payout_id} (failed): the entry returning the payout is missing",
        ],
    ),
    Kind(
        "an order document that is not JSON",
        order_document_malformed,
        lambda s: [f"[0-readable] order {s.open_order}: cannot be read"],
    ),
    Kind(
        "a payment operation row that cannot be decoded",
        operation_row_malformed,
        lambda s: [f"[0-readable] payment operation {s.open_payment}: cannot be read"],
    ),
    Kind(
        "a posting in a currency that does not exist",
        posting_currency_unknown,
        lambda s: ["[0-readable] journal entry id-", ": cannot be read"],
    ),
    Kind(
        "a withdrawal hold that no payout operation makes",
        orphan_hold,
        lambda s: [
            f"[8-payments] account {s.available}: hold forged-hold reserves 5.00 USD for a "
            "payout that no payout operation makes",
        ],
    ),
    Kind(
        "a hold larger than the balance it reserves",
        hold_larger_than_balance,
        lambda s: [
            f"[2-non-negative] account {s.available}: available balance -500.00 USD, below zero",
            "hold forged-big-hold reserves 500.00 USD for a payout",
        ],
    ),
    Kind(
        "an outbox event whose payload is not JSON",
        outbox_payload_malformed,
        lambda s: ["[0-readable] outbox event id-", ": cannot be read"],
    ),
    Kind(
        "an outbox event about an order that does not exist",
        outbox_event_for_no_order,
        lambda s: [
            "[0-readable] outbox event forged-event: is about order ghost-order, "
            "which does not exist"
        ],
    ),
    Kind(
        "a terminal order still holding escrow",
        terminal_order_holding_escrow,
        lambda s: [
            f"[3-conservation] order {s.open_order}: is completed, a terminal state, "
            "but still holds 55.75 USD in escrow"
        ],
    ),
    Kind(
        "a refund operation deleted, its entries left",
        refund_op_deleted,
        lambda s: [f"claims refund operation {s.refund_id}, which does not exist"],
    ),
]


def audit(t: Tampered, capsys: pytest.CaptureFixture[str], *options: str) -> tuple[int, str]:
    status = main(["audit", *t.args, "--no-progress", *options])
    out, err = capsys.readouterr()
    assert err == ""
    return status, out


def assert_reported(out: str, fragments: list[str]) -> None:
    lines = out.splitlines()
    for fragment in fragments:
        assert any(fragment in line for line in lines[:-1]), f"{fragment!r} not in:\n{out}"


def test_the_payment_story_is_clean_even_against_the_gateway(
    tampered: Tampered, capsys: pytest.CaptureFixture[str]
) -> None:
    status, out = audit(tampered, capsys, "--gateway", GATEWAY, "--open-limit", "1h")
    assert status == 0, out
    assert out.splitlines()[-1].endswith("; no violations")


@pytest.mark.parametrize("kind", KINDS, ids=lambda k: k.name)
def test_each_kind_of_tampering_is_reported(
    tampered: Tampered, capsys: pytest.CaptureFixture[str], kind: Kind
) -> None:
    kind.corrupt(tampered)
    status, out = audit(tampered, capsys)
    assert status == 1, out
    assert_reported(out, kind.expected(tampered.story))
    status, out = audit(tampered, capsys, "--json")
    report = json.loads(out)
    assert status == 1
    assert report["ok"] is False


def test_several_corruptions_at_once_are_all_reported(
    tampered: Tampered, capsys: pytest.CaptureFixture[str]
) -> None:
    chosen = [KINDS[i] for i in (0, 3, 6, 11, 12)]  # payout, claim, order JSON, outbox x2
    for kind in chosen:
        kind.corrupt(tampered)
    status, out = audit(tampered, capsys)
    assert status == 1
    for kind in chosen:
        assert_reported(out, kind.expected(tampered.story))
    summary = out.splitlines()[-1]
    assert "0-readable" in summary
    assert summary.index("0-readable") < summary.index("8-payments")


# -- the gateway's word (--gateway) and operations left open (--open-limit) -----------


def lose_a_checkout(t: Tampered) -> str:
    """A charge the gateway captured whose answer was lost, and nobody reconciled."""
    from gigmarket.errors import OutcomeUnknown  # noqa: PLC0415
    from gigmarket.marketplace import Marketplace  # noqa: PLC0415
    from gigmarket.money import Amount  # noqa: PLC0415
    from gigmarket.orders import Offer, OfferedPackage, fiverr_policy  # noqa: PLC0415

    storage = t.storage()
    market = Marketplace(
        storage, gateway=t.sandbox, policy=fiverr_policy(gateway=GATEWAY), clock=t.sandbox._clock
    )
    try:
        offer = Offer(
            gig_id="gig-logo",
            gig_version=1,
            seller_id=t.story.seller_id,
            package=OfferedPackage(
                name="Basic", price=Amount.of("50.00", "USD"), delivery_days=3, revisions=1
            ),
        )
        order_id = market.orders.place(offer, buyer_id=t.story.buyer_id).id
        t.sandbox.faults.on(Operation.CHARGE, Fault.lose_response())
        with pytest.raises(OutcomeUnknown):
            market.pay(order_id, buyer_id=t.story.buyer_id, source="tok_visa")
    finally:
        storage.close()
    return order_id


def test_a_captured_charge_never_booked_is_reported_with_the_gateway(
    tampered: Tampered, capsys: pytest.CaptureFixture[str]
) -> None:
    order_id = lose_a_checkout(tampered)  # twelve days ago
    status, out = audit(tampered, capsys, "--open-limit", "60d")
    assert status == 0, out  # the books alone cannot see the charge, and it is not yet late
    status, out = audit(tampered, capsys, "--gateway", GATEWAY, "--open-limit", "60d")
    assert status == 1
    assert_reported(
        out,
        [
            f"[10-gateway] payment operation pay:{order_id}:1: charge ch_000004 "
            f"(captured 55.75 USD) was never booked: payment pay:{order_id}:1 is unknown"
        ],
    )
    for options in ((), ("--open-limit", "24h")):  # past a week, or past the limit given
        status, out = audit(tampered, capsys, *options)
        assert status == 1
        assert_reported(
            out,
            [
                f"[9-stuck] payment operation pay:{order_id}:1: payment unknown, open since ",
                "its answer was lost and the gateway has not settled it since; "
                "decide it with 'gigmarket payments resolve'",
            ],
        )


def test_a_payout_the_gateway_never_made_is_reported(
    tampered: Tampered, capsys: pytest.CaptureFixture[str]
) -> None:
    s = tampered.story
    tampered.hands.sql(
        (
            "UPDATE payment_operations SET id = 'payout:forged:1' WHERE id = ?",
            (s.payout_id,),
        )
    )
    status, out = audit(tampered, capsys, "--gateway", GATEWAY)
    assert status == 1
    assert_reported(
        out,
        [
            "[10-gateway] payment operation payout:forged:1: payout payout:forged:1 is "
            "succeeded, but the gateway made no payout with its key (it booked po_000001)",
            "[10-gateway] ledger: payout po_000001 (40.00 USD, paid) at the gateway is "
            "recorded by no payout operation",
        ],
    )


def test_since_limits_what_the_gateway_lists(
    tampered: Tampered, capsys: pytest.CaptureFixture[str]
) -> None:
    lose_a_checkout(tampered)
    status, out = audit(
        tampered,
        capsys,
        "--gateway",
        GATEWAY,
        "--since",
        "2999-01-01T00:00Z",
        "--open-limit",
        "60d",
    )
    assert status == 0, out


@pytest.mark.parametrize(
    ("options", "fragment"),
    [
        (("--since", "2026-01-01T00:00Z"), "--since goes with --gateway"),
        (("--open-limit", "soon"), "is not a duration such as 30m, 24h or 7d"),
        (("--gateway", GATEWAY, "--since", "yesterday"), "is not an ISO 8601 time"),
    ],
)
def test_bad_audit_options_are_one_line(
    tampered: Tampered, capsys: pytest.CaptureFixture[str], options: tuple[str, ...], fragment: str
) -> None:
    assert main(["audit", *tampered.args, *options]) == 2
    _, err = capsys.readouterr()
    assert fragment in err


def test_a_gateway_that_cannot_list_is_refused(
    tampered: Tampered, capsys: pytest.CaptureFixture[str]
) -> None:
    from gigmarket.gateways.protocols import Capabilities  # noqa: PLC0415

    narrow = SandboxGateway(
        api_key=API_KEY,
        webhook_secret=WEBHOOK_SECRET,
        name=GATEWAY,
        capabilities=Capabilities(currencies={"USD"}, payouts=True),
    )
    registry.register(GATEWAY, lambda **_: narrow, replace=True)
    assert main(["audit", *tampered.args, "--gateway", GATEWAY]) == 2
    _, err = capsys.readouterr()
    assert "does not declare list_activity" in err


def test_a_tampered_schema_version_stops_the_audit(
    tampered: Tampered, capsys: pytest.CaptureFixture[str]
) -> None:
    tampered.hands.sql(("UPDATE gigmarket_schema SET version = version + 1", ()))
    assert main(["audit", *tampered.args]) == 2
    _, err = capsys.readouterr()
    assert "this gigmarket supports up to" in err


assert POSTGRES_URL is None or POSTGRES_URL  # the fixture skips PostgreSQL without it
