"""``flask tierline ...``: the whole Tierline CLI mounted on a Flask app."""

from __future__ import annotations

from flask import Flask

from tierline import Tierline, db

from .apps import build_flask_app


def _app(tl: Tierline) -> Flask:
    app = build_flask_app(tl)
    app.config["TESTING"] = True
    return app


def test_flask_tierline_db_current_reads_the_apps_database(sqlite_tl: Tierline) -> None:
    runner = _app(sqlite_tl).test_cli_runner()
    result = runner.invoke(args=["tierline", "db", "current"])
    assert result.exit_code == 0, result.output
    assert f"{db.heads()[0]} (head)" in result.output


def test_flask_tierline_forwards_options_help_and_exit_codes(sqlite_tl: Tierline) -> None:
    runner = _app(sqlite_tl).test_cli_runner()
    helped = runner.invoke(args=["tierline", "--help"])
    assert helped.exit_code == 0
    assert "flask tierline" in helped.output
    assert "db" in helped.output
    unknown = runner.invoke(args=["tierline", "no-such-command"])
    assert unknown.exit_code == 2
    explicit = runner.invoke(
        args=["tierline", "db", "current", "--database-url", "sqlite:///:memory:"]
    )
    assert explicit.exit_code == 0, explicit.output
    assert "base (never migrated)" in explicit.output
