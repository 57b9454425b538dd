"""The ``gigmarket`` command line (also ``python -m gigmarket``).

Every failure is one clear line on standard error and a non-zero exit
status: a traceback is for the library's authors, not for its operators.
The commands are thin: the work is done by :mod:`gigmarket.admin.operations` and
:mod:`gigmarket.admin.audit`, which a host can call directly.

Exit status: 0 done; 1 ``audit`` found violations, ``run-due`` retired timers
whose action failed, or ``reconcile`` skipped operations the gateway could not
answer for; 2 bad input or any other error; 130 interrupted; 141 the reader of
the output went away.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any, NoReturn

from gigmarket.admin.audit import PROGRESS_EVERY, audit_store
from gigmarket.admin.demo import run_demo
from gigmarket.admin.operations import (
    GATEWAY_VARIABLE_PREFIX,
    POLICIES,
    ReconcileSummary,
    StoreLocation,
    gateway_settings,
    migrate_store,
    open_gateway,
    open_store,
    parse_duration,
    parse_instant,
    parse_location,
    reconcile_store,
    resolve_operation,
    run_due,
)
from gigmarket.errors import GigmarketError, ValidationError
from gigmarket.orders import DEFAULT_PROCESS, RefundDestination
from gigmarket.storage.urls import scrub, url_secrets

__all__ = [
    "EXIT_ERROR",
    "EXIT_OK",
    "EXIT_SKIPPED",
    "EXIT_TIMERS_FAILED",
    "EXIT_VIOLATIONS",
    "main",
]

EXIT_OK = 0
EXIT_VIOLATIONS = 1
EXIT_SKIPPED = 1
"""``reconcile``: the gateway could not answer for some operations; run it again later."""
EXIT_TIMERS_FAILED = 1
"""``run-due``: some timers' actions failed (each is listed; they are armed again for later)."""
EXIT_ERROR = 2
EXIT_INTERRUPTED = 130
EXIT_BROKEN_PIPE = 141

DB_VARIABLE = "GIGMARKET_DB"
RUN_DUE_BATCH = 100
"""Timers between two progress lines of ``run-due``."""
AUDIT_PROGRESS_EVERY = PROGRESS_EVERY
DEFAULT_GATEWAY = "sandbox"

_STORE_HELP = """\
The store is named by --db or, without it, by the GIGMARKET_DB variable:
  sqlite:///relative/path.db, sqlite:////absolute/path.db or a plain file path;
  postgresql://user@host:5432/dbname[?schema=NAME] (or --schema NAME).
"""

_RECONCILE_HELP = f"""
The gateway is configured from {GATEWAY_VARIABLE_PREFIX}<SETTING> environment variables, never
from the command line: {GATEWAY_VARIABLE_PREFIX}API_KEY=... is its api_key,
{GATEWAY_VARIABLE_PREFIX}WEBHOOK_SECRET=... its webhook_secret, and so on. Its name must be
the one the store's payments were made with.

The built-in sandbox keeps its state in its own process: run from another
process, reconcile against it finds none of the store's payments (and would
take a lost answer for a call never made). It is for real adapters (and tests).

Exit status: 0 done (even if some operations are still waiting at the gateway),
1 some operations were skipped because the gateway could not answer (each is
listed; run again later), 2 bad input or any other error.
"""


