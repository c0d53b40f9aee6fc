"""Every CLI command fails in one ``error:`` line, never a traceback, and creates no database.

Each command runs against: no database at all, an unreachable PostgreSQL server, a read-only
SQLite file and a SQLite file another connection holds locked.
"""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import BaseModel
from pydantic import ValidationError as PydanticValidationError
from sqlalchemy.engine import URL
from sqlalchemy.exc import OperationalError
from typer.main import get_command
from typer.testing import CliRunner, Result

from tierline import Tierline, TierlineSettings, db
from tierline.catalog.spec import Catalog
from tierline.cli.app import app
from tierline.cli.common import describe_failure, describe_settings_error
from tierline.db.engine import sqlite_file

runner = CliRunner()

CATALOG = """
[features]
reports = "Reports"

[tiers.staff]
name = "Staff"
exempt = true
features = ["reports"]
"""

#: Arguments that make each command reach the database (``{dir}`` is a scratch folder).
COMMANDS: dict[str, list[str]] = {
    "db upgrade": [],
    "db downgrade": ["base"],
    "db current": [],
    "db check": [],
    "db history": [],
    "catalog validate": ["--catalog", "{dir}/tierline.toml"],
    "catalog sync": ["--catalog", "{dir}/tierline.toml"],
    "catalog show": [],
    "accounts add": ["acct-new"],
    "accounts list": [],
    "referrals code": ["acct-1"],
    "referrals stats": ["acct-1"],
    "events list": [],
    "events show": ["1"],
    "events replay": ["1"],
    "events ingest": ["fake", "--body", "{dir}/body.json"],
    "grant-credit": ["acct-1", "--days", "3"],
    "revoke-credit": ["acct-1"],
    "show-status": ["acct-1"],
    "assign-exempt": ["acct-1", "staff"],
    "accounts link": ["acct-1", "--provider", "stripe", "--customer", "cus_1", "--no-reconcile"],
    "outbox list": [],
    "outbox retry": ["1"],
    "outbox run": ["--once"],
    "reconcile": ["stripe"],
    "simulate": ["subscription.created", "--account", "acct-1", "--tier", "staff"],
    "usage show": ["acct-1"],
    "usage track": ["acct-1", "reports", "2", "--key", "k-1"],
    "seats list": ["acct-1"],
    "seats assign": ["acct-1", "member-1"],
    "seats unassign": ["acct-1", "member-1"],
    "overrides set": ["acct-1", "reports", "--limit", "5", "--reason", "support"],
    "overrides list": ["acct-1"],
    "overrides clear": ["acct-1", "reports"],
}
#: Commands that never open Tierline's database.
NO_DATABASE = {"db history", "catalog validate", "simulate"}
#: Commands that write, so a read-only or locked database must stop them.
WRITERS = {"accounts add", "grant-credit", "accounts link", "seats assign"}
#: Commands whose exit 1 can also be a reported outcome (printed on stdout), not an error.
OUTCOME_EXIT = {"events ingest", "events replay"}
#: ``demo`` serves the example app on its own demo database until stopped: not run here.
#: ``doctor`` reads a host app's migration chain and never opens Tierline's database; its
#: one-line errors are tested in tests/cli/test_doctor_cli.py.
NOT_RUN = {"demo", "doctor"}


def cli_commands() -> set[str]:
    """Every command of the CLI, as ``"group command"`` or ``"command"``."""
    names: set[str] = set()
    # Typer vendors its own click, so groups are told apart by their ``commands``.
    root = get_command(app)
    for name, command in getattr(root, "commands", {}).items():
        if hasattr(command, "commands"):
            names.update(f"{name} {sub}" for sub in command.commands)
        else:
            names.add(name)
    return names


def test_every_command_is_covered() -> None:
    # A new command must be added to COMMANDS (or NOT_RUN with a reason) to be tested here.
    assert cli_commands() == set(COMMANDS) | NOT_RUN


@pytest.fixture
def scratch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("TIERLINE_DATABASE_URL", raising=False)
    (tmp_path / "tierline.toml").write_text(CATALOG)
    (tmp_path / "body.json").write_text('{"id": "evt_1"}')
    return tmp_path


def invoke(command: str, url: str, scratch: Path) -> Result:
    args = [arg.replace("{dir}", str(scratch)) for arg in COMMANDS[command]]
    if command == "simulate":
        args += ["--url", "http://127.0.0.1:1/webhooks/fake"]
    elif command not in NO_DATABASE:
        args += ["--database-url", url]
    return runner.invoke(app, [*command.split(), *args])


def assert_clean(result: Result, command: str) -> None:
    """No traceback, and a failure is exactly one ``error:`` line on stderr."""
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    lines = result.stderr.splitlines()
    assert len(lines) <= 1, result.stderr
    if lines:
        assert lines[0].startswith("error: "), result.stderr
    if result.exit_code != 0 and command not in OUTCOME_EXIT:
        assert len(lines) == 1, result.output


