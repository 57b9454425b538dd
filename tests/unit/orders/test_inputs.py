"""Inputs the lifecycle refuses up front, because accepting them would hurt later."""

from __future__ import annotations

import pytest

from gigmarket.errors import ValidationError
from gigmarket.money import Amount
from gigmarket.orders import Actor, Offer, OfferedPackage
from tests.unit.orders.helpers import WorldFactory


def _offer(seller_id: str) -> Offer:
    return Offer(
        gig_id="g",
        gig_version=1,
        seller_id=seller_id,
        package=OfferedPackage(
            name="Basic", price=Amount.of("50.00", "USD"), delivery_days=3, revisions=1
        ),
    )


@pytest.mark.parametrize(
    ("buyer", "seller", "field"),
    [
        ("alice smith", "nadia", "buyer_id"),
        ("rahim", "বিক্রেতা", "offer.seller_id"),
        ("rahim", "a:b", "offer.seller_id"),
        ("x" * 101, "nadia", "buyer_id"),
    ],
)
def test_ids_that_cannot_name_an_account_are_refused_at_checkout(
    make_world: WorldFactory, buyer: str, seller: str, field: str
) -> None:
    """Refunds and releases go to accounts named after the parties: an order
    whose money could never leave escrow is refused before it is placed."""
    world = make_world()
    before = world.snapshot()
    with pytest.raises(ValidationError) as refused:
        world.desk.place(_offer(seller), buyer_id=buyer)
    assert refused.value.field == field
    assert world.snapshot() == before


def test_a_caller_cannot_choose_the_time_of_an_action(make_world: WorldFactory) -> None:
    """Time guards and deadlines depend on the clock, never on the caller: an
    unknown keyword such as ``at`` is refused, not ignored."""
    world = make_world()
    order = world.drive("in_progress")
    before = world.snapshot()
    with pytest.raises(ValidationError) as refused:
        world.desk.act(
            order.id,
            "cancel_late",
            actor=Actor.BUYER,
            account_id=order.buyer_id,
            at=world.clock.now().replace(year=2099),
        )
    assert refused.value.field == "at"
    assert world.snapshot() == before


@pytest.mark.parametrize("reference", [None, "", 42])
def test_a_payment_without_a_reference_is_refused(
    make_world: WorldFactory, reference: object
) -> None:
    """Not mistaken for the replay of an unpaid order's missing reference."""
    world = make_world()
    order = world.drive("pending_payment")
    before = world.snapshot()
    with pytest.raises(ValidationError) as refused:
        world.desk.record_payment(order.id, order.price.total_charged, reference=reference)  # type: ignore[arg-type]
    assert refused.value.field == "reference"
    assert world.snapshot() == before
