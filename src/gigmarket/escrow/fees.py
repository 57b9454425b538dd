"""Fee policies as composable, dated data.

A marketplace earns from both sides of an order: the buyer pays a *service
fee* on top of the price, and the seller gives up a *commission* out of it.
Platforms change these numbers often and differ from each other, so gigmarket
keeps them as data, frozen objects a host builds, stores, compares and
schedules, rather than as code paths.

Three decisions shape this module.

**Rules are exact; a policy rounds once.** A :class:`FeeRule` answers with the
fee as an exact :class:`~fractions.Fraction` of minor units: 5.5% of
99.99 USD is 549.945 cents, not 5.50 USD. Composite rules (:class:`Total`,
:class:`Minimum`, :class:`Maximum`, :class:`Tiered`) combine those exact
values, and only :class:`FeePolicy` rounds, once, under its
:class:`~gigmarket.money.RoundingMode`. Rounding each part first would make
the result depend on how a rule happens to be written: two 5% parts of
0.10 USD are 0.5 cent each, which round (half-up) to 1 + 1 = 2 cents, while
the 10% they add up to is exactly 1 cent.

**Fee first, net by subtraction.** The fee is rounded, and the seller's net
is what is left: ``net = gross - fee``. Rounding the two independently could
create or lose a minor unit, and a ledger that must balance to the unit
cannot afford that. :class:`PriceBreakdown` derives its totals from the fees,
so its sums hold by construction.

**A price depends on when and with whom.** An order is priced under the
policy in force when it was *placed*, even if it settles after a change, so
policies live in a :class:`~gigmarket.escrow.schedule.FeeSchedule` of dated
versions. Some fees depend on history: Upwork's legacy commission fell from
20% to 10% to 5% as one client's billing with one freelancer grew. A
:class:`FeeContext` carries that history (what this buyer has already been
billed by this seller), and rules that do not need it ignore it.

Fixed amounts and thresholds depend on the currency (a 3.00 fee is not 3 yen),
so each is a per-currency table. A currency missing from a table raises
:class:`~gigmarket.errors.FeePolicyError` naming it: a fee of zero by omission
is exactly the silent mistake this library exists to prevent.

The Fiverr and Upwork numbers live in :mod:`gigmarket.escrow.presets`;
dated versions in :mod:`gigmarket.escrow.schedule`.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping
from fractions import Fraction
from typing import Protocol, TypeAlias, runtime_checkable

import attrs

from gigmarket.errors import AmountOutOfRange, FeePolicyError, ValidationError
from gigmarket.money import (
    Amount,
    AmountLike,
    FeeSplit,
    RoundingMode,
    parse_rate,
    round_fraction,
)

__all__ = [
    "AmountTable",
    "FeeContext",
    "FeePolicy",
    "FeeRule",
    "Fixed",
    "Maximum",
    "Minimum",
    "NoFee",
    "Percentage",
    "PriceBreakdown",
    "SmallOrderSurcharge",
    "Tier",
    "Tiered",
    "Total",
]

AmountTable: TypeAlias = "Mapping[str, AmountLike] | Iterable[Amount]"
"""A per-currency table of amounts, as a caller writes it.

Either a mapping from currency code to an amount in major units,
``{"USD": "3.00", "BDT": "300.00"}``, or amounts that carry their currency,
``[Amount.of("3.00", "USD"), Amount.of("300.00", "BDT")]``. Rules store it as
a tuple of :class:`~gigmarket.money.Amount` sorted by currency, so that rules
stay frozen, hashable and comparable.
"""


# -- per-currency tables --------------------------------------------------


def _amount_table(table: AmountTable) -> tuple[Amount, ...]:
    """Read a per-currency table: one non-negative amount per currency."""
    if isinstance(table, Mapping):
        amounts = [Amount.of(value, code) for code, value in table.items()]
    else:
        amounts = [Amount.of(amount) for amount in table]
    if not amounts:
        raise FeePolicyError("a per-currency table needs at least one amount")
    amounts.sort(key=lambda amount: amount.currency)
    for earlier, later in itertools.pairwise(amounts):
        if earlier.currency == later.currency:
            raise FeePolicyError(
                f"{later.currency} appears twice in one table", currency=later.currency
            )
    for amount in amounts:
        if amount.units < 0:
            raise AmountOutOfRange(f"a fee or threshold cannot be negative: {amount}", value=amount)
    return tuple(amounts)


def _entry(table: tuple[Amount, ...], currency: str, *, what: str) -> Amount:
    """The table's amount for ``currency``, or a FeePolicyError naming it."""
    for amount in table:
        if amount.currency == currency:
            return amount
    listed = ", ".join(amount.currency for amount in table)
    raise FeePolicyError(
        f"{what} has no entry for {currency} (it lists {listed})", currency=currency
    )