class _Parser(argparse.ArgumentParser):
    """argparse, with its usage errors as one line like every other error."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_ERROR, f"gigmarket: error: {message} (see '{self.prog} --help')\n")


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="gigmarket",
        description="The money-touching core of a freelance services marketplace.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="exit status: 0 done, 1 audit found violations, run-due had failed timers or\n"
        "reconcile skipped operations, 2 bad input or any error, 130 interrupted.\n"
        "Run 'gigmarket COMMAND --help' for a command's options.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    store = _Parser(add_help=False)
    store.add_argument("--db", metavar="URL", help=f"the store (default: ${DB_VARIABLE})")
    store.add_argument("--schema", metavar="NAME", help="PostgreSQL schema (default: public)")
    reporting = _Parser(add_help=False)
    reporting.add_argument(
        "--no-progress", action="store_true", help="no progress lines on standard error"
    )
    reporting.add_argument(
        "-q",
        "--quiet",
        action="store_true",
        help="print only problems (nothing when all is well); implies --no-progress",
    )

    def command(name: str, summary: str, description: str, *parents: Any, epilog: str = "") -> Any:
        return commands.add_parser(
            name,
            help=summary,
            description=description,
            parents=list(parents),
            formatter_class=argparse.RawDescriptionHelpFormatter,
            epilog=(_STORE_HELP if store in parents else "") + epilog or None,
        )

    audit = command(
        "audit",
        "check every ledger and order invariant of a store",
        "Check every invariant of the ledger, the orders and the payments of a SQLite or\n"
        "PostgreSQL store, in one read-only snapshot: one line per violation, then a summary.\n"
        "With --gateway, also compare what the gateway made with the payment operations.\n"
        "Exit status: 0 clean, 1 violations found, 2 the audit could not run.",
        store,
        reporting,
    )
    audit.add_argument("--json", action="store_true", help="print the report as JSON")
    audit.add_argument(
        "--gateway",
        metavar="NAME",
        help="also list what this payment adapter made (it must declare list_activity; "
        "settings in GIGMARKET_GATEWAY_* variables) and compare it with the books",
    )
    audit.add_argument(
        "--since",
        metavar="TIME",
        help="with --gateway: compare only what was made since this ISO 8601 time",
    )
    audit.add_argument(
        "--open-limit",
        metavar="DURATION",
        help="report payment operations open for longer than this (30m, 24h, 7d)",
    )
    audit.set_defaults(run=_audit)

    diagram = command(
        "diagram",
        "print the order lifecycle as a diagram",
        "Print the order process the code runs, as Mermaid or Graphviz DOT.",
    )
    diagram.add_argument("--format", choices=("mermaid", "dot"), default="mermaid")
    diagram.set_defaults(run=_diagram)

    due = command(
        "run-due",
        "run the order timers that are due (for cron)",
        "Run every order timer due by now (or --until): auto-completions, expiries,\n"
        "clearances... Each timer runs once, however often this command runs.\n"
        "Exit status: 0 done, 1 some timers failed (each is listed), 2 error.",
        store,
        reporting,
    )
    due.add_argument("--until", metavar="TIME", help="ISO 8601 time with a zone, not in the future")
    due.add_argument(
        "--policy",
        choices=sorted(POLICIES),
        default="fiverr",
        help="the marketplace's policy preset (default: fiverr); use the host's",
    )
    due.add_argument(
        "--refund-to",
        choices=("credit", "card"),
        default="credit",
        help="where the refunds of cancelled orders go (default: credit); use the host's. "
        "Card refunds are sent through --gateway",
    )
    due.add_argument(
        "--gateway",
        metavar="NAME",
        help="the payment gateway adapter, by its registered name, with its settings in "
        "GIGMARKET_GATEWAY_* variables; needed with --refund-to card",
    )
    due.add_argument("-v", "--verbose", action="store_true", help="one line per timer run")
    due.set_defaults(run=_run_due)

    reconcile = command(
        "reconcile",
        "settle payment operations left open (for cron)",
        "Settle the payment operations left open: answers lost, calls interrupted (started\n"
        "more than 5 minutes ago), charges and payouts pending at the gateway, card refunds\n"
        "queued. Each is looked up at the gateway by its idempotency key and booked once,\n"
        "however often this command runs.",
        store,
        reporting,
        epilog=_RECONCILE_HELP,
    )
    reconcile.add_argument(
        "--gateway",
        metavar="NAME",
        default=DEFAULT_GATEWAY,
        help=f"the payment gateway adapter, by its registered name (default: {DEFAULT_GATEWAY})",
    )
    reconcile.add_argument(
        "--policy",
        choices=sorted(POLICIES),
        default="fiverr",
        help="the marketplace's policy preset (default: fiverr); use the host's",
    )
    reconcile.add_argument(
        "-v", "--verbose", action="store_true", help="one line per operation settled"
    )
    reconcile.set_defaults(run=_reconcile)

    _payments_command(command, store)

    migrate = command(
        "migrate",
        "create a store, or migrate it to this version's schema",
        "Migrate the store's schema forward, creating the store if it does not exist.\n"
        "Safe to run repeatedly, and from two processes at once.",
        store,
    )
    migrate.set_defaults(run=_migrate)

    demo = command(
        "demo",
        "tell the story of one order, with the balances after every step",
        "Tell the story of one order, from the buyer's card to the seller's bank.",
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
    demo.set_defaults(run=_demo)
    return parser


# -- the commands -----------------------------------------------------------------


def _location(args: argparse.Namespace) -> StoreLocation:
    url = args.db if args.db is not None else os.environ.get(DB_VARIABLE)
    if url is None:
        raise ValidationError(f"no store given: pass --db URL or set {DB_VARIABLE}", field="--db")
    return parse_location(url, schema=args.schema)


def _progress(args: argparse.Namespace, text: Callable[[int], str]) -> Callable[[int], None] | None:
    if args.no_progress or args.quiet:
        return None
    return lambda count: print(f"gigmarket: {text(count)}", file=sys.stderr, flush=True)


def _audit(args: argparse.Namespace) -> int:
    location = _location(args)
    since = parse_instant(args.since, field="--since") if args.since is not None else None
    if since is not None and args.gateway is None:
        raise ValidationError("--since goes with --gateway", field="--since")
    open_limit = parse_duration(args.open_limit) if args.open_limit is not None else None
    gateway = None
    if args.gateway is not None:
        gateway, _ = open_gateway(args.gateway, gateway_settings(os.environ))
    storage = open_store(location)
    try:
        report = audit_store(
            storage,
            progress=_progress(args, lambda n: f"audit: {n:,} journal entries read"),
            progress_every=AUDIT_PROGRESS_EVERY,
            gateway=gateway,  # type: ignore[arg-type]  # refused inside if it cannot list
            since=since,
            open_limit=open_limit,
        )
    finally:
        storage.close()
    if args.json:
        print(json.dumps({"store": location.display, **report.as_dict()}, indent=2))
    else:
        for finding in report.findings:
            print(finding.line)
        if not (args.quiet and report.ok):
            print(f"audit of {location.display}: {report.summary()}")
    return EXIT_OK if report.ok else EXIT_VIOLATIONS


def _diagram(args: argparse.Namespace) -> int:
    render = DEFAULT_PROCESS.mermaid if args.format == "mermaid" else DEFAULT_PROCESS.dot
    sys.stdout.write(render())
    return EXIT_OK


def _run_due(args: argparse.Namespace) -> int:
    location = _location(args)
    until = parse_instant(args.until) if args.until is not None else None
    to_card = args.refund_to == "card"
    if to_card and args.gateway is None:
        raise ValidationError(
            "card refunds are sent through the gateway: name it with --gateway",
            field="--refund-to",
        )
    refund_to = RefundDestination.GATEWAY if to_card else RefundDestination.CREDIT
    gateway, payouts = (None, None)
    if args.gateway is not None:
        gateway, payouts = open_gateway(args.gateway, gateway_settings(os.environ))
        policy = POLICIES[args.policy](gateway=gateway.name, refund_to=refund_to)
    else:
        policy = POLICIES[args.policy](refund_to=refund_to)
    storage = open_store(location)
    try:
        summary = run_due(
            storage,
            policy=policy,
            gateway=gateway,
            payouts=payouts,
            until=until,
            batch=RUN_DUE_BATCH,
            progress=_progress(args, lambda n: f"run-due: {n:,} timers run so far"),
        )
    finally:
        storage.close()
    failures = set(summary.failures())
    for timer_id, order_id, outcome in summary.executed:
        if args.verbose or (timer_id, order_id, outcome) in failures:
            print(f"timer {timer_id} of order {order_id}: {outcome}")
    when = summary.until.isoformat(timespec="seconds")
    if args.quiet and not failures:
        pass
    elif not summary.count:
        print(f"0 timers due by {when}")
    else:
        outcomes = ", ".join(f"{name} {n}" for name, n in sorted(summary.outcomes().items()))
        timers = "timer" if summary.count == 1 else "timers"
        print(f"ran {summary.count} {timers} due by {when}: {outcomes}")
    if summary.refunds and not args.quiet:
        sent = Counter(op.status.value for op in summary.refunds)
        states = ", ".join(f"{status} {n}" for status, n in sorted(sent.items()))
        print(f"card refunds sent: {len(summary.refunds)} ({states})")
    if failures:
        # A failed timer is money or an order that did not move: cron and
        # systemd must see it in the status, not only a human reading the mail.
        failed = "timer" if len(failures) == 1 else "timers"
        print(
            f"{len(failures)} {failed} failed: each is armed again for later "
            "(see the timer.failed events)"
        )
        return EXIT_TIMERS_FAILED
    return EXIT_OK


def _reconcile(args: argparse.Namespace) -> int:
    location = _location(args)
    gateway, payouts = open_gateway(args.gateway, gateway_settings(os.environ))
    policy = POLICIES[args.policy](gateway=gateway.name)
    storage = open_store(location)
    try:
        summary = reconcile_store(
            storage,
            gateway=gateway,
            payouts=payouts,
            policy=policy,
            progress=_progress(args, lambda n: f"reconcile: {n:,} operations checked so far"),
        )
    finally:
        storage.close()
    if args.verbose:
        for fix in summary.fixed:
            note = f": {fix.note}" if fix.note else ""
            print(f"operation {fix.operation_id} ({fix.kind}): {fix.before} → {fix.after}{note}")
    for op_id, code in summary.skipped:
        print(f"operation {op_id}: skipped, the gateway could not answer: {code}")
    for stuck in summary.attention:
        print(f"needs a person: {stuck.line}")
    if not (args.quiet and not summary.skipped):
        print(_reconcile_line(summary))
    return EXIT_SKIPPED if summary.skipped else EXIT_OK


def _reconcile_line(summary: ReconcileSummary) -> str:
    changes = ", ".join(f"{change} {n}" for change, n in sorted(summary.changes().items()))
    fixed = f"fixed {len(summary.fixed)}" + (f": {changes}" if changes else "")
    others = f", left to other gateways {summary.others}" if summary.others else ""
    return (
        f"checked {summary.checked}, {fixed}, "
        f"waiting {len(summary.waiting)}, skipped {len(summary.skipped)}{others}"
    )


_RESOLVE_HELP = """
Use it when the gateway cannot settle an operation (reconcile and audit list those
open past a week, with why): look the operation up at the gateway (its id is the
idempotency key the gateway received), then record what you found. The decision is
booked as the gateway's answer would be: a charge decided succeeded pays its order
(or is refunded if the order can no longer take it), one decided failed releases the
buyer credit it held; a payout decided failed returns the money to the seller. It is
recorded on the operation (who, when, why) and cannot be taken back: a settled
operation is refused. No gateway is called.

