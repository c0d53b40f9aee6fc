"""CLI output: plain aligned rows for pipes, Rich tables on a terminal."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy.engine import URL
from typer.testing import CliRunner

from tierline.catalog.models import LimitPeriod
from tierline.cli import output
from tierline.cli.app import app
from tierline.cli.output import per_period

sqlite_only = pytest.mark.parametrize("dialect", ["sqlite"])


def test_plain_table_aligns_columns_and_keeps_one_row_per_line() -> None:
    text = output.plain_table(
        ("key", "features", "note"),
        [("pro", ["analyze", "batches"], "two\nlines"), ("enterprise", [], "")],
    )
    assert text.splitlines() == [
        "key         features          note",
        "pro         analyze, batches  two lines",
        "enterprise",
    ]


def _accounts(db_url: URL) -> list[str]:
    return ["--database-url", db_url.render_as_string(hide_password=False)]


@sqlite_only
def test_a_pipe_gets_plain_rows_without_box_characters(db_url: URL) -> None:
    runner = CliRunner()
    long_email = "someone.with.a.rather.long.address@an-example-company.test"
    added = runner.invoke(
        app, ["accounts", "add", "acme", "--email", long_email, *_accounts(db_url)]
    )
    assert added.exit_code == 0, added.output

    listed = runner.invoke(app, ["accounts", "list", *_accounts(db_url)])

    assert listed.exit_code == 0, listed.output
    header, row = listed.stdout.splitlines()
    assert header.split() == ["id", "ref", "email", "referral", "code", "created"]
    assert row.split()[:3] == ["1", "acme", long_email]  # whole, on one line, however long
    assert "─" not in listed.stdout and "\x1b[" not in listed.stdout


@sqlite_only
def test_a_terminal_gets_a_rich_table(db_url: URL, monkeypatch: pytest.MonkeyPatch) -> None:
    runner = CliRunner()
    assert runner.invoke(app, ["accounts", "add", "acme", *_accounts(db_url)]).exit_code == 0
    monkeypatch.setattr(output, "stdout_is_terminal", lambda: True)
    monkeypatch.setattr(output, "_console", None)  # built afresh on the runner's stdout

    listed = runner.invoke(app, ["accounts", "list", *_accounts(db_url)])

    assert listed.exit_code == 0, listed.output
    assert "─" in listed.stdout  # the table's rule under the header
    assert "acme" in listed.stdout


def test_help_needs_neither_the_orm_nor_sqlalchemy(tmp_path: Path) -> None:
    probe = (
        "import sys\n"
        "from tierline.cli.app import app\n"
        "try:\n"
        "    app(['--help'])\n"
        "except SystemExit:\n"
        "    pass\n"
        "heavy = sorted(m for m in ('sqlalchemy', 'alembic', 'pydantic_settings', 'stripe')"
        " if m in sys.modules)\n"
        "print('HEAVY', heavy)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, cwd=tmp_path, check=True
    )
    assert "HEAVY []" in done.stdout, done.stdout


def test_import_tierline_loads_no_heavy_module(tmp_path: Path) -> None:
    probe = (
        "import sys, tierline\n"
        "print('HEAVY', sorted(m for m in ('sqlalchemy', 'alembic', 'pydantic', 'rich', 'typer')"
        " if m in sys.modules))\n"
        "from tierline import Tierline\n"
        "print('LAZY', Tierline.__module__)\n"
        "print('SUBPACKAGE', tierline.db.include_object.__module__)\n"
        "try:\n"
        "    tierline.nothing_here\n"
        "except AttributeError as exc:\n"
        "    print('MISSING', exc)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, cwd=tmp_path, check=True
    )
    assert done.stdout.splitlines() == [
        "HEAVY []",
        "LAZY tierline.facade",
        "SUBPACKAGE tierline.db.schema",
        "MISSING module 'tierline' has no attribute 'nothing_here'",
    ]


def test_a_limit_reads_per_its_period_or_as_lifetime() -> None:
    # One wording in show-status, usage and overrides: a limit that never resets is "lifetime".
    assert per_period(LimitPeriod.MONTH) == " per month"
    assert per_period(LimitPeriod.NONE) == " (lifetime)"
    assert per_period(None) == ""