def _currencies(table: tuple[Amount, ...]) -> list[str]:
    return [amount.currency for amount in table]


# -- what a rule may know --------------------------------------------------


def _non_negative_or_none(
    instance: object, attribute: attrs.Attribute[Amount | None], value: Amount | None
) -> None:
    if value is not None and value.units < 0:
        raise AmountOutOfRange(f"{attribute.name} cannot be negative: {value}", value=value)


@attrs.frozen(kw_only=True)
class FeeContext:
    """What a rule may know about a payment besides its amount.

    ``prior_billed`` is what this buyer has already been billed by this seller
    (gross, before fees), for rules that depend on a relationship's history
    such as :class:`Tiered`. ``None`` means nothing yet. The host keeps the
    running total per buyer–seller pair; :meth:`after` moves it on by one
    payment.
    """

    prior_billed: Amount | None = attrs.field(default=None, validator=_non_negative_or_none)

    def billed_before(self, currency: str) -> Amount:
        """``prior_billed`` in ``currency`` (zero when unknown); a different
        currency raises :class:`~gigmarket.errors.CurrencyMismatch`."""
        if self.prior_billed is None:
            return Amount.zero(currency)
        self.prior_billed.require_currency(currency)
        return self.prior_billed

    def after(self, payment: Amount) -> FeeContext:
        """The context for the next payment, once ``payment`` is billed."""
        return attrs.evolve(self, prior_billed=self.billed_before(payment.currency) + payment)


@runtime_checkable
class FeeRule(Protocol):
    """How one fee is computed from a payment.

    ``fee_for`` returns the fee as an exact number of minor units of
    ``gross.currency``, unrounded (a :class:`~fractions.Fraction`, or an
    ``int``). ``gross`` is positive. The rule may read ``context`` or ignore
    it. Rounding is the policy's job, so that composite rules add exact values
    and the result is rounded once.

    Any object with this method is a rule: a host can write its own (say, a
    fee that depends on a seller level) and combine it with the ones here.
    """

    def fee_for(self, gross: Amount, context: FeeContext) -> Fraction:
        """The exact, unrounded fee on ``gross``, in its minor units."""
        ...


def _require_rule(value: object, what: str) -> None:
    if not isinstance(value, FeeRule):
        raise TypeError(f"{what} must be a fee rule (with fee_for), not {type(value).__name__}")


def _is_rule(instance: object, attribute: attrs.Attribute[FeeRule], value: FeeRule) -> None:
    _require_rule(value, attribute.name)


def _rules(rules: Iterable[FeeRule]) -> tuple[FeeRule, ...]:
    rules = tuple(rules)
    for rule in rules:
        _require_rule(rule, "each of rules")
    return rules


# -- the rules ---------------------------------------------------------------


@attrs.frozen(kw_only=True)
class NoFee:
    """No fee at all: Upwork charges clients no service fee, for instance."""

    def fee_for(self, gross: Amount, context: FeeContext) -> Fraction:
        """Always zero."""
        return Fraction(0)


@attrs.frozen(kw_only=True)
class Percentage:
    """A share of the payment: ``Percentage(rate="5.5%")``.

    ``rate`` is read by :func:`~gigmarket.money.parse_rate`: ``"20%"``,
    ``"0.2"``, ``Decimal("0.2")`` or a ``Fraction``; floats are refused.
    """

    rate: Fraction = attrs.field(converter=parse_rate)

    def fee_for(self, gross: Amount, context: FeeContext) -> Fraction:
        """``gross × rate``, exactly."""
        return gross.units * self.rate


