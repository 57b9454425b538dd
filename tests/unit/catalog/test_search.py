"""Search over a generated market of several hundred gigs: filters, sorts, ranking, cursors.

The market is generated from a fixed seed through the public API: sellers in
several countries and currencies with histories that reach every seller
level, gigs in every status, suspended sellers, reviews and completed orders.
Every expectation is computed by :func:`expected`, a plain re-statement of
the search rules written against the read API, never by the search itself.

Every test runs on each storage adapter (``any_storage_factory``): the memory
store with the scanning search, SQLite with FTS5, PostgreSQL with a
``tsvector``; ``Catalog(storage)`` picks the adapter's own search.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from fractions import Fraction
from typing import Any

import attrs
import pytest

from gigmarket.catalog import (
    Catalog,
    CatalogUnitOfWorkFactory,
    CreateAccount,
    CreateGig,
    GigSearchProvider,
    GigStatus,
    GigVersion,
    MemoryGigSearch,
    SearchHit,
    SearchQuery,
    SearchSort,
    SellerLevel,
    SellerProfile,
    SetUpProfile,
    UpdateGig,
)
from gigmarket.catalog.search import Cursor, SortKey, sort_key
from gigmarket.clock import ManualClock
from gigmarket.errors import StorageError, ValidationError
from gigmarket.money import Amount
from gigmarket.storage.postgres.search import PostgresGigSearch
from gigmarket.storage.sqlite.schema import SCHEMA_VERSION
from gigmarket.storage.sqlite.search import SQLiteGigSearch
from tests.strategies import (
    CATALOG_CATEGORIES,
    CATALOG_WORDS,
    gig_payload,
    profile_payload,
    scrambled_ids,
)

START = datetime(2026, 1, 1, tzinfo=UTC)
GIGS = 360

# -- the generated market -------------------------------------------------------------------------


@attrs.define
class Market:
    catalog: Catalog
    clock: ManualClock
    rng: random.Random
    storage: Any
    sellers: list[tuple[str, str]] = attrs.Factory(list)  # (account id, currency)
    serial: int = 0
    known: list[Facts] | None = None

    def facts(self) -> list[Facts]:
        """The oracle's facts, read once: only tests that build their own market change it."""
        if self.known is None:
            self.known = facts(self.catalog)
        return self.known

    def add_gig(self, seller_id: str, currency: str, *, publish: bool = True) -> str:
        rng = self.rng
        self.serial += 1
        scale = 1 if currency == "USD" else 100
        category, subcategory = rng.choice(CATALOG_CATEGORIES)
        packages = [
            {
                "name": name,
                "price": str(Decimal(rng.randint(500, 30_000) * scale) / 100),
                "delivery_days": rng.randint(1, 21),
            }
            for name in ("Basic", "Standard", "Premium")[: rng.randint(1, 3)]
        ]
        command = CreateGig(
            **gig_payload(
                title=f"I will {' '.join(rng.sample(CATALOG_WORDS, 3))} no {self.serial}",
                category=category,
                subcategory=subcategory,
                currency=currency,
                tags=rng.sample(CATALOG_WORDS, rng.randint(1, 3)),
                description=" ".join(rng.choices(CATALOG_WORDS, k=6))
                + ". "
                + "Quality work, fast. " * 7,
                packages=packages,
                extras=[],
            )
        )
        gig = self.catalog.create_gig(seller_id, command)
        if publish:
            self.catalog.publish(gig.id, seller_id=seller_id)
        self.clock.advance(timedelta(minutes=rng.randint(0, 30)))  # ties in "newest" too
        return gig.id


StorageFactory = Callable[[], Any]


