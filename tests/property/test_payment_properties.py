"""Hypothesis against the sandbox: money in a charge always adds up.

A state machine charges, captures (in part or whole), cancels and refunds (in
parts, replayed, with lost responses reconciled) in any order, and compares
the sandbox with a plain dict model after every step:

- captured never exceeds what was authorized, refunds never exceed what was
  captured, and refunded + refundable = captured, exactly, in minor units;
- every call the model says must succeed does, every other is refused with an
  ``InvalidPaymentRequest`` and changes nothing;
- a replayed key or a reconciled lost response never moves money twice;
- every webhook sent so far verifies, and no event id repeats.
"""

from __future__ import annotations

import itertools
from datetime import UTC, datetime
from typing import Any

from hypothesis import given
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    consumes,
    invariant,
    precondition,
    rule,
)

from gigmarket.clock import ManualClock
from gigmarket.errors import InvalidPaymentRequest, OutcomeUnknown
from gigmarket.gateways import ChargeStatus, Fault, Operation, SandboxGateway
from gigmarket.money import Amount

T0 = datetime(2026, 6, 1, tzinfo=UTC)
UNITS = st.integers(min_value=1, max_value=20_000)
SOME_UNITS = st.none() | UNITS


def _sandbox() -> SandboxGateway:
    return SandboxGateway(
        api_key="sk_sandbox_property", webhook_secret="whsec_property", clock=ManualClock(T0)
    )


class ChargeMachine(RuleBasedStateMachine):
    charges = Bundle("charges")

    def __init__(self) -> None:
        super().__init__()
        self.gateway = _sandbox()
        self.keys = (f"key-{n}" for n in itertools.count())
        self.model: dict[str, dict[str, Any]] = {}
        self.event_ids: set[str] = set()

    def _usd(self, units: int) -> Amount:
        return Amount(units=units, currency="USD")

    @rule(target=charges, units=UNITS, manual=st.booleans())
    def charge(self, units: int, manual: bool) -> str:
        charge = self.gateway.charge(
            amount=self._usd(units),
            source="tok_visa",
            idempotency_key=next(self.keys),
            capture=not manual,
        )
        self.model[charge.id] = {
            "amount": units,
            "status": ChargeStatus.AUTHORIZED if manual else ChargeStatus.CAPTURED,
            "captured": 0 if manual else units,
            "refunds": [],
        }
        return charge.id

    @rule(charge_id=charges, units=SOME_UNITS)
    def capture(self, charge_id: str, units: int | None) -> None:
        state = self.model[charge_id]
        take = state["amount"] if units is None else units
        allowed = state["status"] is ChargeStatus.AUTHORIZED and take <= state["amount"]
        amount = None if units is None else self._usd(units)
        try:
            self.gateway.capture(charge_id, idempotency_key=next(self.keys), amount=amount)
        except InvalidPaymentRequest:
            assert not allowed
        else:
            assert allowed
            state.update(status=ChargeStatus.CAPTURED, captured=take)

    @rule(charge_id=charges)
    def cancel(self, charge_id: str) -> None:
        state = self.model[charge_id]
        allowed = state["status"] is ChargeStatus.AUTHORIZED
        try:
            self.gateway.cancel(charge_id, idempotency_key=next(self.keys))
        except InvalidPaymentRequest:
            assert not allowed
        else:
            assert allowed
            state["status"] = ChargeStatus.CANCELLED

    def _left(self, state: dict[str, Any]) -> int:
        left: int = state["captured"] - sum(state["refunds"])
        return left

    @rule(charge_id=charges, units=SOME_UNITS, lose_response=st.booleans(), replay=st.booleans())
    def refund(self, charge_id: str, units: int | None, lose_response: bool, replay: bool) -> None:
        state = self.model[charge_id]
        left = self._left(state)
        give = left if units is None else units
        allowed = state["status"] is ChargeStatus.CAPTURED and 0 < give <= left
        key, amount = next(self.keys), None if units is None else self._usd(units)
        if lose_response:
            self.gateway.faults.on(Operation.REFUND, Fault.lose_response())
        try:
            refund = self.gateway.refund(charge_id, idempotency_key=key, amount=amount)
        except InvalidPaymentRequest:
            assert not allowed
            return
        except OutcomeUnknown:
            assert lose_response
            found = self.gateway.get_charge(charge_id).refund_for(key)  # reconcile
            assert (found is not None) is allowed
            if found is None:
                return
            refund = found
        assert allowed
        assert refund.amount.units == give
        state["refunds"].append(give)
        if replay:  # the same key again moves nothing
            again = self.gateway.refund(charge_id, idempotency_key=key, amount=amount)
            assert again.id == refund.id

    @precondition(lambda self: bool(self.model))
    @rule(charge_id=consumes(charges))
    def forget(self, charge_id: str) -> None:
        """Stop touching a charge (keeps the bundle small); the invariants still check it."""

    @invariant()
    def the_books_add_up(self) -> None:
        for charge_id, state in self.model.items():
            charge = self.gateway.get_charge(charge_id)
            assert charge.status is state["status"]
            assert charge.captured.units == state["captured"] <= charge.amount.units
            assert charge.refunded.units == sum(state["refunds"]) <= charge.captured.units
            assert charge.refunded + charge.refundable == charge.captured
            assert [r.amount.units for r in charge.refunds] == state["refunds"]

    @invariant()
    def every_webhook_verifies_once(self) -> None:
        for delivery in self.gateway.deliver_webhooks():
            event = self.gateway.parse_webhook(delivery.payload, delivery.headers)
            assert event.id not in self.event_ids
            self.event_ids.add(event.id)


TestChargeMachine = ChargeMachine.TestCase


@given(
    captured=st.integers(min_value=1, max_value=10**9),
    parts=st.lists(st.integers(min_value=1, max_value=10**9), max_size=12),
)
def test_partial_refunds_never_exceed_the_capture_and_sum_exactly(
    captured: int, parts: list[int]
) -> None:
    gateway = _sandbox()
    charge = gateway.charge(
        amount=Amount(units=captured, currency="JPY"), source="tok_visa", idempotency_key="c"
    )
    accepted: list[int] = []
    for n, part in enumerate(parts):
        try:
            refund = gateway.refund(
                charge.id, idempotency_key=f"r{n}", amount=Amount(units=part, currency="JPY")
            )
        except InvalidPaymentRequest:
            assert part > captured - sum(accepted)
        else:
            accepted.append(refund.amount.units)
    after = gateway.get_charge(charge.id)
    assert after.refunded.units == sum(accepted) <= captured
    assert after.refundable.units == captured - sum(accepted)