@attrs.frozen(kw_only=True)
class Fixed:
    """A fixed amount per payment, per currency: ``Fixed(amounts={"USD": "0.30"})``."""

    amounts: tuple[Amount, ...] = attrs.field(converter=_amount_table)

    def fee_for(self, gross: Amount, context: FeeContext) -> Fraction:
        """The table's amount in the payment's currency."""
        return Fraction(_entry(self.amounts, gross.currency, what="the fixed fee").units)


def _same_currencies_as_fee(
    instance: SmallOrderSurcharge, attribute: attrs.Attribute[tuple[Amount, ...]], under: object
) -> None:
    if _currencies(instance.under) != _currencies(instance.fee):
        raise FeePolicyError(
            "a small-order surcharge needs a fee and a threshold for the same currencies, "
            f"got fees for {_currencies(instance.fee)} and thresholds for "
            f"{_currencies(instance.under)}"
        )


@attrs.frozen(kw_only=True)
class SmallOrderSurcharge:
    """An extra ``fee`` when the payment is strictly under a threshold.

    Fiverr adds a small-order fee to purchases under 100.00:
    ``SmallOrderSurcharge(fee={"USD": "3.00"}, under={"USD": "100.00"})``.
    A payment of exactly the threshold pays no surcharge. Both tables list the
    same currencies; a payment in any other currency is refused, even a large
    one, because the policy cannot know what "small" means there.
    """

    fee: tuple[Amount, ...] = attrs.field(converter=_amount_table)
    under: tuple[Amount, ...] = attrs.field(
        converter=_amount_table, validator=_same_currencies_as_fee
    )

    def fee_for(self, gross: Amount, context: FeeContext) -> Fraction:
        """The surcharge if ``gross`` is under the threshold, else zero."""
        threshold = _entry(self.under, gross.currency, what="the small-order threshold")
        if gross < threshold:
            return Fraction(_entry(self.fee, gross.currency, what="the small-order fee").units)
        return Fraction(0)


@attrs.frozen(kw_only=True)
class Minimum:
    """At least ``floor``: ``Minimum(rule=Percentage(rate="2%"), floor={"USD": "0.50"})``.

    A floor on a seller commission can exceed a small payment (a 0.30 tip);
    the policy then refuses to price it rather than take more than the payment.
    """

    rule: FeeRule = attrs.field(validator=_is_rule)
    floor: tuple[Amount, ...] = attrs.field(converter=_amount_table)

    def fee_for(self, gross: Amount, context: FeeContext) -> Fraction:
        """The larger of the inner rule's fee and the floor."""
        floor = _entry(self.floor, gross.currency, what="the minimum fee")
        return max(self.rule.fee_for(gross, context), Fraction(floor.units))


@attrs.frozen(kw_only=True)
class Maximum:
    """At most ``cap``: ``Maximum(rule=Percentage(rate="20%"), cap={"USD": "50.00"})``."""

    rule: FeeRule = attrs.field(validator=_is_rule)
    cap: tuple[Amount, ...] = attrs.field(converter=_amount_table)

    def fee_for(self, gross: Amount, context: FeeContext) -> Fraction:
        """The smaller of the inner rule's fee and the cap."""
        cap = _entry(self.cap, gross.currency, what="the maximum fee")
        return min(self.rule.fee_for(gross, context), Fraction(cap.units))


@attrs.frozen(kw_only=True)
class Total:
    """The exact sum of several rules, rounded later as one fee.

    Fiverr's buyer fee is ``Total(rules=[Percentage(rate="5.5%"),
    SmallOrderSurcharge(...)])``. An empty total is no fee.
    """

    rules: tuple[FeeRule, ...] = attrs.field(converter=_rules)

    def fee_for(self, gross: Amount, context: FeeContext) -> Fraction:
        """The sum of every rule's exact fee."""
        return sum((rule.fee_for(gross, context) for rule in self.rules), Fraction(0))


