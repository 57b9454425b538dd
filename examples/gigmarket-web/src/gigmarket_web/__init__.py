"""gigmarket web: a reference marketplace on the gigmarket library.

FastAPI with server-rendered pages: a seller signs up, sets up a profile and
posts a gig; a buyer searches, orders and pays (with a 3-D Secure step); the
seller delivers; the buyer asks for a revision, accepts and reviews; the seller
withdraws; an escrow page draws the ledger as T-accounts. Run it with
``gigmarket-web --demo`` (see the README).
"""

from __future__ import annotations

from gigmarket_web.app import create_app
from gigmarket_web.jobs import EventLog, Jobs, Ticker, TickReport
from gigmarket_web.ledger_view import TAccount, TLine, build_t_accounts, read_t_accounts

__all__ = [
    "EventLog",
    "Jobs",
    "TAccount",
    "TLine",
    "TickReport",
    "Ticker",
    "build_t_accounts",
    "create_app",
    "read_t_accounts",
]
