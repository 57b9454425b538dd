"""Search properties over random markets and random queries.

For any market (sellers in several countries, some suspended, gigs in every
status, reviews, order histories) and any query:

* every result matches every filter of the query, and every gig that matches
  is found once across the pages (the oracle below restates the rules);
* a draft, paused, archived or denied gig, or a suspended seller's gig, never
  appears;
* results come in the order of the chosen sort, ties broken by gig id;
* every adapter's search (SQLite's FTS5, PostgreSQL's ``tsvector``) returns
  page for page exactly what the memory search returns, cursors included,
  also after gigs are edited, paused and resumed, sellers suspended and
  reactivated, profiles changed, reviews and orders recorded and time passed.

Each test runs on every adapter (``storage_engine``). A SQL example opens a
store, builds the market through the service one transaction at a time and
searches it: some 5 (SQLite) to 15 (PostgreSQL) times slower than in memory,
with a new PostgreSQL schema (about 0.3 s to create and drop) per example. So
the SQL runs take fewer examples (:func:`examples_on`), and the differential
test carries their weight: the memory run holds the search to the oracle at
the profile's full depth, and an SQL search that equals the memory search
page for page is held to that oracle too.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from fractions import Fraction
from typing import Any

import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st

from gigmarket.catalog import (
    Catalog,
    CreateAccount,
    CreateGig,
    GigStatus,
    SearchHit,
    SearchQuery,
    SearchSort,
    SellerLevel,
    SetUpProfile,
    UpdateGig,
)
from gigmarket.catalog.memory_search import MemoryGigSearch
from gigmarket.clock import ManualClock
from gigmarket.errors import GigmarketError
from gigmarket.money import Amount
from gigmarket.storage.memory.store import MemoryStorage
from tests.strategies import catalog_search_queries, gig_payloads, profile_payload, scrambled_ids

START = datetime(2026, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class SellerSpec:
    country: str
    languages: tuple[str, ...]
    currency: str
    completed_orders: int
    suspended: bool


@dataclass(frozen=True)
class GigSpec:
    seller: int
    payload: dict[str, object]
    status: GigStatus
    ratings: tuple[str, ...]


sellers = st.builds(
    SellerSpec,
    country=st.sampled_from(["BD", "IN", "US"]),
    languages=st.lists(
        st.sampled_from(["bn", "en", "hi"]), min_size=1, max_size=2, unique=True
    ).map(tuple),
    currency=st.sampled_from(["USD", "BDT"]),
    completed_orders=st.sampled_from([0, 0, 10, 50]),
    suspended=st.sampled_from([False, False, True]),
)


Payloads = Callable[[str], st.SearchStrategy[dict[str, object]]]


@st.composite
def markets(
    draw: st.DrawFn, payloads: Payloads = lambda currency: gig_payloads(currency=currency)
) -> tuple[list[SellerSpec], list[GigSpec]]:
    seller_specs = draw(st.lists(sellers, min_size=1, max_size=5))
    gigs = []
    for _ in range(draw(st.integers(min_value=3, max_value=24))):
        index = draw(st.integers(min_value=0, max_value=len(seller_specs) - 1))
        gigs.append(
            GigSpec(
                seller=index,
                payload=draw(payloads(seller_specs[index].currency)),
                status=draw(st.sampled_from([*GigStatus, *[GigStatus.ACTIVE] * 4])),
                ratings=tuple(
                    draw(st.lists(st.sampled_from(["5", "4.7", "4.69", "3", "1"]), max_size=3))
                ),
            )
        )
    return seller_specs, gigs


StorageFactory = Callable[[], Any]


def examples_on(engine: str, *, sqlite: int, postgres: int) -> settings:
    """Hypothesis settings for a run on ``engine``: the profile's on memory; on SQL,
    ``sqlite`` or ``postgres`` examples under the ``ci`` profile (200 examples) and as
    many in proportion under another (a quarter under ``dev``, ten times under ``deep``)."""
    examples = {"sqlite": sqlite, "postgres": postgres}.get(engine)
    if examples is None:
        return settings()
    return settings(max_examples=max(1, examples * settings().max_examples // 200))


@dataclass
class Built:
    catalog: Catalog
    clock: ManualClock
    buyer_id: str
    seller_ids: list[str]
    gig_ids: list[str]


def build(
    make_storage: StorageFactory,
    seller_specs: list[SellerSpec],
    gig_specs: list[GigSpec],
    ids: Callable[[], str] | None = None,
) -> Built:
    clock = ManualClock(START)
    catalog = Catalog(make_storage(), clock=clock, ids=ids or scrambled_ids("p"))
    buyer = catalog.create_account(CreateAccount(username="the_buyer"))
    seller_ids = []
    for number, spec in enumerate(seller_specs):
        account = catalog.create_account(CreateAccount(username=f"seller_{number}"))
        catalog.set_up_profile(
            account.id,
            SetUpProfile(
                **profile_payload(
                    country=spec.country,
                    languages=[{"language": code, "level": "native"} for code in spec.languages],
                )
            ),
        )
        seller_ids.append(account.id)
    gig_ids = []
    for number, spec in enumerate(gig_specs):
        seller_id = seller_ids[spec.seller]
        gig = catalog.create_gig(seller_id, CreateGig(**spec.payload))
        gig_ids.append(gig.id)
        if spec.status in (GigStatus.ACTIVE, GigStatus.PAUSED):
            catalog.publish(gig.id, seller_id=seller_id)
        if spec.status is GigStatus.PAUSED:
            catalog.pause(gig.id, seller_id=seller_id)
        if spec.status is GigStatus.ARCHIVED:
            catalog.archive(gig.id, seller_id=seller_id)
        if spec.status is GigStatus.DENIED:
            catalog.deny(gig.id, reason="policy")
        for review, rating in enumerate(spec.ratings):
            catalog.record_review(
                review_id=f"r-{number}-{review}", order_id=f"o-{number}-{review}", gig_id=gig.id,
                buyer_id=buyer.id, rating=rating,
            )  # fmt: skip
        clock.advance(timedelta(hours=1))
    for number, spec in enumerate(seller_specs):
        own = [gig_ids[i] for i, gig in enumerate(gig_specs) if gig.seller == number]
        for order in range(spec.completed_orders if own else 0):
            each = Amount.of("200", "USD") if spec.currency == "USD" else Amount.of("20000", "BDT")
            catalog.record_order_outcome(
                order_id=f"h-{number}-{order}", gig_id=own[order % len(own)], outcome="completed",
                earnings=each, on_time=True,
            )  # fmt: skip
        if spec.suspended:
            catalog.suspend_account(seller_ids[number], reason="test")
    clock.advance(timedelta(days=130))
    return Built(catalog, clock, buyer.id, seller_ids, gig_ids)


def _words(text: str) -> list[str]:
    return re.findall(r"\w+", text.lower())


def matching(catalog: Catalog, query: SearchQuery) -> dict[str, bool]:
    """Every gig id, mapped to whether ``query`` must find it."""
    low, high = query.price_bounds
    verdict = {}
    with catalog.transaction() as tx:
        for gig in tx.uow.catalog.gigs():
            content = tx.gig_version(gig.id).content
            profile = tx.profile(gig.seller_id)
            rating = tx.gig_rating(gig.id).average
            price = content.starting_price
            words = (
                _words(content.title) + _words(" ".join(content.tags)) + _words(content.description)
            )
            verdict[gig.id] = (
                gig.status is GigStatus.ACTIVE
                and not tx.account(gig.seller_id).is_suspended
                and query.category in (None, content.category)
                and query.subcategory in (None, content.subcategory)
                and query.currency in (None, content.currency)
                and (low is None or (price is not None and price >= low))
                and (high is None or (price is not None and price <= high))
                and (
                    query.delivery_within_days is None
                    or any(p.delivery_days <= query.delivery_within_days for p in content.packages)
                )
                and (
                    not query.seller_levels or tx.seller_level(gig.seller_id) in query.seller_levels
                )
                and (
                    query.min_rating is None
                    or (rating is not None and rating >= Fraction(query.min_rating))
                )
                and (
                    not query.seller_countries
                    or (profile is not None and profile.country in query.seller_countries)
                )
                and (
                    not query.seller_languages
                    or (
                        profile is not None
                        and any(profile.speaks(c) for c in query.seller_languages)
                    )
                )
                and all(any(word.startswith(term) for word in words) for term in query.terms)
            )
    return verdict


def order_key(sort: SearchSort, hit: SearchHit) -> tuple[object, ...]:
    rating = hit.rating.average
    keys: dict[SearchSort, tuple[object, ...]] = {
        SearchSort.RELEVANCE: tuple(-count for count in hit.relevance),
        SearchSort.RATING: (-(rating if rating is not None else Fraction(0)), -hit.rating.count),
        SearchSort.ORDERS: (-hit.orders_completed,),
        SearchSort.NEWEST: (-hit.published_at.timestamp(),),
        SearchSort.PRICE_ASC: (hit.starting_price.units,),
        SearchSort.PRICE_DESC: (-hit.starting_price.units,),
    }
    return (*keys[sort], hit.gig_id)


def test_search_returns_exactly_the_matching_active_gigs_in_sort_order(
    storage_engine: str, any_storage_factory: StorageFactory
) -> None:
    @examples_on(storage_engine, sqlite=15, postgres=5)
    @given(market=markets(), queries=st.lists(catalog_search_queries(), min_size=1, max_size=3))
    def check(
        market: tuple[list[SellerSpec], list[GigSpec]], queries: list[dict[str, object]]
    ) -> None:
        catalog = build(any_storage_factory, *market).catalog
        # Each drawn query, and the same sort without its filters (so that every
        # example also orders a whole market).
        bare = [{k: v for k, v in q.items() if k in ("sort", "currency", "limit")} for q in queries]
        for fields in [*queries, *bare]:
            query = SearchQuery(**fields)  # type: ignore[arg-type]
            hits: list[SearchHit] = []
            cursor = None
            while True:
                page = catalog.search(query.model_copy(update={"cursor": cursor}))
                assert len(page.hits) <= query.limit
                hits.extend(page.hits)
                if page.next_cursor is None:
                    break
                assert len(page.hits) == query.limit
                cursor = page.next_cursor
            verdict = matching(catalog, query)
            found = [hit.gig_id for hit in hits]
            assert len(found) == len(set(found))
            assert all(verdict[gig_id] for gig_id in found)  # only gigs that match every filter
            assert set(found) == {
                gig_id for gig_id, match in verdict.items() if match
            }  # all of them
            for hit in hits:  # never a gig that is not active, never a suspended seller's
                assert catalog.gig(hit.gig_id).status is GigStatus.ACTIVE
                assert not catalog.account(hit.seller_id).is_suspended
                assert hit.seller_level in SellerLevel
            keys = [order_key(query.sort, hit) for hit in hits]
            assert keys == sorted(keys)
            event("results" if hits else "no results")
            event(f"pages: {min(len(hits) // query.limit + 1, 3)}")

    check()


@given(value=st.decimals(min_value=1, max_value=5, places=2))
def test_any_two_decimal_rating_is_accepted_and_exact(value: Decimal) -> None:
    query = SearchQuery(min_rating=str(value))
    assert query.min_rating == value


# -- every adapter's search against the memory search -----------------------------------------

WORDS = (
    "logo", "Design", "website", "seo", "bangla", "লোগো", "ডিজাইন", "বাংলা", "café",
    "CAFÉ", "naïve", "straße", "3d", "ﬁle", "x2",
)  # fmt: skip
"""Words in several scripts and spellings: Bengali (vowel signs are marks), accents
(composed; "cafe\u0301" is typed as a query), a ß that case-folds to "ss", a
ligature NFKC splits into "fi", digits."""


@st.composite
def worded_payloads(draw: st.DrawFn, currency: str | None = None) -> dict[str, object]:
    """``gig_payloads`` with title, tags and description drawn from :data:`WORDS`."""
    payload = draw(gig_payloads(currency=currency))
    words = st.lists(st.sampled_from(WORDS), min_size=1, max_size=4)
    payload["title"] = ("I will " + " ".join(draw(words)) + " for you")[:80]
    payload["tags"] = sorted({word.lower() for word in draw(words)})
    payload["description"] = " ".join(draw(words)) + ". " + str(payload["description"])
    return payload


@st.composite
def worded_queries(draw: st.DrawFn) -> dict[str, object]:
    """``catalog_search_queries``, half of them searching for beginnings of :data:`WORDS`."""
    query = draw(catalog_search_queries())
    if draw(st.booleans()):
        words = draw(st.lists(st.sampled_from([*WORDS, "cafe\u0301", "ss", "fi"]), max_size=3))
        query["text"] = " ".join(word[: draw(st.integers(1, len(word)))] for word in words)
    return query


changes = st.lists(
    st.one_of(
        st.tuples(st.just("edit"), st.integers(0, 99), worded_payloads()),
        st.tuples(st.sampled_from(["publish", "pause", "resume", "archive"]), st.integers(0, 99)),
        st.tuples(st.sampled_from(["suspend", "reactivate"]), st.integers(0, 99)),
        st.tuples(
            st.just("profile"),
            st.integers(0, 99),
            st.sampled_from(["BD", "IN", "US"]),
            st.sets(st.sampled_from(["bn", "en", "hi"]), min_size=1),
        ),
        st.tuples(st.just("review"), st.integers(0, 99), st.sampled_from(["5", "4.7", "2"])),
        st.tuples(st.just("order"), st.integers(0, 99)),
        st.tuples(st.just("later"), st.integers(1, 90)),
    ),
    max_size=8,
)
"""What may happen to a market between its build and the searches."""


def mixed_ids() -> Callable[[], str]:
    """Ids that sort differently by code point than by any language's rules
    (upper before lower case, accents after ``z``), as gig id ties are broken."""
    numbers = iter(range(7**5))

    def make() -> str:
        number = next(numbers)
        return "".join("aBé1Zäb"[number // 7**place % 7] for place in range(5))

    return make


def change(built: Built, step: int, what: tuple[Any, ...]) -> str:
    """Apply one change through the service; what happened, to compare across adapters."""
    catalog, kind = built.catalog, what[0]
    gig_id = built.gig_ids[what[1] % len(built.gig_ids)] if kind != "later" else ""
    seller_id = built.seller_ids[what[1] % len(built.seller_ids)] if kind != "later" else ""
    try:
        if kind == "edit":
            fields = ("title", "category", "subcategory", "currency", "tags", "description")
            update = {name: what[2][name] for name in (*fields, "packages", "extras")}
            owner = catalog.gig(gig_id).seller_id
            catalog.update_gig(gig_id, UpdateGig(**update), seller_id=owner)  # type: ignore[arg-type]
        elif kind in ("publish", "pause", "resume", "archive"):
            getattr(catalog, kind)(gig_id, seller_id=catalog.gig(gig_id).seller_id)
        elif kind == "suspend":
            catalog.suspend_account(seller_id, reason="test")
        elif kind == "reactivate":
            catalog.reactivate_account(seller_id)
        elif kind == "profile":
            languages = [{"language": code, "level": "fluent"} for code in sorted(what[3])]
            payload = profile_payload(country=what[2], languages=languages)
            catalog.set_up_profile(seller_id, SetUpProfile(**payload))
        elif kind == "review":
            catalog.record_review(
                review_id=f"later-{step}", order_id=f"later-{step}", gig_id=gig_id,
                buyer_id=built.buyer_id, rating=what[2],
            )  # fmt: skip
        elif kind == "order":
            catalog.record_order_outcome(
                order_id=f"later-{step}", gig_id=gig_id, outcome="completed",
                earnings=Amount.of("250", "USD"), on_time=True,
            )  # fmt: skip
        else:
            built.clock.advance(timedelta(days=what[1]))
    except GigmarketError as refused:
        return type(refused).__name__
    return "done"


@pytest.mark.parametrize(
    "storage_engine",
    ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)],
    indirect=True,
)
def test_every_adapter_returns_the_memory_search_pages(
    storage_engine: str, any_storage_factory: StorageFactory
) -> None:
    @examples_on(storage_engine, sqlite=40, postgres=12)
    @given(
        market=markets(payloads=lambda currency: worded_payloads(currency=currency)),
        before=changes,
        between=changes,
        queries=st.lists(worded_queries(), min_size=1, max_size=4),
    )
    def check(
        market: tuple[list[SellerSpec], list[GigSpec]],
        before: list[tuple[Any, ...]],
        between: list[tuple[Any, ...]],
        queries: list[dict[str, object]],
    ) -> None:
        memory = build(MemoryStorage, *market, ids=mixed_ids())
        other = build(any_storage_factory, *market, ids=mixed_ids())
        assert isinstance(memory.catalog.searcher, MemoryGigSearch)
        assert not isinstance(other.catalog.searcher, MemoryGigSearch)
        steps = iter(range(1000))

        def both(what: tuple[Any, ...]) -> None:
            step = next(steps)
            assert change(other, step, what) == change(memory, step, what)

        for what in before:
            both(what)
        for fields in queries:  # every page, with a change between two pages now and then
            query = SearchQuery(**fields)  # type: ignore[arg-type]
            for turn in range(30):
                expected = memory.catalog.search(query)
                assert other.catalog.search(query) == expected
                event("results" if expected.hits else "no results")
                if expected.next_cursor is None:
                    event(f"pages: {min(turn + 1, 3)}")
                    break
                if between:
                    both(between.pop())
                query = query.model_copy(update={"cursor": expected.next_cursor})

    check()
