"""An offer checks its own invariants; text kept on orders obeys the catalog's text rules."""

from __future__ import annotations

from typing import Any

import attrs
import pytest

from gigmarket.catalog import limits
from gigmarket.errors import ValidationError
from gigmarket.money import Amount
from gigmarket.orders import Actor, DisputeResolution, OfferedExtra, OfferedPackage, model
from gigmarket.text import (
    ANSWER_MAX,
    CANCELLATION_REASON_MAX,
    NOTE_MAX,
    REVIEW_TEXT_MAX,
    SUB_RATING_NAME_MAX,
)
from tests.unit.orders.helpers import BUYER_ID, WorldFactory, make_offer, usd

# -- offers built directly ----------------------------------------------------------------


def test_a_negative_extra_cannot_discount_a_package() -> None:
    """The finding: a 50.00 package with a -10.00 extra became a 40.00 order."""
    with pytest.raises(ValidationError) as refused:
        OfferedExtra(name="Discount", price=usd("-10.00"))
    assert refused.value.field == "price"


@pytest.mark.parametrize(
    ("build", "field"),
    [
        (lambda: OfferedExtra(name="Free", price=usd("0.00")), "price"),
        (lambda: OfferedExtra(name="x", price=usd("1.00"), extra_days=31), "extra_days"),
        (lambda: OfferedExtra(name="x", price=usd("1.00"), extra_revisions=-1), "extra_revisions"),
        (lambda: OfferedExtra(name="a\u202eb", price=usd("1.00")), "name"),
        (lambda: OfferedExtra(name="", price=usd("1.00")), "name"),
        (lambda: OfferedExtra(name="x", price="1.00"), "price"),  # type: ignore[arg-type]
        (
            lambda: OfferedPackage(name="B", price=usd("-50"), delivery_days=3, revisions=1),
            "price",
        ),
        (
            lambda: OfferedPackage(name="B", price=usd("50"), delivery_days=0, revisions=1),
            "delivery_days",
        ),
        (
            lambda: OfferedPackage(name="B", price=usd("50"), delivery_days=10**30, revisions=1),
            "delivery_days",
        ),
        (
            lambda: OfferedPackage(name="B", price=usd("50"), delivery_days=3, revisions=21),
            "revisions",
        ),
        (
            lambda: OfferedPackage(name="B\x00", price=usd("50"), delivery_days=3, revisions=1),
            "name",
        ),
        (
            lambda: OfferedPackage(name="B" * 36, price=usd("50"), delivery_days=3, revisions=1),
            "name",
        ),
        (lambda: attrs.evolve(make_offer(), title="\x1b[2Jlogo"), "title"),
        (lambda: attrs.evolve(make_offer(), title="x" * 81), "title"),
        (lambda: attrs.evolve(make_offer(), gig_id=["g"]), "gig_id"),
        (lambda: attrs.evolve(make_offer(), gig_version=0), "gig_version"),
        (lambda: attrs.evolve(make_offer(), seller_id=None), "seller_id"),
        (lambda: attrs.evolve(make_offer(), package="Basic"), "package"),
        (lambda: attrs.evolve(make_offer(), extras=[]), "extras"),
        (
            lambda: attrs.evolve(
                make_offer(), extras=(OfferedExtra(name="Fast", price=Amount.of("5", "EUR")),)
            ),
            "extras.0.price",
        ),
        (
            lambda: attrs.evolve(
                make_offer(),
                extras=(
                    OfferedExtra(name="Fast", price=usd("5")),
                    OfferedExtra(name="fast", price=usd("5")),
                ),
            ),
            "extras.1.name",
        ),
        (
            lambda: attrs.evolve(
                make_offer(),
                extras=tuple(OfferedExtra(name=f"e{i}", price=usd("1")) for i in range(11)),
            ),
            "extras",
        ),
    ],
)
def test_an_offer_checks_its_own_invariants(build: Any, field: str) -> None:
    with pytest.raises(ValidationError) as refused:
        build()
    assert refused.value.field == field


def test_an_offer_built_by_hand_prices_as_before(make_world: WorldFactory) -> None:
    offer = attrs.evolve(make_offer(), extras=(OfferedExtra(name="Fast", price=usd("10.00")),))
    order = make_world().place(offer)
    assert order.price.subtotal == usd("60.00")


def test_the_offer_limits_are_the_catalogs() -> None:
    """Every offer the catalog makes must be a valid offer, and no more."""
    assert model.OFFER_TITLE_MAX == limits.TITLE_MAX
    assert model.OFFER_NAME_MAX == limits.PACKAGE_NAME_MAX
    assert model.OFFER_DELIVERY_DAYS_MAX == limits.PACKAGE_DELIVERY_DAYS_MAX
    assert model.OFFER_EXTRA_DAYS_MAX == limits.EXTRA_DAYS_MAX
    assert model.OFFER_REVISIONS_MAX == limits.REVISIONS_MAX
    assert model.OFFER_EXTRAS_MAX == limits.EXTRAS_MAX
    assert model.OFFER_QUESTIONS_MAX == limits.QUESTIONS_MAX
    assert model.OFFER_QUESTION_TEXT_MAX == limits.QUESTION_TEXT_MAX
    assert model.OFFER_CHOICES_MAX == limits.QUESTION_CHOICES_MAX
    assert model.OFFER_CHOICE_MAX == limits.QUESTION_CHOICE_MAX


