"""The money movements of an escrow marketplace, as named ledger operations.

Each flow is one journal entry (or one hold) between accounts of the
:mod:`~gigmarket.escrow.chart`, opening the accounts it needs on first use.
They know nothing of orders or gigs: an order id here is only the name of an
escrow account, so the same flows serve any host that holds money for
someone until a condition is met.

The story of one order, in flows::

    fund        gateway ──55.75──▶ escrow:order          (buyer pays, incl. fee)
    settle      escrow  ──40.00──▶ seller:pending        (on completion)
                escrow  ──15.75──▶ platform:revenue      (commission + fee)
    clear       seller:pending ──40.00──▶ seller:available  (after clearance)
    withdraw    seller:available ══40.00══▶ payouts:in_flight (a hold)
    payout_sent the hold is posted: the money is with the gateway
    payout_paid payouts:in_flight ──40.00──▶ gateway      (bank confirmed)

Around it: buyer credit spent on an order (``reserve_credit``, then
``spend_credit``), refunds on their way back to a card (``refunds:in_flight``,
then ``refund_sent`` or, when the card refuses, ``refund_to_credit``), a payout
the bank returned (``payout_returned``), and a claw-back after completion
(``claw_back``) whose shortfall becomes seller debt, repaid by ``clear`` before
anything else.
"""

from __future__ import annotations

from collections.abc import Mapping

import attrs

from gigmarket.errors import ValidationError
from gigmarket.escrow import chart
from gigmarket.escrow.ledger import LedgerTransaction
from gigmarket.escrow.model import Hold, HoldStatus, JournalEntry, Posting
from gigmarket.idempotency import KeyLike, internal_key
from gigmarket.money import Amount, sum_amounts

__all__ = ["EscrowFlows"]


