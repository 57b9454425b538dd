"""The order lifecycle: a process declared as data, timers, reviews and settlement.

Orders drive the escrow ledger; the ledger never knows about orders.
"""

from __future__ import annotations

from gigmarket.orders.events import EVENT_TYPES, OrderEvent, Outbox
from gigmarket.orders.lifecycle import DEFAULT_PROCESS, ActionContext, DisputeResolution
from gigmarket.orders.model import (
    Actor,
    CancellationRequest,
    Offer,
    OfferedExtra,
    OfferedPackage,
    Order,
    OrderState,
    RequirementQuestion,
    Review,
    ScheduledAction,
    Settlement,
)
from gigmarket.orders.policy import (
    LifecyclePolicy,
    RefundDestination,
    fiverr_policy,
    upwork_policy,
)
from gigmarket.orders.ports import (
    OrderRepository,
    OrdersUnitOfWork,
    OrdersUnitOfWorkFactory,
    SellerStanding,
    StandingByPredicate,
)
from gigmarket.orders.process import Guard, LintProblem, Process, StateSpec, Timer, Transition
from gigmarket.orders.service import DueRun, OrderDesk

__all__ = [
    "DEFAULT_PROCESS",
    "EVENT_TYPES",
    "ActionContext",
    "Actor",
    "CancellationRequest",
    "DisputeResolution",
    "DueRun",
    "Guard",
    "LifecyclePolicy",
    "LintProblem",
    "Offer",
    "OfferedExtra",
    "OfferedPackage",
    "Order",
    "OrderDesk",
    "OrderEvent",
    "OrderRepository",
    "OrderState",
    "OrdersUnitOfWork",
    "OrdersUnitOfWorkFactory",
    "Outbox",
    "Process",
    "RefundDestination",
    "RequirementQuestion",
    "Review",
    "ScheduledAction",
    "SellerStanding",
    "Settlement",
    "StandingByPredicate",
    "StateSpec",
    "Timer",
    "Transition",
    "fiverr_policy",
    "upwork_policy",
]