Exit status: 0 recorded, 2 refused (nothing changed) or any other error.
"""


def _payments_command(command: Callable[..., Any], store: argparse.ArgumentParser) -> None:
    """``gigmarket payments resolve``: an operator's decision on a stuck operation."""
    payments = command(
        "payments",
        "decide a payment operation the gateway cannot settle",
        "Payment operations that need a person.",
    )
    actions = payments.add_subparsers(dest="action", required=True, metavar="ACTION")
    resolve = actions.add_parser(
        "resolve",
        help="record an operator's decision on an open payment operation",
        description="Settle an open payment operation by an operator's recorded decision.",
        parents=[store],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=_STORE_HELP + _RESOLVE_HELP,
    )
    resolve.add_argument(
        "operation_id", metavar="OP_ID", help="the operation (pay:..., payout:...)"
    )
    resolve.add_argument(
        "--as",
        dest="outcome",
        required=True,
        choices=("failed", "succeeded"),
        help="what the gateway did, as you found it",
    )
    resolve.add_argument("--reason", required=True, help="why: what you saw, and where")
    resolve.add_argument("--operator", required=True, metavar="NAME", help="who decides")
    resolve.add_argument(
        "--ref",
        metavar="GATEWAY_ID",
        help="the gateway's id of what was made (a charge, a payout): needed with "
        "--as succeeded unless the operation already names it",
    )
    resolve.add_argument(
        "--policy",
        choices=sorted(POLICIES),
        default="fiverr",
        help="the marketplace's policy preset (default: fiverr); use the host's",
    )
    resolve.set_defaults(run=_resolve)


