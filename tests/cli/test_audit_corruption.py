"""``gigmarket audit`` finds each kind of damage it claims to detect, in real
SQLite and PostgreSQL stores corrupted by hand, and passes a clean one.

Each corruption is written as raw SQL below the library (see ``hands.py``),
after removing whatever guard of the schema would have refused it. The
expected report lines are exact: invariant, subject and amounts as money.
"""

from __future__ import annotations

import json
from collections.abc import Callable

import attrs
import pytest

from gigmarket.admin.cli import main
from tests.cli.conftest import StoredStory
from tests.cli.hands import Hands, PostgresHands, SQLiteHands, forge_entry
from tests.cli.story import Story


@attrs.frozen
class Corruption:
    name: str
    corrupt: Callable[[Hands, Story], None]
    expected: Callable[[Story], list[str]]
    exact: bool = True
    """Whether these are all the report's lines (else: among them)."""


def unbalanced_entry(hands: Hands, s: Story) -> None:
    hands.drop_balance_check()
    forge_entry(hands, "forged-1", [(s.pending, 500)])


def stored_balance_off(hands: Hands, s: Story) -> None:
    hands.sql(("UPDATE ledger_accounts SET posted = posted - 1 WHERE code = ?", (s.revenue,)))


def stored_holds_off(hands: Hands, s: Story) -> None:
    hands.sql(("UPDATE ledger_accounts SET held = 100 WHERE code = ?", (s.pending,)))


def overdrawn(hands: Hands, s: Story) -> None:
    hands.drop_non_negative_check()
    forge_entry(hands, "forged-payout", [(s.pending, -5000), (s.gateway, 5000)])


def completed_with_money_in_escrow(hands: Hands, s: Story) -> None:
    hands.set_order_state(s.open_order, "completed")


def paid_into_a_completed_order(hands: Hands, s: Story) -> None:
    forge_entry(
        hands, "forged-late", [(s.gateway, -500), (f"escrow:order:{s.completed_order}", 500)]
    )


def duplicate_key_record(hands: Hands, s: Story) -> None:
    hands.drop_key_uniqueness()
    hands.sql(
        (
            "INSERT INTO idempotency_keys (scope, key, operation, fingerprint, result_id) "
            "VALUES (?, ?, 'post', 'forged', 'forged-2')",
            tuple(s.payment_key.split(" ", 1)),
        )
    )


def payment_applied_twice(hands: Hands, s: Story) -> None:
    forge_entry(
        hands,
        "forged-replay",
        [(s.gateway, -5575), (f"escrow:order:{s.open_order}", 5575)],
        key=s.payment_key,
    )


def false_reversal(hands: Hands, s: Story) -> None:
    forge_entry(
        hands, "forged-reversal", [(s.revenue, -100), (s.gateway, 100)], reverses="id-000015"
    )


def postings_deleted(hands: Hands, s: Story) -> None:
    hands.drop_append_only()
    hands.sql(
        (
            "DELETE FROM ledger_postings WHERE entry_seq = "
            "(SELECT seq FROM ledger_entries WHERE id = 'id-000015')",
            (),
        )
    )


def wrong_currency(hands: Hands, s: Story) -> None:
    forge_entry(
        hands,
        "forged-eur",
        [(s.revenue, -100), (s.pending, 100)],
        currency="EUR",
        update_balances=False,
    )


def unknown_account(hands: Hands, s: Story) -> None:
    hands.drop_account_reference()
    forge_entry(hands, "forged-ghost", [(s.pending, -100), ("ghost:account:USD", 100)])


_OPERATION = (
    "INSERT INTO payment_operations (id, kind, gateway, subject, currency, units, status, "
    "created_at, updated_at, version, gateway_ref) "
    "VALUES (?, ?, 'sandbox', ?, 'USD', ?, ?, "
    "'2026-01-05T09:00:00.000000Z', '2026-01-05T09:00:00.000000Z', 0, ?)"
)


def refund_without_its_money(hands: Hands, s: Story) -> None:
    hands.sql((_OPERATION, ("forged-refund", "refund", s.open_order, 1000, "queued", None)))