def _optional_table(table: AmountTable | None) -> tuple[Amount, ...] | None:
    return None if table is None else _amount_table(table)


@attrs.frozen(kw_only=True)
class Tier:
    """One band of a :class:`Tiered` rule: ``rate`` on billing up to ``up_to``.

    ``up_to`` is a per-currency table of the band's upper bound in cumulative
    billing; the last tier has none (it runs on forever).
    """

    rate: Fraction = attrs.field(converter=parse_rate)
    up_to: tuple[Amount, ...] | None = attrs.field(default=None, converter=_optional_table)


def _tiers(tiers: Iterable[Tier]) -> tuple[Tier, ...]:
    tiers = tuple(tiers)
    for tier in tiers:
        if not isinstance(tier, Tier):
            raise TypeError(f"a tiered rule is made of Tier objects, not {type(tier).__name__}")
    return tiers


def _check_tiers(
    instance: Tiered, attribute: attrs.Attribute[tuple[Tier, ...]], tiers: tuple[Tier, ...]
) -> None:
    if not tiers or tiers[-1].up_to is not None:
        raise FeePolicyError("a tiered rule needs tiers, and its last tier has no upper bound")
    bounds: list[tuple[Amount, ...]] = []
    for tier in tiers[:-1]:
        if tier.up_to is None:
            raise FeePolicyError("only the last tier of a tiered rule may lack an upper bound")
        bounds.append(tier.up_to)
    for lower, upper in itertools.pairwise(bounds):
        if _currencies(lower) != _currencies(upper):
            raise FeePolicyError(
                "every tier bound lists the same currencies, got "
                f"{_currencies(lower)} and {_currencies(upper)}"
            )
        for low, high in zip(lower, upper, strict=True):
            if high <= low:
                raise FeePolicyError(
                    f"tier bounds must rise: {high} follows {low}", currency=high.currency
                )


@attrs.frozen(kw_only=True)
class Tiered:
    """Marginal rates over the cumulative billing of one buyer with one seller.

    Like income-tax brackets: each tier's rate applies to the part of the
    payment that falls inside that tier, counting from what the pair had
    already billed (``context.prior_billed``). Upwork's legacy commission was
    20% of the first 500.00 billed, 10% up to 10,000.00 and 5% beyond:

    >>> legacy = Tiered(tiers=[
    ...     Tier(rate="20%", up_to={"USD": "500.00"}),
    ...     Tier(rate="10%", up_to={"USD": "10000.00"}),
    ...     Tier(rate="5%"),
    ... ])
    >>> legacy.fee_for(Amount.of("600.00", "USD"), FeeContext())
    Fraction(11000, 1)

    That is 110.00: 20% of 500.00 plus 10% of the next 100.00. Because the
    bands count cumulative billing, one payment and the same money paid in two
    instalments cost exactly the same fee before rounding.
    """

    tiers: tuple[Tier, ...] = attrs.field(converter=_tiers, validator=_check_tiers)

    def fee_for(self, gross: Amount, context: FeeContext) -> Fraction:
        """Each tier's rate on the share of ``[prior, prior + gross]`` inside it."""
        start = context.billed_before(gross.currency).units
        end = start + gross.units
        fee = Fraction(0)
        tier_start = 0
        for tier in self.tiers:
            if tier.up_to is None:
                tier_end = end
            else:
                tier_end = _entry(tier.up_to, gross.currency, what="the tier bounds").units
            inside = min(end, tier_end) - max(start, tier_start)
            fee += max(inside, 0) * tier.rate
            tier_start = tier_end
        return fee


# -- a policy: one rule per side, one rounding ------------------------------


def _within(fee: Amount, gross: Amount, *, what: str, policy: str | None) -> None:
    if fee.units < 0 or fee > gross:
        raise FeePolicyError(
            f"{what} of {fee} is not between zero and the {gross} it is taken from",
            policy=policy,
        )


