"""The rules of paying sellers out: how much, how often.

Limits are per currency because "5,000.00" means nothing without one; a
withdrawal in a currency with no limits declared is refused rather than
allowed unchecked. The Fiverr preset carries DESIGN §8's figures
(at most 5,000.00 each, one per 24 hours); the minimum and the Taka figures are
gigmarket's own choice, stated here so that a host changes them knowingly.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from types import MappingProxyType

import attrs

from gigmarket.errors import ValidationError
from gigmarket.money import Amount

__all__ = ["CashierPolicy", "WithdrawalLimits", "fiverr_withdrawals"]


@attrs.frozen(kw_only=True)
class WithdrawalLimits:
    """Bounds on a seller's withdrawals in one currency."""

    minimum: Amount
    """The smallest withdrawal (bank fees make tiny ones pointless)."""
    maximum: Amount
    """The largest single withdrawal."""
    per_window: int = 1
    """How many withdrawals a seller may start within ``window`` (failed and
    cancelled ones do not count)."""
    window: timedelta = timedelta(hours=24)

    def __attrs_post_init__(self) -> None:
        if not isinstance(self.minimum, Amount) or not isinstance(self.maximum, Amount):
            raise ValidationError("limits are Amounts", field="minimum")
        self.maximum.require_currency(self.minimum.currency)
        self.minimum.require_positive("the minimum withdrawal")
        if self.maximum < self.minimum:
            raise ValidationError("the maximum is below the minimum", field="maximum")
        if isinstance(self.per_window, bool) or not isinstance(self.per_window, int):
            raise ValidationError("a whole number", field="per_window")
        if self.per_window < 1:
            raise ValidationError("at least one withdrawal per window", field="per_window")
        if not isinstance(self.window, timedelta) or self.window <= timedelta(0):
            raise ValidationError("a positive timedelta", field="window")

    @property
    def currency(self) -> str:
        return self.minimum.currency

    @classmethod
    def of(
        cls, currency: str, *, minimum: str, maximum: str, per_window: int = 1
    ) -> WithdrawalLimits:
        """Limits from amounts written in major units (``"5000.00"``)."""
        return cls(
            minimum=Amount.of(minimum, currency),
            maximum=Amount.of(maximum, currency),
            per_window=per_window,
        )


def _limits(value: Mapping[str, WithdrawalLimits]) -> Mapping[str, WithdrawalLimits]:
    for currency, limits in value.items():
        if not isinstance(limits, WithdrawalLimits) or limits.currency != currency:
            raise ValidationError(f"limits for {currency} in {currency}", field="withdrawals")
    return MappingProxyType(dict(value))


def fiverr_withdrawals() -> dict[str, WithdrawalLimits]:
    """At most 5,000.00 per withdrawal and one per 24 hours (DESIGN §8);
    at least 5.00 (USD), or 500 Taka (BDT)."""
    return {
        "USD": WithdrawalLimits.of("USD", minimum="5.00", maximum="5000.00"),
        "BDT": WithdrawalLimits.of("BDT", minimum="500.00", maximum="500000.00"),
    }


@attrs.frozen(kw_only=True)
class CashierPolicy:
    """How the payment service treats money at the gateway's edge."""

    withdrawals: Mapping[str, WithdrawalLimits] = attrs.field(
        factory=fiverr_withdrawals, converter=_limits
    )
    use_credit_first: bool = True
    """Buyer credit pays before the card (the rest, if any, is charged)."""
    reconcile_grace: timedelta = timedelta(minutes=5)
    """How old a ``started`` operation must be before ``reconcile`` treats its
    call as interrupted (younger ones may still be waiting for their answer)."""
    attention_after: timedelta = timedelta(days=7)
    """How long an operation may stay open before ``reconcile`` and the audit
    list it as needing a person (:meth:`~gigmarket.cashier.Cashier.resolve`).
    Longer than anything a gateway normally takes (a card network settling,
    a payout reaching the bank), so that only what is truly stuck is listed."""