def build_market(
    make_storage: StorageFactory, seed: int, gigs: int = GIGS, sellers: int = 36
) -> Market:
    clock = ManualClock(START)
    storage = make_storage()
    catalog = Catalog(storage, clock=clock, ids=scrambled_ids("m"))
    market = Market(catalog, clock, random.Random(seed), storage)
    rng = market.rng
    # (orders, earnings per order in USD) that reach each level after 200 days
    histories = [(0, "0"), (3, "30"), (10, "40"), (50, "40"), (100, "200")]
    for number in range(sellers):
        account = catalog.create_account(CreateAccount(username=f"seller_{number:03d}"))
        languages = rng.sample(["bn", "en", "hi", "ur"], rng.randint(1, 2))
        catalog.set_up_profile(
            account.id,
            SetUpProfile(
                **profile_payload(
                    country=rng.choice(["BD", "IN", "US", "PK", "GB"]),
                    languages=[{"language": code, "level": "fluent"} for code in languages],
                )
            ),
        )
        market.sellers.append((account.id, "BDT" if number % 3 == 0 else "USD"))
    buyer = catalog.create_account(CreateAccount(username="buyer_one"))
    for index in range(gigs):
        seller_id, currency = market.sellers[index % len(market.sellers)]
        gig_id = market.add_gig(seller_id, currency, publish=rng.random() < 0.9)
        gig = catalog.gig(gig_id)
        roll = rng.random()
        if gig.status is GigStatus.ACTIVE and roll < 0.06:
            catalog.pause(gig_id, seller_id=seller_id)
        elif gig.status is GigStatus.ACTIVE and roll < 0.10:
            catalog.archive(gig_id, seller_id=seller_id)
        elif roll < 0.13:
            catalog.deny(gig_id, reason="policy")
        for review in range(rng.choice([0, 0, 1, 3, 6])):
            catalog.record_review(
                review_id=f"r-{gig_id}-{review}",
                order_id=f"o-{gig_id}-{review}",
                gig_id=gig_id,
                buyer_id=buyer.id,
                rating=rng.choice(["5", "5", "4.8", "4.5", "3", "4"]),
            )
    for number, (seller_id, currency) in enumerate(market.sellers):
        orders, each = histories[number % len(histories)]
        gig_ids = [gig.id for gig in catalog.gigs_of_seller(seller_id)]
        for order in range(orders):
            catalog.record_order_outcome(
                order_id=f"order-{seller_id}-{order}",
                gig_id=gig_ids[order % len(gig_ids)],
                outcome="completed",
                earnings=Amount.of(each, "USD")
                if currency == "USD"
                else Amount.of(each, "USD").__class__.of(str(Decimal(each) * 100), "BDT"),
                on_time=True,
            )
        for review in range(orders):  # a five-star seller-level rating for the history
            catalog.record_review(
                review_id=f"h-{seller_id}-{review}",
                order_id=f"order-{seller_id}-{review}",
                gig_id=gig_ids[review % len(gig_ids)],
                buyer_id=buyer.id,
                rating=5,
            )
    for seller_id, _ in market.sellers[5::12]:
        catalog.suspend_account(seller_id, reason="chargebacks")
    clock.advance(timedelta(days=200))
    return market


@pytest.fixture(scope="module")
def market(any_storage_factory: StorageFactory) -> Market:
    return build_market(any_storage_factory, seed=20260101)


@pytest.fixture
def storage(any_storage_factory: StorageFactory) -> CatalogUnitOfWorkFactory:
    """The ``catalog`` fixture's storage, on each adapter in turn (overrides the memory one)."""
    store: CatalogUnitOfWorkFactory = any_storage_factory()
    return store


# -- the oracle -----------------------------------------------------------------------------------


@attrs.frozen
class Facts:
    gig_id: str
    status: GigStatus
    suspended: bool
    version: GigVersion
    profile: SellerProfile | None
    rating: Fraction | None
    level: SellerLevel
    published_at: datetime | None


def facts(catalog: Catalog) -> list[Facts]:
    found = []
    levels: dict[str, SellerLevel] = {}  # one seller, one level, within one transaction
    with catalog.transaction() as tx:
        for gig in tx.uow.catalog.gigs():
            if gig.seller_id not in levels:
                levels[gig.seller_id] = tx.seller_level(gig.seller_id)
            found.append(
                Facts(
                    gig_id=gig.id,
                    status=gig.status,
                    suspended=tx.account(gig.seller_id).is_suspended,
                    version=tx.gig_version(gig.id),
                    profile=tx.profile(gig.seller_id),
                    rating=tx.gig_rating(gig.id).average,
                    level=levels[gig.seller_id],
                    published_at=gig.published_at,
                )
            )
    return found


