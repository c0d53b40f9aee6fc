"""usage, seats and overrides through the CLI."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.engine import URL
from typer.testing import CliRunner

from tierline import Tierline, TierlineSettings
from tierline.catalog.spec import Catalog
from tierline.cli.app import app

from ..usage.seed import add_tiers

runner = CliRunner()


@pytest.fixture
def url(sqlite_url: URL, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A migrated SQLite URL with the metering tiers and account "a" (on the free tier)."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("TIERLINE_DATABASE_URL", raising=False)
    text = sqlite_url.render_as_string(hide_password=False)
    with Tierline(settings=TierlineSettings(database_url=text), catalog=Catalog()) as tl:
        add_tiers(tl)
        tl.ensure_account("a")
    yield text


def run(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_track_counts_then_refuses_with_one_line(url: str) -> None:
    code, out, err = run("usage", "track", "a", "quotes", "2", "--database-url", url)
    assert (code, err) == (0, "")
    assert out.startswith("counted: quotes: 2 of 3 per day, resets ")
    code, out, err = run("usage", "track", "a", "quotes", "2", "--database-url", url)
    assert code == 1
    assert err.splitlines() == [err.strip()]
    assert err.startswith("error: quota_exceeded: quotes: 2 of 3 per day")


def test_track_of_a_feature_the_tier_lacks_says_so(url: str) -> None:
    # Not "0 (unlimited)": the free tier does not include the api feature at all.
    code, out, err = run("usage", "track", "a", "api", "--database-url", url)
    assert (code, out) == (1, "")
    assert err == "error: feature_not_in_tier: the access of 'a' does not include feature 'api'\n"


def test_track_with_a_key_counts_once_and_json(url: str) -> None:
    for _ in range(2):
        code, out, _ = run(
            "usage", "track", "a", "quotes", "--key", "job-1", "--json", "--database-url", url
        )
        assert code == 0
    decision = json.loads(out)
    assert (decision["used"], decision["duplicate"], decision["limit"]) == (1, True, 3)
    code, out, _ = run("usage", "show", "a", "--json", "--database-url", url)
    assert code == 0
    assert [(d["feature"], d["used"]) for d in json.loads(out)] == [("quotes", 1)]
    code, out, _ = run("usage", "show", "a", "--database-url", url)
    assert out.startswith("quotes: 1 of 3 per day")


def test_bad_track_input_is_one_line(url: str) -> None:
    code, _, err = run("usage", "track", "a", "nope", "--database-url", url)
    assert code == 1
    assert err.startswith("error: feature 'nope' is not in the catalog")
    code, _, err = run("usage", "track", "a", "quotes", "0", "--database-url", url)
    assert (code, err.startswith("error: amount 0 is not a whole number")) == (1, True)
    code, _, err = run("usage", "show", "ghost", "--database-url", url)
    assert (code, "ghost" in err) == (1, True)


def test_seats_assign_list_unassign(url: str) -> None:
    code, out, _ = run("seats", "assign", "a", "alice", "--json", "--database-url", url)
    assert code == 0
    assert json.loads(out)["assigned"] == 1
    code, _, err = run("seats", "assign", "a", "bob", "--database-url", url)
    assert code == 1
    assert err.startswith("error: account 'a' has no free seat: 1 of 1 assigned")
    code, out, _ = run("seats", "list", "a", "--database-url", url)
    assert out.startswith("a: 1 of 1 seats assigned")
    assert "alice" in out
    code, out, _ = run("seats", "unassign", "a", "alice", "--json", "--database-url", url)
    assert (code, json.loads(out)["assigned"]) == (0, 0)


def test_overrides_set_list_clear(url: str) -> None:
    code, out, _ = run(
        "overrides", "set", "a", "quotes", "--limit", "10", "--reason", "ticket 7",
        "--by", "ops", "--until", "2099-01-01", "--json", "--database-url", url,
    )  # fmt: skip
    assert code == 0
    assert json.loads(out)["limit"] == 10
    code, out, _ = run("usage", "track", "a", "quotes", "9", "--database-url", url)
    assert (code, "9 of 10" in out) == (0, True)
    code, out, _ = run("overrides", "list", "a", "--database-url", url)
    assert out.strip() == "a quotes: granted, limit 10 until 2099-01-01 00:00 UTC (ticket 7 by ops)"
    code, out, _ = run("show-status", "a", "--json", "--database-url", url)
    assert json.loads(out)["limit_sources"] == {"quotes": "override"}
    code, out, _ = run("overrides", "clear", "a", "quotes", "--json", "--database-url", url)
    assert json.loads(out)["removed"] == 1
    code, _, err = run("overrides", "set", "a", "quotes", "--limit", "-2", "--reason", "x",
                       "--database-url", url)  # fmt: skip
    assert (code, err.startswith("error: limit -2 is out of range")) == (1, True)
