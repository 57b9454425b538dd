"""Payment gateways: the ports, normalized results, webhooks, the registry and the sandbox.

The core never talks to a payment provider directly. It talks to a
:class:`CollectionGateway` (take money from buyers) and a
:class:`DisbursementGateway` (pay sellers), and reads the normalized
:class:`Charge`, :class:`Refund`, :class:`Payee` and :class:`Payout` they
answer with. Adapters for real providers live in their own distributions and
are found by name through the ``gigmarket.payment_gateways`` entry points
(:func:`create`); :class:`SandboxGateway` is built in, for tests, demos and
docs. The errors are in :mod:`gigmarket.errors` (``PaymentError`` and its
sub-tree); the conformance kit for adapter authors is
:mod:`gigmarket.testing.gateways`.
"""

from __future__ import annotations

from gigmarket.gateways.faults import Fault, FaultKind, FaultPlan
from gigmarket.gateways.protocols import (
    Capabilities,
    Capability,
    CollectionGateway,
    DisbursementGateway,
    Operation,
)
from gigmarket.gateways.registry import (
    ENTRY_POINT_GROUP,
    available,
    create,
    create_collection,
    create_disbursement,
    register,
    unregister,
)
from gigmarket.gateways.results import (
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
from gigmarket.gateways.sandbox import SandboxGateway
from gigmarket.gateways.secret import Secret
from gigmarket.gateways.webhooks import EventType, WebhookDelivery, WebhookEvent

__all__ = [
    "ENTRY_POINT_GROUP",
    "Capabilities",
    "Capability",
    "Charge",
    "ChargeStatus",
    "CollectionGateway",
    "Decline",
    "DeclineCode",
    "DisbursementGateway",
    "EventType",
    "Fault",
    "FaultKind",
    "FaultPlan",
    "Operation",
    "Payee",
    "PayeeStatus",
    "Payout",
    "PayoutStatus",
    "Refund",
    "RefundStatus",
    "SandboxGateway",
    "Secret",
    "WebhookDelivery",
    "WebhookEvent",
    "available",
    "create",
    "create_collection",
    "create_disbursement",
    "register",
    "unregister",
]
