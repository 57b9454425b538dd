"""Commands: what enters the catalog from outside, checked before anything is stored.

Commands are pydantic models, the only pydantic in the catalog: a host builds
them from a form or a JSON body (``CreateGig(**payload)`` or
``CreateGig.model_validate(payload)``), and the catalog turns them into attrs
entities with named constructors (``GigContent.from_command``). Every broken
rule becomes one :class:`gigmarket.errors.ValidationError` whose ``field`` is
the first offending field as a dotted path (``packages.1.price``) and whose
``errors`` lists them all, so a form can mark every field at once.

Two layers check a command. The model checks what never changes: types (a
float price is refused, not rounded), sizes (:mod:`gigmarket.catalog.limits`)
and plain text (:mod:`gigmarket.catalog.text`). Conversion
(:mod:`gigmarket.catalog.convert`) checks what a marketplace configures:
categories, currencies and price ranges.

Build nested parts from plain dicts (``packages=[{"name": ...}]``): a part
built on its own (``PackageInput(...)``) is checked on its own, and its errors
name fields relative to it.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from decimal import Decimal
from typing import Annotated, Any, Self

import pydantic
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, PlainValidator, StrictInt

from gigmarket.catalog import limits
from gigmarket.catalog.accounts import LanguageLevel
from gigmarket.catalog.gigs import QuestionKind
from gigmarket.catalog.text import clean_line, clean_text
from gigmarket.errors import ValidationError

__all__ = [
    "Command",
    "CreateAccount",
    "CreateGig",
    "ExtraInput",
    "FaqInput",
    "LanguageInput",
    "PackageInput",
    "PriceValue",
    "QuestionInput",
    "SetUpProfile",
    "UpdateGig",
    "as_validation_error",
]


def as_validation_error(exc: pydantic.ValidationError) -> ValidationError:
    """Translate pydantic's error into gigmarket's, keeping every problem."""
    problems: list[tuple[str, str]] = []
    for error in exc.errors(include_url=False, include_input=False):
        field = ".".join(str(part) for part in error["loc"])
        cause = (error.get("ctx") or {}).get("error")
        if isinstance(cause, ValidationError):
            # A nested command (a package inside a gig) already translated its
            # own errors; re-root its fields under this one's path.
            problems.extend(
                (".".join(part for part in (field, inner) if part), message)
                for inner, message in cause.errors
            )
            continue
        message = str(cause) if error["type"] == "value_error" and cause else error["msg"]
        problems.append((field, message))
    if not problems:  # pragma: no cover -- pydantic never raises an empty error
        problems.append(("", str(exc)))
    field, message = problems[0]
    return ValidationError(message, field=field or None, errors=tuple(problems))


class Command(BaseModel):
    """Base of every catalog command: frozen, unknown fields refused, errors translated."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    def __init__(self, /, **data: Any) -> None:
        try:
            super().__init__(**data)
        except pydantic.ValidationError as exc:
            raise as_validation_error(exc) from exc

    @classmethod
    def model_validate(cls, obj: Any, *args: Any, **kwargs: Any) -> Self:
        try:
            return super().model_validate(obj, *args, **kwargs)
        except pydantic.ValidationError as exc:
            raise as_validation_error(exc) from exc

    @classmethod
    def model_validate_json(cls, json_data: Any, *args: Any, **kwargs: Any) -> Self:
        try:
            return super().model_validate_json(json_data, *args, **kwargs)
        except pydantic.ValidationError as exc:
            raise as_validation_error(exc) from exc


# -- field types ----------------------------------------------------------


def _text(minimum: int, maximum: int, *, multiline: bool = False) -> Callable[[str], str]:
    clean = clean_text if multiline else clean_line

    def check(value: str) -> str:
        text = clean(value)
        if len(text) < minimum:
            raise ValueError(
                "must not be empty" if minimum == 1 else f"must be at least {minimum} characters"
            )
        if len(text) > maximum:
            raise ValueError(f"must be at most {maximum} characters, got {len(text)}")
        return text

    return check