@pytest.mark.parametrize("command", sorted(set(COMMANDS) - {"db upgrade"}))
def test_no_database_is_one_line_and_creates_no_file(command: str, scratch: Path) -> None:
    target = scratch / "data" / "tierline.db"
    target.parent.mkdir()
    result = invoke(command, f"sqlite:///{target}", scratch)
    assert_clean(result, command)
    assert not target.exists()
    assert list(target.parent.iterdir()) == []
    if command not in NO_DATABASE:
        assert result.exit_code == 1
        assert "no Tierline tables" in result.stderr
        assert "run `tierline db upgrade`" in result.stderr


def test_default_database_is_not_created_by_a_command(tmp_path: Path) -> None:
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    result = subprocess.run(
        [sys.executable, "-m", "tierline", "accounts", "list"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        "error: the database has no Tierline tables (there is no file 'tierline.db'): "
        "run `tierline db upgrade`"
    ]
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("command", sorted(set(COMMANDS) - NO_DATABASE))
def test_unreachable_server_is_one_line(command: str, scratch: Path) -> None:
    result = invoke(command, "postgresql://postgres@127.0.0.1:1/postgres", scratch)
    assert_clean(result, command)
    assert result.exit_code == 1
    assert "cannot connect to postgresql+psycopg://postgres@127.0.0.1:1/postgres" in result.stderr


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_a_bad_setting_in_the_environment_is_one_line(
    command: str, scratch: Path, migrated_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TIERLINE_CACHE_NOTIFY", "maybe")
    monkeypatch.setenv("TIERLINE_OUTBOX_MAX_ATTEMPTS", "-1")
    result = invoke(command, f"sqlite:///{migrated_file}", scratch)
    assert_clean(result, command)
    if command.startswith("db "):
        return  # given --database-url, the migration commands read no other setting
    assert result.exit_code == 1
    assert "invalid setting" in result.stderr
    assert "TIERLINE_CACHE_NOTIFY='maybe'" in result.stderr
    assert "TIERLINE_OUTBOX_MAX_ATTEMPTS='-1'" in result.stderr


def test_a_bad_secret_setting_is_named_but_never_echoed() -> None:
    class Settings(BaseModel):
        stripe_webhook_secret: int
        database_url: int
        outbox_max_attempts: int

    with pytest.raises(PydanticValidationError) as raised:
        Settings(
            stripe_webhook_secret="whsec_hunter2",
            database_url="postgresql://u:pa55@db/x",
            outbox_max_attempts="many",
        )
    line = describe_settings_error(raised.value)
    assert "TIERLINE_STRIPE_WEBHOOK_SECRET:" in line and "hunter2" not in line
    assert "TIERLINE_DATABASE_URL:" in line and "pa55" not in line
    assert "TIERLINE_OUTBOX_MAX_ATTEMPTS='many':" in line


def test_a_bad_setting_names_the_variable_its_value_and_what_is_valid(
    scratch: Path, migrated_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TIERLINE_USAGE_TIMEZONE", "Mars/Base")
    result = invoke("usage show", f"sqlite:///{migrated_file}", scratch)
    assert result.exit_code == 1
    assert result.stderr.startswith("error: invalid setting TIERLINE_USAGE_TIMEZONE='Mars/Base':")
    assert "IANA time zone" in result.stderr


@pytest.fixture(scope="module")
def migrated_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite file at head with account acct-1 (shared: the commands cannot change it)."""
    path = tmp_path_factory.mktemp("boundary") / "tierline.db"
    db.upgrade(f"sqlite:///{path}")
    with Tierline(f"sqlite:///{path}", catalog=Catalog()) as tl:
        tl.ensure_account("acct-1")
    return path


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_read_only_database_is_one_line(command: str, scratch: Path, migrated_file: Path) -> None:
    # chmod does not stop root; SQLite's read-only open mode does, for every user.
    url = f"sqlite:///file:{migrated_file}?mode=ro&uri=true"
    result = invoke(command, url, scratch)
    assert_clean(result, command)
    if command in WRITERS:
        assert result.exit_code == 1
        assert "the database is read-only" in result.stderr


@pytest.fixture
def locked_file(migrated_file: Path) -> Iterator[Path]:
    """The migrated file with another connection holding an exclusive transaction."""
    holder = sqlite3.connect(migrated_file, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    yield migrated_file
    holder.execute("ROLLBACK")
    holder.close()


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_locked_database_is_one_line(command: str, scratch: Path, locked_file: Path) -> None:
    # ``timeout`` shortens the busy wait (30 s by default) so the lock shows quickly.
    result = invoke(command, f"sqlite:///{locked_file}?timeout=0.1", scratch)
    assert_clean(result, command)
    if command in WRITERS:
        assert result.exit_code == 1
        assert "locked" in result.stderr


def test_out_of_range_event_id_is_one_line(scratch: Path, migrated_file: Path) -> None:
    for command in (["events", "show"], ["events", "replay"]):
        result = runner.invoke(
            app, [*command, str(2**70), "--database-url", f"sqlite:///{migrated_file}"]
        )
        assert_clean(result, " ".join(command))
        assert result.exit_code == 1
        assert result.stderr == (
            f"error: event id {2**70} is out of range: ids run from 1 to {2**31 - 1}\n"
        )


def test_empty_server_database_says_run_db_upgrade(empty_db_url: URL, scratch: Path) -> None:
    url = empty_db_url.render_as_string(hide_password=False)
    path = sqlite_file(empty_db_url)
    if path is not None:
        sqlite3.connect(path).close()  # an empty file: what an app's first connect leaves
    for command in ("accounts list", "grant-credit", "catalog show", "events list"):
        result = invoke(command, url, scratch)
        assert_clean(result, command)
        assert result.exit_code == 1
        assert result.stderr == (
            "error: the database has no Tierline tables: run `tierline db upgrade`\n"
        )


def test_a_database_behind_head_says_run_db_upgrade(empty_db_url: URL, scratch: Path) -> None:
    """Commands on a database an older Tierline migrated name its revision, not missing tables
    (and never run against tables that lack today's columns)."""
    url = empty_db_url.render_as_string(hide_password=False)
    [head] = db.heads()
    previous = next(info.down_revision for info in db.history() if info.revision == head)
    db.upgrade(url, previous)
    for command in ("accounts list", "usage show", "overrides list", "outbox list", "catalog sync"):
        result = invoke(command, url, scratch)
        assert_clean(result, command)
        assert result.exit_code == 1
        assert result.stderr == (
            f"error: the database is at Tierline revision {previous}, behind the head "
            f"{head}: run `tierline db upgrade`\n"
        )
    assert db.current(url) == previous


@pytest.mark.parametrize(
    ("option", "expected"),
    [
        (["--until", "9999-12-31"], "is past 2100-01-01, the latest end a credit may have"),
        (["--days", "30000"], "would run past 2100-01-01, the latest end a credit may have"),
        (["--days", str(2**70)], "give a whole number from 1 to 36500"),
    ],
)
def test_credit_past_the_maximum_is_one_line(
    option: list[str], expected: str, scratch: Path, migrated_file: Path
) -> None:
    url = f"sqlite:///{migrated_file}"
    result = runner.invoke(app, ["grant-credit", "acct-1", *option, "--database-url", url])
    assert_clean(result, "grant-credit")
    assert result.exit_code == 1
    assert expected in result.stderr


@pytest.mark.parametrize(
    ("driver_message", "expected"),
    [
        ("no such table: tierline_account", "the database has no Tierline tables: run"),
        ('relation "tierline_account" does not exist', "the database has no Tierline tables"),
        ("(1146, \"Table 'app.tierline_account' doesn't exist\")", "has no Tierline tables"),
        ("attempt to write a readonly database", "the database is read-only"),
        ("cannot execute INSERT in a read-only transaction", "the database is read-only"),
        ("database is locked", "the database is locked by another connection"),
        ("(1205, 'Lock wait timeout exceeded; try restarting transaction')", "is locked"),
        ('database "nope" does not exist', 'database error: database "nope" does not exist'),
    ],
)
def test_database_errors_of_every_dialect_read_as_one_line(
    driver_message: str, expected: str
) -> None:
    exc = OperationalError("SELECT 1", {}, Exception(f"{driver_message}\nDETAIL: more"))
    described = describe_failure(exc)
    assert expected in described
    assert "\n" not in described


def test_a_reader_that_goes_away_ends_the_command_without_a_message(tmp_path: Path) -> None:
    # `tierline grant-credit ... | head -0`: the grant is made, then printing it finds the pipe
    # closed. No "error: Broken pipe" line, no traceback: the work was done.
    url = f"sqlite:///{tmp_path / 'pipe.db'}"
    db.upgrade(url)
    with Tierline(settings=TierlineSettings(database_url=url), catalog=Catalog()) as tl:
        tl.ensure_account("piper")
    command = [sys.executable, "-m", "tierline", "grant-credit", "piper", "--days", "1"]
    process = subprocess.Popen(
        [*command, "--database-url", url], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    assert process.stdout is not None and process.stderr is not None
    process.stdout.close()  # before the command writes anything
    stderr = process.stderr.read()
    process.stderr.close()
    assert process.wait(timeout=60) == 1
    assert stderr == b""
    with Tierline(settings=TierlineSettings(database_url=url), catalog=Catalog()) as tl:
        assert tl.status("piper").active
