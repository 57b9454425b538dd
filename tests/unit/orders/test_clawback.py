"""Refunds after completion: :meth:`OrderDesk.refund_completed` takes money back.

A completed order's money has left escrow: the seller's share is clearing or
available (or already withdrawn), the platform's share is revenue. A refund
takes back the platform's proportional share from revenue and the seller's
from this order's earnings still clearing (shrinking its clearance timers),
then from what is available; what the seller no longer has becomes debt,
which the next clearance repays before anything becomes available.

Every test runs a whole :class:`~gigmarket.marketplace.Marketplace` on
:class:`~gigmarket.storage.memory.store.MemoryStorage` with the sandbox gateway,
and ends with the books audited (the ledger's invariants, each order's
conservation against its escrow account).

Prices (the Fiverr-like policy, USD): an order of 50.00 charges 55.75, the
seller nets 40.00 and the platform keeps 15.75; 20.00 charges 24.10 (16.00
net); 100.00 charges 105.50 (80.00 net). A 10.00 tip gives the seller 8.00.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import pytest

from gigmarket.cashier import OperationKind, OperationStatus
from gigmarket.catalog import CreateAccount
from gigmarket.clock import ManualClock
from gigmarket.errors import (
    AmountOutOfRange,
    CurrencyMismatch,
    IdempotencyConflict,
    OrderNotFound,
    OutcomeUnknown,
    TransitionNotAllowed,
    ValidationError,
    WithdrawalRefused,
)
from gigmarket.escrow import chart
from gigmarket.escrow.audit import audit_ledger
from gigmarket.gateways import SandboxGateway
from gigmarket.gateways.faults import Fault
from gigmarket.gateways.protocols import Operation
from gigmarket.ids import sequential_ids
from gigmarket.marketplace import Marketplace
from gigmarket.money import Amount
from gigmarket.orders import (
    DEFAULT_PROCESS,
    Offer,
    OfferedPackage,
    Order,
    OrderState,
    RefundDestination,
    ScheduledAction,
    Settlement,
    fiverr_policy,
)
from gigmarket.orders.audit import audit_orders
from gigmarket.storage.memory.store import MemoryStorage
from tests.unit.orders.helpers import Snapshot, snapshot

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
CURRENCY = "USD"
CLEARED = timedelta(days=15)
"""Past the 14-day clearance of the Fiverr-like policy."""

S = OperationStatus


def usd(value: str) -> Amount:
    return Amount.of(value, CURRENCY)


class Shop:
    """A marketplace with one seller and one buyer, and the ways tests drive it."""

    def __init__(self, refund_to: RefundDestination = RefundDestination.CREDIT) -> None:
        self.clock = ManualClock(T0)
        self.storage = MemoryStorage()
        self.gateway = SandboxGateway(
            api_key="sk_sandbox_clawback_8Kd2",
            webhook_secret="whsec_clawback_x7Q",
            clock=self.clock,
        )
        self.market = Marketplace(
            self.storage,
            gateway=self.gateway,
            clock=self.clock,
            ids=sequential_ids("id"),
            policy=fiverr_policy(refund_to=refund_to),
        )
        catalog = self.market.catalog
        self.seller = catalog.create_account(CreateAccount(username="nadia")).id
        self.buyer = catalog.create_account(CreateAccount(username="rahim")).id
        self.charges: dict[str, str] = {}
        """Each order's card charge at the gateway."""
        self._payee = False

    # -- driving --

    def paid(self, price: str = "50.00") -> Order:
        offer = Offer(
            gig_id="gig-logo",
            gig_version=1,
            seller_id=self.seller,
            title="A minimalist logo",
            package=OfferedPackage(name="Basic", price=usd(price), delivery_days=3, revisions=1),
        )
        order = self.market.orders.place(offer, buyer_id=self.buyer)
        result = self.market.pay(order.id, buyer_id=self.buyer, source="tok_visa")
        assert result.paid
        if result.charge is not None:  # not when buyer credit paid it all
            self.charges[order.id] = result.charge.id
        return result.order

    def completed(self, price: str = "50.00") -> Order:
        order = self.paid(price)
        orders = self.market.orders
        orders.submit_requirements(order.id, buyer_id=self.buyer, answers={})
        orders.deliver(order.id, seller_id=self.seller)
        done = orders.accept(order.id, buyer_id=self.buyer)
        assert done.state is OrderState.COMPLETED
        return done

    def clear(self) -> list[tuple[str, str]]:
        """Let the clearance period pass; (order, outcome) of each clearance timer run."""
        self.clock.advance(CLEARED)
        run = self.market.run_due()
        return [(order, outcome) for _, order, outcome in run.executed if outcome != "published"]

    def withdraw(self, amount: str) -> None:
        if not self._payee:
            self.market.add_payout_account(self.seller, CURRENCY, bank_token="bank_ok")
            self._payee = True
        withdrawal = self.market.withdraw(self.seller, usd(amount))
        assert withdrawal.operation.status is not S.FAILED

    def refund(
        self, order_id: str, amount: str, *, reason: str = "", idempotency_key: str | None = None
    ) -> Order:
        return self.market.orders.refund_completed(
            order_id, usd(amount), reason=reason, idempotency_key=idempotency_key
        )

    # -- reading --

    def seller_balance(self) -> dict[str, Amount]:
        return self.market.seller_balance(self.seller, CURRENCY)

    def pending(self) -> Amount:
        return self.seller_balance()["pending"]

    def available(self) -> Amount:
        return self.seller_balance()["available"]

    def debt(self) -> Amount:
        return self.seller_balance()["debt"]

    def revenue(self) -> Amount:
        return self.market.balance(chart.platform_revenue(CURRENCY)).posted

    def credit(self) -> Amount:
        return self.market.buyer_credit(self.buyer, CURRENCY)

    def posted(self, code: str) -> Amount:
        with self.market.ledger.transaction() as tx:
            if tx.uow.ledger.get_account(code) is None:
                return Amount.zero(CURRENCY)
            return tx.balance(code).posted

    def clearances(self, order_id: str) -> list[ScheduledAction]:
        """The order's clearance timers, in the order they were armed."""
        return [t for t in self.market.orders.timers(order_id) if t.action == "clear"]

    def clearing(self, order_id: str) -> list[Amount]:
        """What the order's clearance timers not yet run will clear."""
        return [
            Amount(units=int(dict(t.payload)["units"]), currency=CURRENCY)
            for t in self.clearances(order_id)
            if t.done_at is None
        ]

    def payloads(self, order_id: str, event_type: str) -> list[dict[str, object]]:
        return [
            {key: value for key, value in event.payload.items() if key != "state"}
            for event in self.market.orders.pending_events(limit=10_000)
            if event.order_id == order_id and event.type == event_type
        ]

    def refund_operations(self, order_id: str) -> list[tuple[Amount, OperationStatus]]:
        return [
            (op.amount, op.status)
            for op in self.market.cashier.operations(order_id)
            if op.kind is OperationKind.REFUND
        ]

    def card_refunded(self, order_id: str) -> Amount:
        return self.gateway.get_charge(self.charges[order_id]).refunded

    def state(self) -> tuple[Snapshot, list[tuple[str, Amount]]]:
        """Everything stored, and what the gateway refunded on each card."""
        cards = [(order_id, self.card_refunded(order_id)) for order_id in sorted(self.charges)]
        return snapshot(self.storage), cards

    # -- the checks every test ends with --

    def assert_books(self) -> None:
        """The ledger's invariants hold, and for every order charged ==
        seller net + platform fees + refunded + what its escrow account holds."""
        with self.storage() as uow:
            report = audit_ledger(uow.ledger)
            assert report.ok, report.violations
            assert audit_orders(uow, DEFAULT_PROCESS) == []
            orders = list(uow.orders.orders())
        for order in orders:
            held = self.posted(chart.order_escrow(order.id)).units
            s = order.settlement
            assert order.charged == s.seller_net + s.platform_fees + s.refunded + held, order.id


