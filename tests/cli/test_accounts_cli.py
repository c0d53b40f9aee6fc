"""``tierline accounts add | list`` through Typer's in-process runner."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy.engine import URL
from typer.testing import CliRunner

from tierline.cli.app import app

sqlite_only = pytest.mark.parametrize("dialect", ["sqlite"])


@pytest.fixture
def runner(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("TIERLINE_CATALOG", raising=False)
    return CliRunner()


@sqlite_only
def test_add_then_list(runner: CliRunner, db_url: URL) -> None:
    url = ["--database-url", db_url.render_as_string(hide_password=False)]

    first = runner.invoke(app, ["accounts", "add", "acme", "--email", "ops@acme.test", *url])
    assert first.exit_code == 0, first.output
    assert first.stdout.startswith("account acme <ops@acme.test> (id ")
    again = runner.invoke(app, ["accounts", "add", "acme", "--json", *url])
    assert json.loads(again.stdout)["email"] == "ops@acme.test"
    assert runner.invoke(app, ["accounts", "add", "globex", *url]).exit_code == 0

    listed = runner.invoke(app, ["accounts", "list", "--json", *url])
    assert listed.exit_code == 0, listed.output
    rows = json.loads(listed.stdout)
    assert [(row["ref"], row["email"]) for row in rows] == [
        ("acme", "ops@acme.test"),
        ("globex", None),
    ]
    assert rows[0]["id"] == json.loads(again.stdout)["id"]

    table = runner.invoke(app, ["accounts", "list", *url])
    assert "acme" in table.stdout and "globex" in table.stdout
    paged = runner.invoke(
        app, ["accounts", "list", "--json", "--limit", "1", "--offset", "1", *url]
    )
    assert [row["ref"] for row in json.loads(paged.stdout)] == ["globex"]


@sqlite_only
def test_a_bad_email_is_a_one_line_error_and_adds_nothing(runner: CliRunner, db_url: URL) -> None:
    url = ["--database-url", db_url.render_as_string(hide_password=False)]

    result = runner.invoke(app, ["accounts", "add", "acme", "--email", "not-an-email", *url])

    assert result.exit_code == 1
    assert result.stderr == (
        "error: email 'not-an-email' is not an email address like name@example.com\n"
    )
    assert json.loads(runner.invoke(app, ["accounts", "list", "--json", *url]).stdout) == []
    empty = runner.invoke(app, ["accounts", "list", *url])
    assert empty.stdout == "no accounts\n"


def test_linking_a_customer_of_the_disabled_fake_provider_is_refused(
    runner: CliRunner, db_url: URL, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("TIERLINE_ENABLE_FAKE_PROVIDER", raising=False)
    url = ["--database-url", db_url.render_as_string(hide_password=False)]

    result = runner.invoke(
        app, ["accounts", "link", "acme", "--provider", "fake", "--customer", "c1", *url]
    )

    assert result.exit_code == 1
    assert result.stderr.startswith("error: unknown billing provider 'fake'; valid: stripe")
    assert "fake" not in result.stderr.split("valid:")[1]
    assert json.loads(runner.invoke(app, ["accounts", "list", "--json", *url]).stdout) == []