@attrs.define
class EscrowFlows:
    """Named escrow flows inside one ledger transaction."""

    tx: LedgerTransaction

    def _open(self, code: str, currency: str, *, allow_negative: bool = False) -> str:
        self.tx.open_account(code, currency, allow_negative=allow_negative)
        return code

    def fund(
        self, order_id: str, amount: Amount, *, gateway: str, idempotency_key: KeyLike | None = None
    ) -> JournalEntry:
        """A confirmed charge: the buyer's whole payment enters the order's escrow."""
        escrow = self._open(chart.order_escrow(order_id), amount.currency)
        world = self._open(
            chart.gateway(gateway, amount.currency), amount.currency, allow_negative=True
        )
        return self.tx.transfer(
            world,
            escrow,
            amount,
            memo=f"payment for order {order_id}",
            references=[f"order:{order_id}"],
            idempotency_key=idempotency_key,
        )

    def settle(
        self,
        order_id: str,
        shares: Mapping[str, Amount],
        *,
        memo: str = "",
        idempotency_key: KeyLike | None = None,
    ) -> JournalEntry:
        """Pay out of an order's escrow to several accounts in one entry.

        ``shares`` maps account codes (from :mod:`~gigmarket.escrow.chart`) to
        positive amounts; together they may not exceed what escrow holds. A
        completion, a refund and a dispute split are all settlements.
        """
        escrow = chart.order_escrow(order_id)
        currency = self.tx.account(escrow).currency
        if not shares:
            raise ValidationError("a settlement needs at least one share", field="shares")
        for code, amount in shares.items():  # every check first: a refusal opens nothing
            if not isinstance(amount, Amount):
                raise ValidationError("a share is an Amount", field=f"shares.{code}")
            amount.require_positive(f"the share of {code}")
            amount.require_currency(currency)
        total = sum_amounts(shares.values(), currency)
        # Whether escrow holds enough is the ledger's to decide, after its
        # idempotency check: a replayed settlement finds escrow already empty
        # and must still return its first entry. A refused overdraft may leave
        # the accounts opened below in the caller's transaction, empty.
        for code in shares:
            self._open(code, currency, allow_negative=code.startswith("gateway:"))
        return self.tx.post(
            [Posting(escrow, -total), *(Posting(code, amount) for code, amount in shares.items())],
            memo=memo or f"settlement of order {order_id}",
            references=[f"order:{order_id}"],
            idempotency_key=idempotency_key,
        )

    def release(
        self,
        order_id: str,
        *,
        seller_id: str,
        seller_net: Amount,
        platform_fees: Amount,
        idempotency_key: KeyLike | None = None,
    ) -> JournalEntry:
        """Completion: the seller's net to pending earnings, the fees to the platform."""
        shares = {chart.seller_pending(seller_id, seller_net.currency): seller_net}
        if platform_fees.units:
            shares[chart.platform_revenue(platform_fees.currency)] = platform_fees
        return self.settle(
            order_id,
            shares,
            memo=f"release of order {order_id} to seller {seller_id}",
            idempotency_key=idempotency_key,
        )

    def clear(
        self, seller_id: str, amount: Amount, *, idempotency_key: KeyLike | None = None
    ) -> JournalEntry:
        """The clearance period is over: pending earnings become withdrawable.

        A seller who owes (a claw-back that found too little) repays first: as
        much of ``amount`` as the debt needs goes to the debt account, in the
        same entry, and only the rest becomes available.
        """
        return self._pay_seller(
            seller_id,
            amount,
            source=chart.seller_pending(seller_id, amount.currency),
            memo=f"clearance for seller {seller_id}",
            references=[f"seller:{seller_id}"],
            idempotency_key=idempotency_key,
        )

    def _pay_seller(
        self,
        seller_id: str,
        amount: Amount,
        *,
        source: str,
        memo: str,
        references: list[str],
        idempotency_key: KeyLike | None,
    ) -> JournalEntry:
        """``source`` → the seller's available balance, debt repaid first."""
        currency = amount.currency
        available = self._open(chart.seller_available(seller_id, currency), currency)
        debt_code = chart.seller_debt(seller_id, currency)
        owed = -self.tx.balance_or_zero(debt_code, currency).posted.units
        repay = min(max(owed, 0), amount.units)
        postings = [Posting(source, -amount)]
        if repay:
            postings.append(Posting(debt_code, Amount(units=repay, currency=currency)))
        if amount.units - repay:
            rest = Amount(units=amount.units - repay, currency=currency)
            postings.append(Posting(available, rest))
        if repay:
            memo += f" (repays {Amount(units=repay, currency=currency)} of debt)"
        return self.tx.post(
            postings, memo=memo, references=references, idempotency_key=idempotency_key
        )

    def claw_back(
        self,
        seller_id: str,
        amount: Amount,
        *,
        destination: str,
        from_pending: Amount,
        platform_share: Amount,
        references: list[str],
        idempotency_key: KeyLike,
    ) -> JournalEntry:
        """Take back ``amount`` paid out of a completed order, to ``destination``.

        The platform gives back ``platform_share`` from its revenue; the seller
        the rest: ``from_pending`` from earnings still clearing, then what is
        available, and whatever is still missing is recorded as debt (a
        negative balance on ``seller:<id>:debt``) that :meth:`clear` repays
        first. A withdrawal already reserved is not touched.
        """
        currency = amount.currency
        seller_part = amount - platform_share
        if seller_part.units < 0 or from_pending.units < 0 or from_pending > seller_part:
            raise ValidationError("the shares exceed the claw-back", field="amount")
        available_code = chart.seller_available(seller_id, currency)
        available = self.tx.balance_or_zero(available_code, currency).available
        from_available = min(available, seller_part - from_pending)
        owed = seller_part - from_pending - from_available
        sources = {
            chart.platform_revenue(currency): platform_share,
            chart.seller_pending(seller_id, currency): from_pending,
            available_code: from_available,
        }
        postings = [Posting(code, -part) for code, part in sources.items() if part.units]
        if owed.units:
            debt = self._open(chart.seller_debt(seller_id, currency), currency, allow_negative=True)
            postings.append(Posting(debt, -owed))
        postings.append(Posting(destination, amount))
        return self.tx.post(
            postings,
            memo=f"claw-back from seller {seller_id}" + (f", {owed} owed" if owed.units else ""),
            references=references,
            idempotency_key=idempotency_key,
        )

    # -- buyer credit -----------------------------------------------------

    def reserve_credit(self, order_id: str, buyer_id: str, amount: Amount) -> Hold:
        """Set aside buyer credit for an order while the rest is charged to a card."""
        escrow = self._open(chart.order_escrow(order_id), amount.currency)
        return self.tx.reserve(
            chart.buyer_credit(buyer_id, amount.currency),
            escrow,
            amount,
            memo=f"credit towards order {order_id}",
            references=[f"order:{order_id}"],
        )

    def spend_credit(
        self,
        order_id: str,
        buyer_id: str,
        amount: Amount,
        *,
        hold_id: str | None = None,
        idempotency_key: KeyLike | None = None,
    ) -> JournalEntry:
        """Buyer credit pays (part of) an order: credit → the order's escrow.

        With ``hold_id``, the credit reserved by :meth:`reserve_credit` is
        posted; the hold must be exactly this credit for this order.
        """
        credit = chart.buyer_credit(buyer_id, amount.currency)
        escrow = self._open(chart.order_escrow(order_id), amount.currency)
        if hold_id is None:
            return self.tx.transfer(
                credit,
                escrow,
                amount,
                memo=f"credit spent on order {order_id}",
                references=[f"order:{order_id}"],
                idempotency_key=idempotency_key,
            )
        hold = self.tx.hold(hold_id)
        if (hold.source, hold.destination, hold.amount) != (credit, escrow, amount):
            raise ValidationError(
                f"hold {hold_id} is not {amount} of {credit} for order {order_id}",
                field="credit_hold",
            )
        return self.tx.post_hold(hold_id, idempotency_key=idempotency_key)

    # -- refunds to cards -------------------------------------------------

    def refund_sent(
        self, amount: Amount, *, gateway: str, idempotency_key: KeyLike
    ) -> JournalEntry:
        """The gateway refunded a card: the money has left the platform."""
        world = self._open(
            chart.gateway(gateway, amount.currency), amount.currency, allow_negative=True
        )
        return self.tx.transfer(
            chart.refunds_in_flight(amount.currency),
            world,
            amount,
            memo="refund to card confirmed",
            idempotency_key=idempotency_key,
        )

    def refund_to_credit(
        self, buyer_id: str, amount: Amount, *, idempotency_key: KeyLike
    ) -> JournalEntry:
        """The card could not take a refund back: the buyer keeps it as credit instead."""
        credit = self._open(chart.buyer_credit(buyer_id, amount.currency), amount.currency)
        return self.tx.transfer(
            chart.refunds_in_flight(amount.currency),
            credit,
            amount,
            memo=f"refund to card failed: credit for buyer {buyer_id}",
            references=[f"buyer:{buyer_id}"],
            idempotency_key=idempotency_key,
        )

    def request_withdrawal(
        self, seller_id: str, amount: Amount, *, idempotency_key: KeyLike | None = None
    ) -> Hold:
        """Reserve a withdrawal: the money can no longer be spent, nor yet left."""
        in_flight = self._open(chart.payouts_in_flight(amount.currency), amount.currency)
        return self.tx.reserve(
            chart.seller_available(seller_id, amount.currency),
            in_flight,
            amount,
            memo=f"withdrawal by seller {seller_id}",
            references=[f"seller:{seller_id}"],
            idempotency_key=idempotency_key,
        )

    def payout_sent(self, hold_id: str, *, idempotency_key: KeyLike | None = None) -> JournalEntry:
        """The gateway accepted the payout: the held money is now in flight."""
        return self.tx.post_hold(hold_id, idempotency_key=idempotency_key)

    def payout_paid(self, hold_id: str, *, gateway: str) -> JournalEntry:
        """The gateway confirmed the payout: the money has left the platform.

        Confirming one payout twice (a duplicated webhook, a retried job)
        returns the first entry: the move is keyed by the hold, not by the
        caller, because ``payouts:in_flight`` is shared by every seller and a
        second move would spend someone else's money.
        """
        hold = self.tx.hold(hold_id)
        if hold.status is not HoldStatus.POSTED or hold.posted_amount is None:
            raise ValidationError(
                f"payout {hold_id} is {hold.status.value}, not sent", field="hold_id"
            )
        amount = hold.posted_amount
        world = self._open(
            chart.gateway(gateway, amount.currency), amount.currency, allow_negative=True
        )
        return self.tx.transfer(
            hold.destination,
            world,
            amount,
            memo=f"payout {hold_id} confirmed",
            references=list(hold.references),
            idempotency_key=internal_key("payout-paid", hold_id),
        )

    def payout_returned(self, hold_id: str) -> JournalEntry:
        """A payout that was sent failed (the bank returned it): the money in
        flight goes back to the seller, repaying any debt first. Keyed by the
        hold, like :meth:`payout_paid`, so a duplicated notice returns it once."""
        hold = self.tx.hold(hold_id)
        if hold.status is not HoldStatus.POSTED or hold.posted_amount is None:
            raise ValidationError(
                f"payout {hold_id} is {hold.status.value}, not sent", field="hold_id"
            )
        seller_id = hold.source.split(":")[1]  # seller:<id>:available:<CUR>
        return self._pay_seller(
            seller_id,
            hold.posted_amount,
            source=hold.destination,
            memo=f"payout {hold_id} returned",
            references=list(hold.references),
            idempotency_key=internal_key("payout-returned", hold_id),
        )

    def withdrawal_cancelled(self, hold_id: str, *, idempotency_key: KeyLike | None = None) -> Hold:
        """The payout was refused before it was sent: the money is available again."""
        return self.tx.void_hold(hold_id, idempotency_key=idempotency_key)