ShopFactory = Callable[..., Shop]


@pytest.fixture
def make_shop() -> Iterator[ShopFactory]:
    """``make_shop(refund_to=...)``; every shop made is audited when the test ends."""
    made: list[Shop] = []

    def make(refund_to: RefundDestination = RefundDestination.CREDIT) -> Shop:
        made.append(Shop(refund_to))
        return made[-1]

    yield make
    for shop in made:
        shop.assert_books()


@pytest.fixture
def shop(make_shop: ShopFactory) -> Shop:
    return make_shop()


def settled(seller_net: str, platform_fees: str, refunded: str) -> Settlement:
    return Settlement(
        seller_net=usd(seller_net).units,
        platform_fees=usd(platform_fees).units,
        refunded=usd(refunded).units,
    )


# -- money still clearing ------------------------------------------------------


def test_a_partial_refund_while_clearing_shrinks_the_clearance(shop: Shop) -> None:
    order = shop.completed()
    assert (shop.pending(), shop.revenue()) == (usd("40.00"), usd("15.75"))

    refunded = shop.refund(order.id, "20.00", reason="support decision")

    assert refunded.state is OrderState.COMPLETED
    assert refunded.charged == usd("55.75").units
    assert refunded.settlement == settled("25.65", "10.10", "20.00")
    assert shop.market.orders.get(order.id) == refunded
    assert shop.revenue() == usd("10.10")  # the platform gave back 5.65
    assert shop.seller_balance() == {
        "pending": usd("25.65"),  # the seller gave back 14.35, all of it still clearing
        "available": usd("0.00"),
        "debt": usd("0.00"),
    }
    assert shop.credit() == usd("20.00")
    assert shop.clearing(order.id) == [usd("25.65")]
    assert shop.payloads(order.id, "money.clawed_back") == [
        {
            "amount": "20.00 USD",
            "seller_share": "14.35 USD",
            "platform_share": "5.65 USD",
            "seller_debt": "0.00 USD",
            "reason": "support decision",
        }
    ]
    assert shop.payloads(order.id, "money.refunded") == [{"amount": "20.00 USD", "to": "credit"}]
    shop.assert_books()

    assert shop.clear() == [(order.id, "cleared")]
    assert shop.seller_balance() == {
        "pending": usd("0.00"),
        "available": usd("25.65"),  # only what is left clears
        "debt": usd("0.00"),
    }


