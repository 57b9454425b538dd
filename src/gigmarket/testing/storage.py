"""The storage conformance suite, for gigmarket's adapters and for yours.

A storage adapter is correct when it behaves like the in-memory reference:
atomic units of work, current reads inside a transaction, append-only
entries, optimistic concurrency on orders and payment operations, timers in
due order, an outbox in commit order. Subclass :class:`StorageConformance` in
a test module and give it one factory::

    from gigmarket.testing.storage import StorageConformance

    class TestMyStorage(StorageConformance):
        def make_storage(self, tmp_path):
            return MyStorage(tmp_path / "db")

and pytest runs every check against your adapter. The suite needs pytest
(``pip install gigmarket[test]``).
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import attrs
import pytest

from gigmarket.catalog import (
    Catalog,
    CreateAccount,
    CreateGig,
    GigStatus,
    SearchQuery,
    SetUpProfile,
    UpdateGig,
)
from gigmarket.clock import ManualClock
from gigmarket.errors import (
    AlreadyReversed,
    ConcurrencyConflict,
    GigmarketError,
    IdempotencyConflict,
    InsufficientFunds,
    StorageError,
    TransientStorageError,
)
from gigmarket.escrow.audit import audit_ledger
from gigmarket.escrow.ledger import Ledger
from gigmarket.escrow.model import AccountBalance, HoldStatus, JournalEntry, LedgerAccount, Posting
from gigmarket.idempotency import IdempotencyRecord
from gigmarket.ids import sequential_ids
from gigmarket.money import Amount
from gigmarket.orders.events import OrderEvent
from gigmarket.orders.model import (
    Actor,
    Offer,
    OfferedPackage,
    Order,
    OrderState,
    Review,
    ScheduledAction,
)
from gigmarket.orders.policy import fiverr_policy
from gigmarket.ports import Storage
from gigmarket.testing.storage_payments import PaymentStorageConformance

__all__ = ["StorageConformance"]

T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


def _usd(value: str) -> Amount:
    return Amount.of(value, "USD")


def _order(order_id: str = "o1", version: int = 1) -> Order:
    offer = Offer(
        gig_id="g",
        gig_version=1,
        seller_id="s",
        package=OfferedPackage(name="Basic", price=_usd("50.00"), delivery_days=3, revisions=1),
    )
    price = fiverr_policy().fees.price(offer.subtotal, placed_at=T0)
    return Order(
        id=order_id,
        buyer_id="b",
        offer=offer,
        price=price,
        state=OrderState.PENDING_PAYMENT,
        placed_at=T0,
        version=version,
    )


class StorageConformance(PaymentStorageConformance):
    """Every behaviour a gigmarket storage adapter must have (the payment
    operations' checks come from :class:`PaymentStorageConformance`)."""

    def make_storage(self, tmp_path: Path) -> Storage:
        """Return a fresh, empty store (a :class:`gigmarket.ports.Storage`)."""
        raise NotImplementedError

    @pytest.fixture
    def storage(self, tmp_path: Path) -> Storage:
        """A fresh, empty store, from ``make_storage``."""
        return self.make_storage(tmp_path)

    @pytest.fixture
    def ledger(self, storage: Storage) -> Ledger:
        """A ledger over the store, on a manual clock, with a ``world`` account
        that may go negative and two empty USD accounts, ``a`` and ``b``."""
        ledger = Ledger(storage, clock=ManualClock(T0), ids=sequential_ids("e"))
        ledger.open_account("world", "USD", allow_negative=True)
        ledger.open_account("a", "USD")
        ledger.open_account("b", "USD")
        return ledger

    # -- units of work ----------------------------------------------------

    def test_uncommitted_work_is_discarded(self, storage: Storage) -> None:
        with storage() as uow:
            uow.ledger.add_account(
                LedgerAccount(code="x", currency="USD"), AccountBalance(account="x", currency="USD")
            )
            assert uow.ledger.get_account("x") is not None
        with storage() as uow:
            assert uow.ledger.get_account("x") is None

    def test_an_exception_rolls_back(self, storage: Storage) -> None:
        class Boom(Exception):
            pass

        def fail_half_way() -> None:
            with storage() as uow:
                uow.ledger.add_account(
                    LedgerAccount(code="x", currency="USD"),
                    AccountBalance(account="x", currency="USD"),
                )
                uow.commit()
                uow.ledger.add_account(
                    LedgerAccount(code="y", currency="USD"),
                    AccountBalance(account="y", currency="USD"),
                )
                raise Boom

        with pytest.raises(Boom):
            fail_half_way()
        with storage() as uow:
            assert uow.ledger.get_account("x") is not None
            assert uow.ledger.get_account("y") is None

    def test_a_nested_unit_of_work_is_refused_and_the_outer_one_survives(
        self, storage: Storage
    ) -> None:
        """One thread, one transaction at a time: a second unit of work opened
        inside the first is refused, and the first still commits its writes."""
        with storage() as uow:
            uow.orders.add(_order("outer"))
            with pytest.raises(StorageError), storage():
                pass
            uow.commit()
        with storage() as uow:
            assert uow.orders.get("outer") is not None

    def test_committed_work_is_visible_to_the_next_unit(self, storage: Storage) -> None:
        record = IdempotencyRecord(
            scope="host:op", key="k", operation="op", fingerprint="f", result_id="r"
        )
        with storage() as uow:
            uow.idempotency.add_idempotency(record)
            uow.commit()
        with storage() as uow:
            assert uow.idempotency.get_idempotency("host:op", "k") == record

    def test_one_key_in_two_scopes_is_two_records(self, storage: Storage) -> None:
        """The host's ``payment:ch_1`` and the library's never meet."""
        host = IdempotencyRecord(
            scope="host:place_order:b1",
            key="k",
            operation="place_order",
            fingerprint="f",
            result_id="o1",
        )
        library = attrs.evolve(host, scope="gigmarket:payment", operation="post", result_id="e1")
        with storage() as uow:
            uow.idempotency.add_idempotency(host)
            uow.idempotency.add_idempotency(library)
            uow.commit()
        with storage() as uow:
            assert uow.idempotency.get_idempotency("host:place_order:b1", "k") == host
            assert uow.idempotency.get_idempotency("gigmarket:payment", "k") == library
            assert uow.idempotency.get_idempotency("host:place_order:b2", "k") is None

    def test_a_pair_is_recorded_once_and_never_overwritten(self, storage: Storage) -> None:
        first = IdempotencyRecord(
            scope="host:op", key="k", operation="op", fingerprint="f", result_id="r1"
        )
        with storage() as uow:
            uow.idempotency.add_idempotency(first)
            uow.commit()
        with storage() as uow, pytest.raises((IdempotencyConflict, TransientStorageError)):
            # A conflict, or (PostgreSQL, which cannot tell a race from a
            # replay inside an aborted transaction) a transient error whose
            # retry meets the record through `replayed` and gets the conflict.
            uow.idempotency.add_idempotency(attrs.evolve(first, result_id="r2"))
        with storage() as uow:
            assert uow.idempotency.get_idempotency("host:op", "k") == first

    def test_work_after_a_commit_needs_its_own_commit(self, storage: Storage) -> None:
        with storage() as uow:
            uow.orders.add(_order("o1"))
            uow.commit()
            uow.orders.add(_order("o2"))
        with storage() as uow:
            assert uow.orders.get("o1") is not None
            assert uow.orders.get("o2") is None

    # -- ledger -----------------------------------------------------------

    def test_balances_entries_and_queries(self, ledger: Ledger) -> None:
        first = ledger.transfer("world", "a", _usd("10.00"), references=["r1", "r2"])
        second = ledger.transfer("a", "b", _usd("2.50"), references=["r2"], memo="memo")
        assert ledger.balance("a").posted == _usd("7.50")
        assert list(ledger.entries("a")) == [first, second]
        assert list(ledger.entries_with_reference("r2")) == [first, second]
        assert list(ledger.entries_with_reference("r1")) == [first]
        assert ledger.entry(second.id) == second
        assert ledger.entry(second.id).created_at == T0

    def test_accounts_are_listed_in_code_order(self, storage: Storage, ledger: Ledger) -> None:
        with storage() as uow:
            assert [account.code for account in uow.ledger.accounts()] == ["a", "b", "world"]

    def test_holds_round_trip(self, ledger: Ledger) -> None:
        ledger.transfer("world", "a", _usd("10.00"))
        hold = ledger.reserve("a", "b", _usd("4.00"), references=["payout:1"])
        assert ledger.hold(hold.id) == hold
        assert ledger.balance("a").held == _usd("4.00")
        ledger.post_hold(hold.id, _usd("3.00"))
        stored = ledger.hold(hold.id)
        assert stored.status is HoldStatus.POSTED
        assert stored.posted_amount == _usd("3.00")
        assert ledger.balance("a").available == _usd("7.00")

    def test_reversals_are_found_and_unique(self, ledger: Ledger) -> None:
        entry = ledger.transfer("world", "a", _usd("1.00"))
        reversal = ledger.reverse(entry.id)
        assert ledger.reversal_of(entry.id) == reversal
        with pytest.raises(AlreadyReversed):
            ledger.reverse(entry.id)

    def test_overdraft_is_refused_and_nothing_is_written(
        self, storage: Storage, ledger: Ledger
    ) -> None:
        with pytest.raises(InsufficientFunds):
            ledger.transfer("a", "b", _usd("0.01"))
        with storage() as uow:
            assert list(uow.ledger.iter_entries()) == []
            assert audit_ledger(uow.ledger).ok

    def test_entries_are_listed_oldest_first_in_bulk(
        self, storage: Storage, ledger: Ledger
    ) -> None:
        ids = [ledger.transfer("world", "a", _usd("0.01")).id for _ in range(1_201)]
        with storage() as uow:
            assert [entry.id for entry in uow.ledger.iter_entries()] == ids
            assert len(uow.ledger.lock_balances(["a", "b", "world", "missing"])) == 3

    def test_concurrent_writers_never_overdraw(self, storage: Storage, ledger: Ledger) -> None:
        """Eight threads race to spend one balance; exactly the money there is gets spent."""
        ledger.transfer("world", "a", _usd("1.00"))
        spent: list[str] = []
        refused: list[str] = []

        def spend(n: int) -> None:
            for attempt in range(5):
                try:
                    ledger.transfer("a", "b", _usd("0.03"), idempotency_key=f"spend-{n}-{attempt}")
                    spent.append(f"{n}-{attempt}")
                except InsufficientFunds:
                    refused.append(f"{n}-{attempt}")

        threads = [threading.Thread(target=spend, args=(n,)) for n in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert len(spent) == 33  # 33 × 0.03 = 0.99; the 34th would overdraw
        assert ledger.balance("a").posted == _usd("0.01")
        assert ledger.balance("b").posted == _usd("0.99")

    # -- orders, timers, reviews, outbox -----------------------------------

    def test_orders_round_trip_and_version_check(self, storage: Storage) -> None:
        order = _order()
        with storage() as uow:
            uow.orders.add(order)
            uow.commit()
        with storage() as uow:
            assert uow.orders.get("o1") == order
            assert uow.orders.get("missing") is None
            moved = _order(version=2)
            uow.orders.save(moved, expected_version=1)
            with pytest.raises(ConcurrencyConflict):
                uow.orders.save(_order(version=3), expected_version=1)
            uow.commit()
        with storage() as uow:
            assert uow.orders.get("o1") == moved
            assert [o.id for o in uow.orders.orders()] == ["o1"]

    def test_timers_come_due_in_order(self, storage: Storage) -> None:
        with storage() as uow:
            uow.orders.add(_order())
            for name, hours in (("late", 3), ("early", 1), ("tie-b", 2), ("tie-a", 2)):
                uow.orders.add_timer(
                    ScheduledAction(
                        id=name, order_id="o1", action="x", due_at=T0 + timedelta(hours=hours)
                    )
                )
            uow.commit()
        with storage() as uow:
            assert uow.orders.next_due(T0) is None
            seen = []
            while (timer := uow.orders.next_due(T0 + timedelta(hours=5))) is not None:
                seen.append(timer.id)
                uow.orders.save_timer(
                    ScheduledAction(
                        id=timer.id,
                        order_id="o1",
                        action="x",
                        due_at=timer.due_at,
                        done_at=T0,
                        outcome="done",
                    )
                )
            assert seen == ["early", "tie-a", "tie-b", "late"]
            assert [t.outcome for t in uow.orders.timers_for("o1")] == ["done"] * 4

    def test_reviews_round_trip(self, storage: Storage) -> None:
        review = Review(
            order_id="o1",
            author=Actor.BUYER,
            author_id="b",
            subject_id="s",
            rating=5,
            sub_ratings=(("communication", 4),),
            text="খুব ভালো",
            submitted_at=T0,
        )
        with storage() as uow:
            uow.orders.add(_order())
            uow.orders.add_review(review)
            uow.commit()
        with storage() as uow:
            assert uow.orders.get_review("o1", Actor.BUYER) == review
            assert uow.orders.get_review("o1", Actor.SELLER) is None
            assert list(uow.orders.reviews_for("o1")) == [review]

    def test_the_outbox_keeps_commit_order_until_acknowledged(self, storage: Storage) -> None:
        with storage() as uow:
            uow.orders.add(_order())
            for n in range(5):
                uow.outbox.append(
                    OrderEvent(
                        id=f"ev{n}",
                        type="order.placed",
                        order_id="o1",
                        occurred_at=T0,
                        payload={"n": n, "amount": "50.00 USD"},
                    )
                )
            uow.commit()
        with storage() as uow:
            pending = uow.outbox.pending(10)
            assert [event.id for event in pending] == [f"ev{n}" for n in range(5)]
            assert pending[0].payload == {"n": 0, "amount": "50.00 USD"}
            uow.outbox.acknowledge(["ev0", "ev2", "unknown"])
            uow.commit()
        with storage() as uow:
            assert [event.id for event in uow.outbox.pending(2)] == ["ev1", "ev3"]

    # -- catalog ------------------------------------------------------------

    def test_the_catalog_story_round_trips(self, storage: Storage) -> None:
        """Accounts, a profile, a gig, an edit, search and reputation, through
        the real catalog service: what is read back is what was written."""
        clock = ManualClock(T0)
        catalog = Catalog(storage, clock=clock, ids=sequential_ids("c"))
        seller = catalog.create_account(CreateAccount(username="Nadia_Designs"))
        buyer = catalog.create_account(CreateAccount(username="rahim"))
        profile = catalog.set_up_profile(
            seller.id,
            SetUpProfile.model_validate(
                {
                    "display_name": "নাদিয়া",
                    "headline": "Logos for small shops",
                    "description": "Ten years of logos.",
                    "skills": ["logo design"],
                    "languages": [{"language": "bn", "level": "native"}],
                    "country": "BD",
                }
            ),
        )
        gig = catalog.create_gig(
            seller.id,
            CreateGig.model_validate(
                {
                    "title": "I will design a minimalist logo for your shop",
                    "category": "graphics-design",
                    "subcategory": "logo-design",
                    "currency": "BDT",
                    "tags": ["logo", "লোগো"],
                    "description": "A clean, memorable logo. " * 6,
                    "packages": [
                        {"name": "Basic", "price": "1500.50", "delivery_days": 3, "revisions": 1}
                    ],
                    "requirements": [{"text": "Shop name?", "kind": "free_text"}],
                    "gallery": ["gallery/logo.png"],
                }
            ),
        )
        catalog.publish(gig.id, seller_id=seller.id)
        clock.advance(timedelta(days=1))
        edited = catalog.update_gig(
            gig.id, UpdateGig(title="I will design a bold logo for you"), seller_id=seller.id
        )
        assert edited.number == 2
        assert catalog.gig_version(gig.id, 1).content.title.startswith("I will design a minimalist")
        assert catalog.account(seller.id) == seller
        assert catalog.profile(seller.id) == profile
        assert catalog.gig(gig.id).status is GigStatus.ACTIVE
        assert [g.id for g in catalog.gigs_of_seller(seller.id)] == [gig.id]
        hits = catalog.search(SearchQuery(text="bold logo", currency="BDT")).hits
        assert [hit.gig_id for hit in hits] == [gig.id]
        assert catalog.ensure_orderable(gig.id, buyer_id=buyer.id).number == 2
        catalog.record_review(
            review_id="r1", order_id="o1", gig_id=gig.id, buyer_id=buyer.id, rating="4.50"
        )
        catalog.record_order_outcome(
            order_id="o1",
            gig_id=gig.id,
            outcome="completed",
            earnings=Amount.of("1200.40", "BDT"),
            on_time=True,
        )
        assert catalog.gig_rating(gig.id).count == 1
        assert catalog.seller_stats(seller.id).completed_orders == 1

    # -- integrity ----------------------------------------------------------

    def test_a_broken_unit_of_work_surfaces_as_a_storage_error(self, storage: Storage) -> None:
        """Writing an entry that touches an unknown account fails inside the store
        (a foreign key, or the memory store's own check) or is caught by the
        audit; it must never raise a driver's own exception."""
        entry = JournalEntry(
            id="bad",
            postings=(Posting("nowhere", _usd("1.00")), Posting("nowhere2", _usd("-1.00"))),
            created_at=T0,
        )
        refused: GigmarketError | None = None
        try:
            with storage() as uow:
                uow.ledger.add_entry(entry)
                uow.commit()
        except GigmarketError as error:
            refused = error
        if refused is not None:
            assert isinstance(refused, StorageError)
        else:
            with storage() as uow:
                assert not audit_ledger(uow.ledger).ok
