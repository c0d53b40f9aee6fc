"""``tierline db downgrade`` lists the rows it would drop and asks first (every dialect)."""

from __future__ import annotations

import pytest
from sqlalchemy.engine import URL
from typer.testing import CliRunner

from tierline import Tierline, db
from tierline.catalog.spec import Catalog
from tierline.cli import db as db_cli
from tierline.cli.app import app

runner = CliRunner()


@pytest.fixture
def url_with_rows(empty_db_url: URL) -> str:
    """A database at head holding two accounts and one credit grant."""
    url = empty_db_url.render_as_string(hide_password=False)
    db.upgrade(url)
    with Tierline(url, catalog=Catalog()) as tl:
        tl.ensure_account("a")
        tl.ensure_account("b")
        tl.grant_credit("a", days=3)
    return url


def downgrade(url: str, *extra: str, stdin: str | None = None) -> tuple[int, str, str]:
    result = runner.invoke(app, ["db", "downgrade", "base", "--database-url", url, *extra], stdin)
    assert "Traceback" not in result.output
    return result.exit_code, result.stdout, result.stderr


def test_losses_list_tables_holding_rows(url_with_rows: str) -> None:
    losses = db.downgrade_losses(url_with_rows, "base")
    assert {(loss.table, loss.rows) for loss in losses} == {
        ("tierline_account", 2),
        ("tierline_credit_grant", 1),
    }
    # Downgrading one step drops no table (0003 drops an index only).
    assert db.downgrade_losses(url_with_rows, "-1") == []


def test_without_a_terminal_and_without_yes_it_refuses(url_with_rows: str) -> None:
    code, _out, err = downgrade(url_with_rows)
    assert code == 1
    assert err.splitlines() == [
        "error: downgrading to 'base' would drop tierline_credit_grant (1 row), "
        "tierline_account (2 rows); run again with --yes to confirm"
    ]
    assert db.current(url_with_rows) == db.heads()[0]


def test_yes_drops_them(url_with_rows: str) -> None:
    code, out, _err = downgrade(url_with_rows, "--yes")
    assert code == 0, out
    assert "downgraded to base" in out
    assert db.current(url_with_rows) is None


def test_at_a_terminal_it_asks_and_no_keeps_everything(
    url_with_rows: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(db_cli, "stdin_is_interactive", lambda: True)
    code, out, err = downgrade(url_with_rows, stdin="n\n")
    assert code == 1
    assert "tierline_account: 2 rows" in out
    assert "tierline_credit_grant: 1 row" in out
    assert "Drop them?" in out
    assert err == "downgrade cancelled; nothing changed\n"
    assert db.current(url_with_rows) == db.heads()[0]

    code, out, _err = downgrade(url_with_rows, stdin="y\n")
    assert code == 0, out
    assert db.current(url_with_rows) is None


def test_a_downgrade_that_loses_nothing_does_not_ask(empty_db_url: URL) -> None:
    url = empty_db_url.render_as_string(hide_password=False)
    db.upgrade(url)
    code, out, _err = downgrade(url)
    assert code == 0, out
    assert db.current(url) is None
