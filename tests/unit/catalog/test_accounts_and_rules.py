"""Accounts and profiles, the configurable rules, and the memory adapter's own guards."""

from __future__ import annotations

from datetime import date, timedelta

import attrs
import pytest

from gigmarket.catalog import (
    DEFAULT_TAXONOMY,
    Catalog,
    Category,
    CreateAccount,
    CreateGig,
    Gig,
    GigRules,
    LanguageLevel,
    LanguageSkill,
    LevelRequirement,
    PriceRange,
    SellerLevel,
    SellerLevelPolicy,
    SetUpProfile,
    Taxonomy,
    UserAccount,
)
from gigmarket.clock import ManualClock
from gigmarket.errors import (
    CurrencyMismatch,
    IdempotencyConflict,
    StorageError,
    UserNotFound,
    ValidationError,
)
from gigmarket.storage.memory.store import MemoryStorage
from tests.strategies import gig_payload, profile_payload


def test_an_account_buys_and_sells_once_it_has_a_profile(
    catalog: Catalog, clock: ManualClock
) -> None:
    account = catalog.create_account(CreateAccount(username="Nadia_Writes"))
    assert account.username == "nadia_writes"
    assert catalog.profile(account.id) is None
    clock.advance(timedelta(days=40))
    profile = catalog.set_up_profile(account.id, SetUpProfile(**profile_payload()))
    assert profile.member_since == date(2026, 1, 1)  # the account's date, not the profile's
    assert profile.languages == (
        LanguageSkill("bn", LanguageLevel.NATIVE),
        LanguageSkill("en", LanguageLevel.FLUENT),
    )
    assert profile.speaks("en")
    assert not profile.speaks("hi")
    clock.advance(timedelta(days=1))
    replaced = catalog.set_up_profile(
        account.id, SetUpProfile(**profile_payload(headline="Bangla and English copywriter"))
    )
    assert replaced.member_since == profile.member_since
    assert replaced.updated_at == clock.now()
    assert catalog.profile(account.id) == replaced


def test_create_account_is_idempotent_with_a_key(catalog: Catalog) -> None:
    first = catalog.create_account(CreateAccount(username="karim"), idempotency_key="signup-1")
    again = catalog.create_account(CreateAccount(username="karim"), idempotency_key="signup-1")
    assert again == first
    with pytest.raises(IdempotencyConflict):
        catalog.create_account(CreateAccount(username="other"), idempotency_key="signup-1")


def test_unknown_accounts_are_not_found(catalog: Catalog) -> None:
    for act in (
        lambda: catalog.account("ghost"),
        lambda: catalog.profile("ghost"),
        lambda: catalog.suspend_account("ghost", reason="spam"),
        lambda: catalog.seller_level("ghost"),
        lambda: catalog.gigs_of_seller("ghost"),
    ):
        with pytest.raises(UserNotFound):
            act()


def test_a_custom_taxonomy_and_price_table(seller: UserAccount, storage: MemoryStorage) -> None:
    rules = GigRules(
        taxonomy=Taxonomy(
            [Category(slug="tutoring", name="Tutoring", subcategories={"math": "Mathematics"})]
        ),
        price_ranges={"BDT": PriceRange.of("200", "5000", "BDT")},
    )
    catalog = Catalog(storage, rules=rules, level_policy=_bdt_policy())
    command = CreateGig(
        **gig_payload(
            category="tutoring",
            subcategory="math",
            currency="BDT",
            packages=[{"name": "Hour", "price": "250", "delivery_days": 1}],
            extras=[],
        )
    )
    gig = catalog.create_gig(seller.id, command)
    assert catalog.gig_version(gig.id).content.category == "tutoring"
    with pytest.raises(ValidationError) as caught:
        catalog.create_gig(seller.id, CreateGig(**gig_payload()))  # USD, logo-design
    assert caught.value.field == "currency"
    assert rules.taxonomy.category("tutoring") is not None
    assert rules.taxonomy.category("graphics-design") is None
    assert DEFAULT_TAXONOMY.category("graphics-design") is not None


def _bdt_policy() -> SellerLevelPolicy:
    return SellerLevelPolicy(
        [LevelRequirement(level=SellerLevel.LEVEL_ONE, min_earnings={"BDT": "40000"})]
    )


def test_price_ranges_are_checked() -> None:
    with pytest.raises(ValidationError):
        PriceRange.of("10", "5", "USD")
    with pytest.raises(ValidationError):
        PriceRange.of("0", "5", "USD")
    with pytest.raises(CurrencyMismatch):
        PriceRange(
            minimum=PriceRange.of("1", "2", "USD").minimum,
            maximum=PriceRange.of("1", "2", "EUR").maximum,
        )
    with pytest.raises(ValidationError) as caught:
        GigRules(price_ranges={"EUR": PriceRange.of("5", "10", "USD")})
    assert caught.value.field == "price_ranges"
    with pytest.raises(ValidationError):
        GigRules(price_ranges={})


def test_the_memory_adapter_refuses_writes_the_service_never_makes(
    storage: MemoryStorage, catalog: Catalog, draft: Gig
) -> None:
    gig = catalog.gig(draft.id)
    version = catalog.gig_version(gig.id)
    ghost = UserAccount(id="ghost", username="ghost", created_at=gig.created_at)
    with storage() as uow:
        with pytest.raises(StorageError):
            uow.catalog.add_account(
                UserAccount(id="x", username="rahim", created_at=gig.created_at)
            )
        with pytest.raises(StorageError):
            uow.catalog.save_account(ghost)
        with pytest.raises(StorageError):
            uow.catalog.save_gig(attrs.evolve(gig, id="ghost"))
        with pytest.raises(StorageError):
            uow.catalog.add_version(version)