def test_a_full_refund_while_clearing_retires_the_clearance(shop: Shop) -> None:
    order = shop.completed()

    refunded = shop.refund(order.id, "55.75")

    assert refunded.settlement == settled("0.00", "0.00", "55.75")
    assert (shop.pending(), shop.revenue(), shop.credit()) == (
        usd("0.00"),
        usd("0.00"),
        usd("55.75"),
    )
    [timer] = shop.clearances(order.id)
    assert (timer.done_at, timer.outcome) == (T0, "clawed back")
    assert shop.clearing(order.id) == []

    assert shop.clear() == []  # nothing left to clear: no money that is gone
    assert shop.seller_balance() == {
        "pending": usd("0.00"),
        "available": usd("0.00"),
        "debt": usd("0.00"),
    }


def test_refunds_in_pieces_give_back_exactly_what_was_paid_out(shop: Shop) -> None:
    order = shop.completed()

    shop.refund(order.id, "20.00")  # platform 5.65, seller 14.35
    second = shop.refund(order.id, "10.01")  # platform 2.83, seller 7.18

    assert second.settlement == settled("18.47", "7.27", "30.01")
    assert shop.clearing(order.id) == [usd("18.47")]
    assert (shop.pending(), shop.revenue()) == (usd("18.47"), usd("7.27"))

    last = shop.refund(order.id, "25.74")  # everything left: platform 7.27, seller 18.47

    assert last.settlement == settled("0.00", "0.00", "55.75")
    assert (shop.pending(), shop.revenue(), shop.credit()) == (
        usd("0.00"),
        usd("0.00"),
        usd("55.75"),
    )
    shares = [
        (p["platform_share"], p["seller_share"])
        for p in shop.payloads(order.id, "money.clawed_back")
    ]
    assert shares == [
        ("5.65 USD", "14.35 USD"),
        ("2.83 USD", "7.18 USD"),
        ("7.27 USD", "18.47 USD"),
    ]
    assert shop.clear() == []


def test_only_this_orders_clearing_money_is_taken(shop: Shop) -> None:
    first = shop.completed()
    second = shop.completed()
    assert shop.pending() == usd("80.00")

    shop.refund(first.id, "55.75")

    assert shop.clearing(first.id) == []
    assert shop.clearing(second.id) == [usd("40.00")]  # untouched
    assert shop.pending() == usd("40.00")
    assert shop.clear() == [(second.id, "cleared")]
    assert shop.available() == usd("40.00")