# -- text kept on orders ------------------------------------------------------------------

BAD_TEXT = ["nul\x00", "a\u202eb", "\x1b[2Jred", "\ud800", "bell\x07"]


def _completed(make_world: WorldFactory) -> Any:
    world = make_world()
    return world, world.drive("completed")


@pytest.mark.parametrize("text", [*BAD_TEXT, "x" * (REVIEW_TEXT_MAX + 1)])
def test_a_review_text_obeys_the_text_rules(make_world: WorldFactory, text: str) -> None:
    world, order = _completed(make_world)
    before = world.snapshot()
    with pytest.raises(ValidationError) as refused:
        world.desk.review(order.id, by=Actor.BUYER, account_id=BUYER_ID, rating=5, text=text)
    assert refused.value.field == "text"
    assert world.snapshot() == before


@pytest.mark.parametrize("name", [*BAD_TEXT, "", "x" * (SUB_RATING_NAME_MAX + 1)])
def test_a_sub_rating_name_obeys_the_text_rules(make_world: WorldFactory, name: str) -> None:
    world, order = _completed(make_world)
    with pytest.raises(ValidationError) as refused:
        world.desk.review(
            order.id, by=Actor.BUYER, account_id=BUYER_ID, rating=5, sub_ratings={name: 4}
        )
    assert refused.value.field == "sub_ratings"


@pytest.mark.parametrize("sub_ratings", [["communication"], "communication", 5])
def test_sub_ratings_must_be_a_mapping(make_world: WorldFactory, sub_ratings: Any) -> None:
    world, order = _completed(make_world)
    with pytest.raises(ValidationError) as refused:
        world.desk.review(
            order.id, by=Actor.BUYER, account_id=BUYER_ID, rating=5, sub_ratings=sub_ratings
        )
    assert refused.value.field == "sub_ratings"


def test_review_text_is_stored_in_nfc_form(make_world: WorldFactory) -> None:
    world, order = _completed(make_world)
    review = world.desk.review(
        order.id, by=Actor.BUYER, account_id=BUYER_ID, rating=5, text="  Cafe\u0301\r\nthanks "
    )
    assert review.text == "Café\nthanks"


@pytest.mark.parametrize("reason", [*BAD_TEXT, "x" * (CANCELLATION_REASON_MAX + 1), ["no"]])
def test_a_cancellation_reason_obeys_the_text_rules(make_world: WorldFactory, reason: Any) -> None:
    world = make_world()
    order = world.drive("in_progress")
    before = world.snapshot()
    with pytest.raises(ValidationError) as refused:
        world.desk.request_cancellation(
            order.id, by=Actor.BUYER, account_id=BUYER_ID, reason=reason
        )
    assert refused.value.field == "reason"
    assert world.snapshot() == before


@pytest.mark.parametrize("answer", [*BAD_TEXT, "x" * (ANSWER_MAX + 1), "   "])
def test_a_requirement_answer_obeys_the_text_rules(make_world: WorldFactory, answer: str) -> None:
    world = make_world()
    order = world.pay(world.place())
    with pytest.raises(ValidationError) as refused:
        world.desk.submit_requirements(
            order.id, buyer_id=BUYER_ID, answers={"brand": answer, "style": "flat"}
        )
    assert refused.value.field == "answers.brand"


def test_a_free_answer_may_span_lines(make_world: WorldFactory) -> None:
    world = make_world()
    order = world.pay(world.place())
    order = world.desk.submit_requirements(
        order.id, buyer_id=BUYER_ID, answers={"brand": "Acme\r\nLtd", "style": "flat"}
    )
    assert dict(order.answers)["brand"] == "Acme\nLtd"


@pytest.mark.parametrize("note", [*BAD_TEXT, "x" * (NOTE_MAX + 1), None])
def test_a_dispute_note_obeys_the_text_rules(note: Any) -> None:
    with pytest.raises(ValidationError) as refused:
        DisputeResolution(refund=usd("1.00"), note=note)
    assert refused.value.field == "resolution.note"


def test_a_dispute_refund_must_be_an_amount() -> None:
    with pytest.raises(ValidationError) as refused:
        DisputeResolution(refund="1.00")  # type: ignore[arg-type]
    assert refused.value.field == "resolution.refund"


@pytest.mark.parametrize("reason", [*BAD_TEXT, "x" * (NOTE_MAX + 1), {"why": 1}])
def test_a_refund_reason_obeys_the_text_rules(make_world: WorldFactory, reason: Any) -> None:
    world, order = _completed(make_world)
    with pytest.raises(ValidationError) as refused:
        world.desk.refund_completed(order.id, usd("1.00"), reason=reason)
    assert refused.value.field == "reason"
