"""The dynamic pass on Flask-Migrate chains: their env.py reads the app, which the doctor makes.

``flask_migrate_app`` is Flask-Migrate's own template (env.py, alembic.ini) with a factory
``fm_quotes_app:create_app``; ``flask_migrate_faulty`` widens a column outside batch mode,
which only SQLite refuses.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import URL

from tierline.doctor import DoctorError, assert_chain_healthy
from tierline.doctor.dynamic import run_chain

from .exhibit_helpers import EXHIBITS

HEALTHY = EXHIBITS / "flask_migrate_app" / "migrations"
FAULTY = EXHIBITS / "flask_migrate_faulty" / "migrations"


@pytest.fixture(autouse=True)
def _no_flask_app_in_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FLASK_APP", raising=False)


def _tables(url: str) -> set[str]:
    engine = sa.create_engine(url)
    try:
        return set(sa.inspect(engine).get_table_names())
    finally:
        engine.dispose()


def test_a_healthy_flask_migrate_chain_runs_clean_on_every_dialect(empty_db_url: URL) -> None:
    url = empty_db_url.render_as_string(hide_password=False)
    assert run_chain(HEALTHY, url, app="fm_quotes_app:create_app") == []
    # The chain really ran there: upgraded, downgraded to base, upgraded again.
    assert _tables(url) == {"alembic_version", "users", "quotes"}


def test_the_apps_own_database_is_never_touched(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    own = tmp_path / "own.db"
    monkeypatch.setenv("QUOTES_DATABASE_URL", f"sqlite:///{own}")
    scratch = f"sqlite:///{tmp_path / 'scratch.db'}"
    assert run_chain(HEALTHY, scratch, app="fm_quotes_app:create_app") == []
    assert _tables(scratch) == {"alembic_version", "users", "quotes"}
    assert _tables(f"sqlite:///{own}") == set()


def test_a_flask_migrate_revision_that_fails_on_sqlite_is_reported(empty_db_url: URL) -> None:
    url = empty_db_url.render_as_string(hide_password=False)
    found = run_chain(FAULTY, url, app="fm_faulty_app:create_app")
    if empty_db_url.get_backend_name() != "sqlite":
        assert found == []  # PostgreSQL and MariaDB ALTER the column in place
        return
    [failure] = found
    assert failure.rule == "revision-fails"
    assert failure.file.name == "2b3c4d5e6f7a_widen_symbol.py"
    assert failure.line == 20
    assert failure.message == (
        "upgrade of revision 2b3c4d5e6f7a fails on sqlite: OperationalError: "
        'near "ALTER": syntax error'
    )


def test_seed_runs_on_a_flask_migrate_chain(empty_db_url: URL) -> None:
    url = empty_db_url.render_as_string(hide_password=False)
    assert run_chain(HEALTHY, url, seed=True, app="fm_quotes_app:create_app") == []


def test_flask_app_names_the_app_when_no_app_is_given(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLASK_APP", "fm_quotes_app")  # the module's `app`, as flask finds it
    assert run_chain(HEALTHY) == []
    monkeypatch.setenv("FLASK_APP", "fm_faulty_app:create_app()")
    assert [f.rule for f in run_chain(FAULTY)] == ["revision-fails"]


def test_flask_app_is_ignored_by_a_chain_whose_env_needs_no_app(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("FLASK_APP", "no_such_flask_module:create_app")
    assert run_chain(EXHIBITS / "seed_003_fixed" / "alembic.ini") == []


def test_without_an_app_the_error_names_the_option() -> None:
    with pytest.raises(DoctorError, match=r"needs a Flask application context.*--app"):
        run_chain(HEALTHY)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (
            "no_such_module:create_app",
            "--app 'no_such_module:create_app': no module named 'no_such_module' (run from the "
            "project folder, or give the module's import path)",
        ),
        (
            "fm_quotes_app:no_such_factory",
            "--app 'fm_quotes_app:no_such_factory': module 'fm_quotes_app' has no attribute "
            "'no_such_factory'",
        ),
        (
            "fm_quotes_app:create_broken_app",
            "--app 'fm_quotes_app:create_broken_app': create_broken_app() raised RuntimeError: "
            "QUOTES_SECRET_KEY is not set",
        ),
        (
            "fm_quotes_app:db",
            "--app 'fm_quotes_app:db': fm_quotes_app.db is a SQLAlchemy, neither a Flask app "
            "nor a factory",
        ),
        (
            "fm_quotes_app:create_app(testing=True)",
            "--app 'fm_quotes_app:create_app(testing=True)': give the app as module:name or "
            "module:create_app (a factory is called without arguments)",
        ),
    ],
)
def test_a_bad_app_is_one_clear_error(spec: str, message: str) -> None:
    with pytest.raises(DoctorError) as raised:
        run_chain(HEALTHY, app=spec)
    assert str(raised.value) == message


def test_an_app_without_flask_migrate_is_named() -> None:
    with pytest.raises(DoctorError, match=r"extensions\['migrate'\], which the app does not have"):
        run_chain(HEALTHY, app="fm_quotes_app:create_app_without_migrate")


def test_assert_chain_healthy_runs_a_flask_migrate_chain_in_its_app() -> None:
    assert assert_chain_healthy(HEALTHY, urls=["sqlite"], app="fm_quotes_app:create_app") == []
    with pytest.raises(AssertionError) as raised:
        assert_chain_healthy(FAULTY, urls=["sqlite"], seed=True, app="fm_faulty_app:create_app")
    text = str(raised.value)
    assert "2b3c4d5e6f7a_widen_symbol.py:20: revision-fails: seeded upgrade of revision" in text
    assert text.startswith("3 migration fault(s) in ")


def test_a_flask_migrate_chain_without_alembic_ini_runs_given_its_app(tmp_path: Path) -> None:
    project = tmp_path / "project"
    shutil.copytree(EXHIBITS / "flask_migrate_faulty", project)
    (project / "migrations" / "alembic.ini").unlink()
    assert [f.rule for f in run_chain(project / "migrations", app="fm_faulty_app:create_app")] == [
        "revision-fails"
    ]
