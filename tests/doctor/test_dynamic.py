"""The dynamic pass runs an app's chain through its own env.py on a scratch database."""

from __future__ import annotations

import pytest
from sqlalchemy.engine import URL

from tierline.doctor import DoctorError, assert_chain_healthy
from tierline.doctor.dynamic import run_chain

from .exhibit_helpers import EXHIBITS


def test_a_revision_that_fails_on_sqlite_is_reported_with_the_database_error() -> None:
    [found] = run_chain(EXHIBITS / "seed_003_sqlite_alters" / "alembic.ini")
    assert found.rule == "revision-fails"
    assert found.file.name == "0005_widen_quotes_symbol.py"
    assert found.line == 12
    assert found.message == (
        'upgrade of revision 0005 fails on sqlite: OperationalError: near "ALTER": syntax error'
    )


def test_the_same_chain_runs_where_alter_works_and_its_fix_runs_everywhere(
    empty_db_url: URL, dialect: str
) -> None:
    url = empty_db_url.render_as_string(hide_password=False)
    broken = run_chain(EXHIBITS / "seed_003_sqlite_alters" / "alembic.ini", url)
    if dialect == "sqlite":
        assert [f.rule for f in broken] == ["revision-fails"]
    else:
        assert broken == []


def test_the_fixed_chain_round_trips_on_every_dialect(empty_db_url: URL) -> None:
    url = empty_db_url.render_as_string(hide_password=False)
    assert run_chain(EXHIBITS / "seed_003_fixed" / "alembic.ini", url) == []


def test_a_downgrade_that_does_nothing_fails_the_second_upgrade() -> None:
    [found] = run_chain(EXHIBITS / "dynamic_downgrade_pass" / "alembic.ini")
    assert found.rule == "revision-fails"
    assert found.file.name == "0002_teams.py"
    assert found.message == (
        "upgrade again of revision 0002 fails on sqlite: OperationalError: "
        "table teams already exists"
    )


def test_model_drift_is_reported_when_the_env_has_target_metadata() -> None:
    [found] = run_chain(EXHIBITS / "dynamic_model_drift" / "alembic.ini")
    assert found.rule == "model-drift"
    assert "add_column users nickname" in found.message


def test_flask_migrate_without_an_app_context_is_a_clear_error() -> None:
    with pytest.raises(DoctorError, match="needs a Flask application context"):
        run_chain(EXHIBITS / "flask_migrate_app" / "migrations")


def test_a_chain_without_alembic_ini_cannot_run() -> None:
    with pytest.raises(DoctorError, match=r"no alembic\.ini"):
        run_chain(EXHIBITS / "try_in_batch" / "migrations")


def test_a_bad_url_is_refused_by_name() -> None:
    with pytest.raises(DoctorError, match="'nonsense' is not a database URL"):
        run_chain(EXHIBITS / "seed_003_fixed" / "alembic.ini", "nonsense")


def test_assert_chain_healthy_lists_the_faults() -> None:
    with pytest.raises(AssertionError) as raised:
        assert_chain_healthy(EXHIBITS / "seed_003_sqlite_alters" / "alembic.ini", urls=["sqlite"])
    text = str(raised.value)
    assert text.startswith("8 migration fault(s) in ")
    assert "0005_widen_quotes_symbol.py:12: revision-fails" in text
    assert "conftest.py:10: chain-not-run-from-empty" in text


def test_assert_chain_healthy_passes_a_healthy_chain() -> None:
    assert assert_chain_healthy(EXHIBITS / "seed_003_fixed" / "alembic.ini", urls=["sqlite"]) == []


def test_a_none_name_the_naming_convention_fills_really_runs() -> None:
    # The static pass lets the create through (the convention names it) but not the drop:
    # Alembic cannot fill a column-based pattern for a drop that names no column.
    [found] = run_chain(EXHIBITS / "lookalike_naming_convention" / "alembic.ini")
    assert found.rule == "revision-fails"
    assert found.message == (
        "downgrade of revision 7777aaaa0001 fails on sqlite: "
        "ValueError: No such constraint: 'uq_users_'"
    )
