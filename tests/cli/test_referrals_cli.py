"""``tierline referrals code`` and ``tierline referrals stats``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy.engine import URL
from typer.testing import CliRunner

from tierline import Tierline, TierlineSettings
from tierline.catalog.spec import Catalog
from tierline.cli.app import app
from tierline.referrals.codes import ALPHABET

runner = CliRunner()


@pytest.fixture
def url(sqlite_url: URL, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.chdir(tmp_path)
    return sqlite_url.render_as_string(hide_password=False)


def test_code_then_stats(url: str) -> None:
    with Tierline(settings=TierlineSettings(database_url=url), catalog=Catalog()) as tl:
        tl.ensure_account("alice")
    result = runner.invoke(app, ["referrals", "code", "alice", "--database-url", url])
    assert result.exit_code == 0
    code = result.stdout.strip()
    assert len(code) == 8 and set(code) <= set(ALPHABET)
    again = runner.invoke(app, ["referrals", "code", "alice", "--database-url", url])
    assert again.stdout.strip() == code

    with Tierline(settings=TierlineSettings(database_url=url), catalog=Catalog()) as tl:
        tl.attribute_referral("bob", code)
    result = runner.invoke(app, ["referrals", "stats", "alice", "--json", "--database-url", url])
    assert result.exit_code == 0
    assert json.loads(result.stdout) == {
        "code": code,
        "pending": 1,
        "converted": 0,
        "credited": 0,
        "active_credits": 0,
    }
    result = runner.invoke(app, ["referrals", "stats", "alice", "--database-url", url])
    assert f"code: {code}" in result.stdout
    assert "pending 1 · converted 0 · credited 0 · active credits 0" in result.stdout


def test_unknown_account_is_an_error(url: str) -> None:
    for command in ("code", "stats"):
        result = runner.invoke(app, ["referrals", command, "ghost", "--database-url", url])
        assert result.exit_code == 1
        assert result.stderr.startswith("error: no account with ref 'ghost'")
