"""The dynamic pass runs an app's chain through its own env.py on a scratch database."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
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


class _RecordedProgress:
    def __init__(self) -> None:
        self.total = 0
        self.steps = 0

    def start(self, total: int) -> None:
        self.total = total

    def advance(self) -> None:
        self.steps += 1


def test_seed_reports_the_revision_that_recreates_a_table_and_loses_its_rows(
    empty_db_url: URL,
) -> None:
    url = empty_db_url.render_as_string(hide_password=False)
    [found] = run_chain(EXHIBITS / "dynamic_seed_rows_lost" / "alembic.ini", url, seed=True)
    assert found.rule == "rows-lost"
    assert found.severity == "error"
    assert found.file.name == "0002_short_note_bodies.py"
    assert found.line == 22
    assert found.message == (
        f"upgrade of revision 0002 loses 1 seeded row of table 'notes' on "
        f"{empty_db_url.get_backend_name()} (seeded after revision 0001); "
        "the table stays, its rows go"
    )


def test_without_seed_the_lossy_chain_runs_clean() -> None:
    assert run_chain(EXHIBITS / "dynamic_seed_rows_lost" / "alembic.ini") == []


def test_seed_finds_nothing_when_batch_mode_copies_the_rows_and_a_table_is_dropped(
    empty_db_url: URL,
) -> None:
    url = empty_db_url.render_as_string(hide_password=False)
    assert run_chain(EXHIBITS / "dynamic_seed_healthy" / "alembic.ini", url, seed=True) == []


def test_seed_skips_a_table_it_cannot_fill_with_a_warning() -> None:
    [found] = run_chain(EXHIBITS / "dynamic_seed_unfillable" / "alembic.ini", seed=True)
    assert found.rule == "seed-skipped"
    assert found.severity == "warning"
    assert found.file.name == "0001_codes.py"
    assert found.message.startswith(
        "--seed cannot insert a row into table 'currencies' after revision 0001 on sqlite: "
        "IntegrityError: CHECK constraint failed"
    )


def test_seed_on_tierlines_own_chain_finds_nothing(empty_db_url: URL, tmp_path: Path) -> None:
    from tierline.db.migrate import MIGRATIONS_DIR

    ini = tmp_path / "alembic.ini"
    ini.write_text(f"[alembic]\nscript_location = {MIGRATIONS_DIR}\n")
    url = empty_db_url.render_as_string(hide_password=False)
    assert run_chain(ini, url, seed=True) == []


@pytest.mark.parametrize("seed", [False, True])
def test_progress_hears_every_revision_step(seed: bool) -> None:
    progress = _RecordedProgress()
    assert (
        run_chain(EXHIBITS / "dynamic_seed_healthy" / "alembic.ini", seed=seed, progress=progress)
        == []
    )
    # 3 revisions: upgrade, downgrade to base, upgrade again.
    assert (progress.total, progress.steps) == (9, 9)


def test_seed_still_reports_the_revision_that_fails() -> None:
    [found] = run_chain(EXHIBITS / "seed_003_sqlite_alters" / "alembic.ini", seed=True)
    assert (found.rule, found.file.name, found.line) == (
        "revision-fails",
        "0005_widen_quotes_symbol.py",
        12,
    )
    assert found.message == (
        "seeded upgrade of revision 0005 fails on sqlite: OperationalError: "
        'near "ALTER": syntax error'
    )


def test_seed_on_a_longer_healthy_chain_finds_nothing() -> None:
    assert run_chain(EXHIBITS / "seed_003_fixed" / "alembic.ini", seed=True) == []


def test_assert_chain_healthy_with_seed_lists_the_lost_rows() -> None:
    path = EXHIBITS / "dynamic_seed_rows_lost" / "alembic.ini"
    assert assert_chain_healthy(path, urls=["sqlite"]) == []
    with pytest.raises(AssertionError, match=r"0002_short_note_bodies\.py:22: rows-lost"):
        assert_chain_healthy(path, urls=["sqlite"], seed=True)


@pytest.mark.parametrize(
    ("kind", "expected"),
    [
        (sa.Float(), 7.0),
        (sa.FLOAT(), 7.0),  # what SQLite reflects
        (postgresql.DOUBLE_PRECISION(), 7.0),  # what PostgreSQL reflects
        (sa.Numeric(10, 2), 7),
        (sa.Integer(), 7),
    ],
    ids=repr,
)
def test_seed_fills_numeric_and_float_columns(
    kind: sa.types.TypeEngine[object], expected: object
) -> None:
    from tierline.doctor.seed import _value

    value = _value(sa.Column("amount", kind, nullable=False), 7, 0, [])
    assert value == expected
    assert type(value) is type(expected)


def test_a_database_that_has_tables_is_refused_and_left_as_it_was(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'app.db'}"
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE TABLE customers (id INTEGER PRIMARY KEY)"))
        conn.execute(sa.text("INSERT INTO customers (id) VALUES (1)"))
    with pytest.raises(DoctorError) as raised:
        run_chain(EXHIBITS / "seed_003_fixed" / "alembic.ini", url)
    assert str(raised.value) == (
        f"--run {url}: the database already has 1 table (customers); the run downgrades the "
        "chain to base, so give an empty scratch database (drop and create it again after a run)"
    )
    with engine.connect() as conn:
        assert sa.inspect(conn).get_table_names() == ["customers"]
        assert conn.execute(sa.text("SELECT id FROM customers")).scalars().all() == [1]
    engine.dispose()


def test_a_database_left_by_an_earlier_run_is_refused(empty_db_url: URL) -> None:
    url = empty_db_url.render_as_string(hide_password=False)
    assert run_chain(EXHIBITS / "seed_003_fixed" / "alembic.ini", url) == []
    with pytest.raises(DoctorError, match="the database already has"):
        run_chain(EXHIBITS / "seed_003_fixed" / "alembic.ini", url)
