"""Ready-made fee policies for Fiverr-like and Upwork-like marketplaces.

The numbers are those of DESIGN §8, the platforms' published fees when the
design was written; ``upwork_legacy`` is the sliding scale Upwork used from
June 2016 until it moved everyone to a flat 10% in May 2023. They serve two
purposes: a host gets a sensible default in one line, and the test suite gets
worked examples whose answers anyone can check against the platforms' own
help pages.

| preset | buyer service fee | seller commission |
|---|---|---|
| `fiverr()` | 5.5%, plus 3.00 when the subtotal is under 100.00 | 20% (tips too) |
| `upwork()` | none | 10% flat |
| `upwork_legacy()` | none | 20% to 500.00 billed per client, 10% to 10,000.00, 5% on |

Fixed amounts and thresholds are per currency, and a preset only knows the
currencies in its table (a 3.00 fee means nothing in yen). Pass your own
table to price other currencies; a currency missing from it raises
:class:`~gigmarket.errors.FeePolicyError` instead of pricing a fee of zero.

Platforms change their fees; wrap a preset in a
:class:`~gigmarket.escrow.schedule.FeeSchedule` to keep older orders priced under
the policy they were placed under, e.g. ``FeeSchedule.always(fiverr())``.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from gigmarket.escrow.fees import (
    FeePolicy,
    NoFee,
    Percentage,
    SmallOrderSurcharge,
    Tier,
    Tiered,
    Total,
)
from gigmarket.money import AmountLike, RoundingMode

__all__ = [
    "FIVERR_SMALL_ORDER_FEES",
    "UPWORK_LEGACY_TIER_BOUNDS",
    "fiverr",
    "upwork",
    "upwork_legacy",
]

FIVERR_SMALL_ORDER_FEES: Mapping[str, tuple[AmountLike, AmountLike]] = MappingProxyType(
    {
        "BDT": ("300.00", "10000.00"),
        "EUR": ("3.00", "100.00"),
        "GBP": ("3.00", "100.00"),
        "USD": ("3.00", "100.00"),
    }
)
"""Fiverr's small-order fee per currency: ``(fee, charged when the subtotal is under)``.

The Taka row scales both numbers by 100, roughly the exchange rate, so a
Bangladeshi buyer sees the same rule in round numbers.
"""

UPWORK_LEGACY_TIER_BOUNDS: Mapping[str, tuple[AmountLike, AmountLike]] = MappingProxyType(
    {
        "BDT": ("50000.00", "1000000.00"),
        "USD": ("500.00", "10000.00"),
    }
)
"""Where Upwork's legacy commission stepped down, per currency:
``(end of the 20% band, end of the 10% band)`` in cumulative billing."""


def fiverr(
    *,
    small_order_fees: Mapping[str, tuple[AmountLike, AmountLike]] = FIVERR_SMALL_ORDER_FEES,
    rounding: RoundingMode = RoundingMode.HALF_UP,
) -> FeePolicy:
    """Fiverr: the buyer pays 5.5% plus a small-order fee; the seller gives 20%.

    ``small_order_fees`` maps a currency to ``(fee, threshold)``: the fee is
    added when the subtotal is strictly under the threshold. On 50.00 USD the
    buyer pays 2.75 + 3.00 = 5.75; on 100.00 USD just 5.50. The seller keeps
    80.00 of 100.00, and 4.00 of 5.00. The 20% applies to tips as well
    (:meth:`~gigmarket.escrow.fees.FeePolicy.commission_on`).
    """
    return FeePolicy(
        name="fiverr",
        buyer_service_fee=Total(
            rules=[
                Percentage(rate="5.5%"),
                SmallOrderSurcharge(
                    fee={code: fee for code, (fee, _) in small_order_fees.items()},
                    under={code: under for code, (_, under) in small_order_fees.items()},
                ),
            ]
        ),
        seller_commission=Percentage(rate="20%"),
        rounding=rounding,
    )


def upwork(*, rounding: RoundingMode = RoundingMode.HALF_UP) -> FeePolicy:
    """Upwork: a flat 10% commission from the freelancer, no client fee here.

    On 266.64 the fee is 26.66 and the freelancer keeps 239.98; on 333.36 the
    fee is 33.34 (33.336 rounded half-up) and the freelancer keeps 300.02.
    """
    return FeePolicy(
        name="upwork",
        buyer_service_fee=NoFee(),
        seller_commission=Percentage(rate="10%"),
        rounding=rounding,
    )


def upwork_legacy(
    *,
    tier_bounds: Mapping[str, tuple[AmountLike, AmountLike]] = UPWORK_LEGACY_TIER_BOUNDS,
    rounding: RoundingMode = RoundingMode.HALF_UP,
) -> FeePolicy:
    """Upwork's legacy sliding commission: 20%, then 10%, then 5%.

    The bands count everything one client has billed with one freelancer, so
    pass that total as ``FeeContext(prior_billed=...)``. A first payment of
    600.00 USD costs 20% of 500.00 plus 10% of 100.00 = 110.00, and the
    freelancer keeps 490.00. ``tier_bounds`` maps a currency to the ends of the
    20% and 10% bands.
    """
    return FeePolicy(
        name="upwork-legacy",
        buyer_service_fee=NoFee(),
        seller_commission=Tiered(
            tiers=[
                Tier(rate="20%", up_to={code: first for code, (first, _) in tier_bounds.items()}),
                Tier(rate="10%", up_to={code: second for code, (_, second) in tier_bounds.items()}),
                Tier(rate="5%"),
            ]
        ),
        rounding=rounding,
    )
