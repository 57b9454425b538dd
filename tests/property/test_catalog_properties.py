"""Search properties over random markets and random queries.

For any market (sellers in several countries, some suspended, gigs in every
status, reviews, order histories) and any query:

* every result matches every filter of the query, and every gig that matches
  is found once across the pages (the oracle below restates the rules);
* a draft, paused, archived or denied gig, or a suspended seller's gig, never
  appears;
* results come in the order of the chosen sort, ties broken by gig id.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from fractions import Fraction

from hypothesis import event, given
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
)
from gigmarket.clock import ManualClock
from gigmarket.money import Amount
from gigmarket.storage.memory import MemoryStorage
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


@st.composite
def markets(draw: st.DrawFn) -> tuple[list[SellerSpec], list[GigSpec]]:
    seller_specs = draw(st.lists(sellers, min_size=1, max_size=5))
    gigs = []
    for _ in range(draw(st.integers(min_value=3, max_value=24))):
        index = draw(st.integers(min_value=0, max_value=len(seller_specs) - 1))
        gigs.append(
            GigSpec(
                seller=index,
                payload=draw(gig_payloads(currency=seller_specs[index].currency)),
                status=draw(st.sampled_from([*GigStatus, *[GigStatus.ACTIVE] * 4])),
                ratings=tuple(
                    draw(st.lists(st.sampled_from(["5", "4.7", "4.69", "3", "1"]), max_size=3))
                ),
            )
        )
    return seller_specs, gigs


def build(seller_specs: list[SellerSpec], gig_specs: list[GigSpec]) -> Catalog:
    clock = ManualClock(START)
    catalog = Catalog(MemoryStorage(), clock=clock, ids=scrambled_ids("p"))
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
    return catalog


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


@given(market=markets(), queries=st.lists(catalog_search_queries(), min_size=1, max_size=3))
def test_search_returns_exactly_the_matching_active_gigs_in_sort_order(
    market: tuple[list[SellerSpec], list[GigSpec]], queries: list[dict[str, object]]
) -> None:
    catalog = build(*market)
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
        assert set(found) == {gig_id for gig_id, match in verdict.items() if match}  # all of them
        for hit in hits:  # never a gig that is not active, never a suspended seller's
            assert catalog.gig(hit.gig_id).status is GigStatus.ACTIVE
            assert not catalog.account(hit.seller_id).is_suspended
            assert hit.seller_level in SellerLevel
        keys = [order_key(query.sort, hit) for hit in hits]
        assert keys == sorted(keys)
        event("results" if hits else "no results")
        event(f"pages: {min(len(hits) // query.limit + 1, 3)}")


@given(value=st.decimals(min_value=1, max_value=5, places=2))
def test_any_two_decimal_rating_is_accepted_and_exact(value: Decimal) -> None:
    query = SearchQuery(min_rating=str(value))
    assert query.min_rating == value
