"""Search over a generated market of several hundred gigs: filters, sorts, ranking, cursors.

The market is generated from a fixed seed through the public API: sellers in
several countries and currencies with histories that reach every seller
level, gigs in every status, suspended sellers, reviews and completed orders.
Every expectation is computed by :func:`expected`, a plain re-statement of
the search rules written against the read API, never by the search itself.
"""

from __future__ import annotations

import random
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from fractions import Fraction

import attrs
import pytest

from gigmarket.catalog import (
    Catalog,
    CreateAccount,
    CreateGig,
    GigStatus,
    GigVersion,
    SearchHit,
    SearchQuery,
    SearchSort,
    SellerLevel,
    SellerProfile,
    SetUpProfile,
    UpdateGig,
)
from gigmarket.clock import ManualClock
from gigmarket.errors import ValidationError
from gigmarket.money import Amount
from gigmarket.storage.memory import MemoryStorage
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
    sellers: list[tuple[str, str]] = attrs.Factory(list)  # (account id, currency)
    serial: int = 0

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


def build_market(seed: int, gigs: int = GIGS) -> Market:
    clock = ManualClock(START)
    catalog = Catalog(MemoryStorage(), clock=clock, ids=scrambled_ids("m"))
    market = Market(catalog, clock, random.Random(seed))
    rng = market.rng
    # (orders, earnings per order in USD) that reach each level after 200 days
    histories = [(0, "0"), (3, "30"), (10, "40"), (50, "40"), (100, "200")]
    for number in range(36):
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
def market() -> Market:
    return build_market(seed=20260101)


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
    with catalog.transaction() as tx:
        for gig in tx.uow.catalog.gigs():
            found.append(
                Facts(
                    gig_id=gig.id,
                    status=gig.status,
                    suspended=tx.account(gig.seller_id).is_suspended,
                    version=tx.gig_version(gig.id),
                    profile=tx.profile(gig.seller_id),
                    rating=tx.gig_rating(gig.id).average,
                    level=tx.seller_level(gig.seller_id),
                    published_at=gig.published_at,
                )
            )
    return found


def _words(text: str) -> list[str]:
    return re.findall(r"\w+", text.lower())


def expected(catalog: Catalog, **query: object) -> set[str]:
    """The gig ids ``query`` must find, by the documented rules."""
    parsed = SearchQuery(**query)  # type: ignore[arg-type]
    low, high = parsed.price_bounds
    result = set()
    for fact in facts(catalog):
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
    assert set(found) == expected(market.catalog, **query)
    assert found  # the fixture makes every filter meaningful...
    if query:
        assert len(found) < len(expected(market.catalog))  # ...and every filter filter


def test_the_market_holds_every_status_and_level(market: Market) -> None:
    known = facts(market.catalog)
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
    assert {hit.gig_id for hit in hits} == expected(market.catalog, **query)
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


def test_a_title_match_ranks_above_a_tag_match_above_a_description_match(market: Market) -> None:
    fresh = build_market(seed=7, gigs=40)
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


# -- cursor pagination ----------------------------------------------------------------------------


def _pages(catalog: Catalog, query: dict[str, object]) -> Iterator[tuple[SearchHit, ...]]:
    cursor = None
    while True:
        page = catalog.search(SearchQuery(**query, cursor=cursor))  # type: ignore[arg-type]
        yield page.hits
        if page.next_cursor is None:
            return
        cursor = page.next_cursor


@pytest.mark.parametrize(
    "query",
    [
        {"sort": "newest", "limit": 17},
        {"sort": "price_asc", "currency": "USD", "limit": 13},
        {"sort": "price_desc", "currency": "BDT", "limit": 9},
        {"sort": "relevance", "text": "design", "limit": 11},
        {"sort": "orders", "limit": 19},
    ],
    ids=lambda query: str(query["sort"]),
)
def test_pages_neither_skip_nor_repeat_while_gigs_come_and_go(query: dict[str, object]) -> None:
    market = build_market(seed=99, gigs=240)
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


def test_an_edit_between_pages_keeps_the_position_when_the_sort_key_is_unchanged() -> None:
    market = build_market(seed=3, gigs=120)
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
    total = len(expected(market.catalog))
    page = market.catalog.search(SearchQuery(limit=100))
    assert page.next_cursor is not None
    pages = list(_pages(market.catalog, {"limit": 100}))
    assert sum(len(p) for p in pages) == total
    exact = market.catalog.search(SearchQuery(text="zzzz"))
    assert exact.hits == ()
    assert exact.next_cursor is None
