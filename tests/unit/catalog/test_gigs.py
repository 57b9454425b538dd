"""Gig status lifecycle, versions, ownership, suspension and orderability."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest

from gigmarket.catalog import (
    EDITABLE_STATUSES,
    GIG_TRANSITIONS,
    Catalog,
    CreateGig,
    Gig,
    GigAction,
    GigStatus,
    QuestionKind,
    SearchQuery,
    SetUpProfile,
    UpdateGig,
    UserAccount,
)
from gigmarket.clock import ManualClock
from gigmarket.errors import (
    GigIncomplete,
    GigNotFound,
    GigStateError,
    GigVersionNotFound,
    IdempotencyConflict,
    NotGigOwner,
    NotOrderable,
    SellerSuspended,
    StaleGigVersion,
    UserNotFound,
    ValidationError,
)
from gigmarket.money import Amount
from gigmarket.storage.memory.store import MemoryStorage
from tests.strategies import gig_payload, profile_payload

# -- status lifecycle -------------------------------------------------------


def _gig_in(catalog: Catalog, seller: UserAccount, status: GigStatus) -> Gig:
    """A gig driven into ``status`` through the public API."""
    gig = catalog.create_gig(seller.id, CreateGig(**gig_payload()))
    paths = {
        GigStatus.DRAFT: [],
        GigStatus.ACTIVE: ["publish"],
        GigStatus.PAUSED: ["publish", "pause"],
        GigStatus.DENIED: ["deny"],
        GigStatus.ARCHIVED: ["archive"],
    }
    for step in paths[status]:
        gig = _do(catalog, seller, gig, GigAction(step))
    assert gig.status is status
    return gig


def _do(catalog: Catalog, seller: UserAccount, gig: Gig, action: GigAction) -> Gig:
    if action is GigAction.DENY:
        return catalog.deny(gig.id, reason="misleading images")
    method: Callable[..., Gig] = getattr(catalog, action.value)
    return method(gig.id, seller_id=seller.id)


CASES = [(status, action) for status in GigStatus for action in GigAction]


@pytest.mark.parametrize(
    ("status", "action"), CASES, ids=[f"{s.value}-{a.value}" for s, a in CASES]
)
def test_every_action_from_every_status_follows_the_table(
    catalog: Catalog,
    seller: UserAccount,
    stored: Callable[[], object],
    status: GigStatus,
    action: GigAction,
) -> None:
    gig = _gig_in(catalog, seller, status)
    transition = GIG_TRANSITIONS[action]
    if status in transition.sources:
        changed = _do(catalog, seller, gig, action)
        assert changed.status is transition.target
        assert catalog.gig(gig.id) == changed
        assert changed.current_version == gig.current_version  # status changes make no version
    else:
        before = stored()
        with pytest.raises(GigStateError) as caught:
            _do(catalog, seller, gig, action)
        assert (caught.value.gig_id, caught.value.state, caught.value.action) == (
            gig.id,
            status.value,
            action.value,
        )
        assert stored() == before


@pytest.mark.parametrize("status", list(GigStatus))
def test_only_draft_active_and_paused_gigs_can_be_edited(
    catalog: Catalog, seller: UserAccount, status: GigStatus
) -> None:
    gig = _gig_in(catalog, seller, status)
    edit = UpdateGig(title="I will design two modern logos")
    if status in EDITABLE_STATUSES:
        assert catalog.update_gig(gig.id, edit, seller_id=seller.id).number == 2
    else:
        with pytest.raises(GigStateError) as caught:
            catalog.update_gig(gig.id, edit, seller_id=seller.id)
        assert caught.value.action == "edit"


def test_publish_lists_everything_missing(
    catalog: Catalog, seller: UserAccount, buyer: UserAccount
) -> None:
    bare = CreateGig(
        title="I will write your article",
        category="writing-translation",
        subcategory="articles-blog-posts",
        currency="USD",
    )
    gig = catalog.create_gig(seller.id, bare)
    with pytest.raises(GigIncomplete) as caught:
        catalog.publish(gig.id, seller_id=seller.id)
    assert caught.value.missing == ("description", "tags", "packages", "gallery")
    assert catalog.gig(gig.id).status is GigStatus.DRAFT
    no_profile = catalog.create_gig(buyer.id, CreateGig(**gig_payload()))
    with pytest.raises(GigIncomplete) as caught:
        catalog.publish(no_profile.id, seller_id=buyer.id)
    assert caught.value.missing == ("seller_profile",)


def test_publishing_records_the_first_publication_only(
    catalog: Catalog, seller: UserAccount, draft: Gig, clock: ManualClock
) -> None:
    first = catalog.publish(draft.id, seller_id=seller.id)
    assert first.published_at == clock.now()
    clock.advance(timedelta(days=3))
    catalog.pause(draft.id, seller_id=seller.id)
    resumed = catalog.resume(draft.id, seller_id=seller.id)
    assert resumed.published_at == first.published_at
    assert resumed.updated_at == clock.now()


def test_deny_keeps_the_reason(catalog: Catalog, active: Gig) -> None:
    denied = catalog.deny(active.id, reason="copyrighted images")
    assert denied.status is GigStatus.DENIED
    assert denied.denial_reason == "copyrighted images"


def test_only_the_owner_changes_a_gig(catalog: Catalog, active: Gig, buyer: UserAccount) -> None:
    for act in (
        lambda: catalog.pause(active.id, seller_id=buyer.id),
        lambda: catalog.archive(active.id, seller_id=buyer.id),
        lambda: catalog.update_gig(
            active.id, UpdateGig(title="I will steal this gig"), seller_id=buyer.id
        ),
    ):
        with pytest.raises(NotGigOwner) as caught:
            act()
        assert (caught.value.gig_id, caught.value.account_id) == (active.id, buyer.id)


def test_unknown_ids_are_not_found(catalog: Catalog, seller: UserAccount, draft: Gig) -> None:
    with pytest.raises(GigNotFound):
        catalog.gig("nope")
    with pytest.raises(GigNotFound):
        catalog.publish("nope", seller_id=seller.id)
    with pytest.raises(GigVersionNotFound) as caught:
        catalog.gig_version(draft.id, 7)
    assert (caught.value.gig_id, caught.value.version) == (draft.id, 7)
    with pytest.raises(UserNotFound) as missing:
        catalog.create_gig("ghost", CreateGig(**gig_payload()))
    assert missing.value.account_id == "ghost"
    assert isinstance(missing.value, LookupError)


# -- versions -----------------------------------------------------------------


def test_an_edit_makes_version_n_plus_1_and_keeps_version_n(
    catalog: Catalog, seller: UserAccount, active: Gig, clock: ManualClock
) -> None:
    version_one = catalog.gig_version(active.id, 1)
    clock.advance(timedelta(hours=1))
    packages = gig_payload()["packages"]
    cheaper = [dict(packages[0], price="20.00"), *packages[1:]]  # type: ignore[index]
    version_two = catalog.update_gig(active.id, UpdateGig(packages=cheaper), seller_id=seller.id)
    assert version_two.number == 2
    assert version_two.created_at == clock.now()
    assert version_two.content.packages[0].price == Amount.of("20", "USD")
    assert version_two.content.title == version_one.content.title  # untouched fields carried over
    assert catalog.gig_version(active.id, 1) == version_one
    assert version_one.content.packages[0].price == Amount.of("25", "USD")
    assert catalog.gig(active.id).current_version == 2
    assert catalog.gig_version(active.id) == version_two
    assert catalog.gig(active.id).status is GigStatus.ACTIVE


def test_an_edit_that_changes_nothing_stores_nothing(
    catalog: Catalog, seller: UserAccount, active: Gig, stored: Callable[[], object]
) -> None:
    before = stored()
    same = catalog.update_gig(
        active.id, UpdateGig(title=" I will design a modern minimal logo "), seller_id=seller.id
    )
    assert same.number == 1
    assert stored() == before


def test_a_stale_edit_is_refused(catalog: Catalog, seller: UserAccount, draft: Gig) -> None:
    catalog.update_gig(draft.id, UpdateGig(expected_version=1, tags=["logo"]), seller_id=seller.id)
    with pytest.raises(StaleGigVersion) as caught:
        catalog.update_gig(
            draft.id, UpdateGig(expected_version=1, tags=["brand"]), seller_id=seller.id
        )
    assert (caught.value.expected, caught.value.actual) == (1, 2)


def test_changing_currency_with_new_prices(
    catalog: Catalog, seller: UserAccount, active: Gig
) -> None:
    version = catalog.update_gig(
        active.id,
        UpdateGig(
            currency="BDT",
            packages=[{"name": "Basic", "price": "1500", "delivery_days": 2}],
            extras=[],
        ),
        seller_id=seller.id,
    )
    assert version.content.currency == "BDT"
    assert version.content.starting_price == Amount.of("1500", "BDT")
    assert catalog.gig_version(active.id, 1).content.currency == "USD"


def test_an_update_replayed_with_its_key_returns_the_same_version(
    catalog: Catalog, seller: UserAccount, draft: Gig
) -> None:
    edit = UpdateGig(tags=["logo", "vector"])
    first = catalog.update_gig(draft.id, edit, seller_id=seller.id, idempotency_key="edit-1")
    again = catalog.update_gig(draft.id, edit, seller_id=seller.id, idempotency_key="edit-1")
    assert again == first
    assert catalog.gig(draft.id).current_version == 2
    with pytest.raises(IdempotencyConflict):
        catalog.update_gig(
            draft.id, UpdateGig(tags=["other"]), seller_id=seller.id, idempotency_key="edit-1"
        )


def test_create_gig_replayed_with_its_key_creates_one_gig(
    catalog: Catalog, seller: UserAccount
) -> None:
    command = CreateGig(**gig_payload())
    first = catalog.create_gig(seller.id, command, idempotency_key="new-gig")
    assert catalog.create_gig(seller.id, command, idempotency_key="new-gig") == first
    assert len(catalog.gigs_of_seller(seller.id)) == 1


def test_a_version_carries_what_an_order_needs(
    catalog: Catalog, active: Gig, buyer: UserAccount
) -> None:
    version = catalog.ensure_orderable(active.id, buyer_id=buyer.id)
    basic = version.package("basic")
    assert (basic.price, basic.delivery_days, basic.revisions) == (Amount.of("25", "USD"), 3, 1)
    assert version.package("Premium").revisions is None  # unlimited
    quote = version.quote("Basic", ["Extra-fast delivery", "additional revision"])
    assert (quote.price, quote.delivery_days, quote.revisions) == (Amount.of("50", "USD"), 1, 2)
    assert version.quote("Premium", ["Additional revision"]).revisions is None
    kinds = [question.kind for question in version.content.requirements]
    assert kinds == [QuestionKind.FREE_TEXT, QuestionKind.MULTIPLE_CHOICE, QuestionKind.ATTACHMENT]
    assert version.content.requirements[1].choices == ("Minimal", "Vintage")
    with pytest.raises(ValidationError) as caught:
        version.quote("Gold")
    assert caught.value.field == "package"
    with pytest.raises(ValidationError) as caught:
        version.quote("Basic", ["Rush", "Rush"])
    assert caught.value.field == "extras"
    with pytest.raises(ValidationError):
        version.quote("Basic", ["Additional revision", "Additional revision"])
    with pytest.raises(ValidationError):
        version.quote("Basic", "Additional revision")  # type: ignore[arg-type]


# -- suspension and orderability ----------------------------------------------


def test_suspension_hides_gigs_blocks_orders_and_reactivation_restores(
    catalog: Catalog, seller: UserAccount, active: Gig, buyer: UserAccount
) -> None:
    assert [hit.gig_id for hit in catalog.search(SearchQuery()).hits] == [active.id]
    suspended = catalog.suspend_account(seller.id, reason="chargebacks")
    assert suspended.is_suspended
    assert suspended.suspension_reason == "chargebacks"
    assert catalog.search(SearchQuery()).hits == ()
    with pytest.raises(NotOrderable) as caught:
        catalog.ensure_orderable(active.id)
    assert caught.value.reason == "seller_suspended"
    assert catalog.gig(active.id).status is GigStatus.ACTIVE  # the gig keeps its status
    assert catalog.gig_version(active.id, 1).content.title  # running orders still read it
    for act in (
        lambda: catalog.create_gig(seller.id, CreateGig(**gig_payload())),
        lambda: catalog.update_gig(active.id, UpdateGig(tags=["logo"]), seller_id=seller.id),
        lambda: catalog.resume(active.id, seller_id=seller.id),
        lambda: catalog.set_up_profile(seller.id, SetUpProfile(**profile_payload())),
    ):
        with pytest.raises(SellerSuspended):
            act()
    catalog.pause(active.id, seller_id=seller.id)  # lowering exposure stays allowed
    catalog.reactivate_account(seller.id)
    assert catalog.account(seller.id).status_changed_at is not None
    catalog.resume(active.id, seller_id=seller.id)
    assert catalog.ensure_orderable(active.id, buyer_id=buyer.id).number == 1
    assert catalog.reactivate_account(seller.id) == catalog.account(seller.id)


@pytest.mark.parametrize(
    "status", [GigStatus.DRAFT, GigStatus.PAUSED, GigStatus.DENIED, GigStatus.ARCHIVED]
)
def test_a_gig_that_is_not_active_is_not_orderable(
    catalog: Catalog, seller: UserAccount, status: GigStatus
) -> None:
    gig = _gig_in(catalog, seller, status)
    with pytest.raises(NotOrderable) as caught:
        catalog.ensure_orderable(gig.id)
    assert (caught.value.reason, caught.value.state) == ("gig_not_active", status.value)


def test_buyers_cannot_order_their_own_gig_or_while_suspended(
    catalog: Catalog, seller: UserAccount, active: Gig, buyer: UserAccount
) -> None:
    with pytest.raises(NotOrderable) as caught:
        catalog.ensure_orderable(active.id, buyer_id=seller.id)
    assert caught.value.reason == "own_gig"
    catalog.suspend_account(buyer.id, reason="fraud")
    with pytest.raises(NotOrderable) as caught:
        catalog.ensure_orderable(active.id, buyer_id=buyer.id)
    assert caught.value.reason == "buyer_suspended"


def test_a_transaction_groups_operations_and_rolls_back_on_error(
    catalog: Catalog, seller: UserAccount, stored: Callable[[], object]
) -> None:
    def create_and_publish(payload: dict[str, object]) -> Gig:
        with catalog.transaction() as tx:
            gig = tx.create_gig(seller.id, CreateGig(**payload))
            return tx.publish(gig.id, seller_id=seller.id)

    before = stored()
    with pytest.raises(GigIncomplete):
        create_and_publish(gig_payload(gallery=[]))
    assert stored() == before
    gig = create_and_publish(gig_payload())
    assert catalog.gig(gig.id).status is GigStatus.ACTIVE


def test_the_lifecycle_works_inside_its_own_unit_of_work(
    catalog: Catalog, storage: MemoryStorage, active: Gig, buyer: UserAccount
) -> None:
    with storage() as uow:
        tx = catalog.within(uow)
        version = tx.ensure_orderable(active.id, buyer_id=buyer.id)
        tx.record_order_outcome(
            order_id="o-1",
            gig_id=active.id,
            outcome="completed",
            earnings=version.package("Basic").price,
            on_time=True,
        )
        assert tx.rules is catalog.rules
        # not committed: the lifecycle's own failure would take this back too
    assert catalog.seller_stats(active.seller_id).completed_orders == 0
