"""The hand-drawn diagrams of the docs say only what the code does.

The full lifecycle diagram is generated from the process (and checked in
``tests/unit/orders/test_process.py``); the smaller teaching diagrams are
drawn by hand, so each arrow is checked here against the code it pictures.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from gigmarket.cashier.model import FORWARD, OperationStatus
from gigmarket.escrow.flows import EscrowFlows
from gigmarket.orders import DEFAULT_PROCESS, OrderState

DOCS = Path(__file__).resolve().parents[2] / "docs"
FENCE = re.compile(r"^```mermaid\n(.*?)^```", re.MULTILINE | re.DOTALL)
GENERATED = re.compile(r"<!-- generated: .*?<!-- end generated -->", re.DOTALL)
STATE_EDGE = re.compile(r"^\s*(\S+) --> (\S+?)(?::\s*(.*))?$")
FLOW_EDGE = re.compile(r"-[-.]\s+(\w+)\s+[-.]+>")


def _diagrams(page: Path) -> list[str]:
    return FENCE.findall(GENERATED.sub("", page.read_text(encoding="utf-8")))


def _edges(diagram: str) -> list[tuple[str, str, str]]:
    edges = []
    for line in diagram.splitlines():
        if found := STATE_EDGE.match(line):
            edges.append((found.group(1), found.group(2), found.group(3) or ""))
    return edges


@pytest.mark.parametrize(
    "page", ["explanation/lifecycle.md", "bn/explanation/lifecycle.md"], ids=str
)
def test_lifecycle_arrows_are_transitions(page: str) -> None:
    diagrams = _diagrams(DOCS / page)
    assert len(diagrams) >= 3
    for diagram in diagrams:
        for source, target, label in _edges(diagram):
            if "[*]" in (source, target):
                continue
            for part in label.split(" / "):
                action = re.sub(r"\(.*?\)|⏱", "", part).split()[0]
                found = DEFAULT_PROCESS.candidates(OrderState(source), action)
                assert OrderState(target) in {t.target for t in found}, (source, action, target)


def test_payment_operation_arrows_are_the_forward_rule() -> None:
    (diagram,) = _diagrams(DOCS / "explanation" / "payments.md")
    drawn = {(s, t) for s, t, _ in _edges(diagram) if "[*]" not in (s, t)}
    allowed = {(s.value, t.value) for s, targets in FORWARD.items() for t in targets}
    assert drawn == allowed
    assert {t for s, t, _ in _edges(diagram) if s == "[*]"} == {
        OperationStatus.QUEUED.value,
        OperationStatus.STARTED.value,
    }


@pytest.mark.parametrize("page", ["explanation/ledger.md", "bn/explanation/ledger.md"], ids=str)
def test_money_flow_arrows_are_escrow_flows(page: str) -> None:
    flows = [d for d in _diagrams(DOCS / page) if d.startswith("flowchart")]
    assert flows
    for diagram in flows:
        for name in FLOW_EDGE.findall(diagram):
            assert callable(getattr(EscrowFlows, name, None)), name
