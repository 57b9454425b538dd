"""The chart of accounts: what each ledger account stands for, and its name.

A positive balance is what the platform owes someone (a buyer, a seller,
itself); the world side is negative because it is the platform's cash. A
seller's debt is therefore *negative*: the one party account allowed below
zero, and never above it (``audit`` checks both), so that what a seller owes
reads as the minus it is and later earnings pay it back towards zero.

Names are plain strings so that a journal reads like a book-keeper's:
``escrow:order:42`` holds what the buyer of order 42 paid until it is
settled. Accounts of parties that can hold several currencies carry the
currency in their name (``seller:7:available:BDT``), because a ledger account
holds exactly one currency.

=============================  ============================================  ==============
account                        holds                                         may go negative
=============================  ============================================  ==============
``gateway:<name>:<CUR>``       money outside the platform (the world side)   yes
``escrow:order:<id>``          what a buyer paid for one order, until settled no
``buyer:<id>:credit:<CUR>``    refunds kept as balance, spendable again      no
``seller:<id>:pending:<CUR>``  released earnings waiting out clearance       no
``seller:<id>:available:<CUR>`` withdrawable earnings                         no
``seller:<id>:debt:<CUR>``     what a seller owes: claw-backs not taken      only (≤ 0)
``payouts:in_flight:<CUR>``    withdrawals sent to the gateway, unconfirmed  no
``refunds:in_flight:<CUR>``    refunds owed to cards, not yet confirmed      no
``platform:revenue:<CUR>``     commission and service fees                   no
=============================  ============================================  ==============
"""

from __future__ import annotations

import re

from gigmarket.errors import ValidationError, brief
from gigmarket.money import currency_code

__all__ = [
    "buyer_credit",
    "check_party",
    "gateway",
    "order_escrow",
    "payouts_in_flight",
    "platform_revenue",
    "refunds_in_flight",
    "seller_available",
    "seller_debt",
    "seller_pending",
]


_PARTY = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.@+\-]{0,99}")


def check_party(party_id: object, field: str = "id") -> str:
    """Return ``party_id`` if it can name a party's accounts, else raise.

    Ids become part of account codes (``seller:<id>:pending:USD``), so they
    use the account-code alphabet without ``:`` (which separates the parts):
    letters, digits and ``_.@+-``, at most 100 characters.
    """
    if not isinstance(party_id, str) or not _PARTY.fullmatch(party_id):
        raise ValidationError(
            f"{brief(party_id)} cannot name an account: "
            "use letters, digits and _.@+- (at most 100)",
            field=field,
        )
    return party_id


def gateway(name: str, currency: object) -> str:
    """The world side of payment gateway ``name``: the only negative balances."""
    return f"gateway:{check_party(name, 'gateway')}:{currency_code(currency)}"


def order_escrow(order_id: str) -> str:
    """What the buyer of ``order_id`` paid, held until the order settles."""
    return f"escrow:order:{check_party(order_id, 'order_id')}"


def buyer_credit(buyer_id: str, currency: object) -> str:
    """Refunds a buyer chose to keep as marketplace balance."""
    return f"buyer:{check_party(buyer_id, 'buyer_id')}:credit:{currency_code(currency)}"


def seller_pending(seller_id: str, currency: object) -> str:
    """Released earnings waiting out the clearance period."""
    return f"seller:{check_party(seller_id, 'seller_id')}:pending:{currency_code(currency)}"


def seller_available(seller_id: str, currency: object) -> str:
    """Cleared earnings the seller may withdraw."""
    return f"seller:{check_party(seller_id, 'seller_id')}:available:{currency_code(currency)}"


def seller_debt(seller_id: str, currency: object) -> str:
    """What a seller owes after a refund the platform could not claw back
    (zero or negative: see the module's note)."""
    return f"seller:{check_party(seller_id, 'seller_id')}:debt:{currency_code(currency)}"


def payouts_in_flight(currency: object) -> str:
    """Withdrawals handed to a gateway and not yet confirmed by it."""
    return f"payouts:in_flight:{currency_code(currency)}"


def platform_revenue(currency: object) -> str:
    """The marketplace's own income: commissions and service fees."""
    return f"platform:revenue:{currency_code(currency)}"


def refunds_in_flight(currency: object) -> str:
    """Refunds owed back to buyers' cards, handed to (or waiting for) a gateway."""
    return f"refunds:in_flight:{currency_code(currency)}"
