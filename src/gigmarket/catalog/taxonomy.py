"""The category tree gigs are filed under, and the price range each currency allows.

Both are configuration, not code: a marketplace for translators has other
categories than one for designers, and a Taka marketplace other price floors
than a dollar one. The defaults resemble a general freelance marketplace and
are meant to be replaced.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from types import MappingProxyType

import attrs

from gigmarket.errors import ValidationError
from gigmarket.money import Amount

__all__ = [
    "DEFAULT_PRICE_RANGES",
    "DEFAULT_TAXONOMY",
    "Category",
    "GigRules",
    "PriceRange",
    "Taxonomy",
]


def _freeze(mapping: Mapping[str, str]) -> Mapping[str, str]:
    return MappingProxyType(dict(mapping))


@attrs.frozen(kw_only=True)
class Category:
    """A top-level category: a slug, a display name and its subcategories (slug → name)."""

    slug: str
    name: str
    subcategories: Mapping[str, str] = attrs.field(converter=_freeze)


def _categories(value: Iterable[Category]) -> tuple[Category, ...]:
    return tuple(value)


def _index(categories: tuple[Category, ...]) -> Mapping[str, Category]:
    return MappingProxyType({category.slug: category for category in categories})


@attrs.frozen
class Taxonomy:
    """A configurable two-level category tree, addressed by slugs."""

    categories: tuple[Category, ...] = attrs.field(converter=_categories)
    _by_slug: Mapping[str, Category] = attrs.field(init=False, eq=False, repr=False)

    def __attrs_post_init__(self) -> None:
        object.__setattr__(self, "_by_slug", _index(self.categories))

    def check(self, category: str, subcategory: str) -> None:
        """Raise :class:`ValidationError` unless ``subcategory`` is filed under ``category``."""
        found = self._by_slug.get(category)
        if found is None:
            raise ValidationError(f"unknown category {category!r}", field="category")
        if subcategory not in found.subcategories:
            raise ValidationError(
                f"{subcategory!r} is not a subcategory of {category!r}", field="subcategory"
            )

    def category(self, slug: str) -> Category | None:
        """The top-level category ``slug``, or ``None`` if the tree has none."""
        return self._by_slug.get(slug)


DEFAULT_TAXONOMY = Taxonomy(
    (
        Category(
            slug="graphics-design",
            name="Graphics & Design",
            subcategories={
                "logo-design": "Logo Design",
                "brand-style-guides": "Brand Style Guides",
                "illustration": "Illustration",
                "business-cards": "Business Cards & Stationery",
            },
        ),
        Category(
            slug="programming-tech",
            name="Programming & Tech",
            subcategories={
                "website-development": "Website Development",
                "mobile-apps": "Mobile Apps",
                "bug-fixes": "Support & Bug Fixes",
            },
        ),
        Category(
            slug="writing-translation",
            name="Writing & Translation",
            subcategories={
                "articles-blog-posts": "Articles & Blog Posts",
                "translation": "Translation",
                "proofreading": "Proofreading & Editing",
            },
        ),
        Category(
            slug="digital-marketing",
            name="Digital Marketing",
            subcategories={
                "seo": "Search Engine Optimization",
                "social-media-marketing": "Social Media Marketing",
            },
        ),
        Category(
            slug="video-animation",
            name="Video & Animation",
            subcategories={
                "video-editing": "Video Editing",
                "explainer-videos": "Explainer Videos",
            },
        ),
    )
)
"""A small general-purpose tree; pass your own :class:`Taxonomy` to ``Catalog``."""


@attrs.frozen(kw_only=True)
class PriceRange:
    """The cheapest and dearest price a package or extra may have in one currency."""

    minimum: Amount
    maximum: Amount

    def __attrs_post_init__(self) -> None:
        self.maximum.require_currency(self.minimum.currency)
        if self.minimum.units <= 0 or self.maximum < self.minimum:
            raise ValidationError(
                f"{self.minimum} – {self.maximum} is not a positive range", field="price_range"
            )

    @classmethod
    def of(cls, minimum: str, maximum: str, currency: str) -> PriceRange:
        """The range from two decimal strings in ``currency`` (``"5.00"``, ``"10000.00"``).

        :raises ValidationError: the range is empty or not positive.
        """
        return cls(minimum=Amount.of(minimum, currency), maximum=Amount.of(maximum, currency))

    def contains(self, price: Amount) -> bool:
        """Whether ``price`` lies within the range, both ends included."""
        return self.minimum <= price <= self.maximum


DEFAULT_PRICE_RANGES: Mapping[str, PriceRange] = MappingProxyType(
    {
        "USD": PriceRange.of("5.00", "10000.00", "USD"),
        "EUR": PriceRange.of("5.00", "10000.00", "EUR"),
        "GBP": PriceRange.of("5.00", "10000.00", "GBP"),
        "BDT": PriceRange.of("500.00", "1000000.00", "BDT"),
    }
)
"""Currencies a gig may be priced in, with each one's range. A currency absent
from the table is refused, which is how a marketplace says which currencies it
sells in."""


def _check_price_ranges(
    instance: object, attribute: attrs.Attribute[Mapping[str, PriceRange]], value: object
) -> None:
    if not isinstance(value, Mapping) or not value:
        raise ValidationError("at least one currency needs a price range", field="price_ranges")
    for currency, price_range in value.items():
        if not isinstance(price_range, PriceRange) or price_range.minimum.currency != currency:
            raise ValidationError(
                f"the range for {currency} must be a PriceRange in {currency}",
                field="price_ranges",
            )


@attrs.frozen(kw_only=True)
class GigRules:
    """The configurable rules a gig is checked against beyond the fixed limits of
    the commands: which categories exist and which prices each currency allows."""

    taxonomy: Taxonomy = DEFAULT_TAXONOMY
    price_ranges: Mapping[str, PriceRange] = attrs.field(
        default=DEFAULT_PRICE_RANGES, validator=_check_price_ranges
    )

    def price_range(self, currency: str, field: str) -> PriceRange:
        """The range for ``currency``, or a :class:`ValidationError` naming ``field``."""
        found = self.price_ranges.get(currency)
        if found is None:
            accepted = ", ".join(sorted(self.price_ranges))
            raise ValidationError(
                f"{currency} is not sold in on this marketplace (accepted: {accepted})",
                field=field,
            )
        return found
