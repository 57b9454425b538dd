"""Bad input to every catalog command: one ValidationError naming the field, nothing stored.

Each row of the table is one broken input; the test runs it against a catalog
holding a seller, a buyer, a draft and an active gig, and checks that the
error names the expected field (a dotted path) and that the committed store
is exactly what it was before.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from typing import Any

import attrs
import pytest

from gigmarket.catalog import (
    Catalog,
    CreateAccount,
    CreateGig,
    Gig,
    PackageInput,
    SearchQuery,
    SetUpProfile,
    UpdateGig,
    UserAccount,
)
from gigmarket.errors import GigIncomplete, ValidationError
from gigmarket.money import Amount
from tests.strategies import gig_payload, profile_payload


@attrs.frozen
class World:
    catalog: Catalog
    seller: UserAccount
    buyer: UserAccount
    draft: Gig
    active: Gig


@pytest.fixture
def world(catalog: Catalog, seller: UserAccount, buyer: UserAccount, draft: Gig) -> World:
    second = catalog.create_gig(seller.id, CreateGig(**gig_payload(title="I will build a website")))
    active = catalog.publish(second.id, seller_id=seller.id)
    return World(catalog, seller, buyer, draft, active)


Action = Callable[[World], object]


def _account(**kwargs: object) -> Action:
    return lambda w: w.catalog.create_account(CreateAccount(**kwargs))


def _profile(**overrides: object) -> Action:
    return lambda w: w.catalog.set_up_profile(
        w.seller.id, SetUpProfile(**profile_payload(**overrides))
    )


def _gig(**overrides: object) -> Action:
    return lambda w: w.catalog.create_gig(w.seller.id, CreateGig(**gig_payload(**overrides)))


def _update(**fields: object) -> Action:
    return lambda w: w.catalog.update_gig(w.active.id, UpdateGig(**fields), seller_id=w.seller.id)


def _search(**fields: object) -> Action:
    return lambda w: w.catalog.search(SearchQuery(**fields))


def _packages(**changes: object) -> list[dict[str, object]]:
    """The default packages with the first one changed."""
    packages: list[dict[str, object]] = [dict(p) for p in gig_payload()["packages"]]  # type: ignore[attr-defined]
    packages[0].update(changes)
    return packages


def _review(**overrides: object) -> Action:
    def act(w: World) -> object:
        arguments: dict[str, Any] = {
            "review_id": "review-1",
            "order_id": "order-1",
            "gig_id": w.active.id,
            "buyer_id": w.buyer.id,
            "rating": 5,
        }
        arguments.update(overrides)
        if arguments["buyer_id"] == "SELLER":
            arguments["buyer_id"] = w.seller.id
        return w.catalog.record_review(**arguments)

    return act


def _outcome(**overrides: object) -> Action:
    def act(w: World) -> object:
        arguments: dict[str, Any] = {
            "order_id": "order-1",
            "gig_id": w.active.id,
            "outcome": "completed",
            "earnings": Amount.of("20.00", "USD"),
            "on_time": True,
        }
        arguments.update(overrides)
        return w.catalog.record_order_outcome(**arguments)

    return act


LONG = "x" * 2000
BAD_INPUTS: list[tuple[str, Action, str]] = [
    # -- CreateAccount
    ("username too short", _account(username="abc"), "username"),
    ("username starts with a digit", _account(username="1rahim"), "username"),
    ("username with a space", _account(username="rahim uddin"), "username"),
    ("username not a string", _account(username=12345), "username"),
    ("username taken, in other case", _account(username="RAHIM"), "username"),
    ("unknown account field", _account(username="newbie", email="a@b.c"), "email"),
    # -- SetUpProfile
    ("display name empty", _profile(display_name="   "), "display_name"),
    ("display name too long", _profile(display_name="R" * 51), "display_name"),
    ("headline with an escape sequence", _profile(headline="\x1b[31mBest\x1b[0m"), "headline"),
    ("profile description too long", _profile(description=LONG[:601]), "description"),
    ("too many skills", _profile(skills=[f"skill {n}" for n in range(16)]), "skills"),
    ("skill twice", _profile(skills=["Logo", "logo"]), "skills"),
    ("skill too long", _profile(skills=["s" * 31]), "skills.0"),
    ("no language", _profile(languages=[]), "languages"),
    (
        "language not a code",
        _profile(languages=[{"language": "english", "level": "fluent"}]),
        "languages.0.language",
    ),
    (
        "language level unknown",
        _profile(
            languages=[
                {"language": "bn", "level": "native"},
                {"language": "en", "level": "expert"},
            ]
        ),
        "languages.1.level",
    ),
    (
        "language twice",
        _profile(
            languages=[
                {"language": "en", "level": "native"},
                {"language": "EN", "level": "basic"},
            ]
        ),
        "languages",
    ),
    ("country not a code", _profile(country="Bangladesh"), "country"),
    # -- CreateGig: text
    ("title too short", _gig(title="I will logo"), "title"),
    ("title too long", _gig(title="I will " + "a" * 74), "title"),
    ("title missing", lambda w: CreateGig(category="graphics-design"), "title"),
    ("title with NUL", _gig(title="I will design a logo\x00"), "title"),
    ("title with a bidi override", _gig(title="I will design \u202egol a"), "title"),
    ("title not a string", _gig(title=None), "title"),
    ("category unknown", _gig(category="cooking"), "category"),
    ("category not a slug", _gig(category="Graphics Design!"), "category"),
    ("subcategory of another category", _gig(subcategory="translation"), "subcategory"),
    ("currency not a code", _gig(currency="dollars"), "currency"),
    ("currency not sold in", _gig(currency="JPY"), "currency"),
    ("too many tags", _gig(tags=["a1", "b2", "c3", "d4", "e5", "f6"]), "tags"),
    ("tag too long", _gig(tags=["t" * 21]), "tags.0"),
    ("tag too short", _gig(tags=["x"]), "tags.0"),
    ("tag with punctuation", _gig(tags=["logo!"]), "tags.0"),
    ("tag twice", _gig(tags=["logo", "LOGO"]), "tags"),
    ("description too long", _gig(description=LONG[:1201]), "description"),
    ("description with a bell", _gig(description="ring \a ring"), "description"),
    ("unknown gig field", _gig(price="5"), "price"),
    # -- CreateGig: packages
    ("four packages", _gig(packages=[*_packages(), _packages(name="Extra")[0]]), "packages"),
    ("package price a float", _gig(packages=_packages(price=25.0)), "packages.0.price"),
    ("package price a bool", _gig(packages=_packages(price=True)), "packages.0.price"),
    (
        "package price not a number",
        _gig(packages=_packages(price="25 dollars")),
        "packages.0.price",
    ),
    ("package price too precise", _gig(packages=_packages(price="25.001")), "packages.0.price"),
    ("package price below the range", _gig(packages=_packages(price="4.99")), "packages.0.price"),
    (
        "package price above the range",
        _gig(packages=_packages(price=Decimal("10000.01"))),
        "packages.0.price",
    ),
    ("package price negative", _gig(packages=_packages(price=-5)), "packages.0.price"),
    (
        "delivery in zero days",
        _gig(packages=_packages(delivery_days=0)),
        "packages.0.delivery_days",
    ),
    ("delivery in 91 days", _gig(packages=_packages(delivery_days=91)), "packages.0.delivery_days"),
    (
        "delivery days a string",
        _gig(packages=_packages(delivery_days="3")),
        "packages.0.delivery_days",
    ),
    ("21 revisions", _gig(packages=_packages(revisions=21)), "packages.0.revisions"),
    ("negative revisions", _gig(packages=_packages(revisions=-1)), "packages.0.revisions"),
    ("package name empty", _gig(packages=_packages(name="")), "packages.0.name"),
    ("package name twice", _gig(packages=_packages(name="standard")), "packages"),
    (
        "package description too long",
        _gig(packages=_packages(description="d" * 101)),
        "packages.0.description",
    ),
    (
        "eleven features",
        _gig(packages=_packages(features=[f"f{n}" for n in range(11)])),
        "packages.0.features",
    ),
    ("feature too long", _gig(packages=_packages(features=["f" * 41])), "packages.0.features.0"),
    (
        "package without price",
        _gig(packages=[{"name": "Basic", "delivery_days": 1}]),
        "packages.0.price",
    ),
    # -- CreateGig: extras
    (
        "extra price below the range",
        _gig(extras=[{"name": "Rush", "price": "1.00"}]),
        "extras.0.price",
    ),
    (
        "extra delta beyond 30 days",
        _gig(extras=[{"name": "Slow", "price": "5", "delivery_days_delta": 31}]),
        "extras.0.delivery_days_delta",
    ),
    (
        "fast delivery leaving a package no time",
        _gig(extras=[{"name": "Rush", "price": "5", "delivery_days_delta": -3}]),
        "extras.0.delivery_days_delta",
    ),
    (
        "eleven extras",
        _gig(extras=[{"name": f"Extra {n}", "price": "5"} for n in range(11)]),
        "extras",
    ),
    (
        "extra named twice",
        _gig(extras=[{"name": "Rush", "price": "5"}, {"name": "rush", "price": "6"}]),
        "extras",
    ),
    # -- CreateGig: requirements, FAQ, gallery
    (
        "multiple choice with one choice",
        _gig(requirements=[{"text": "Style?", "kind": "multiple_choice", "choices": ["Flat"]}]),
        "requirements.0.choices",
    ),
    (
        "free text with choices",
        _gig(requirements=[{"text": "Name?", "choices": ["A", "B"]}]),
        "requirements.0.choices",
    ),
    (
        "attachment allowing several",
        _gig(requirements=[{"text": "File?", "kind": "attachment", "allow_multiple": True}]),
        "requirements.0.allow_multiple",
    ),
    (
        "question kind unknown",
        _gig(requirements=[{"text": "Name?", "kind": "essay"}]),
        "requirements.0.kind",
    ),
    ("question too long", _gig(requirements=[{"text": "q" * 401}]), "requirements.0.text"),
    (
        "eleven questions",
        _gig(requirements=[{"text": f"Q{n}?"} for n in range(11)]),
        "requirements",
    ),
    (
        "required not a bool",
        _gig(requirements=[{"text": "Q?", "required": "yes"}]),
        "requirements.0.required",
    ),
    ("eleven FAQs", _gig(faqs=[{"question": f"Q{n}?", "answer": "A"} for n in range(11)]), "faqs"),
    ("FAQ without answer", _gig(faqs=[{"question": "Q?", "answer": ""}]), "faqs.0.answer"),
    ("nine gallery items", _gig(gallery=[f"img/{n}.png" for n in range(9)]), "gallery"),
    ("empty gallery reference", _gig(gallery=[""]), "gallery.0"),
    # -- UpdateGig
    ("update: title too short", _update(title="Short"), "title"),
    ("update: expected version 0", _update(expected_version=0), "expected_version"),
    ("update: currency without new prices", _update(currency="BDT"), "packages"),
    (
        "update: new currency, prices from the old one",
        _update(currency="BDT", packages=_packages(), extras=[]),
        "packages.0.price",
    ),
    ("update: currency not sold in", _update(currency="JPY"), "currency"),
    ("update: price out of range", _update(packages=_packages(price="0.50")), "packages.0.price"),
    (
        "update: category without its subcategory",
        _update(category="digital-marketing"),
        "subcategory",
    ),
    ("update: unknown field", _update(status="active"), "status"),
    # -- SearchQuery
    ("search text too long", _search(text="logo " * 21), "text"),
    ("search text of eleven words", _search(text=" ".join("abcdefghijk")), "text"),
    ("search text with a control character", _search(text="logo\x7f"), "text"),
    ("price bound without currency", _search(min_price="5"), "currency"),
    ("price sort without currency", _search(sort="price_asc"), "currency"),
    ("max price below min price", _search(currency="USD", min_price=50, max_price=10), "max_price"),
    ("price bound a float", _search(currency="USD", min_price=5.5), "min_price"),
    ("price bound too precise", _search(currency="USD", max_price="5.555"), "max_price"),
    ("limit zero", _search(limit=0), "limit"),
    ("limit above 100", _search(limit=101), "limit"),
    ("delivery within zero days", _search(delivery_within_days=0), "delivery_within_days"),
    ("rating below one", _search(min_rating="0.5"), "min_rating"),
    ("rating a float", _search(min_rating=4.5), "min_rating"),
    ("seller level unknown", _search(seller_levels=["gold"]), "seller_levels.0"),
    ("sort unknown", _search(sort="popular"), "sort"),
    ("cursor not a cursor", _search(cursor="not-a-cursor"), "cursor"),
    # -- operator and lifecycle inputs
    (
        "suspension without reason",
        lambda w: w.catalog.suspend_account(w.seller.id, reason=" "),
        "reason",
    ),
    (
        "suspension reason with NUL",
        lambda w: w.catalog.suspend_account(w.seller.id, reason="spam\x00"),
        "reason",
    ),
    ("denial reason too long", lambda w: w.catalog.deny(w.active.id, reason="r" * 501), "reason"),
    ("review rating six", _review(rating=6), "rating"),
    ("review rating a float", _review(rating=4.5), "rating"),
    ("review rating too precise", _review(rating="4.555"), "rating"),
    ("review rating not a number", _review(rating="great"), "rating"),
    ("review id empty", _review(review_id=""), "review_id"),
    ("seller reviewing their own gig", _review(buyer_id="SELLER"), "buyer_id"),
    ("outcome unknown", _outcome(outcome="lost"), "outcome"),
    ("completed without earnings", _outcome(earnings=None), "earnings"),
    ("completed with negative earnings", _outcome(earnings=Amount.of("-1", "USD")), "earnings"),
    ("completed with earnings as a str", _outcome(earnings="20.00"), "earnings"),
    ("completed without timing", _outcome(on_time=None), "on_time"),
    ("earnings in a currency not sold in", _outcome(earnings=Amount.of("500", "JPY")), "earnings"),
    ("cancelled with earnings", _outcome(outcome="cancelled", on_time=None), "earnings"),
    ("order id too long", _outcome(order_id="o" * 201), "order_id"),
    (
        "level at a naive time",
        lambda w: w.catalog.seller_level(w.seller.id, datetime(2026, 5, 1)),  # noqa: DTZ001
        "at",
    ),
]


@pytest.mark.parametrize(
    ("action", "field"), [row[1:] for row in BAD_INPUTS], ids=[row[0] for row in BAD_INPUTS]
)
def test_bad_input_names_its_field_and_stores_nothing(
    world: World, stored: Callable[[], object], action: Action, field: str
) -> None:
    before = stored()
    with pytest.raises(ValidationError) as caught:
        action(world)
    assert caught.value.field == field, caught.value.errors
    assert caught.value.errors[0][0] == field
    assert stored() == before


def test_every_command_has_rows() -> None:
    names = " ".join(row[0] for row in BAD_INPUTS)
    for word in (
        "username",
        "profile",
        "title",
        "package",
        "extra",
        "question",
        "update",
        "search",
        "review",
        "outcome",
    ):
        assert word in names


def test_every_problem_is_listed_in_field_order() -> None:
    with pytest.raises(ValidationError) as caught:
        CreateGig(
            title="short",
            category="graphics-design",
            subcategory="logo-design",
            currency="USD",
            tags=["ok", "OK"],
            packages=[{"name": "Basic", "price": 5.0, "delivery_days": 0}],
        )
    assert caught.value.field == "title"
    assert [field for field, _ in caught.value.errors] == [
        "title",
        "tags",
        "packages.0.price",
        "packages.0.delivery_days",
    ]
    assert "floats are refused" in dict(caught.value.errors)["packages.0.price"]
    assert str(caught.value).startswith("title: ")


def test_rule_problems_are_all_listed_too(catalog: Catalog, seller: UserAccount) -> None:
    command = CreateGig(**gig_payload(category="cooking", packages=_packages(price="1"), extras=[]))
    with pytest.raises(ValidationError) as caught:
        catalog.create_gig(seller.id, command)
    assert [field for field, _ in caught.value.errors] == ["packages.0.price", "category"]


def test_validate_and_validate_json_translate_errors_too() -> None:
    with pytest.raises(ValidationError) as caught:
        CreateAccount.model_validate({"username": "x"})
    assert caught.value.field == "username"
    with pytest.raises(ValidationError) as caught:
        CreateAccount.model_validate_json('{"username": "ok_name", "admin": true}')
    assert caught.value.field == "admin"
    assert CreateAccount.model_validate_json('{"username": "Ok_Name"}').username == "ok_name"


def test_a_part_built_alone_names_fields_relative_to_itself() -> None:
    with pytest.raises(ValidationError) as caught:
        PackageInput(name="Basic", price=5.0, delivery_days=1)
    assert caught.value.field == "price"
    package = PackageInput(name="Basic", price="5", delivery_days=1)
    assert CreateGig(**gig_payload(packages=[package])).packages[0] == package


def test_text_is_stored_plain_and_normalised(catalog: Catalog, seller: UserAccount) -> None:
    command = CreateGig(
        **gig_payload(
            title="  I will design a <b>café</b> logo  ",
            description="Line one\r\nLine two\rLine three",
            tags=["লোগো ডিজাইন", "Logo"],
        )
    )
    assert command.title == "I will design a <b>café</b> logo"  # stored as typed, not escaped
    assert command.description == "Line one\nLine two\nLine three"
    assert command.tags == ["লোগো ডিজাইন", "logo"]
    decomposed = CreateGig(**gig_payload(title="I will design a cafe\u0301 logo"))
    assert decomposed.title == "I will design a caf\u00e9 logo"  # NFC
    gig = catalog.create_gig(seller.id, command)
    assert catalog.gig_version(gig.id).content.description.count("\n") == 2


def test_commands_are_frozen() -> None:
    command = CreateAccount(username="rahim")
    with pytest.raises(Exception, match="frozen"):
        command.username = "karim"  # type: ignore[misc]


def test_shortening_an_active_gig_below_complete_is_refused(
    catalog: Catalog, seller: UserAccount, active: Gig, stored: Callable[[], object]
) -> None:
    before = stored()
    with pytest.raises(GigIncomplete) as caught:
        catalog.update_gig(
            active.id, UpdateGig(description="Too short now", gallery=[]), seller_id=seller.id
        )
    assert caught.value.missing == ("description", "gallery")
    assert stored() == before