def order_paid_by_two_charges(hands: Hands, s: Story) -> None:
    for n in (1, 2):
        hands.sql(
            (
                _OPERATION,
                (f"pay:forged:{n}", "payment", s.completed_order, 5575, "succeeded", f"ch_{n}"),
            )
        )


CORRUPTIONS = [
    Corruption(
        "an unbalanced entry",
        unbalanced_entry,
        lambda s: [
            "[1-balanced] entry forged-1: its postings sum to 5.00 USD, not 0",
            "[1-balanced] ledger: all postings sum to 5.00 USD, not 0",
        ],
    ),
    Corruption(
        "a stored balance that is not the sum of its postings",
        stored_balance_off,
        lambda s: [
            f"[4-stored-balance] account {s.revenue}: stored balance 15.74 USD, "
            "but its postings sum to 15.75 USD",
        ],
    ),
    Corruption(
        "stored holds that are not the pending holds",
        stored_holds_off,
        lambda s: [
            f"[4-stored-balance] account {s.pending}: stored holds total 1.00 USD, "
            "but its pending holds add up to 0.00 USD",
        ],
    ),
    Corruption(
        "a negative balance on a non-negative account",
        overdrawn,
        lambda s: [
            f"[2-non-negative] account {s.pending}: available balance -10.00 USD, below zero",
            f"[2-non-negative] entry forged-payout, account {s.pending}: "
            "its postings took it to -10.00 USD",
        ],
    ),
    Corruption(
        "money left in a terminal order's escrow",
        completed_with_money_in_escrow,
        lambda s: [
            f"[3-conservation] order {s.open_order}: is completed, a terminal state, "
            "but still holds 55.75 USD in escrow",
        ],
    ),
    Corruption(
        "money paid into a completed order's escrow account",
        paid_into_a_completed_order,
        lambda s: [
            f"[3-conservation] order {s.completed_order}: the order holds 0.00 USD, "
            "its escrow account 5.00 USD",
        ],
    ),
    Corruption(
        "a duplicate idempotency key",
        duplicate_key_record,
        lambda s: [
            f"[5-idempotent] idempotency key {s.payment_key!r}: "
            "recorded 2 times: post → forged-2, post → id-000022",
        ],
    ),
    Corruption(
        "a payment applied twice under one idempotency key",
        payment_applied_twice,
        lambda s: [
            f"[3-conservation] order {s.open_order}: the order holds 55.75 USD, "
            "its escrow account 111.50 USD",
            f"[5-idempotent] idempotency key {s.payment_key!r}: carried by 2 entries: "
            "id-000022 (55.75 USD), forged-replay (55.75 USD)",
        ],
    ),
    Corruption(
        "a refund operation whose money was never set aside",
        refund_without_its_money,
        lambda s: [
            "[8-payments] account refunds:in_flight:USD: refunds in flight hold 0.00 USD, "
            "open refund operations add up to 10.00 USD",
            "[8-payments] ledger: refund forged-refund (queued): "
            "the entry setting the refund aside is missing",
            # queued since the story's day, long before the audit: a person must look
            "[9-stuck] payment operation forged-refund: refund queued, open since "
            "2026-01-05T09:00:00+00:00: a card refund not yet accepted by the gateway; "
            "decide it with 'gigmarket payments resolve'",
        ],
    ),
    Corruption(
        "an order paid by two charges",
        order_paid_by_two_charges,
        lambda s: [
            f"[8-payments] ledger: order {s.completed_order} was paid by 2 payments: "
            "pay:forged:1, pay:forged:2",
            f"[8-payments] ledger: order {s.completed_order}: payment pay:forged:1 kept charge "
            "ch_1, the order records charge-1",
            f"[8-payments] ledger: order {s.completed_order}: payment pay:forged:2 kept charge "
            "ch_2, the order records charge-1",
        ],
        exact=False,
    ),
    Corruption(
        "a reversal that is not the opposite of its entry",
        false_reversal,
        lambda s: [
            "[6-append-only] entry forged-reversal: is not the exact opposite of 'id-000015'",
        ],
    ),
    Corruption(
        "an entry whose postings were deleted",
        postings_deleted,
        lambda s: [
            f"[4-stored-balance] account escrow:order:{s.completed_order}: "
            "stored balance 0.00 USD, but its postings sum to 55.75 USD",
            f"[4-stored-balance] account {s.revenue}: "
            "stored balance 15.75 USD, but its postings sum to 0.00 USD",
            f"[4-stored-balance] account {s.pending}: "
            "stored balance 40.00 USD, but its postings sum to 0.00 USD",
            "[7-atomic] entry id-000015: the entry has no postings: it was written only in part",
        ],
    ),
    Corruption(
        "postings in another currency than their account's",
        wrong_currency,
        lambda s: [
            f"[1-balanced] entry forged-eur, account {s.revenue}: a EUR posting to a USD account",
            f"[1-balanced] entry forged-eur, account {s.pending}: a EUR posting to a USD account",
        ],
        exact=False,
    ),
    Corruption(
        "a posting to an account that does not exist",
        unknown_account,
        lambda s: [
            "[1-balanced] entry forged-ghost, account ghost:account:USD: "
            "posting to unknown account 'ghost:account:USD'",
        ],
        exact=False,
    ),
]


