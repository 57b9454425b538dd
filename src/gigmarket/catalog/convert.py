"""From checked commands to gig content, under the marketplace's configured rules.

The commands already hold well-typed, plain, size-limited text. What is left
depends on configuration or on several fields at once: the category pair must
exist in the taxonomy, prices must parse exactly in the gig's currency and
fall in that currency's range, a fast-delivery extra must leave every package
at least one day, and a question's choices must fit its kind. Every problem is
collected, and the first one names the error's ``field``, as with the
commands' own checks.
"""

from __future__ import annotations

from collections.abc import Sequence

from gigmarket.catalog.commands import (
    CreateGig,
    ExtraInput,
    PackageInput,
    PriceValue,
    QuestionInput,
    UpdateGig,
)
from gigmarket.catalog.gigs import (
    Extra,
    Faq,
    GigContent,
    GigRequirement,
    Package,
    QuestionKind,
)
from gigmarket.catalog.taxonomy import GigRules
from gigmarket.errors import MoneyError, ValidationError
from gigmarket.money import Amount

__all__ = ["Problems", "gig_content", "updated_content"]


class Problems:
    """Collects ``(field, message)`` pairs and raises them as one ValidationError."""

    def __init__(self) -> None:
        self.items: list[tuple[str, str]] = []

    def add(self, field: str, message: str) -> None:
        self.items.append((field, message))

    def add_error(self, error: ValidationError, prefix: str = "") -> None:
        for field, message in error.errors:
            self.add(f"{prefix}{field}", message)

    def raise_if_any(self) -> None:
        if self.items:
            field, message = self.items[0]
            raise ValidationError(message, field=field, errors=tuple(self.items))


def _price(value: PriceValue, currency: str, field: str, rules: GigRules, out: Problems) -> Amount:
    try:
        price = Amount.of(value, currency)
    except MoneyError as error:
        out.add(field, error.message)
        return Amount.zero(currency)
    price_range = rules.price_ranges.get(currency)
    if price_range is not None and not price_range.contains(price):
        out.add(field, f"must be between {price_range.minimum} and {price_range.maximum}")
    return price


def _packages(
    inputs: Sequence[PackageInput], currency: str, rules: GigRules, out: Problems
) -> tuple[Package, ...]:
    return tuple(
        Package(
            name=item.name,
            description=item.description,
            price=_price(item.price, currency, f"packages.{index}.price", rules, out),
            delivery_days=item.delivery_days,
            revisions=item.revisions,
            features=tuple(item.features),
        )
        for index, item in enumerate(inputs)
    )


def _extras(
    inputs: Sequence[ExtraInput], currency: str, rules: GigRules, out: Problems
) -> tuple[Extra, ...]:
    return tuple(
        Extra(
            name=item.name,
            description=item.description,
            price=_price(item.price, currency, f"extras.{index}.price", rules, out),
            delivery_days_delta=item.delivery_days_delta,
            extra_revisions=item.extra_revisions,
        )
        for index, item in enumerate(inputs)
    )


def _questions(inputs: Sequence[QuestionInput], out: Problems) -> tuple[GigRequirement, ...]:
    for index, item in enumerate(inputs):
        field = f"requirements.{index}"
        if item.kind is QuestionKind.MULTIPLE_CHOICE and len(item.choices) < 2:
            out.add(f"{field}.choices", "a multiple-choice question needs at least two choices")
        if item.kind is not QuestionKind.MULTIPLE_CHOICE:
            if item.choices:
                out.add(f"{field}.choices", f"a {item.kind.value} question has no choices")
            if item.allow_multiple:
                out.add(f"{field}.allow_multiple", "only multiple-choice questions allow several")
    return tuple(
        GigRequirement(
            text=item.text,
            kind=item.kind,
            required=item.required,
            choices=tuple(item.choices),
            allow_multiple=item.allow_multiple,
        )
        for item in inputs
    )


def _cross_checks(content: GigContent, rules: GigRules, out: Problems) -> None:
    try:
        rules.taxonomy.check(content.category, content.subcategory)
    except ValidationError as error:
        out.add_error(error)
    for index, extra in enumerate(content.extras):
        if extra.delivery_days_delta >= 0:
            continue
        for package in content.packages:
            if package.delivery_days + extra.delivery_days_delta < 1:
                out.add(
                    f"extras.{index}.delivery_days_delta",
                    f"would leave package {package.name!r} less than one day",
                )
                break


def _currency(currency: str, rules: GigRules, out: Problems) -> None:
    try:
        rules.price_range(currency, "currency")
    except ValidationError as error:
        out.add_error(error)


def gig_content(command: CreateGig, rules: GigRules) -> GigContent:
    """The content of a new gig, or a ValidationError naming every problem."""
    out = Problems()
    _currency(command.currency, rules, out)
    out.raise_if_any()  # prices cannot be read in a currency the marketplace refuses
    content = GigContent(
        title=command.title,
        category=command.category,
        subcategory=command.subcategory,
        currency=command.currency,
        tags=tuple(command.tags),
        description=command.description,
        packages=_packages(command.packages, command.currency, rules, out),
        extras=_extras(command.extras, command.currency, rules, out),
        requirements=_questions(command.requirements, out),
        faqs=tuple(Faq(item.question, item.answer) for item in command.faqs),
        gallery=tuple(command.gallery),
    )
    _cross_checks(content, rules, out)
    out.raise_if_any()
    return content


def updated_content(current: GigContent, update: UpdateGig, rules: GigRules) -> GigContent:
    """``current`` with the fields ``update`` sets, checked as a whole."""
    out = Problems()
    currency = update.currency or current.currency
    if currency != current.currency:
        _currency(currency, rules, out)
        out.raise_if_any()
        for name in ("packages", "extras"):
            if getattr(update, name) is None and getattr(current, name):
                out.add(name, f"send the {name} again, priced in {currency}")
    content = GigContent(
        title=current.title if update.title is None else update.title,
        category=current.category if update.category is None else update.category,
        subcategory=current.subcategory if update.subcategory is None else update.subcategory,
        currency=currency,
        tags=current.tags if update.tags is None else tuple(update.tags),
        description=current.description if update.description is None else update.description,
        packages=current.packages
        if update.packages is None
        else _packages(update.packages, currency, rules, out),
        extras=current.extras
        if update.extras is None
        else _extras(update.extras, currency, rules, out),
        requirements=current.requirements
        if update.requirements is None
        else _questions(update.requirements, out),
        faqs=current.faqs
        if update.faqs is None
        else tuple(Faq(item.question, item.answer) for item in update.faqs),
        gallery=current.gallery if update.gallery is None else tuple(update.gallery),
    )
    _cross_checks(content, rules, out)
    out.raise_if_any()
    return content
