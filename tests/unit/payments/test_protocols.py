"""Capabilities and operations."""

from __future__ import annotations

import pytest

from gigmarket.errors import UnknownCurrency, UnsupportedOperation
from gigmarket.gateways import (
    Capabilities,
    Capability,
    CollectionGateway,
    DisbursementGateway,
    Operation,
    SandboxGateway,
)


def test_capabilities_default_to_nothing_optional() -> None:
    caps = Capabilities(currencies={"usd", "BDT"})
    assert caps.currencies == frozenset({"USD", "BDT"})
    assert not any(caps.supports(capability) for capability in Capability)
    assert caps.supports_currency("BDT")
    assert not caps.supports_currency("EUR")


def test_currencies_must_be_known() -> None:
    with pytest.raises(UnknownCurrency):
        Capabilities(currencies={"XYZ"})


def test_require_names_the_missing_capability() -> None:
    caps = Capabilities(currencies={"USD"}, manual_capture=True)
    caps.require(Capability.MANUAL_CAPTURE, gateway="g", operation="charge")
    with pytest.raises(UnsupportedOperation) as info:
        caps.require(Capability.PARTIAL_REFUND, gateway="g", operation="refund")
    assert info.value.capability == "partial_refund"
    assert "partial_refund" in str(info.value)
    with pytest.raises(UnsupportedOperation) as info:
        caps.require_currency("EUR", gateway="g", operation="charge")
    assert info.value.capability == "currencies"
    assert "EUR" in str(info.value)


def test_mutating_operations_are_the_ones_with_keys() -> None:
    mutating = {op for op in Operation if op.mutating}
    assert mutating == {
        Operation.CHARGE,
        Operation.CAPTURE,
        Operation.CANCEL,
        Operation.REFUND,
        Operation.ONBOARD_PAYEE,
        Operation.PAYOUT,
        Operation.CANCEL_PAYOUT,
    }


def test_the_sandbox_implements_both_protocols(sandbox: SandboxGateway) -> None:
    assert isinstance(sandbox, CollectionGateway)
    assert isinstance(sandbox, DisbursementGateway)
    assert not isinstance(object(), CollectionGateway)
