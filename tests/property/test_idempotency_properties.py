"""Idempotency keys across every keyed operation, on every adapter.

Three properties, whatever keys a host picks (Hypothesis draws them from the
shapes of the keys gigmarket derives for itself, ``payment:<charge>``,
``refund:<order>:<version>``..., from their scoped spelling, and from odd
text):

1. **Host keys and internal keys never meet.** A host key equal to a key the
   library derives (or will derive) never blocks, replays or overwrites the
   library's booking: every payment is booked, every refund and release
   happens, and the audit stays clean.
2. **A call without a key is never a replay.** Keyless calls after keyed ones
   (and keyed after keyless) each do their own work.
3. **Every adapter behaves alike.** The same key with the same content
   replays the first result; with other content, in the same scope, it is an
   :class:`~gigmarket.errors.IdempotencyConflict`, on memory, SQLite and
   PostgreSQL alike.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gigmarket.cashier.policy import CashierPolicy, WithdrawalLimits
from gigmarket.catalog import CreateAccount
from gigmarket.clock import ManualClock
from gigmarket.errors import IdempotencyConflict
from gigmarket.escrow import chart
from gigmarket.ids import sequential_ids
from gigmarket.marketplace import Marketplace
from gigmarket.money import Amount
from tests.cli.story import START, tell

pytestmark = pytest.mark.slow

CLEARED = START + timedelta(days=30)


def usd(text: str) -> Amount:
    return Amount.of(text, "USD")


def _shapes_of_internal_keys(ids: list[str]) -> st.SearchStrategy[str]:
    """Keys shaped like the ones gigmarket derives, over ids that exist or will."""
    some_id = st.sampled_from(ids)
    prefixes = st.sampled_from(
        [
            "payment",
            "credit",
            "release",
            "refund",
            "clear",
            "tip",
            "order-tip",
            "clawback",
            "payout-paid",
            "payout-returned",
            "unwanted",
            "refunded",
            "refund-credit",
            "webhook",
        ]
    )
    plain = st.tuples(prefixes, some_id, st.integers(0, 9)).map(
        lambda t: f"{t[0]}:{t[1]}" if t[2] > 4 else f"{t[0]}:{t[1]}:{t[2]}"
    )
    spelled_scoped = st.tuples(prefixes, some_id).map(lambda t: f"gigmarket:{t[0]} {t[1]}")
    host_spelled = st.tuples(st.sampled_from(["post", "place_order", "withdraw"]), some_id).map(
        lambda t: f"host:{t[0]} {t[1]}"
    )
    odd = st.text(
        alphabet=st.characters(codec="utf-8", categories=["L", "N", "P", "S", "Zs"]),
        min_size=1,
        max_size=40,
    ).filter(str.isprintable)  # a no-break space (Zs) is no key a host may choose
    counts = st.integers(1, 4).map(str)  # the old keyless withdrawals' suffixes
    return st.one_of(plain, spelled_scoped, host_spelled, counts, odd)


# Ids the story below makes or will make with ``sequential_ids("id")``, and charge references.
_IDS = [f"id-{n:06d}" for n in range(1, 60)] + [f"charge-{n}" for n in range(1, 6)]


def _market(storage: Any) -> tuple[Marketplace, Any]:
    story = tell(storage)
    policy = CashierPolicy(
        withdrawals={
            "USD": WithdrawalLimits.of("USD", minimum="1.00", maximum="100.00", per_window=100)
        }
    )
    market = Marketplace(
        storage, clock=ManualClock(CLEARED), ids=sequential_ids("x"), cashier_policy=policy
    )
    return market, story


def _refused(call: Callable[[], object]) -> IdempotencyConflict:
    with pytest.raises(IdempotencyConflict) as raised:
        call()
    return raised.value


@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_host_keys_never_meet_internal_keys_and_keyless_calls_never_replay(
    any_storage_factory: Callable[[], Any], data: st.DataObject
) -> None:
    market, story = _market(any_storage_factory())
    keys = _shapes_of_internal_keys(_IDS)
    buyer, seller = story.buyer_id, story.seller_id
    gig_id = market.orders.get(story.open_order).offer.gig_id

    # -- place_order: scoped by the buyer ------------------------------------
    k_order = data.draw(keys, label="place_order key")
    order = market.checkout(gig_id, buyer_id=buyer, package="Basic", idempotency_key=k_order)
    assert (
        market.checkout(gig_id, buyer_id=buyer, package="Basic", idempotency_key=k_order).id
        == order.id
    )
    other_buyer = market.catalog.create_account(CreateAccount(username="karim")).id
    theirs = market.checkout(gig_id, buyer_id=other_buyer, package="Basic", idempotency_key=k_order)
    assert theirs.id != order.id  # another buyer's key of the same spelling is theirs alone
    keyless = [market.checkout(gig_id, buyer_id=buyer, package="Basic") for _ in range(2)]
    assert len({order.id, *(o.id for o in keyless)}) == 3

    # -- the library's own keys: a payment booked whatever keys the host used --
    reference = data.draw(st.sampled_from(["charge-3", "charge-4"]), label="charge")
    k_ledger = data.draw(keys, label="ledger key")
    market.ledger.open_account("bank:host", "USD", allow_negative=True)
    market.ledger.open_account("bank:other", "USD")
    host_entry = market.ledger.transfer(
        "bank:host", "bank:other", usd("1.00"), idempotency_key=k_ledger
    )
    paid = market.orders.record_payment(order.id, order.price.total_charged, reference=reference)
    assert paid.payment_reference == reference
    assert market.balance(chart.order_escrow(order.id)).posted == order.price.total_charged
    assert (
        market.ledger.transfer("bank:host", "bank:other", usd("1.00"), idempotency_key=k_ledger)
        == host_entry
    )
    conflict = _refused(
        lambda: market.ledger.transfer(
            "bank:host", "bank:other", usd("2.00"), idempotency_key=k_ledger
        )
    )
    assert (conflict.key, conflict.scope) == (k_ledger, "host:post")

    # -- a refund with a natural host key, shaped like the library's own -------
    market.orders.submit_requirements(order.id, buyer_id=buyer, answers={})
    market.orders.deliver(order.id, seller_id=seller)
    market.orders.accept(order.id, buyer_id=buyer)
    completed = market.orders.get(order.id)
    k_refund = data.draw(
        st.one_of(st.just(f"refund:{order.id}:{completed.version}"), keys), label="refund key"
    )
    refunded = market.orders.refund_completed(order.id, usd("5.00"), idempotency_key=k_refund)
    again = market.orders.refund_completed(order.id, usd("5.00"), idempotency_key=k_refund)
    assert again.version == refunded.version  # a replay: nothing refunded twice
    assert market.orders.get(order.id).settlement.refunded == usd("5.00").units
    _refused(
        lambda: market.orders.refund_completed(order.id, usd("6.00"), idempotency_key=k_refund)
    )

    # -- withdrawals: keyed ones replay, keyless ones never do -----------------
    market.run_due(CLEARED)
    market.add_payout_account(seller, "USD", bank_token="bank_ok")
    k_withdraw = data.draw(keys, label="withdraw key")
    first = market.withdraw(seller, usd("3.00"), idempotency_key=k_withdraw)
    free = [market.withdraw(seller, usd("3.00")) for _ in range(2)]
    replay = market.withdraw(seller, usd("3.00"), idempotency_key=k_withdraw)
    assert replay.operation.id == first.operation.id
    assert replay.payout is None
    ids = {first.operation.id, *(w.operation.id for w in free)}
    assert len(ids) == 3
    conflict = _refused(lambda: market.withdraw(seller, usd("4.00"), idempotency_key=k_withdraw))
    assert conflict.scope == f"host:withdraw:{seller}"

    # -- nothing misbooked: every invariant of the store holds ---------------
    assert market.audit() == []