def _words(text: str) -> list[str]:
    return re.findall(r"\w+", text.lower())


def expected(source: Catalog | Market, **query: object) -> set[str]:
    """The gig ids ``query`` must find, by the documented rules."""
    parsed = SearchQuery(**query)  # type: ignore[arg-type]
    low, high = parsed.price_bounds
    result = set()
    for fact in source.facts() if isinstance(source, Market) else facts(source):
        content = fact.version.content
        price = content.starting_price
        words = (
            _words(content.title)
            + [w for tag in content.tags for w in _words(tag)]
            + _words(content.description)
        )
        profile = fact.profile
        if (
            fact.status is GigStatus.ACTIVE
            and not fact.suspended
            and parsed.category in (None, content.category)
            and parsed.subcategory in (None, content.subcategory)
            and parsed.currency in (None, content.currency)
            and (low is None or (price is not None and price >= low))
            and (high is None or (price is not None and price <= high))
            and (
                parsed.delivery_within_days is None
                or any(p.delivery_days <= parsed.delivery_within_days for p in content.packages)
            )
            and (not parsed.seller_levels or fact.level in parsed.seller_levels)
            and (
                parsed.min_rating is None
                or (fact.rating is not None and fact.rating >= parsed.min_rating)
            )
            and (
                not parsed.seller_countries
                or (profile is not None and profile.country in parsed.seller_countries)
            )
            and (
                not parsed.seller_languages
                or (
                    profile is not None
                    and any(profile.speaks(code) for code in parsed.seller_languages)
                )
            )
            and all(any(word.startswith(term) for word in words) for term in parsed.terms)
        ):
            result.add(fact.gig_id)
    return result


def everything(catalog: Catalog, **query: object) -> list[SearchHit]:
    """Every page of ``query``, concatenated."""
    hits: list[SearchHit] = []
    cursor = None
    while True:
        page = catalog.search(SearchQuery(**query, cursor=cursor))  # type: ignore[arg-type]
        hits.extend(page.hits)
        if page.next_cursor is None:
            return hits
        assert len(page.hits) == query.get("limit", 20)
        cursor = page.next_cursor


# -- filters --------------------------------------------------------------------------------------

FILTERS = {
    "no filter": {},
    "category": {"category": "graphics-design"},
    "subcategory": {"category": "programming-tech", "subcategory": "mobile-apps"},
    "subcategory alone": {"subcategory": "seo"},
    "currency": {"currency": "BDT"},
    "price range": {"currency": "USD", "min_price": "50", "max_price": "120.50"},
    "minimum price": {"currency": "BDT", "min_price": 10_000},
    "delivery within 3 days": {"delivery_within_days": 3},
    "seller level one or two": {"seller_levels": ["level_one", "level_two"]},
    "top rated sellers": {"seller_levels": ["top_rated"]},
    "new sellers": {"seller_levels": ["new"]},
    "minimum rating 4.8": {"min_rating": "4.8"},
    "seller speaks Bengali": {"seller_languages": ["bn"]},
    "seller speaks Hindi or Urdu": {"seller_languages": ["hi", "ur"]},
    "seller country": {"seller_countries": ["BD", "PK"]},
    "text": {"text": "logo"},
    "text of two words, prefixes": {"text": "wordp desi"},
    "everything at once": {
        "text": "design",
        "category": "graphics-design",
        "currency": "USD",
        "max_price": 200,
        "delivery_within_days": 14,
        "seller_levels": ["new", "level_one", "level_two", "top_rated"],
        "seller_languages": ["en", "bn", "hi"],
    },
}


@pytest.mark.parametrize("query", FILTERS.values(), ids=FILTERS.keys())
def test_each_filter_finds_exactly_the_matching_gigs(
    market: Market, query: dict[str, object]
) -> None:
    found = [hit.gig_id for hit in everything(market.catalog, **query, limit=50)]
    assert len(found) == len(set(found))
    assert set(found) == expected(market, **query)
    assert found  # the fixture makes every filter meaningful...
    if query:
        assert len(found) < len(expected(market))  # ...and every filter filter


