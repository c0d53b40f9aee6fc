"""``tierline db ...`` run as a user would: through the console entry point."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy.engine import URL
from typer.testing import CliRunner

from tierline import db
from tierline.cli import app


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("TIERLINE_DATABASE")}
    full_env.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "tierline", *args],
        capture_output=True,
        text=True,
        env=full_env,
        timeout=120,
        check=False,
    )


def test_upgrade_check_downgrade_upgrade_on_every_dialect(empty_db_url: URL) -> None:
    url = empty_db_url.render_as_string(hide_password=False)
    head = db.heads()[0]
    steps = [
        (("db", "upgrade", "--database-url", url), f"upgraded to {head}"),
        (("db", "current", "--database-url", url), f"{head} (head)"),
        (("db", "check", "--database-url", url), "no drift"),
        (("db", "downgrade", "base", "--database-url", url), "downgraded to base"),
        (("db", "current", "--database-url", url), "base (never migrated)"),
        (("db", "upgrade", "--database-url", url), f"upgraded to {head}"),
        (("db", "upgrade", "--database-url", url), f"already at {head}: nothing to upgrade\n"),
        (
            ("db", "upgrade", "0001", "--database-url", url),
            f"already at {head}: nothing to upgrade; `tierline db downgrade 0001` goes back",
        ),
    ]
    runner = CliRunner()
    for args, expected in steps:
        result = runner.invoke(app, list(args))
        assert result.exit_code == 0, result.output
        assert expected in result.stdout
    assert db.check(empty_db_url) == []


def test_database_url_comes_from_the_environment(tmp_path: Path) -> None:
    target = tmp_path / "from_env.db"
    result = run_cli("db", "upgrade", env={"TIERLINE_DATABASE_URL": f"sqlite:///{target}"})
    assert result.returncode == 0, result.stderr
    assert db.current(f"sqlite:///{target}") == db.heads()[0]


def test_default_url_is_tierline_db_in_the_working_directory(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "tierline", "db", "upgrade"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=120,
        check=False,
        env={k: v for k, v in os.environ.items() if k != "TIERLINE_DATABASE_URL"},
    )
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "tierline.db").exists()


def test_check_exits_nonzero_on_drift(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'behind.db'}"
    db.upgrade(url, "0001")
    result = run_cli("db", "check", "--database-url", url)
    assert result.returncode == 1
    assert f"database is at revision 0001; head is {db.heads()[0]}" in result.stdout


def test_history_lists_every_revision() -> None:
    result = run_cli("db", "history")
    assert result.returncode == 0
    for rev in db.history():
        assert rev.revision in result.stdout


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("not a url", "cannot parse database URL"),
        (
            "postgresql://u:S3cret@host:notaport/db",
            "cannot parse database URL 'postgresql://u:***@",
        ),
        ("mariadb://u:S3cret@[::1/db", "cannot parse database URL 'mariadb://u:***@"),
        ("postgresql//u:S3cret@host/db", "cannot parse database URL 'postgresql//u:***@"),
        ("nosuchdb://x/y", "names a driver that is not available"),
        ("postgresql://postgres@127.0.0.1:1/nothing", "cannot connect to"),
        ("mariadb://root@127.0.0.1:1/nothing", "cannot connect to"),
    ],
)
def test_bad_urls_give_one_line_and_no_traceback(url: str, message: str) -> None:
    result = run_cli("db", "upgrade", "--database-url", url)
    assert result.returncode == 1
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "S3cret" not in result.stderr  # a password is never echoed
    assert lines[0].startswith("error: ") and message in lines[0]
    assert "Traceback" not in result.stderr


def test_downgrade_to_an_unknown_revision_is_a_clear_error(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'x.db'}"
    db.upgrade(url)
    result = run_cli("db", "downgrade", "nosuchrev", "--database-url", url)
    assert result.returncode == 1
    assert result.stderr.startswith("error: cannot downgrade to 'nosuchrev'")
    assert db.current(url) == db.heads()[0]