def _pattern(regex: str, what: str, transform: Callable[[str], str]) -> Callable[[str], str]:
    compiled = re.compile(regex)

    def check(value: str) -> str:
        text = transform(clean_line(value))
        if not compiled.fullmatch(text):
            raise ValueError(f"must be {what}")
        return text

    return check


def _unique(what: str, attribute: str | None = None) -> Callable[[list[Any]], list[Any]]:
    def check(values: list[Any]) -> list[Any]:
        keys = [str(getattr(v, attribute) if attribute else v).casefold() for v in values]
        for index, key in enumerate(keys):
            if key in keys[:index]:
                raise ValueError(f"{what} {key!r} appears twice")
        return values

    return check


def _tag(value: str) -> str:
    text = _text(limits.TAG_MIN, limits.TAG_MAX)(value).lower()
    if not all(unicodedata.category(char)[0] in "LMN" or char in " -" for char in text):
        raise ValueError("may hold letters, digits, spaces and hyphens only")
    return text


def _price_value(value: object) -> str | Decimal | int:
    if isinstance(value, bool | float) or not isinstance(value, str | Decimal | int):
        raise ValueError(
            f"a price must be a str, Decimal or int, not {type(value).__name__}; "
            "floats are refused because they cannot hold 0.10 exactly"
        )
    return value


def _str(check: Callable[[str], str]) -> Any:
    return AfterValidator(check)


StrictStr = pydantic.StrictStr
Title = Annotated[StrictStr, _str(_text(limits.TITLE_MIN, limits.TITLE_MAX))]
Slug = Annotated[StrictStr, _str(_pattern(r"[a-z0-9]+(?:-[a-z0-9]+)*", "a slug", str.lower))]
Currency = Annotated[StrictStr, _str(_pattern(r"[A-Z]{3}", "a currency code", str.upper))]
Tag = Annotated[StrictStr, _str(_tag)]
Description = Annotated[StrictStr, _str(_text(0, limits.DESCRIPTION_MAX, multiline=True))]
PriceValue = Annotated[str | Decimal | int, PlainValidator(_price_value)]
"""A price in major units: ``"49.99"``, ``Decimal("49.99")`` or ``50``; never a float."""
DeliveryDays = Annotated[StrictInt, Field(ge=1, le=limits.PACKAGE_DELIVERY_DAYS_MAX)]
Revisions = Annotated[StrictInt, Field(ge=0, le=limits.REVISIONS_MAX)]
Feature = Annotated[StrictStr, _str(_text(1, limits.FEATURE_MAX))]
GalleryRef = Annotated[StrictStr, _str(_text(1, limits.GALLERY_REF_MAX))]
Username = Annotated[
    StrictStr,
    _str(
        _pattern(
            r"[a-z][a-z0-9_]{3,14}",
            "4 to 15 letters, digits or underscores, starting with a letter",
            str.lower,
        )
    ),
]
Language = Annotated[StrictStr, _str(_pattern(r"[a-z]{2,3}", "an ISO 639 code", str.lower))]
Country = Annotated[StrictStr, _str(_pattern(r"[A-Z]{2}", "an ISO 3166 alpha-2 code", str.upper))]


# -- accounts and profiles ------------------------------------------------


class CreateAccount(Command):
    """Open a marketplace account. The host owns e-mail, passwords and sessions."""

    username: Username


class LanguageInput(Command):
    """A language a seller speaks: an ISO 639 code (two or three letters) and a level."""

    language: Language
    level: LanguageLevel


class SetUpProfile(Command):
    """Set up (or replace) the seller profile of an account."""

    display_name: Annotated[StrictStr, _str(_text(1, limits.DISPLAY_NAME_MAX))]
    headline: Annotated[StrictStr, _str(_text(1, limits.HEADLINE_MAX))]
    description: Annotated[
        StrictStr, _str(_text(1, limits.PROFILE_DESCRIPTION_MAX, multiline=True))
    ]
    skills: Annotated[
        list[Annotated[StrictStr, _str(_text(1, limits.SKILL_MAX))]],
        Field(max_length=limits.SKILLS_MAX),
        AfterValidator(_unique("skill")),
    ] = []
    languages: Annotated[
        list[LanguageInput],
        Field(min_length=1, max_length=limits.LANGUAGES_MAX),
        AfterValidator(_unique("language", "language")),
    ]
    country: Country


