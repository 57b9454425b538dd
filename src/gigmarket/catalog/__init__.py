"""The catalog: accounts, seller profiles, gigs with versions, search and reputation.

The first half of the marketplace story: open an account, set up a seller
profile, post a gig with its packages, and let buyers find it. The order
lifecycle reads gig versions from here and reports reviews and order
outcomes back, from which ratings and seller levels are derived.

Start with :class:`Catalog`; the lifecycle works with
:class:`CatalogTransaction` inside its own unit of work.
"""

from __future__ import annotations

from gigmarket.catalog.accounts import (
    AccountStatus,
    LanguageLevel,
    LanguageSkill,
    SellerProfile,
    UserAccount,
)
from gigmarket.catalog.commands import (
    CreateAccount,
    CreateGig,
    ExtraInput,
    FaqInput,
    LanguageInput,
    PackageInput,
    QuestionInput,
    SetUpProfile,
    UpdateGig,
)
from gigmarket.catalog.gigs import (
    EDITABLE_STATUSES,
    GIG_TRANSITIONS,
    Extra,
    Faq,
    Gig,
    GigAction,
    GigContent,
    GigRequirement,
    GigStatus,
    GigTransition,
    GigVersion,
    Package,
    QuestionKind,
    Quote,
)
from gigmarket.catalog.memory_search import MemoryGigSearch
from gigmarket.catalog.ports import CatalogRepository, CatalogUnitOfWork, CatalogUnitOfWorkFactory
from gigmarket.catalog.reputation import (
    DEFAULT_LEVEL_POLICY,
    LevelRequirement,
    OrderOutcome,
    OutcomeKind,
    RatingSummary,
    ReviewRating,
    SellerLevel,
    SellerLevelPolicy,
    SellerStats,
)
from gigmarket.catalog.search import (
    GigSearch,
    GigSearchProvider,
    SearchHit,
    SearchPage,
    SearchQuery,
    SearchSort,
)
from gigmarket.catalog.service import Catalog
from gigmarket.catalog.taxonomy import (
    DEFAULT_PRICE_RANGES,
    DEFAULT_TAXONOMY,
    Category,
    GigRules,
    PriceRange,
    Taxonomy,
)
from gigmarket.catalog.transaction import CatalogTransaction

__all__ = [
    "DEFAULT_LEVEL_POLICY",
    "DEFAULT_PRICE_RANGES",
    "DEFAULT_TAXONOMY",
    "EDITABLE_STATUSES",
    "GIG_TRANSITIONS",
    "AccountStatus",
    "Catalog",
    "CatalogRepository",
    "CatalogTransaction",
    "CatalogUnitOfWork",
    "CatalogUnitOfWorkFactory",
    "Category",
    "CreateAccount",
    "CreateGig",
    "Extra",
    "ExtraInput",
    "Faq",
    "FaqInput",
    "Gig",
    "GigAction",
    "GigContent",
    "GigRequirement",
    "GigRules",
    "GigSearch",
    "GigSearchProvider",
    "GigStatus",
    "GigTransition",
    "GigVersion",
    "LanguageInput",
    "LanguageLevel",
    "LanguageSkill",
    "LevelRequirement",
    "MemoryGigSearch",
    "OrderOutcome",
    "OutcomeKind",
    "Package",
    "PackageInput",
    "PriceRange",
    "QuestionInput",
    "QuestionKind",
    "Quote",
    "RatingSummary",
    "ReviewRating",
    "SearchHit",
    "SearchPage",
    "SearchQuery",
    "SearchSort",
    "SellerLevel",
    "SellerLevelPolicy",
    "SellerProfile",
    "SellerStats",
    "SetUpProfile",
    "Taxonomy",
    "UpdateGig",
    "UserAccount",
]
