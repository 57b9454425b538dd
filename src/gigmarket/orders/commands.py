"""The order desk's keyed commands, as the command runner runs them.

Each names the operation its idempotency key is scoped by and recorded
under, the party it acts for, and the facts a replay must repeat (the same
fingerprints the desk has always recorded, so keys stored before still
replay).
"""

from __future__ import annotations

from datetime import datetime

import attrs

from gigmarket._kernel.runner import Command
from gigmarket.escrow.fees import PriceBreakdown
from gigmarket.money import Amount
from gigmarket.orders.model import Offer

__all__ = ["PlaceOrder", "RefundCompleted", "TipCompleted"]


@attrs.frozen(kw_only=True)
class PlaceOrder(Command):
    """Freeze an offer into an order awaiting payment, at ``price``."""

    OPERATION = "place_order"
    PARTY = "buyer_id"

    offer: Offer
    buyer_id: str
    price: PriceBreakdown
    placed_at: datetime

    def payload(self) -> object:
        return {"offer": repr(self.offer), "buyer": self.buyer_id}


@attrs.frozen(kw_only=True)
class RefundCompleted(Command):
    """Refund part or all of a completed order."""

    OPERATION = "refund_completed"

    order_id: str
    amount: Amount
    reason: str = ""

    def payload(self) -> object:
        return {"order": self.order_id, "amount": str(self.amount), "reason": self.reason}


@attrs.frozen(kw_only=True)
class TipCompleted(Command):
    """Book a confirmed tip on a completed order (keyed by its payment reference)."""

    OPERATION = "tip"

    order_id: str
    amount: Amount
    buyer_id: str
    payment_reference: str

    def payload(self) -> object:
        return {"order": self.order_id, "amount": str(self.amount), "buyer": self.buyer_id}