def test_the_market_holds_every_status_and_level(market: Market) -> None:
    known = market.facts()
    assert len(known) >= GIGS
    assert {fact.status for fact in known} == set(GigStatus)
    assert {fact.level for fact in known if fact.status is GigStatus.ACTIVE} == set(SellerLevel)
    assert any(fact.suspended and fact.status is GigStatus.ACTIVE for fact in known)


# -- sorts ----------------------------------------------------------------------------------------


def _key(sort: SearchSort, hit: SearchHit) -> tuple[object, ...]:
    if sort is SearchSort.RELEVANCE:
        return (*(-count for count in hit.relevance), hit.gig_id)
    if sort is SearchSort.RATING:
        return (-(hit.rating.average or 0), -hit.rating.count, hit.gig_id)
    if sort is SearchSort.ORDERS:
        return (-hit.orders_completed, hit.gig_id)
    if sort is SearchSort.NEWEST:
        return (-hit.published_at.timestamp(), hit.gig_id)
    if sort is SearchSort.PRICE_ASC:
        return (hit.starting_price.units, hit.gig_id)
    return (-hit.starting_price.units, hit.gig_id)


@pytest.mark.parametrize("sort", list(SearchSort), ids=lambda sort: sort.value)
def test_each_sort_orders_every_result(market: Market, sort: SearchSort) -> None:
    query = {"sort": sort.value, "currency": "USD", "text": "design", "limit": 25}
    hits = everything(market.catalog, **query)
    assert {hit.gig_id for hit in hits} == expected(market, **query)
    keys = [_key(sort, hit) for hit in hits]
    assert keys == sorted(keys)
    assert len(set(keys)) == len(keys)  # the order is total
    assert len({key[:-1] for key in keys}) > 1  # and the sort is not trivial here


def test_hits_describe_their_gig(market: Market) -> None:
    hit = market.catalog.search(SearchQuery(sort="orders", limit=1)).hits[0]
    version = market.catalog.gig_version(hit.gig_id)
    assert hit.version == version.number
    assert hit.title == version.content.title
    assert hit.starting_price == version.content.starting_price
    assert hit.fastest_delivery_days == min(p.delivery_days for p in version.content.packages)
    assert hit.orders_completed > 0
    assert hit.seller_level is market.catalog.seller_level(hit.seller_id)


# -- the ranking rule -----------------------------------------------------------------------------


def test_a_title_match_ranks_above_a_tag_match_above_a_description_match(
    any_storage_factory: StorageFactory,
) -> None:
    fresh = build_market(any_storage_factory, seed=7, gigs=40)
    seller_id, _ = fresh.sellers[0]
    catalog = fresh.catalog
    made = {}
    for where in ("description", "tags", "title"):  # created in reverse: ids do not decide
        payload = gig_payload(title="I will design a modern minimal logo")
        if where == "title":
            payload["title"] = "I will draw your zebra mascot"
        elif where == "tags":
            payload["tags"] = ["zebra"]
        else:
            payload["description"] = str(payload["description"]) + " Even a zebra."
        gig = catalog.create_gig(seller_id, CreateGig(**payload))
        catalog.publish(gig.id, seller_id=seller_id)
        made[where] = gig.id
    hits = catalog.search(SearchQuery(text="zebra")).hits
    assert [hit.gig_id for hit in hits] == [made["title"], made["tags"], made["description"]]
    assert [hit.relevance for hit in hits] == [(1, 0, 0), (0, 1, 0), (0, 0, 1)]
    # each word counts once, in its best field; every word must match somewhere
    assert catalog.search(SearchQuery(text="zeb mascot")).hits[0].relevance == (2, 0, 0)
    assert catalog.search(SearchQuery(text="zebra unicorn")).hits == ()


def test_words_are_split_the_same_way_in_every_script(catalog: Catalog, seller: object) -> None:
    seller_id = seller.id  # type: ignore[attr-defined]
    payload = gig_payload(title="আমি আপনার লোগো ডিজাইন করব", tags=["লোগো", "Café"])
    gig = catalog.create_gig(seller_id, CreateGig(**payload))
    catalog.publish(gig.id, seller_id=seller_id)
    for text in ("লোগো", "ডিজা", "CAFÉ", "cafe\u0301"):
        assert [hit.gig_id for hit in catalog.search(SearchQuery(text=text)).hits] == [gig.id], text
    assert catalog.search(SearchQuery(text="cafe")).hits == ()  # accents are not folded away


