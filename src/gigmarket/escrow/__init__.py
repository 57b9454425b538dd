"""The escrow ledger: money held for others, moved only by balanced entries.

This package knows nothing of orders, gigs or payment gateways: it moves money
between ledger accounts and can be used alone. Orders drive it; the catalog
never touches it.
"""

from __future__ import annotations

from gigmarket.escrow import chart
from gigmarket.escrow.audit import AuditReport, Violation, audit_ledger
from gigmarket.escrow.fees import (
    FeeContext,
    FeePolicy,
    FeeRule,
    Fixed,
    Maximum,
    Minimum,
    NoFee,
    Percentage,
    PriceBreakdown,
    SmallOrderSurcharge,
    Tier,
    Tiered,
    Total,
)
from gigmarket.escrow.flows import EscrowFlows
from gigmarket.escrow.ledger import Ledger
from gigmarket.escrow.model import (
    AccountBalance,
    Balance,
    Hold,
    HoldStatus,
    JournalEntry,
    LedgerAccount,
    Posting,
)
from gigmarket.escrow.ports import LedgerRepository, LedgerUnitOfWork, UnitOfWorkFactory
from gigmarket.escrow.presets import fiverr, upwork, upwork_legacy
from gigmarket.escrow.schedule import FeeSchedule, PolicyVersion
from gigmarket.escrow.taccounts import (
    TAccount,
    render_t_accounts,
    render_trial_balance,
    t_accounts,
)
from gigmarket.escrow.transaction import MAX_BALANCE, LedgerTransaction

__all__ = [
    "MAX_BALANCE",
    "AccountBalance",
    "AuditReport",
    "Balance",
    "EscrowFlows",
    "FeeContext",
    "FeePolicy",
    "FeeRule",
    "FeeSchedule",
    "Fixed",
    "Hold",
    "HoldStatus",
    "JournalEntry",
    "Ledger",
    "LedgerAccount",
    "LedgerRepository",
    "LedgerTransaction",
    "LedgerUnitOfWork",
    "Maximum",
    "Minimum",
    "NoFee",
    "Percentage",
    "PolicyVersion",
    "Posting",
    "PriceBreakdown",
    "SmallOrderSurcharge",
    "TAccount",
    "Tier",
    "Tiered",
    "Total",
    "UnitOfWorkFactory",
    "Violation",
    "audit_ledger",
    "chart",
    "fiverr",
    "render_t_accounts",
    "render_trial_balance",
    "t_accounts",
    "upwork",
    "upwork_legacy",
]