def test_a_tip_clearing_later_is_taken_before_the_order_clearing_earlier(shop: Shop) -> None:
    order = shop.completed()
    shop.clock.advance(timedelta(days=1))
    tip = shop.market.tip(order.id, usd("10.00"), buyer_id=shop.buyer, source="tok_visa")
    assert tip.order.settlement == settled("48.00", "17.75", "0.00")
    assert shop.clearing(order.id) == [usd("40.00"), usd("8.00")]

    refunded = shop.refund(order.id, "30.00")  # platform 8.10, seller 21.90

    assert refunded.charged == usd("65.75").units
    assert refunded.settlement == settled("26.10", "9.65", "30.00")
    # The newest clearance (the tip's 8.00) goes first, then 13.90 of the order's.
    assert shop.clearing(order.id) == [usd("26.10")]
    assert [t.outcome for t in shop.clearances(order.id)] == [None, "clawed back"]
    assert (shop.pending(), shop.revenue()) == (usd("26.10"), usd("9.65"))

    assert shop.clear() == [(order.id, "cleared")]
    assert shop.seller_balance() == {
        "pending": usd("0.00"),
        "available": usd("26.10"),
        "debt": usd("0.00"),
    }


# -- money already cleared -------------------------------------------------------


def test_a_refund_after_clearance_is_taken_from_available(shop: Shop) -> None:
    order = shop.completed()
    assert shop.clear() == [(order.id, "cleared")]
    assert shop.available() == usd("40.00")

    refunded = shop.refund(order.id, "10.00")  # platform 2.83, seller 7.17

    assert refunded.settlement == settled("32.83", "12.92", "10.00")
    assert shop.seller_balance() == {
        "pending": usd("0.00"),
        "available": usd("32.83"),
        "debt": usd("0.00"),
    }
    assert shop.revenue() == usd("12.92")
    shop.assert_books()

    shop.refund(order.id, "45.75")  # the rest: platform 12.92, seller 32.83

    assert shop.seller_balance() == {
        "pending": usd("0.00"),
        "available": usd("0.00"),
        "debt": usd("0.00"),
    }
    assert (shop.revenue(), shop.credit()) == (usd("0.00"), usd("55.75"))


def test_a_refund_after_withdrawal_is_debt_that_the_next_clearance_repays_first(
    shop: Shop,
) -> None:
    first = shop.completed()
    shop.clear()
    shop.withdraw("40.00")
    second = shop.completed("100.00")  # 80.00 clearing: not this order's money
    assert shop.seller_balance() == {
        "pending": usd("80.00"),
        "available": usd("0.00"),
        "debt": usd("0.00"),
    }

    refunded = shop.refund(first.id, "30.00", reason="chargeback")  # platform 8.48, seller 21.52

    assert refunded.settlement == settled("18.48", "7.27", "30.00")
    assert shop.seller_balance() == {
        "pending": usd("80.00"),
        "available": usd("0.00"),
        "debt": usd("-21.52"),
    }
    assert shop.payloads(first.id, "money.clawed_back")[0]["seller_debt"] == "21.52 USD"
    assert shop.credit() == usd("30.00")  # the buyer is refunded all the same
    shop.assert_books()

    assert shop.clear() == [(second.id, "cleared")]
    assert shop.seller_balance() == {
        "pending": usd("0.00"),
        "available": usd("58.48"),  # 80.00 cleared, 21.52 of it repaid the debt
        "debt": usd("0.00"),
    }


def test_a_debt_larger_than_the_next_clearance_is_repaid_over_several(shop: Shop) -> None:
    first = shop.completed()
    shop.clear()
    shop.withdraw("40.00")
    shop.refund(first.id, "55.75")
    assert shop.debt() == usd("-40.00")

    small = shop.completed("20.00")  # paid with the refund's credit: a clearance all the same
    assert shop.credit() == usd("31.65")
    assert shop.clear() == [(small.id, "cleared")]
    assert shop.seller_balance() == {
        "pending": usd("0.00"),
        "available": usd("0.00"),  # all 16.00 went to the debt
        "debt": usd("-24.00"),
    }

    large = shop.completed("100.00")
    assert shop.clear() == [(large.id, "cleared")]
    assert shop.seller_balance() == {
        "pending": usd("0.00"),
        "available": usd("56.00"),
        "debt": usd("0.00"),
    }


