"""A marketplace built with the catalog's rules: a gig priced in yen, sold end
to end through :class:`~gigmarket.marketplace.Marketplace` (catalog, checkout,
card payment, delivery, completion, clearance, withdrawal), with the money
exact in a currency without minor units."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import attrs
import pytest

from gigmarket.cashier import CashierPolicy, WithdrawalLimits, fiverr_withdrawals
from gigmarket.catalog import (
    DEFAULT_LEVEL_POLICY,
    DEFAULT_PRICE_RANGES,
    CreateAccount,
    CreateGig,
    GigRules,
    PriceRange,
    SellerLevelPolicy,
    SetUpProfile,
)
from gigmarket.clock import ManualClock
from gigmarket.errors import ValidationError
from gigmarket.escrow import FeeSchedule
from gigmarket.escrow.presets import FIVERR_SMALL_ORDER_FEES, fiverr
from gigmarket.gateways import SandboxGateway
from gigmarket.marketplace import Marketplace
from gigmarket.money import Amount
from gigmarket.orders import OrderState, fiverr_policy
from gigmarket.storage.memory.store import MemoryStorage

START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
YEN_RULES = GigRules(
    price_ranges={**DEFAULT_PRICE_RANGES, "JPY": PriceRange.of("500", "1500000", "JPY")}
)
# Seller levels judge earnings per currency, never converted: yen needs its thresholds.
YEN_LEVELS = SellerLevelPolicy(
    tuple(
        attrs.evolve(
            requirement,
            min_earnings={
                **requirement.min_earnings,
                "JPY": Amount(
                    units=requirement.min_earnings["USD"].units * 150 // 100, currency="JPY"
                ),
            },
        )
        for requirement in DEFAULT_LEVEL_POLICY.requirements
    )
)


def _gig(currency: str, price: str) -> CreateGig:
    return CreateGig.model_validate(
        {
            "title": "I will translate your shop's pages into Japanese",
            "category": "writing-translation",
            "subcategory": "translation",
            "currency": currency,
            "tags": ["translation", "japanese"],
            "description": "Natural Japanese for product pages and checkout flows. " * 4,
            "packages": [{"name": "Basic", "price": price, "delivery_days": 3, "revisions": 1}],
            "gallery": ["gallery/sample.png"],
        }
    )


def test_the_default_rules_do_not_sell_in_yen() -> None:
    market = Marketplace(MemoryStorage(), clock=ManualClock(START))
    seller = market.catalog.create_account(CreateAccount(username="kenji"))
    with pytest.raises(ValidationError, match="JPY is not sold in"):
        market.catalog.create_gig(seller.id, _gig("JPY", "8000"))


def test_a_yen_gig_is_sold_end_to_end() -> None:
    clock = ManualClock(START)
    sandbox = SandboxGateway(api_key="sk_sandbox_yen", webhook_secret="whsec_yen", clock=clock)
    # The fees' fixed parts are per currency too: 500 yen under 15,000.
    fees = fiverr(small_order_fees={**FIVERR_SMALL_ORDER_FEES, "JPY": ("500", "15000")})
    market = Marketplace(
        MemoryStorage(),
        gateway=sandbox,
        policy=fiverr_policy(fees=FeeSchedule.always(fees)),
        cashier_policy=CashierPolicy(
            withdrawals={
                **fiverr_withdrawals(),
                "JPY": WithdrawalLimits.of("JPY", minimum="500", maximum="750000"),
            }
        ),
        catalog_rules=YEN_RULES,
        level_policy=YEN_LEVELS,
        clock=clock,
    )
    assert market.catalog.rules is YEN_RULES
    assert market.catalog.level_policy is YEN_LEVELS
    kenji = market.catalog.create_account(CreateAccount(username="kenji"))
    market.catalog.set_up_profile(
        kenji.id,
        SetUpProfile.model_validate(
            {
                "display_name": "Kenji Sato",
                "headline": "English to Japanese for online shops",
                "description": "Translator in Osaka; product pages and checkouts since 2015.",
                "skills": ["translation"],
                "languages": [{"language": "ja", "level": "native"}],
                "country": "JP",
            }
        ),
    )
    gig = market.catalog.create_gig(kenji.id, _gig("JPY", "8000"))
    market.catalog.publish(gig.id, seller_id=kenji.id)
    aiko = market.catalog.create_account(CreateAccount(username="aiko"))

    order = market.checkout(gig.id, buyer_id=aiko.id, package="Basic")
    total = order.price.total_charged
    assert total == Amount.of("8940", "JPY")  # 8000 + 5.5% (440) + 500, no fraction of a yen
    assert market.pay(order.id, buyer_id=aiko.id, source="tok_visa").paid
    (charge,) = sandbox.charges
    assert charge.captured == total
    market.orders.submit_requirements(order.id, buyer_id=aiko.id, answers={})
    market.orders.deliver(order.id, seller_id=kenji.id)
    market.orders.accept(order.id, buyer_id=aiko.id)
    assert market.orders.get(order.id).state is OrderState.COMPLETED
    clock.advance(timedelta(days=15))
    market.run_due()
    earned = market.seller_balance(kenji.id, "JPY")["available"]
    assert earned == Amount.of("6400", "JPY")  # 8000 less the 20% commission, exact in yen

    market.add_payout_account(kenji.id, "JPY", bank_token="bank_ok")
    withdrawal = market.withdraw(kenji.id, earned)
    (payout,) = sandbox.payouts
    assert payout.amount == earned == withdrawal.operation.amount
    clock.advance(timedelta(days=3))
    sandbox.settle_pending()
    sandbox.settle_pending()
    market.reconcile()
    assert market.seller_balance(kenji.id, "JPY")["available"] == Amount.zero("JPY")
    assert market.audit() == []
