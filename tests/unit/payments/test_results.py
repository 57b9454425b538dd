"""The normalized results check their own arithmetic."""

from __future__ import annotations

from typing import Any

import attrs
import pytest

from gigmarket.errors import ValidationError
from gigmarket.gateways import (
    Charge,
    ChargeStatus,
    Decline,
    DeclineCode,
    Payee,
    PayeeStatus,
    Payout,
    PayoutStatus,
    Refund,
    RefundStatus,
)
from gigmarket.gateways.results import BANK_DECLINE_CODES, CARD_DECLINE_CODES
from gigmarket.money import Amount
from tests.unit.payments.helpers import T0, usd


def refund(units: int, status: RefundStatus = RefundStatus.SUCCEEDED, key: str = "r") -> Refund:
    return Refund(
        id=f"re_{key}",
        charge_id="ch_1",
        amount=Amount(units=units, currency="USD"),
        status=status,
        idempotency_key=key,
        created_at=T0,
    )


def charge(**changes: Any) -> Charge:
    base = Charge(
        id="ch_1",
        gateway="g",
        status=ChargeStatus.CAPTURED,
        amount=usd("10.00"),
        captured=usd("10.00"),
        manual_capture=False,
        idempotency_key="k",
        created_at=T0,
    )
    return attrs.evolve(base, **changes)


def test_refunded_and_refundable() -> None:
    done = charge(
        refunds=[
            refund(300, key="a"),
            refund(200, RefundStatus.PENDING, key="b"),
            refund(900, RefundStatus.FAILED, key="c"),
        ]
    )
    assert done.refunded == usd("3.00")  # only what succeeded
    assert done.refundable == usd("5.00")  # pending refunds are spoken for
    assert done.capturable == usd("0")
    assert done.refund_for("b") is not None
    assert done.refund_for("z") is None
    assert isinstance(done.refunds, tuple)


def test_an_authorized_charge_can_capture_its_amount() -> None:
    held = charge(status=ChargeStatus.AUTHORIZED, captured=usd("0"), manual_capture=True)
    assert held.capturable == usd("10.00")
    assert held.refundable == usd("0")


@pytest.mark.parametrize(
    "changes",
    [
        {"amount": usd("0")},
        {"captured": usd("10.01")},
        {"captured": Amount.of("1", "EUR")},
        {"captured": Amount(units=-1, currency="USD")},
        {"status": ChargeStatus.AUTHORIZED},  # money captured but not captured
        {"refunds": [refund(600, key="a"), refund(600, key="b")]},
        {"status": ChargeStatus.FAILED, "captured": usd("0")},  # failed without a decline
        {"decline": Decline(code=DeclineCode.FRAUDULENT, raw_code="59")},  # decline, not failed
    ],
)
def test_inconsistent_charges_are_refused(changes: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        charge(**changes)


def test_decline_codes_convert_from_strings() -> None:
    decline = Decline(code="insufficient_funds", raw_code="51")
    assert decline.code is DeclineCode.INSUFFICIENT_FUNDS
    assert frozenset(DeclineCode) == CARD_DECLINE_CODES | BANK_DECLINE_CODES
    assert not CARD_DECLINE_CODES & BANK_DECLINE_CODES


def test_refunds_payees_and_payouts_check_themselves() -> None:
    with pytest.raises(ValidationError):
        refund(0)
    with pytest.raises(ValidationError):
        Payee(
            id="pe",
            gateway="g",
            reference="s",
            currency="USD",
            status=PayeeStatus.REJECTED,
            idempotency_key="k",
            created_at=T0,
        )
    payout: dict[str, Any] = {
        "id": "po",
        "gateway": "g",
        "payee_id": "pe",
        "idempotency_key": "k",
        "created_at": T0,
    }
    with pytest.raises(ValidationError):
        Payout(amount=usd("0"), status=PayoutStatus.PENDING, **payout)
    with pytest.raises(ValidationError):
        Payout(amount=usd("1"), status=PayoutStatus.FAILED, **payout)
    assert Payout(amount=usd("1"), status="paid", **payout).status is PayoutStatus.PAID