def _resolve(args: argparse.Namespace) -> int:
    location = _location(args)
    storage = open_store(location)
    try:
        op = resolve_operation(
            storage,
            args.operation_id,
            outcome=args.outcome,
            reason=args.reason,
            operator=args.operator,
            reference=args.ref,
            policy=args.policy,
        )
    finally:
        storage.close()
    said = op.failure is not None and op.failure != f"decided by {op.resolved_by}"
    note = f" ({op.failure})" if said else ""  # e.g. a charge its order could not take
    print(
        f"operation {op.id} ({op.kind.value}): {op.status.value}{note}, decided by {op.resolved_by}"
    )
    return EXIT_OK


def _migrate(args: argparse.Namespace) -> int:
    location = _location(args)
    before, after = migrate_store(location)
    if before == after:
        print(f"{location.display}: already at schema version {after}")
    else:
        print(f"{location.display}: schema version {before} → {after}")
    return EXIT_OK


def _demo(args: argparse.Namespace) -> int:
    run_demo(sys.stdout, currency=args.currency, db=args.db)
    return EXIT_OK


# -- running ----------------------------------------------------------------------


_SECRETS: list[str] = []
"""The secrets of the store URL given to this run: never printed, whatever says them."""


def _fail(message: str) -> None:
    print(f"gigmarket: error: {' '.join(scrub(message, _SECRETS).split())}", file=sys.stderr)


