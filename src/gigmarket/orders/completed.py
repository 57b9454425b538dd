"""Money that moves after an order completed: tips, and refunds.

A tip (:func:`tip_completed`) is paid like a small order that completes at
once: commission applies, then clearance.

A refund after completion (:func:`refund_completed`) takes back what an order
already paid out.

A completed order's money has left escrow: the seller's share is clearing or
available (or already withdrawn), the platform's share is revenue. Refunding
such an order (a chargeback lost, a support decision) takes it back in one
entry, into the order's escrow, from where the ordinary refund sends it to
the buyer's card or credit, by policy:

- the platform gives back its part of the refund, in proportion to what it
  earned on the order (largest remainder, so the parts add up exactly);
- the seller gives back the rest: first from this order's earnings still
  clearing (the order's clearance timers shrink accordingly, so they never
  clear money that is gone), then from what is available;
- what the seller no longer has is recorded as **debt**, which their next
  cleared earnings repay before anything becomes available again.

Per order, charged = seller net + fees + refunds + held still holds: the
seller's and the platform's totals shrink by what was taken back, and the
refunds grow by it.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

import attrs

from gigmarket._kernel.runner import Handler, execute
from gigmarket.errors import TransitionNotAllowed, ValidationError, WrongActor, brief
from gigmarket.escrow import chart
from gigmarket.escrow.flows import EscrowFlows
from gigmarket.escrow.ledger import LedgerTransaction
from gigmarket.idempotency import internal_key
from gigmarket.money import Amount, allocate
from gigmarket.orders.commands import RefundCompleted, TipCompleted
from gigmarket.orders.lifecycle import ActionContext, refund_buyer
from gigmarket.orders.model import Actor, Order, OrderState, ScheduledAction
from gigmarket.orders.ports import OrdersUnitOfWork

if TYPE_CHECKING:
    from gigmarket.orders.service import OrderDesk

__all__ = ["refund_completed", "tip_completed"]


def refund_completed(
    desk: OrderDesk,
    uow: OrdersUnitOfWork,
    order_id: str,
    amount: Amount,
    *,
    reason: str = "",
    idempotency_key: str | None = None,
) -> Order:
    """Refund ``amount`` of a completed order (see the module's note)."""
    order = desk._load(uow, order_id)
    if order.state is not OrderState.COMPLETED:
        raise TransitionNotAllowed(
            order_id=order.id,
            action="refund_completed",
            state=order.state.value,
            actor="operator",
            reason="only a completed order is refunded this way (others through cancellation)",
        )
    value = Amount.of(amount).require_positive("a refund")
    value.require_currency(order.currency)
    command = RefundCompleted(order_id=order.id, amount=value, reason=reason)

    def refund(command: RefundCompleted, uow: OrdersUnitOfWork) -> Order:
        return _take_back(desk, uow, order, command)

    handler = Handler(refund, _order_id, lambda uow, order_id, command: order)
    return execute(uow.idempotency, uow, handler, command, key=idempotency_key)


def _order_id(order: Order) -> str:
    return order.id


def _take_back(
    desk: OrderDesk, uow: OrdersUnitOfWork, order: Order, command: RefundCompleted
) -> Order:
    value, reason = command.amount, command.reason
    settlement = order.settlement
    paid_out = settlement.seller_net + settlement.platform_fees
    if value.units > paid_out:
        raise ValidationError(
            f"at most {Amount(units=paid_out, currency=order.currency)} was paid out",
            field="amount",
        )
    now = desk.clock.now()
    platform_share, seller_share = allocate(
        value, [settlement.platform_fees, settlement.seller_net]
    )
    from_pending = _shrink_clearance(uow, order, seller_share, now)
    ledger = LedgerTransaction(uow, desk.clock, desk.ids)
    flows = EscrowFlows(ledger)
    key = internal_key("clawback", order.id, str(order.version))
    entry = flows.claw_back(
        order.seller_id,
        value,
        destination=chart.order_escrow(order.id),
        from_pending=from_pending,
        platform_share=platform_share,
        references=[f"order:{order.id}", f"seller:{order.seller_id}"],
        idempotency_key=key,
    )
    debt = chart.seller_debt(order.seller_id, order.currency)
    owed = sum(-p.amount.units for p in entry.postings if p.account == debt)
    taken = attrs.evolve(
        order,
        version=order.version + 1,
        settlement=attrs.evolve(
            settlement,
            seller_net=settlement.seller_net - seller_share.units,
            platform_fees=settlement.platform_fees - platform_share.units,
        ),
    )
    ctx = ActionContext(
        order=order,
        actor=Actor.OPERATOR,
        now=now,
        policy=desk.policy,
        flows=flows,
        ids=desk.ids,
        refund_to_card=desk._card_refunds(uow, ledger),
    )
    ctx.emit(
        "money.clawed_back",
        amount=str(value),
        seller_share=str(seller_share),
        platform_share=str(platform_share),
        seller_debt=str(Amount(units=owed, currency=order.currency)),
        reason=reason,
    )
    refunded = refund_buyer(ctx, taken, value.units)
    uow.orders.save(refunded, expected_version=order.version)
    desk._append(uow, refunded, now, ctx.events)
    return refunded


def _shrink_clearance(uow: OrdersUnitOfWork, order: Order, wanted: Amount, now: datetime) -> Amount:
    """Take up to ``wanted`` from this order's earnings still clearing, newest
    first, shrinking (or retiring) their clearance timers to match."""
    left = wanted.units
    for timer in sorted(uow.orders.timers_for(order.id), key=lambda t: t.due_at, reverse=True):
        if left == 0:
            break
        if timer.action != "clear" or timer.done_at is not None:
            continue
        payload = dict(timer.payload)
        units = int(payload["units"])
        take = min(units, left)
        left -= take
        if take == units:
            uow.orders.save_timer(attrs.evolve(timer, done_at=now, outcome="clawed back"))
        else:
            payload["units"] = str(units - take)
            uow.orders.save_timer(attrs.evolve(timer, payload=tuple(sorted(payload.items()))))
    return Amount(units=wanted.units - left, currency=wanted.currency)


def tip_completed(
    desk: OrderDesk,
    uow: OrdersUnitOfWork,
    order_id: str,
    amount: Amount,
    *,
    buyer_id: str,
    payment_reference: str,
) -> Order:
    """Book a confirmed tip on a completed order: the whole tip enters the
    order's escrow and leaves it at once, the commission to the platform and
    the rest to the seller's pending earnings, with its own clearance timer."""
    value = Amount.of(amount).require_positive("a tip")
    order = desk._load(uow, order_id)
    refusal = {
        "order_id": order.id,
        "action": "tip",
        "state": order.state.value,
        "actor": "buyer",
    }
    if order.state is not OrderState.COMPLETED:
        raise TransitionNotAllowed(**refusal)
    if buyer_id != order.buyer_id:
        raise WrongActor(**refusal, reason=f"{brief(buyer_id)} is not this order's buyer")
    value.require_currency(order.currency)
    if not isinstance(payment_reference, str) or not payment_reference:
        raise ValidationError("a tip needs its payment reference", field="payment_reference")
    # The ledger legs replay by key, but the order's totals and the
    # clearance timer would be counted again: replay the whole tip.
    command = TipCompleted(
        order_id=order.id, amount=value, buyer_id=buyer_id, payment_reference=payment_reference
    )

    def tip(command: TipCompleted, uow: OrdersUnitOfWork) -> Order:
        return _book_tip(desk, uow, order, command)

    handler = Handler(tip, _order_id, lambda uow, order_id, command: order)
    key = internal_key("order-tip", payment_reference)
    return execute(uow.idempotency, uow, handler, command, key=key)


def _book_tip(desk: OrderDesk, uow: OrdersUnitOfWork, order: Order, command: TipCompleted) -> Order:
    value, payment_reference, now = command.amount, command.payment_reference, desk.clock.now()
    split = desk.policy.fees.policy_at(order.placed_at).commission_on(value)
    ledger = LedgerTransaction(uow, desk.clock, desk.ids)
    flows = EscrowFlows(ledger)
    flows.fund(
        order.id,
        value,
        gateway=desk.policy.gateway,
        idempotency_key=internal_key("payment", payment_reference),
    )
    flows.release(
        order.id,
        seller_id=order.seller_id,
        seller_net=split.net,
        platform_fees=split.fee,
        idempotency_key=internal_key("tip", payment_reference),
    )
    settlement = order.settlement
    changed = attrs.evolve(
        order,
        version=order.version + 1,
        charged=order.charged + value.units,
        tips=order.tips + value.units,
        settlement=attrs.evolve(
            settlement,
            seller_net=settlement.seller_net + split.net.units,
            platform_fees=settlement.platform_fees + split.fee.units,
        ),
    )
    uow.orders.save(changed, expected_version=order.version)
    clearance = (
        desk.policy.clearance_period_top_rated
        if desk.standing.is_top_rated(uow, order.seller_id, now)
        else desk.policy.clearance_period
    )
    uow.orders.add_timer(
        ScheduledAction(
            id=desk.ids(),
            order_id=order.id,
            action="clear",
            due_at=now + clearance,
            payload=(
                ("currency", order.currency),
                ("seller_id", order.seller_id),
                ("units", str(split.net.units)),
            ),
        )
    )
    desk._append(
        uow,
        changed,
        now,
        [
            (
                "order.tipped",
                {
                    "amount": str(value),
                    "seller_net": str(split.net),
                    "platform_fees": str(split.fee),
                },
            )
        ],
    )
    return changed