# -- cursor pagination ----------------------------------------------------------------------------


def _pages(catalog: Catalog, query: dict[str, object]) -> Iterator[tuple[SearchHit, ...]]:
    cursor = None
    while True:
        page = catalog.search(SearchQuery(**query, cursor=cursor))  # type: ignore[arg-type]
        yield page.hits
        if page.next_cursor is None:
            return
        cursor = page.next_cursor


PAGED: dict[str, dict[str, object]] = {
    "newest": {"sort": "newest", "limit": 17},
    "price_asc": {"sort": "price_asc", "currency": "USD", "limit": 13},
    "price_desc": {"sort": "price_desc", "currency": "BDT", "limit": 9},
    "relevance": {"sort": "relevance", "text": "design", "limit": 11},
    "orders": {"sort": "orders", "limit": 19},
}
PAGED_ON = {
    "memory": tuple(PAGED),
    "sqlite": ("newest", "price_asc", "orders"),
    "postgres": ("newest",),
}
"""Each build of this market costs seconds on SQL, so SQLite pages one sort for each
way an SQL search pages (down an index column, up one, ranking every candidate in
Python) and PostgreSQL, whose paging SQL is SQLite's, one (down a column, ties broken
in its "C" collation). The differential property test compares every sort on both,
with changes between pages, to the memory search."""


def _paging_cases() -> Iterator[Any]:
    for engine, names in PAGED_ON.items():
        for name, query in PAGED.items():
            if name in names:
                marks = [pytest.mark.postgres] if engine == "postgres" else []
                yield pytest.param(engine, query, id=f"{engine}-{name}", marks=marks)


@pytest.mark.parametrize(
    ("storage_engine", "query"), list(_paging_cases()), indirect=["storage_engine"]
)
def test_pages_neither_skip_nor_repeat_while_gigs_come_and_go(
    any_storage_factory: StorageFactory, query: dict[str, object]
) -> None:
    market = build_market(any_storage_factory, seed=99, gigs=240)
    catalog = market.catalog
    rng = random.Random(5)
    eligible_at_start = expected(catalog, **query)
    removed: set[str] = set()  # paused now
    touched: set[str] = set()  # paused at some point: may land on either side of the cursor
    seen: list[str] = []
    for page in _pages(catalog, query):
        ids = [hit.gig_id for hit in page]
        assert not removed & set(ids), "a paused gig was returned"
        seen.extend(ids)
        for _ in range(3):  # between pages: new gigs arrive, some gigs pause, one resumes
            seller_id, currency = rng.choice(market.sellers)
            if not catalog.account(seller_id).is_suspended:
                market.add_gig(seller_id, currency)
        for gig_id in rng.sample(sorted(eligible_at_start - removed), 2):
            catalog.pause(gig_id, seller_id=catalog.gig(gig_id).seller_id)
            removed.add(gig_id)
            touched.add(gig_id)
        if removed and rng.random() < 0.3:
            back = sorted(removed)[0]
            catalog.resume(back, seller_id=catalog.gig(back).seller_id)
            removed.discard(back)
    assert len(seen) == len(set(seen)), "a gig was repeated"
    stayed = eligible_at_start - touched
    assert stayed <= set(seen), "a gig that stayed eligible was skipped"
    assert len(stayed) > 40


def test_an_edit_between_pages_keeps_the_position_when_the_sort_key_is_unchanged(
    any_storage_factory: StorageFactory,
) -> None:
    market = build_market(any_storage_factory, seed=3, gigs=120)
    catalog = market.catalog
    query = {"sort": "newest", "limit": 10}
    first = catalog.search(SearchQuery(**query))
    later = [hit.gig_id for hit in everything(catalog, **query)][10:]
    for gig_id in later[:5]:
        catalog.update_gig(
            gig_id,
            UpdateGig(title="I will edit this gig again"),
            seller_id=catalog.gig(gig_id).seller_id,
        )
    second = catalog.search(SearchQuery(**query, cursor=first.next_cursor))
    assert [hit.gig_id for hit in second.hits] == later[:10]
    assert second.hits[0].title == "I will edit this gig again"