def audit(
    stored: StoredStory, capsys: pytest.CaptureFixture[str], *options: str
) -> tuple[int, list[str]]:
    status = main(["audit", *stored.args, "--no-progress", *options])
    out, err = capsys.readouterr()
    assert err == ""
    return status, out.splitlines()


def check_reported(
    stored: StoredStory, capsys: pytest.CaptureFixture[str], corruption: Corruption
) -> None:
    status, lines = audit(stored, capsys)
    expected = corruption.expected(stored.story)
    *violations, summary = lines
    assert status == 1, lines
    if corruption.exact:
        assert sorted(violations) == sorted(expected)
        found = f"{len(expected)} violation{'s' if len(expected) > 1 else ''}"
        assert summary.endswith(f"; {found} ({_counts(expected)})")
    else:
        assert set(expected) <= set(violations), violations
    status, lines = audit(stored, capsys, "--json")
    report = json.loads("\n".join(lines))
    assert status == 1
    assert report["ok"] is False
    assert len(report["violations"]) == len(violations)


def _counts(lines: list[str]) -> str:
    names = sorted(line[1 : line.index("]")] for line in lines)
    return ", ".join(f"{name} {names.count(name)}" for name in dict.fromkeys(names))


def test_a_clean_sqlite_store_passes(
    sqlite_story: StoredStory, capsys: pytest.CaptureFixture[str]
) -> None:
    status, lines = audit(sqlite_story, capsys)
    assert status == 0
    assert lines == [
        f"audit of {sqlite_story.location}: 5 accounts, 3 entries, 2 orders, "
        "3 idempotency keys checked; no violations"
    ]


@pytest.mark.parametrize("corruption", CORRUPTIONS, ids=lambda c: c.name)
def test_each_corruption_of_a_sqlite_store_is_reported(
    sqlite_story: StoredStory, capsys: pytest.CaptureFixture[str], corruption: Corruption
) -> None:
    corruption.corrupt(SQLiteHands(sqlite_story.location), sqlite_story.story)
    check_reported(sqlite_story, capsys, corruption)


@pytest.mark.postgres
def test_a_clean_postgres_store_passes(
    postgres_story: StoredStory, capsys: pytest.CaptureFixture[str]
) -> None:
    status, lines = audit(postgres_story, capsys)
    assert status == 0
    assert lines[-1].endswith(
        ": 5 accounts, 3 entries, 2 orders, 3 idempotency keys checked; no violations"
    )


@pytest.mark.postgres
@pytest.mark.parametrize("corruption", CORRUPTIONS, ids=lambda c: c.name)
def test_each_corruption_of_a_postgres_store_is_reported(
    postgres_story: StoredStory, capsys: pytest.CaptureFixture[str], corruption: Corruption
) -> None:
    assert postgres_story.schema is not None
    hands = PostgresHands(postgres_story.location, postgres_story.schema)
    corruption.corrupt(hands, postgres_story.story)
    check_reported(postgres_story, capsys, corruption)
