"""Each command of ``gigmarket``: its success, its bad input, its ``--help``.

Bad input and failures of every kind end the same way: one line on standard
error starting ``gigmarket: error:``, a non-zero exit status, no traceback.
Most tests call :func:`gigmarket.admin.cli.main` in process; a few run
``python -m gigmarket`` for real, to prove what an operator's shell sees.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import subprocess
import sys
from contextlib import closing
from pathlib import Path

import pytest

from gigmarket.admin import cli
from gigmarket.admin.cli import main
from gigmarket.admin.operations import parse_location
from gigmarket.orders import DEFAULT_PROCESS
from gigmarket.storage.postgres import schema as postgres_schema_module
from gigmarket.storage.sqlite import schema as sqlite_schema
from gigmarket.storage.sqlite.store import SQLiteStorage
from tests.cli.conftest import StoredStory
from tests.cli.hands import SQLiteHands
from tests.cli.story import CLEARANCE_DUE, COMPLETED_AT

LATEST = sqlite_schema.SCHEMA_VERSION
COMMANDS = ("audit", "diagram", "run-due", "reconcile", "migrate", "demo")


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    status = main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


def assert_one_line_error(status: int, err: str, *fragments: str) -> None:
    assert status == cli.EXIT_ERROR
    assert err.startswith("gigmarket: error: ")
    assert err.count("\n") == 1, err
    assert "Traceback" not in err
    for fragment in fragments:
        assert fragment in err


def write_store_at_version(path: Path, version: int) -> None:
    """A store as an older (or, faking it, a newer) gigmarket left it."""
    with closing(sqlite3.connect(path)) as connection:
        for script in sqlite_schema.MIGRATIONS[: min(version, LATEST)]:
            connection.executescript(script)
        connection.execute("CREATE TABLE gigmarket_schema (version INTEGER NOT NULL)")
        connection.execute("INSERT INTO gigmarket_schema (version) VALUES (?)", (version,))
        connection.commit()


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# -- help and usage ----------------------------------------------------------------


def test_help_lists_every_command(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = run(capsys, "--help")
    assert status == 0
    for command in COMMANDS:
        assert command in out
    assert "exit status" in out


@pytest.mark.parametrize("command", COMMANDS)
def test_each_command_has_help(capsys: pytest.CaptureFixture[str], command: str) -> None:
    status, out, err = run(capsys, command, "--help")
    assert status == 0
    assert out.startswith(f"usage: gigmarket {command}")
    assert err == ""


@pytest.mark.parametrize("command", ["audit", "run-due", "reconcile", "migrate"])
def test_store_commands_explain_how_to_name_a_store(
    capsys: pytest.CaptureFixture[str], command: str
) -> None:
    _, out, _ = run(capsys, command, "--help")
    assert "GIGMARKET_DB" in out
    assert "sqlite:///" in out
    assert "postgresql://" in out


@pytest.mark.parametrize(
    ("argv", "fragment"),
    [
        ([], "required: COMMAND"),
        (["refund-everyone"], "invalid choice: 'refund-everyone'"),
        (["audit", "--frobnicate"], "unrecognized arguments: --frobnicate"),
        (["diagram", "--format", "png"], "invalid choice: 'png'"),
        (["run-due", "--policy", "ebay"], "invalid choice: 'ebay'"),
    ],
)
def test_usage_errors_are_one_line_and_exit_2(
    capsys: pytest.CaptureFixture[str], argv: list[str], fragment: str
) -> None:
    status, out, err = run(capsys, *argv)
    assert_one_line_error(status, err, fragment, "--help")
    assert out == ""


# -- audit -------------------------------------------------------------------------


def test_audit_of_a_clean_store(
    sqlite_story: StoredStory, capsys: pytest.CaptureFixture[str]
) -> None:
    status, out, err = run(capsys, "audit", *sqlite_story.args)
    assert status == 0
    assert out.endswith("3 idempotency keys checked; no violations\n")
    assert err == ""


def test_audit_as_json(sqlite_story: StoredStory, capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = run(capsys, "audit", *sqlite_story.args, "--json")
    assert status == 0
    assert json.loads(out) == {
        "store": sqlite_story.location,
        "ok": True,
        "checked": {"accounts": 5, "entries": 3, "orders": 2, "idempotency_keys": 3},
        "counts": {},
        "violations": [],
    }


def test_audit_reads_the_store_from_the_environment(
    sqlite_story: StoredStory, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GIGMARKET_DB", sqlite_story.location)
    status, out, _ = run(capsys, "audit")
    assert status == 0
    assert out.startswith(f"audit of {sqlite_story.location}:")


def test_an_audit_changes_nothing(
    sqlite_story: StoredStory, capsys: pytest.CaptureFixture[str]
) -> None:
    path = Path(sqlite_story.location)
    before = digest(path)
    assert run(capsys, "audit", "--db", str(path))[0] == 0
    assert digest(path) == before
    assert sorted(p.name for p in path.parent.iterdir()) == ["market.db"]


def test_audit_shows_progress_on_stderr_unless_asked_not_to(
    sqlite_story: StoredStory, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(cli, "AUDIT_PROGRESS_EVERY", 2)
    status, _, err = run(capsys, "audit", *sqlite_story.args)
    assert status == 0
    assert err == "gigmarket: audit: 2 journal entries read\n"
    assert run(capsys, "audit", *sqlite_story.args, "--no-progress")[2] == ""


@pytest.mark.parametrize(
    ("argv", "fragments"),
    [
        (["audit"], ["no store given", "GIGMARKET_DB"]),
        (["audit", "--db", ""], ["give a database URL"]),
        (["audit", "--db", "mysql://db/market"], ["unsupported database URL scheme 'mysql'"]),
        (["audit", "--db", "sqlite://market.db"], ["sqlite:///relative/path.db"]),
        (["audit", "--db", "market.db", "--schema", "x"], ["only a PostgreSQL store"]),
        (["audit", "--db", "postgresql://h:port/x"], ["not a valid PostgreSQL URL"]),
        (["audit", "--db", "postgresql://h/x", "--schema", "Bad-Name"], ["'Bad-Name'"]),
        (["audit", "--db", "postgresql://h/x?schema=a", "--schema", "b"], ["disagree"]),
    ],
)
def test_audit_refuses_a_bad_store_name(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    argv: list[str],
    fragments: list[str],
) -> None:
    monkeypatch.delenv("GIGMARKET_DB", raising=False)
    status, _, err = run(capsys, *argv)
    assert_one_line_error(status, err, *fragments)


def test_audit_of_a_missing_file_creates_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status, _, err = run(capsys, "audit", "--db", str(tmp_path / "typo.db"))
    assert_one_line_error(status, err, "no database file at")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        (b"", "holds no gigmarket store; create one with `gigmarket migrate`"),
        (b"certainly not a database" * 100, "cannot read"),
    ],
)
def test_audit_of_a_file_that_is_no_store(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: bytes, fragment: str
) -> None:
    path = tmp_path / "other.db"
    path.write_bytes(content)
    status, _, err = run(capsys, "audit", "--db", str(path))
    assert_one_line_error(status, err, fragment)


def test_audit_of_an_older_store_says_to_migrate_and_changes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "old.db"
    write_store_at_version(path, 1)
    before = digest(path)
    status, _, err = run(capsys, "audit", "--db", str(path))
    assert_one_line_error(
        status, err, f"has schema version 1, this gigmarket needs {LATEST}", "gigmarket migrate"
    )
    assert digest(path) == before


def test_audit_of_a_newer_store(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "new.db"
    write_store_at_version(path, LATEST + 1)
    status, _, err = run(capsys, "audit", "--db", str(path))
    assert_one_line_error(status, err, f"schema version {LATEST + 1}", f"up to {LATEST}")


def test_a_directory_is_not_a_store(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    status, _, err = run(capsys, "audit", "--db", str(tmp_path))
    assert_one_line_error(status, err, "is not a file")


# -- diagram -----------------------------------------------------------------------


def test_diagram_is_mermaid_by_default(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = run(capsys, "diagram")
    assert status == 0
    assert out == DEFAULT_PROCESS.mermaid()
    assert out.startswith("stateDiagram-v2\n")


def test_diagram_as_graphviz_dot(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = run(capsys, "diagram", "--format", "dot")
    assert status == 0
    assert out == DEFAULT_PROCESS.dot()
    assert out.startswith("digraph ")


# -- run-due -----------------------------------------------------------------------


def test_run_due_runs_each_timer_once(
    sqlite_story: StoredStory, capsys: pytest.CaptureFixture[str]
) -> None:
    until = CLEARANCE_DUE.isoformat()
    status, out, err = run(capsys, "run-due", *sqlite_story.args, "--until", until)
    assert status == 0
    assert out == f"ran 2 timers due by {until}: cleared 1, published 1\n"
    assert err == ""
    status, out, _ = run(capsys, "run-due", *sqlite_story.args, "--until", until)
    assert (status, out) == (0, f"0 timers due by {until}\n")
    assert run(capsys, "audit", *sqlite_story.args)[0] == 0


def test_run_due_defaults_to_now(
    sqlite_story: StoredStory, capsys: pytest.CaptureFixture[str]
) -> None:
    status, out, _ = run(capsys, "run-due", *sqlite_story.args, "--verbose", "--policy", "upwork")
    assert status == 0
    lines = out.splitlines()
    assert len(lines) == 4
    assert lines[-1].startswith("ran 3 timers due by ")
    assert lines[-1].endswith(": abandon 1, cleared 1, published 1")
    assert all(line.startswith("timer id-") for line in lines[:-1])
    assert run(capsys, "run-due", *sqlite_story.args)[1].startswith("0 timers due by ")


def test_run_due_shows_progress_every_batch(
    sqlite_story: StoredStory, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(cli, "RUN_DUE_BATCH", 1)
    status, _, err = run(capsys, "run-due", *sqlite_story.args)
    assert status == 0
    assert err.splitlines() == [f"gigmarket: run-due: {n} timers run so far" for n in (1, 2, 3)]
    run(capsys, "run-due", *sqlite_story.args)
    assert run(capsys, "run-due", *sqlite_story.args, "--no-progress")[2] == ""


def test_run_due_reports_a_timer_that_failed(
    sqlite_story: StoredStory, capsys: pytest.CaptureFixture[str]
) -> None:
    story = sqlite_story.story
    # Nadia's pending earnings vanish (a manual "fix"): her clearance cannot run.
    SQLiteHands(sqlite_story.location).sql(
        ("UPDATE ledger_accounts SET posted = 0 WHERE code = ?", (story.pending,))
    )
    until = CLEARANCE_DUE.isoformat()
    status, out, _ = run(capsys, "run-due", *sqlite_story.args, "--until", until)
    # The job ran, and the failure is recorded on the timer and in the outbox,
    # but money did not move: the status says so to cron and systemd.
    assert status == cli.EXIT_TIMERS_FAILED == 1
    assert f"of order {story.completed_order}: failed: insufficient_funds\n" in out
    *_, summary, failed = out.splitlines()
    assert summary.endswith("failed: insufficient_funds 1, published 1")
    assert failed == "1 timer failed: each is armed again for later (see the timer.failed events)"


@pytest.mark.parametrize(
    ("until", "fragment"),
    [
        ("next tuesday", "is not an ISO 8601 time"),
        ("2026-01-20T09:00:00", "has no time zone"),
        ("2999-01-01T00:00:00Z", "is in the future"),
    ],
)
def test_run_due_refuses_a_bad_time(
    sqlite_story: StoredStory, capsys: pytest.CaptureFixture[str], until: str, fragment: str
) -> None:
    status, out, err = run(capsys, "run-due", *sqlite_story.args, "--until", until)
    assert_one_line_error(status, err, "--until", fragment)
    assert out == ""


def test_run_due_before_anything_is_due(
    sqlite_story: StoredStory, capsys: pytest.CaptureFixture[str]
) -> None:
    until = COMPLETED_AT.isoformat()
    assert run(capsys, "run-due", *sqlite_story.args, "--until", until)[1] == (
        f"0 timers due by {until}\n"
    )


def test_run_due_on_an_older_store_says_to_migrate(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "old.db"
    write_store_at_version(path, 1)
    status, _, err = run(capsys, "run-due", "--db", str(path))
    assert_one_line_error(status, err, "run `gigmarket migrate` first")


# -- migrate -----------------------------------------------------------------------


def test_migrate_creates_a_store_then_has_nothing_to_do(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "market.db"
    status, out, _ = run(capsys, "migrate", "--db", f"sqlite:///{path}")
    assert (status, out) == (0, f"{path}: schema version 0 → {LATEST}\n")
    status, out, _ = run(capsys, "migrate", "--db", str(path))
    assert (status, out) == (0, f"{path}: already at schema version {LATEST}\n")
    assert run(capsys, "audit", "--db", str(path))[0] == 0


def test_migrate_brings_an_older_store_forward(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "old.db"
    write_store_at_version(path, 1)
    status, out, _ = run(capsys, "migrate", "--db", str(path))
    assert (status, out) == (0, f"{path}: schema version 1 → {LATEST}\n")
    storage = SQLiteStorage(path, migrate=False)
    storage.close()


def test_migrate_refuses_a_newer_store(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "new.db"
    write_store_at_version(path, LATEST + 1)
    before = digest(path)
    status, _, err = run(capsys, "migrate", "--db", str(path))
    assert_one_line_error(status, err, f"schema version {LATEST + 1}")
    assert digest(path) == before


def test_migrate_into_a_missing_directory(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status, _, err = run(capsys, "migrate", "--db", str(tmp_path / "nowhere" / "market.db"))
    assert_one_line_error(status, err, "cannot open")


# -- demo --------------------------------------------------------------------------


def test_demo_still_tells_the_story(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "demo.db"
    status, out, _ = run(capsys, "demo", "--currency", "BDT", "--db", str(path))
    assert status == 0
    assert "Nadia" in out
    assert run(capsys, "audit", "--db", str(path))[0] == 0


@pytest.mark.parametrize(
    ("argv", "fragment"),
    [(["--currency", "XYZ"], "currency"), (["--db", "."], "exists")],
)
def test_demo_refuses_bad_input(
    capsys: pytest.CaptureFixture[str], argv: list[str], fragment: str
) -> None:
    status, _, err = run(capsys, "demo", *argv)
    assert_one_line_error(status, err, fragment)


# -- failures of every other kind --------------------------------------------------


def _raise(error: BaseException) -> object:
    def fail(*args: object, **kwargs: object) -> object:
        raise error

    return fail


def test_an_unexpected_error_is_still_one_line(
    sqlite_story: StoredStory, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("GIGMARKET_DEBUG", raising=False)
    monkeypatch.setattr(cli, "audit_store", _raise(RuntimeError("boom\nand more")))
    status, _, err = run(capsys, "audit", *sqlite_story.args)
    assert_one_line_error(status, err, "unexpected RuntimeError: boom and more", "GIGMARKET_DEBUG")


def test_debug_mode_shows_the_traceback(
    sqlite_story: StoredStory, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GIGMARKET_DEBUG", "1")
    monkeypatch.setattr(cli, "audit_store", _raise(RuntimeError("boom")))
    with pytest.raises(RuntimeError, match="boom"):
        main(["audit", *sqlite_story.args])


def test_an_os_error_names_the_file(
    sqlite_story: StoredStory, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    error = PermissionError(13, "Permission denied", "/var/lib/gigmarket/market.db")
    monkeypatch.setattr(cli, "audit_store", _raise(error))
    status, _, err = run(capsys, "audit", *sqlite_story.args)
    assert_one_line_error(status, err, "Permission denied: /var/lib/gigmarket/market.db")


def test_an_interrupt_is_one_line_and_exits_130(
    sqlite_story: StoredStory, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(cli, "run_due", _raise(KeyboardInterrupt()))
    status, _, err = run(capsys, "run-due", *sqlite_story.args)
    assert status == 130
    assert err == "gigmarket: error: interrupted\n"


def test_a_closed_pipe_ends_quietly(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(cli, "DEFAULT_PROCESS", _BrokenPipeProcess())
    status, _, err = run(capsys, "diagram")
    assert (status, err) == (141, "")


class _BrokenPipeProcess:
    def mermaid(self) -> str:
        raise BrokenPipeError


# -- a real process ----------------------------------------------------------------


def gigmarket(*argv: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gigmarket", *argv],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=60,
        check=False,
    )


def test_python_m_gigmarket_help(tmp_path: Path) -> None:
    done = gigmarket("--help", cwd=tmp_path)
    assert done.returncode == 0
    assert done.stdout.startswith("usage: gigmarket ")
    assert done.stderr == ""


def test_python_m_gigmarket_fails_without_a_traceback(tmp_path: Path) -> None:
    done = gigmarket("audit", "--db", str(tmp_path / "missing" / "market.db"), cwd=tmp_path)
    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr == f"gigmarket: error: no database file at {tmp_path}/missing/market.db\n"


def test_python_m_gigmarket_audit_exit_status_tells_violations(
    sqlite_story: StoredStory, tmp_path: Path
) -> None:
    assert gigmarket("audit", *sqlite_story.args, cwd=tmp_path).returncode == 0
    SQLiteHands(sqlite_story.location).sql(
        (
            "UPDATE ledger_accounts SET posted = posted + 1 WHERE code = ?",
            (sqlite_story.story.revenue,),
        )
    )
    done = gigmarket("audit", *sqlite_story.args, cwd=tmp_path)
    assert done.returncode == 1
    assert "[4-stored-balance]" in done.stdout
    assert done.stderr == ""


# -- naming stores -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "engine", "target", "schema"),
    [
        ("market.db", "sqlite", "market.db", "public"),
        ("sqlite:///data/market.db", "sqlite", "data/market.db", "public"),
        ("sqlite:////var/lib/market.db", "sqlite", "/var/lib/market.db", "public"),
        ("postgresql://u@h/db", "postgres", "postgresql://u@h/db", "public"),
        ("postgres://u@h/db?schema=shop_1", "postgres", "postgres://u@h/db", "shop_1"),
        (
            "postgresql://u@h:5433/db?sslmode=require&schema=s",
            "postgres",
            "postgresql://u@h:5433/db?sslmode=require",
            "s",
        ),
    ],
)
def test_store_urls(url: str, engine: str, target: str, schema: str) -> None:
    location = parse_location(url)
    assert (location.engine, location.target, location.schema) == (engine, target, schema)


def test_a_password_is_never_shown() -> None:
    location = parse_location("postgresql://shop:s3cret@db.internal:5432/market?schema=eu")
    assert location.display == "postgresql://shop:***@db.internal:5432/market (schema eu)"
    assert "s3cret" not in location.display


def test_an_unreachable_server_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    status, _, err = run(capsys, "audit", "--db", "postgresql://nobody@127.0.0.1:1/none")
    assert_one_line_error(status, err, "cannot read the PostgreSQL store")


# -- PostgreSQL --------------------------------------------------------------------


@pytest.mark.postgres
def test_migrate_and_audit_a_new_postgres_schema(
    postgres_schema: tuple[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    url, schema = postgres_schema
    latest = postgres_schema_module.SCHEMA_VERSION
    status, out, _ = run(capsys, "migrate", "--db", f"{url}?schema={schema}")
    assert (status, out) == (0, f"{url} (schema {schema}): schema version 0 → {latest}\n")
    status, out, _ = run(capsys, "migrate", "--db", url, "--schema", schema)
    assert (status, out) == (0, f"{url} (schema {schema}): already at schema version {latest}\n")
    status, out, _ = run(capsys, "audit", "--db", url, "--schema", schema)
    assert status == 0
    assert out.endswith("0 idempotency keys checked; no violations\n")


@pytest.mark.postgres
def test_audit_of_a_missing_postgres_schema_creates_nothing(
    postgres_schema: tuple[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    import psycopg  # noqa: PLC0415 -- optional extra

    url, schema = postgres_schema
    status, _, err = run(capsys, "audit", "--db", url, "--schema", schema)
    assert_one_line_error(status, err, "holds no gigmarket store")
    with psycopg.connect(url) as connection:
        found = connection.execute(
            "SELECT 1 FROM pg_namespace WHERE nspname = %s", (schema,)
        ).fetchone()
    assert found is None


@pytest.mark.postgres
def test_run_due_on_postgres(
    postgres_story: StoredStory, capsys: pytest.CaptureFixture[str]
) -> None:
    until = CLEARANCE_DUE.isoformat()
    status, out, _ = run(capsys, "run-due", *postgres_story.args, "--until", until)
    assert (status, out) == (0, f"ran 2 timers due by {until}: cleared 1, published 1\n")
    status, out, _ = run(capsys, "run-due", *postgres_story.args, "--until", until)
    assert (status, out) == (0, f"0 timers due by {until}\n")
    assert run(capsys, "audit", *postgres_story.args)[0] == 0


# -- quiet, for schedulers ---------------------------------------------------------


def test_quiet_commands_print_nothing_when_all_is_well(
    sqlite_story: StoredStory, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(capsys, "audit", *sqlite_story.args, "--quiet") == (0, "", "")
    assert run(capsys, "run-due", *sqlite_story.args, "-q") == (0, "", "")
    assert run(capsys, "run-due", *sqlite_story.args, "-q") == (0, "", "")


def test_quiet_commands_still_print_problems(
    sqlite_story: StoredStory, capsys: pytest.CaptureFixture[str]
) -> None:
    story = sqlite_story.story
    SQLiteHands(sqlite_story.location).sql(
        ("UPDATE ledger_accounts SET posted = 0 WHERE code = ?", (story.pending,))
    )
    status, out, err = run(capsys, "audit", *sqlite_story.args, "--quiet")
    assert status == 1
    assert out.startswith("[4-stored-balance]")
    assert out.splitlines()[-1].endswith("; 1 violation (4-stored-balance 1)")
    status, out, err = run(capsys, "run-due", *sqlite_story.args, "--quiet")
    assert status == 1
    assert out.splitlines()[0].endswith(": failed: insufficient_funds")
    assert out.splitlines()[-2].startswith("ran 3 timers due by ")
    assert out.splitlines()[-1].startswith("1 timer failed")
    assert err == ""