def test_a_cursor_only_works_with_its_own_query(market: Market) -> None:
    page = market.catalog.search(SearchQuery(sort="newest", limit=5))
    assert page.next_cursor is not None
    larger = market.catalog.search(SearchQuery(sort="newest", limit=8, cursor=page.next_cursor))
    assert len(larger.hits) == 8  # the limit may change between pages
    for other in (
        {"sort": "orders"},
        {"sort": "newest", "text": "logo"},
        {"sort": "newest", "seller_countries": ["BD"]},
    ):
        with pytest.raises(ValidationError) as caught:
            market.catalog.search(SearchQuery(**other, limit=5, cursor=page.next_cursor))  # type: ignore[arg-type]
        assert caught.value.field == "cursor"


def test_the_last_page_has_no_cursor(market: Market) -> None:
    total = len(expected(market))
    page = market.catalog.search(SearchQuery(limit=100))
    assert page.next_cursor is not None
    pages = list(_pages(market.catalog, {"limit": 100}))
    assert sum(len(p) for p in pages) == total
    exact = market.catalog.search(SearchQuery(text="zzzz"))
    assert exact.hits == ()
    assert exact.next_cursor is None


# -- the SQL adapters' index ----------------------------------------------------------------------

SQL_ENGINES = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


def test_a_catalog_searches_with_its_storage_s_own_search(
    storage_engine: str, any_storage_factory: StorageFactory
) -> None:
    storage = any_storage_factory()
    kinds = {"memory": MemoryGigSearch, "sqlite": SQLiteGigSearch, "postgres": PostgresGigSearch}
    assert type(Catalog(storage).searcher) is kinds[storage_engine]
    assert isinstance(storage, GigSearchProvider) is (storage_engine != "memory")
    chosen = MemoryGigSearch(storage)
    assert Catalog(storage, search=chosen).searcher is chosen  # an explicit search wins


def _same_pages(storage: Any, clock: ManualClock, query: SearchQuery) -> None:
    """The storage's own search and the memory search over the same rows agree, page by page."""
    own, scan = storage.gig_search(clock=clock), MemoryGigSearch(storage, clock=clock)
    while True:
        page = own.search(query)
        assert page == scan.search(query)
        if page.next_cursor is None:
            return
        query = query.model_copy(update={"cursor": page.next_cursor})


def _plain_sql(storage: Any, *statements: str) -> None:
    """Write behind the repository's back, as a hand-written script would."""
    db = storage.connection()
    for statement in statements:
        db.execute(statement)
    if hasattr(db, "commit"):  # PostgreSQL; the SQLite connection commits each statement
        db.commit()


@pytest.mark.parametrize("storage_engine", SQL_ENGINES, indirect=True)
def test_a_store_from_before_the_index_is_indexed_when_migrated(
    storage_engine: str, any_storage_factory: StorageFactory
) -> None:
    market = build_market(any_storage_factory, seed=11, gigs=30, sellers=4)
    storage = market.storage
    _plain_sql(  # back to schema 3: the index gone, the catalog kept
        storage,
        *(["DROP TABLE catalog_search_words"] if storage_engine == "sqlite" else []),
        "DROP TABLE catalog_search_gigs",
        "DROP TABLE catalog_search_sellers",
        "DROP TABLE payment_operations",  # and what came after schema 3
        "DROP TABLE idempotency_keys",
        "CREATE TABLE idempotency_keys (key TEXT PRIMARY KEY, operation TEXT NOT NULL,"
        " fingerprint TEXT NOT NULL, result_id TEXT NOT NULL)",
        "UPDATE gigmarket_schema SET version = 3",
    )
    assert storage.migrate() == SCHEMA_VERSION
    for query in (
        SearchQuery(sort="newest", limit=7),
        SearchQuery(text="design", sort="relevance", limit=5),
        SearchQuery(seller_languages=["bn"], seller_countries=["BD", "IN"], sort="rating"),
    ):
        _same_pages(storage, market.clock, query)
    assert market.catalog.search(SearchQuery(text="design")).hits