# -- gigs -----------------------------------------------------------------


class PackageInput(Command):
    """One package; ``revisions=None`` offers unlimited revisions."""

    name: Annotated[StrictStr, _str(_text(1, limits.PACKAGE_NAME_MAX))]
    description: Annotated[StrictStr, _str(_text(0, limits.PACKAGE_DESCRIPTION_MAX))] = ""
    price: PriceValue
    delivery_days: DeliveryDays
    revisions: Revisions | None = 0
    features: Annotated[list[Feature], Field(max_length=limits.FEATURES_MAX)] = []


class ExtraInput(Command):
    """An add-on; a negative ``delivery_days_delta`` is faster delivery."""

    name: Annotated[StrictStr, _str(_text(1, limits.PACKAGE_NAME_MAX))]
    description: Annotated[StrictStr, _str(_text(0, limits.PACKAGE_DESCRIPTION_MAX))] = ""
    price: PriceValue
    delivery_days_delta: Annotated[
        StrictInt, Field(ge=-limits.EXTRA_DAYS_MAX, le=limits.EXTRA_DAYS_MAX)
    ] = 0
    extra_revisions: Revisions = 0


class QuestionInput(Command):
    """A requirement question; ``choices`` only (and at least two) for multiple choice."""

    text: Annotated[StrictStr, _str(_text(1, limits.QUESTION_TEXT_MAX, multiline=True))]
    kind: QuestionKind = QuestionKind.FREE_TEXT
    required: pydantic.StrictBool = True
    choices: Annotated[
        list[Annotated[StrictStr, _str(_text(1, limits.QUESTION_CHOICE_MAX))]],
        Field(max_length=limits.QUESTION_CHOICES_MAX),
        AfterValidator(_unique("choice")),
    ] = []
    allow_multiple: pydantic.StrictBool = False


class FaqInput(Command):
    """A question buyers often ask about the gig, and the seller's answer."""

    question: Annotated[StrictStr, _str(_text(1, limits.FAQ_QUESTION_MAX))]
    answer: Annotated[StrictStr, _str(_text(1, limits.FAQ_ANSWER_MAX, multiline=True))]


Packages = Annotated[
    list[PackageInput],
    Field(max_length=limits.PACKAGES_MAX),
    AfterValidator(_unique("package", "name")),
]
Extras = Annotated[
    list[ExtraInput], Field(max_length=limits.EXTRAS_MAX), AfterValidator(_unique("extra", "name"))
]
Tags = Annotated[list[Tag], Field(max_length=limits.TAGS_MAX), AfterValidator(_unique("tag"))]
Questions = Annotated[list[QuestionInput], Field(max_length=limits.QUESTIONS_MAX)]
Faqs = Annotated[list[FaqInput], Field(max_length=limits.FAQS_MAX)]
Gallery = Annotated[list[GalleryRef], Field(max_length=limits.GALLERY_MAX)]


class CreateGig(Command):
    """A new gig, stored as a draft. Only ``title``, the category pair and the
    ``currency`` (of every price in the gig) are needed to start; publishing
    asks for the rest."""

    title: Title
    category: Slug
    subcategory: Slug
    currency: Currency
    tags: Tags = []
    description: Description = ""
    packages: Packages = []
    extras: Extras = []
    requirements: Questions = []
    faqs: Faqs = []
    gallery: Gallery = []


class UpdateGig(Command):
    """An edit: every field left out (or ``None``) keeps its current value.

    ``expected_version`` guards against two editors overwriting each other:
    when given and no longer current, the edit is refused with
    :class:`~gigmarket.errors.StaleGigVersion`. Changing ``currency`` needs
    new ``packages`` (and ``extras``, if any): prices are never converted.
    """

    expected_version: Annotated[StrictInt, Field(ge=1)] | None = None
    title: Title | None = None
    category: Slug | None = None
    subcategory: Slug | None = None
    currency: Currency | None = None
    tags: Tags | None = None
    description: Description | None = None
    packages: Packages | None = None
    extras: Extras | None = None
    requirements: Questions | None = None
    faqs: Faqs | None = None
    gallery: Gallery | None = None