def test_a_seller_in_debt_cannot_withdraw_what_a_failed_payout_gave_back(shop: Shop) -> None:
    order = shop.completed()
    shop.clear()
    shop.market.add_payout_account(shop.seller, CURRENCY, bank_token="bank_fails")
    shop.gateway.faults.on(Operation.PAYOUT, Fault.lose_response())
    with pytest.raises(OutcomeUnknown):  # reserved, sent, its answer lost
        shop.market.withdraw(shop.seller, usd("40.00"))

    shop.refund(order.id, "55.75")  # a withdrawal already reserved is not taken back
    assert shop.seller_balance() == {
        "pending": usd("0.00"),
        "available": usd("0.00"),
        "debt": usd("-40.00"),
    }

    shop.clock.advance(timedelta(days=3))  # the bank returns the payout
    shop.market.reconcile()
    assert shop.seller_balance() == {
        "pending": usd("0.00"),
        "available": usd("40.00"),
        "debt": usd("-40.00"),
    }
    shop.clock.advance(timedelta(days=1))
    with pytest.raises(WithdrawalRefused, match=r"40\.00 USD is owed") as refused:
        shop.market.withdraw(shop.seller, usd("40.00"))
    assert refused.value.reason == "in_debt"

    repaying = shop.completed("20.00")  # paid with the refund's credit
    assert shop.clear() == [(repaying.id, "cleared")]
    assert shop.seller_balance() == {
        "pending": usd("0.00"),
        "available": usd("40.00"),  # the returned payout stays; the 16.00 repaid debt
        "debt": usd("-24.00"),
    }


# -- the shares ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("amount", "platform", "seller"),
    [
        ("0.01", "0.00", "0.01"),
        ("0.02", "0.01", "0.01"),
        ("0.03", "0.01", "0.02"),
        ("10.00", "2.83", "7.17"),
        ("10.01", "2.83", "7.18"),
        ("33.33", "9.42", "23.91"),
        ("55.74", "15.75", "39.99"),
        ("55.75", "15.75", "40.00"),
    ],
)
def test_the_shares_are_proportional_and_add_up_to_the_cent(
    shop: Shop, amount: str, platform: str, seller: str
) -> None:
    # 15.75 : 40.00 of each refund, the odd cent to the larger remainder.
    order = shop.completed()
    assert usd(platform) + usd(seller) == usd(amount)

    refunded = shop.refund(order.id, amount)

    assert shop.revenue() == usd("15.75") - usd(platform)
    assert shop.pending() == usd("40.00") - usd(seller)
    assert shop.credit() == usd(amount)
    assert refunded.settlement == Settlement(
        seller_net=(usd("40.00") - usd(seller)).units,
        platform_fees=(usd("15.75") - usd(platform)).units,
        refunded=usd(amount).units,
    )
    [clawed] = shop.payloads(order.id, "money.clawed_back")
    assert (clawed["platform_share"], clawed["seller_share"]) == (
        str(usd(platform)),
        str(usd(seller)),
    )


# -- where the refund goes -------------------------------------------------------


def test_by_credit_policy_the_buyer_gets_credit(make_shop: ShopFactory) -> None:
    shop = make_shop(RefundDestination.CREDIT)
    order = shop.completed()

    shop.refund(order.id, "20.00")

    assert shop.credit() == usd("20.00")
    assert shop.refund_operations(order.id) == []
    assert shop.card_refunded(order.id) == usd("0.00")
    assert shop.posted(chart.order_escrow(order.id)) == usd("0.00")
    assert shop.payloads(order.id, "money.refunded") == [{"amount": "20.00 USD", "to": "credit"}]


def test_by_gateway_policy_a_card_refund_is_queued_then_sent(make_shop: ShopFactory) -> None:
    shop = make_shop(RefundDestination.GATEWAY)
    order = shop.completed()
    in_flight = chart.refunds_in_flight(CURRENCY)

    shop.refund(order.id, "20.00")

    assert shop.refund_operations(order.id) == [(usd("20.00"), S.QUEUED)]
    assert shop.posted(in_flight) == usd("20.00")
    assert shop.posted(chart.order_escrow(order.id)) == usd("0.00")
    assert shop.card_refunded(order.id) == usd("0.00")  # not sent yet
    assert shop.credit() == usd("0.00")

    [sent] = shop.market.cashier.send_refunds()

    assert (sent.amount, sent.status, sent.charge_ref) == (
        usd("20.00"),
        S.SUCCEEDED,
        shop.charges[order.id],
    )
    assert shop.card_refunded(order.id) == usd("20.00")
    assert shop.posted(in_flight) == usd("0.00")
    assert shop.posted(chart.gateway("sandbox", CURRENCY)) == usd("-35.75")
    assert shop.credit() == usd("0.00")
    assert shop.market.cashier.send_refunds() == []  # sent once

    shop.refund(order.id, "35.75")  # the rest, to the same card
    shop.market.cashier.send_refunds()
    assert shop.card_refunded(order.id) == usd("55.75")
    assert shop.refund_operations(order.id) == [
        (usd("20.00"), S.SUCCEEDED),
        (usd("35.75"), S.SUCCEEDED),
    ]
    assert shop.posted(chart.gateway("sandbox", CURRENCY)) == usd("0.00")