@attrs.frozen(kw_only=True)
class PriceBreakdown:
    """Who pays what for one order, in whole minor units.

    The buyer is charged ``total_charged = subtotal + buyer_service_fee``; the
    seller earns ``seller_net = subtotal - seller_commission``; the platform
    keeps ``platform_revenue``, both fees. The two totals are derived, not
    passed in, so ``total_charged == seller_net + platform_revenue`` always.
    """

    subtotal: Amount
    buyer_service_fee: Amount
    seller_commission: Amount
    total_charged: Amount = attrs.field(init=False)
    seller_net: Amount = attrs.field(init=False)

    @total_charged.default
    def _total_charged(self) -> Amount:
        return self.subtotal + self.buyer_service_fee

    @seller_net.default
    def _seller_net(self) -> Amount:
        return self.subtotal - self.seller_commission

    def __attrs_post_init__(self) -> None:
        if self.buyer_service_fee.units < 0:
            raise FeePolicyError(f"a buyer service fee of {self.buyer_service_fee} is negative")
        _within(self.seller_commission, self.subtotal, what="the seller commission", policy=None)

    @property
    def platform_revenue(self) -> Amount:
        """What the platform keeps: the buyer's service fee plus the seller's commission."""
        return self.buyer_service_fee + self.seller_commission


def _named(instance: object, attribute: attrs.Attribute[str], name: object) -> None:
    if not isinstance(name, str) or not name.strip():
        raise ValidationError("a fee policy needs a non-empty name", field=attribute.name)


@attrs.frozen(kw_only=True)
class FeePolicy:
    """The fees of one platform at one time: a rule per side and a rounding mode.

    ``buyer_service_fee`` is added on top of the subtotal (the buyer pays it);
    ``seller_commission`` is taken out of it (the seller pays it) and must lie
    between zero and the subtotal. Each side is rounded once, under
    ``rounding``.
    """

    name: str = attrs.field(validator=_named)
    seller_commission: FeeRule = attrs.field(validator=_is_rule)
    buyer_service_fee: FeeRule = attrs.field(factory=NoFee, validator=_is_rule)
    rounding: RoundingMode = attrs.field(
        default=RoundingMode.HALF_UP, validator=attrs.validators.instance_of(RoundingMode)
    )

    def price(self, subtotal: Amount, context: FeeContext | None = None) -> PriceBreakdown:
        """Price an order of ``subtotal`` (positive), both sides at once."""
        subtotal.require_positive("subtotal")
        context = FeeContext() if context is None else context
        buyer_fee = self._fee(self.buyer_service_fee, subtotal, context)
        commission = self.commission_on(subtotal, context).fee
        return PriceBreakdown(
            subtotal=subtotal, buyer_service_fee=buyer_fee, seller_commission=commission
        )

    def commission_on(self, amount: Amount, context: FeeContext | None = None) -> FeeSplit:
        """The seller's commission alone on ``amount`` (positive).

        For money that carries no buyer fee but still pays commission, such as
        a tip. ``fee + net == gross`` in the result.
        """
        amount.require_positive("amount")
        context = FeeContext() if context is None else context
        commission = self._fee(self.seller_commission, amount, context)
        _within(commission, amount, what="the seller commission", policy=self.name)
        return FeeSplit(gross=amount, fee=commission, net=amount - commission)

    def _fee(self, rule: FeeRule, gross: Amount, context: FeeContext) -> Amount:
        # A rule may be host code: refuse a float here rather than let it near money.
        exact: object = rule.fee_for(gross, context)
        if isinstance(exact, bool) or not isinstance(exact, int | Fraction):
            raise FeePolicyError(
                f"{type(rule).__name__}.fee_for returned a {type(exact).__name__}; "
                "a fee must be an exact int or Fraction of minor units",
                policy=self.name,
            )
        if exact < 0:
            raise FeePolicyError(
                f"{type(rule).__name__} computed a negative fee ({exact} minor units)",
                policy=self.name,
            )
        return Amount(units=round_fraction(Fraction(exact), self.rounding), currency=gross.currency)