def _os_message(error: OSError) -> str:
    what = error.strerror or str(error)
    return f"{what}: {error.filename}" if error.filename else what


def _forgiving_output() -> None:
    """Print what the terminal cannot encode (``⏱``, ``→``, Bengali) as escapes, not a crash."""
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            reconfigure(errors="backslashreplace")


def _mute_stdout() -> None:
    """After a broken pipe, send the rest to /dev/null so the interpreter's
    final flush does not complain about it."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):  # not a real file (captured): nothing to silence
        pass


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the process exit status."""
    _forgiving_output()
    try:
        args = _parser().parse_args(argv)
    except SystemExit as done:  # --help, or a usage error already printed
        return done.code if isinstance(done.code, int) else EXIT_ERROR
    url = getattr(args, "db", None) or os.environ.get(DB_VARIABLE) or ""
    _SECRETS[:] = url_secrets(url)
    try:
        status: int = args.run(args)
    except KeyboardInterrupt:
        _fail("interrupted")
        status = EXIT_INTERRUPTED
    except BrokenPipeError:
        _mute_stdout()
        status = EXIT_BROKEN_PIPE
    except GigmarketError as error:
        _fail(str(error))
        status = EXIT_ERROR
    except OSError as error:
        _fail(_os_message(error))
        status = EXIT_ERROR
    except Exception as error:
        if os.environ.get("GIGMARKET_DEBUG"):
            raise
        _fail(
            f"unexpected {type(error).__name__}: {error} "
            "(set GIGMARKET_DEBUG=1 to see where; please report it)"
        )
        status = EXIT_ERROR
    return status
