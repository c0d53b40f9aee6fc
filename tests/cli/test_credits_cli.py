"""grant-credit, revoke-credit, show-status and assign-exempt through the CLI."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy.engine import URL
from typer.testing import CliRunner

from tierline import Tierline, TierlineSettings
from tierline.catalog.spec import Catalog
from tierline.cli.app import app

from ..access.seed import add_tiers
from .process import run_process

runner = CliRunner()


@pytest.fixture
def url(sqlite_url: URL, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A migrated SQLite URL with tiers and account "a"; the working directory has no catalog."""
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


def history(url: str, ref: str = "a") -> list[object]:
    with Tierline(settings=TierlineSettings(database_url=url), catalog=Catalog()) as tl:
        return list(tl.credits.history(ref))


def test_grant_show_revoke(url: str) -> None:
    code, out, _ = run(
        "grant-credit", "a", "--days", "12", "--reason", "beta", "--database-url", url
    )
    assert code == 0, out
    expires = (datetime.now(UTC) + timedelta(days=12)).date().isoformat()
    assert f"free · credit · 12 day(s) remaining (expires {expires})" in out

    code, out, _ = run("show-status", "a", "--json", "--database-url", url)
    assert code == 0
    data = json.loads(out)
    assert {k: data[k] for k in ("active", "source", "tier", "days_remaining", "reason")} == {
        "active": True,
        "source": "credit",
        "tier": "free",
        "days_remaining": 12,
        "reason": None,
    }
    assert data["expires_at"].startswith(expires)
    # No credit_tier in the catalog: the top paid tier (team) is the credit tier.
    assert data["features"] == ["api", "basic", "export", "sso"]

    code, out, _ = run("show-status", "a", "--database-url", url)
    assert code == 0 and "a: free · credit · 12 day(s) remaining" in out
    assert "limit api: 10000 per month" in out

    code, out, _ = run("revoke-credit", "a", "--database-url", url)
    assert code == 0
    assert "revoked 1 credit grant(s) of a" in out
    assert "free · no paid access: no subscription" in out


def test_grant_until_a_date_and_idempotency_key(url: str) -> None:
    until = (datetime.now(UTC) + timedelta(days=40)).date().isoformat()
    for _ in range(2):
        code, out, _ = run(
            "grant-credit", "a", "--until", until, "--key", "k1", "--database-url", url
        )
        assert code == 0, out
        assert f"(expires {until})" in out
    assert len(history(url)) == 1


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("grant-credit", "ghost", "--days", "5"), "error: no account with ref 'ghost'"),
        (("grant-credit", "a", "--days", "0"), "error: days 0 is not valid"),
        (("grant-credit", "a", "--days", "-4"), "error: days -4 is not valid"),
        (("grant-credit", "a"), "error: give exactly one of --days N or --until DATE"),
        (
            ("grant-credit", "a", "--days", "3", "--until", "2030-01-01"),
            "error: give exactly one of --days N or --until DATE",
        ),
        (
            ("grant-credit", "a", "--until", "2026-13-45"),
            "error: --until '2026-13-45' is not a date",
        ),
        (
            ("grant-credit", "a", "--until", "2001-01-01"),
            "error: until 2001-01-01T00:00:00+00:00 is not",
        ),
        (("revoke-credit", "ghost"), "error: no account with ref 'ghost'"),
        (("show-status", "ghost"), "error: no account with ref 'ghost'"),
        (("assign-exempt", "a", "pro"), "error: tier 'pro' is not an exempt tier"),
        (("assign-exempt", "ghost", "staff"), "error: no account with ref 'ghost'"),
    ],
)
def test_bad_input_is_one_line_and_changes_nothing(
    url: str, args: tuple[str, ...], message: str
) -> None:
    code, out, err = run(*args, "--database-url", url)
    assert code == 1
    assert out == ""
    assert err.strip().splitlines() == [err.strip()]
    assert err.startswith(message)
    assert history(url) == []


def test_an_unknown_account_names_the_command_that_creates_it(url: str) -> None:
    for command in (("show-status", "ghost"), ("seats", "list", "ghost")):
        code, _, err = run(*command, "--database-url", url)
        assert code == 1
        assert "create it first: `tierline accounts add ghost`" in err


def test_assign_exempt(url: str) -> None:
    code, out, _ = run("assign-exempt", "a", "staff", "--database-url", url)
    assert code == 0
    assert "a: staff · exempt · no expiry" in out


def test_error_from_the_real_entry_point_has_no_traceback(url: str) -> None:
    result = run_process(["grant-credit", "a", "--days", "-1", "--database-url", url])
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr.strip().splitlines() == [
        "error: days -1 is not valid: give a whole number from 1 to 36500"
    ]
    assert history(url) == []