# -- refusals --------------------------------------------------------------------


def _refusals() -> list[tuple[str, Callable[[Shop, str, str], object], type[Exception], str]]:
    def refund(amount: Amount) -> Callable[[Shop, str, str], object]:
        return lambda shop, done, _: shop.market.orders.refund_completed(done, amount)

    return [
        (
            "not completed",
            lambda shop, _, paid: shop.market.orders.refund_completed(paid, usd("10.00")),
            TransitionNotAllowed,
            "refund_completed",
        ),
        ("more than paid out", refund(usd("55.76")), ValidationError, "at most 55.75 USD"),
        ("another currency", refund(Amount.of("10.00", "EUR")), CurrencyMismatch, "USD"),
        ("zero", refund(usd("0.00")), AmountOutOfRange, "must be positive"),
        ("negative", refund(usd("-1.00")), AmountOutOfRange, "must be positive"),
        (
            "no such order",
            lambda shop, _, __: shop.market.orders.refund_completed("nope", usd("1.00")),
            OrderNotFound,
            "nope",
        ),
    ]


@pytest.mark.parametrize(
    ("attempt", "error", "message"),
    [case[1:] for case in _refusals()],
    ids=[case[0] for case in _refusals()],
)
def test_a_refused_refund_changes_nothing(
    make_shop: ShopFactory,
    attempt: Callable[[Shop, str, str], object],
    error: type[Exception],
    message: str,
) -> None:
    shop = make_shop(RefundDestination.GATEWAY)
    done = shop.completed()
    paid = shop.paid()  # paid, not completed: cancellation refunds it, not this
    before = shop.state()

    with pytest.raises(error, match=message):
        attempt(shop, done.id, paid.id)

    assert shop.state() == before


def test_no_more_than_what_is_left_can_be_refunded(shop: Shop) -> None:
    order = shop.completed()
    shop.refund(order.id, "20.00")
    before = shop.state()

    with pytest.raises(ValidationError, match=r"at most 35\.75 USD was paid out"):
        shop.refund(order.id, "35.76")

    assert shop.state() == before
    shop.refund(order.id, "35.75")
    with pytest.raises(ValidationError, match=r"at most 0\.00 USD was paid out"):
        shop.refund(order.id, "0.01")


# -- replays ---------------------------------------------------------------------


def test_a_replayed_refund_claws_back_once(shop: Shop) -> None:
    order = shop.completed()
    first = shop.refund(order.id, "20.00", reason="chargeback", idempotency_key="cb-4471")
    after_first = shop.state()

    again = shop.refund(order.id, "20.00", reason="chargeback", idempotency_key="cb-4471")

    assert again == first
    assert shop.state() == after_first
    assert len(shop.payloads(order.id, "money.clawed_back")) == 1
    assert (shop.pending(), shop.revenue(), shop.credit()) == (
        usd("25.65"),
        usd("10.10"),
        usd("20.00"),
    )


def test_a_key_reused_for_another_refund_is_refused(shop: Shop) -> None:
    order = shop.completed()
    shop.refund(order.id, "20.00", reason="chargeback", idempotency_key="cb-4471")
    before = shop.state()

    with pytest.raises(IdempotencyConflict):
        shop.refund(order.id, "25.00", reason="chargeback", idempotency_key="cb-4471")

    assert shop.state() == before


def test_a_replay_after_further_refunds_still_claws_back_nothing(shop: Shop) -> None:
    order = shop.completed()
    shop.refund(order.id, "20.00", idempotency_key="support-1")
    shop.refund(order.id, "30.00", idempotency_key="support-2")  # a second, distinct refund
    before = shop.state()

    replayed = shop.refund(order.id, "20.00", idempotency_key="support-1")

    assert replayed.settlement == settled("4.13", "1.62", "50.00")
    assert shop.state() == before
    assert len(shop.payloads(order.id, "money.clawed_back")) == 2
