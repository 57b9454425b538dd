"""The ``gigmarket`` command line.

Every failure is one clear line on standard error and a non-zero exit
status: a traceback is for the library's authors, not for its operators.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from gigmarket.demo import run_demo
from gigmarket.errors import GigmarketError

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="gigmarket",
        description="The money-touching core of a freelance services marketplace.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    demo = commands.add_parser(
        "demo",
        help="tell the story of one order, with the balances after every step",
        description="Tell the story of one order, from the buyer's card to the seller's bank.",
    )
    demo.add_argument(
        "--currency",
        default="USD",
        help="USD (default), EUR, GBP, or BDT for the story in Taka with Bengali formatting",
    )
    demo.add_argument(
        "--db",
        metavar="PATH",
        help="keep the SQLite database at PATH (a new file) to inspect it afterwards",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the process exit status."""
    args = _parser().parse_args(argv)
    try:
        if args.command == "demo":
            run_demo(sys.stdout, currency=args.currency, db=args.db)
    except GigmarketError as error:
        print(f"gigmarket: error: {error}", file=sys.stderr)
        return 1
    return 0
