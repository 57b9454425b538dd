"""The fault plan: queued per operation, used in order."""

from __future__ import annotations

from datetime import timedelta

import pytest

from gigmarket.errors import ValidationError
from gigmarket.gateways import Fault, FaultKind, FaultPlan, Operation


def test_faults_are_taken_in_order_per_operation() -> None:
    plan = FaultPlan().on(Operation.CHARGE, Fault.unavailable(), Fault.lose_response())
    plan.on(Operation.REFUND, Fault.rate_limit(timedelta(seconds=3)))
    assert plan.pending() == 3
    assert plan.take(Operation.CAPTURE) is None
    assert plan.take(Operation.CHARGE) == Fault.unavailable()
    refund = plan.take(Operation.REFUND)
    assert refund is not None
    assert refund.retry_after == timedelta(seconds=3)
    assert plan.take(Operation.CHARGE) == Fault.lose_response()
    assert plan.take(Operation.CHARGE) is None
    assert plan.pending() == 0
    assert repr(plan) == "FaultPlan(pending=0)"


def test_webhook_faults_have_their_own_queue() -> None:
    plan = FaultPlan().on_webhook(Fault.duplicate(), Fault.delay(timedelta(minutes=5)))
    assert plan.take(Operation.CHARGE) is None
    assert plan.take_webhook() == Fault.duplicate()
    late = plan.take_webhook()
    assert late is not None
    assert (late.kind, late.duration) == (FaultKind.DELAY, timedelta(minutes=5))
    assert plan.take_webhook() is None


@pytest.mark.parametrize("fault", [Fault.duplicate(), Fault.tamper(), Fault.out_of_order()])
def test_a_webhook_fault_cannot_strike_a_call(fault: Fault) -> None:
    with pytest.raises(ValidationError):
        FaultPlan().on(Operation.CHARGE, fault)


@pytest.mark.parametrize("fault", [Fault.unavailable(), Fault.rate_limit(), Fault.lose_response()])
def test_a_call_fault_cannot_strike_a_webhook(fault: Fault) -> None:
    with pytest.raises(ValidationError):
        FaultPlan().on_webhook(fault)


@pytest.mark.parametrize("delay", [timedelta(0), timedelta(seconds=-1)])
def test_a_delay_must_be_positive(delay: timedelta) -> None:
    with pytest.raises(ValidationError):
        Fault.delay(delay)