@pytest.mark.parametrize("storage_engine", SQL_ENGINES, indirect=True)
def test_an_index_changed_behind_the_repository_s_back_is_refused_then_rebuilt(
    storage_engine: str, any_storage_factory: StorageFactory
) -> None:
    market = build_market(any_storage_factory, seed=12, gigs=20, sellers=3)
    query = SearchQuery(sort="newest", limit=50)
    first = market.catalog.search(query).hits[0]
    _plain_sql(  # the newest gig, made the oldest in the index alone
        market.storage,
        f"UPDATE catalog_search_gigs SET published_us = 0 WHERE gig_id = '{first.gig_id}'",
    )
    with pytest.raises(StorageError, match="rebuild"):
        market.catalog.search(query)
    with market.storage() as uow:
        uow.catalog.rebuild_search_index()
        uow.commit()
    assert market.catalog.search(query).hits[0] == first
    _plain_sql(  # a row behind its gig's version: the gig's own version is read instead
        market.storage,
        f"UPDATE catalog_search_gigs SET version = 0 WHERE gig_id = '{first.gig_id}'",
    )
    _same_pages(market.storage, market.clock, query)
    assert market.catalog.search(query).hits[0] == first


@pytest.mark.parametrize("storage_engine", SQL_ENGINES, indirect=True)
def test_the_index_follows_a_version_stored_after_its_gig(
    storage_engine: str, any_storage_factory: StorageFactory
) -> None:
    market = build_market(any_storage_factory, seed=13, gigs=20, sellers=3)
    catalog, storage = market.catalog, market.storage
    gig_id = catalog.search(SearchQuery(sort="newest")).hits[0].gig_id
    current = catalog.gig_version(gig_id)
    later = attrs.evolve(
        current,
        number=current.number + 1,
        content=attrs.evolve(current.content, title="I will paint a zebra on your wall"),
    )
    ahead = attrs.evolve(catalog.gig(gig_id), current_version=later.number)
    with storage() as uow:  # a gig whose current version is not stored yet is not found...
        uow.catalog.save_gig(ahead)
        uow.commit()
    _same_pages(storage, market.clock, SearchQuery(sort="newest"))
    assert gig_id not in {hit.gig_id for hit in catalog.search(SearchQuery(limit=100)).hits}
    with storage() as uow:  # ...until it is
        uow.catalog.add_version(later)
        uow.commit()
    assert [hit.gig_id for hit in catalog.search(SearchQuery(text="zebra")).hits] == [gig_id]


@pytest.fixture(scope="module")
def small_market(any_storage_factory: StorageFactory) -> Market:
    return build_market(any_storage_factory, seed=14, gigs=30, sellers=4)


FORGED = {
    "its own": lambda key: key,
    "a third above": lambda key: tuple(part + Fraction(1, 3) for part in key),
    "a third below": lambda key: tuple(part - Fraction(1, 3) for part in key),
    "shorter": lambda key: key[:-1],
    "longer": lambda key: (*key, Fraction(0)),
}


@pytest.mark.parametrize("storage_engine", SQL_ENGINES, indirect=True)
@pytest.mark.parametrize("sort", ["newest", "price_asc", "price_desc", "relevance"])
@pytest.mark.parametrize("forge", FORGED.values(), ids=FORGED.keys())
def test_a_hand_made_cursor_reads_as_the_memory_search_reads_it(
    storage_engine: str, small_market: Market, sort: str, forge: Callable[[SortKey], SortKey]
) -> None:
    """Only a forged cursor (the query's fingerprint is no secret) holds a key of
    another shape or between two real ones; where SQL starts must not drop a result."""
    query = SearchQuery(sort=sort, currency="USD", limit=4)
    hits = small_market.catalog.search(query.model_copy(update={"limit": 100})).hits
    middle = hits[len(hits) // 2]
    key = forge(sort_key(query.sort, middle))
    for gig_id in ("", middle.gig_id, "\uffff"):
        cursor = Cursor(query.fingerprint(), key, gig_id).encode()
        _same_pages(
            small_market.storage, small_market.clock, query.model_copy(update={"cursor": cursor})
        )
