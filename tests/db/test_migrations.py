"""The migration chain, run for real on SQLite, PostgreSQL and MariaDB."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Column, Integer, MetaData, String, Table, inspect, text
from sqlalchemy.engine import URL

from tierline import db
from tierline.db.migrate import MIGRATIONS_DIR
from tierline.db.models import Base

from .migration_helpers import assert_rows_survive

TIERLINE_TABLES = {table.name for table in Base.metadata.sorted_tables}


def table_names(url: URL) -> set[str]:
    engine = db.make_engine(url)
    try:
        return set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


def test_upgrade_from_empty_gives_every_table_and_no_drift(empty_db_url: URL) -> None:
    assert db.current(empty_db_url) is None
    db.upgrade(empty_db_url)
    assert db.current(empty_db_url) == db.heads()[0]
    assert table_names(empty_db_url) >= TIERLINE_TABLES
    assert db.check(empty_db_url) == []


def test_downgrade_to_base_then_upgrade_again(empty_db_url: URL) -> None:
    db.upgrade(empty_db_url)
    db.downgrade(empty_db_url, "base")
    left = {name for name in table_names(empty_db_url) if name.startswith("tierline_")}
    # Only Alembic's version table (now empty) may remain.
    assert left <= {db.VERSION_TABLE}
    assert db.current(empty_db_url) is None
    db.upgrade(empty_db_url)
    assert db.check(empty_db_url) == []


def test_each_revision_steps_down_and_up(empty_db_url: URL) -> None:
    revisions = [rev.revision for rev in db.history()]
    for rev in revisions:
        db.upgrade(empty_db_url, rev)
        assert db.current(empty_db_url) == rev
    for rev in reversed(revisions[:-1]):
        db.downgrade(empty_db_url, rev)
        assert db.current(empty_db_url) == rev
    db.downgrade(empty_db_url, "base")
    db.upgrade(empty_db_url)
    assert db.check(empty_db_url) == []


def test_every_constraint_and_index_has_an_explicit_short_name(db_url: URL) -> None:
    engine = db.make_engine(db_url)
    names: list[str] = []
    try:
        inspector = inspect(engine)
        for table in sorted(TIERLINE_TABLES):
            pk = inspector.get_pk_constraint(table)
            # MySQL and MariaDB call every primary key PRIMARY, whatever name it was given.
            if engine.dialect.name not in ("mysql", "mariadb"):
                names.append(pk["name"] or f"<unnamed pk on {table}>")
            kinds = (
                inspector.get_foreign_keys(table),
                inspector.get_unique_constraints(table),
                inspector.get_indexes(table),
                inspector.get_check_constraints(table),
            )
            for kind in kinds:
                for item in kind:
                    names.append(item["name"] or f"<unnamed constraint on {table}>")
    finally:
        engine.dispose()
    assert names, "reflection found no constraints at all"
    unnamed = [name for name in names if name.startswith("<unnamed")]
    assert unnamed == []
    too_long = [name for name in names if len(name) > 63]
    assert too_long == []
    assert all(re.fullmatch(r"(pk|fk|uq|ix|ck)_tierline_\w+", name) for name in names), names


def test_check_reports_a_database_behind_head(empty_db_url: URL) -> None:
    first = db.history()[0].revision
    db.upgrade(empty_db_url, first)
    problems = db.check(empty_db_url)
    assert problems[0] == f"database is at revision {first}; head is {db.heads()[0]}"
    assert any("tierline_event is missing from the database" in p for p in problems)


def test_check_reports_a_column_the_models_do_not_have(db_url: URL) -> None:
    engine = db.make_engine(db_url)
    try:
        with engine.begin() as conn:
            conn.execute(text("ALTER TABLE tierline_feature ADD COLUMN stray INTEGER"))
        assert db.check(db_url) == ["column tierline_feature.stray is not in the models"]
    finally:
        with engine.begin() as conn:
            if engine.dialect.name == "sqlite":
                conn.execute(text("ALTER TABLE tierline_feature DROP COLUMN stray"))
            else:
                conn.execute(text("ALTER TABLE tierline_feature DROP COLUMN stray"))
        engine.dispose()
    assert db.check(db_url) == []


def test_host_tables_and_version_table_are_left_alone(empty_db_url: URL) -> None:
    engine = db.make_engine(empty_db_url)
    try:
        with engine.begin() as conn:
            conn.execute(text("CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL)"))
            conn.execute(text("INSERT INTO alembic_version VALUES ('hostrev1')"))
            conn.execute(text("CREATE TABLE users (id INTEGER PRIMARY KEY)"))
        db.upgrade(empty_db_url)
        # Tierline's drift check ignores the host's tables...
        assert db.check(empty_db_url) == []
        db.downgrade(empty_db_url, "base")
        with engine.connect() as conn:
            assert conn.execute(text("SELECT version_num FROM alembic_version")).scalar() == (
                "hostrev1"
            )
        assert {"users", "alembic_version"} <= table_names(empty_db_url)
    finally:
        engine.dispose()


def test_include_object_keeps_host_autogenerate_off_tierline_tables(db_url: URL) -> None:
    host = MetaData()
    Table("users", host, Column("id", Integer, primary_key=True), Column("name", String(50)))
    engine = db.make_engine(db_url)
    try:
        with engine.connect() as conn:
            naive = compare_metadata(MigrationContext.configure(conn), host)
            guarded = compare_metadata(
                MigrationContext.configure(conn, opts={"include_object": db.include_object}),
                host,
            )
    finally:
        engine.dispose()
    removed = {d[1].name for d in naive if d[0] == "remove_table"}
    assert "tierline_account" in removed, "without the hook the host would drop Tierline tables"
    assert [d[0] for d in guarded] == ["add_table"]
    assert guarded[0][1].name == "users"


def test_rows_survive_the_upgrade_from_0001_to_0002(empty_db_url: URL) -> None:
    after = assert_rows_survive(
        empty_db_url,
        at="0001",
        to="0002",
        rows={
            "tierline_tier": [
                {
                    "id": 1,
                    "key": "pro",
                    "name": "Pro",
                    "seats": 5,
                    "customer_facing": True,
                    "exempt": False,
                    "sort_order": 2,
                    "retired": False,
                    "created_at": _naive("2026-01-02 03:04:05.123456"),
                    "updated_at": _naive("2026-01-02 03:04:05.123456"),
                }
            ],
            "tierline_account": [
                {
                    "id": 1,
                    "ref": "user-1",
                    "email": "a@example.com",
                    "referral_code": "ABCD2345",
                    "created_at": _naive("2026-01-01 00:00:00"),
                },
                {
                    "id": 2,
                    "ref": "user-2",
                    "referred_by_id": 1,
                    "created_at": _naive("2026-01-01 00:00:01"),
                },
            ],
        },
    )
    assert after["tierline_account"][1]["referred_by_id"] == 1


def test_subscriptions_survive_the_upgrade_from_0002_to_0003(empty_db_url: URL) -> None:
    created = _naive("2026-02-03 04:05:06.000007")
    assert_rows_survive(
        empty_db_url,
        at="0002",
        to="0003",
        rows={
            "tierline_account": [{"id": 1, "ref": "org-1", "created_at": created}],
            "tierline_subscription": [
                {
                    "id": 1,
                    "account_id": 1,
                    "provider": "stripe",
                    "external_id": "sub_1",
                    "customer_id": "cus_1",
                    "status": "active",
                    "current_period_end": created,
                    "cancel_at_period_end": False,
                    "quantity": 2,
                    "provider_updated_at": created,
                    "created_at": created,
                    "updated_at": created,
                }
            ],
        },
    )


def test_subscriptions_survive_the_upgrade_from_0003_to_0004(empty_db_url: URL) -> None:
    created = _naive("2026-02-03 04:05:06.000007")
    failed = _naive("2026-02-04 00:00:00.5")

    def row(id_: int, status: str, **extra: object) -> dict[str, object]:
        return {
            "id": id_,
            "account_id": 1,
            "provider": "stripe",
            "external_id": f"sub_{id_}",
            "customer_id": "cus_1",
            "status": status,
            "current_period_end": created,
            "cancel_at_period_end": True,
            "quantity": 3,
            "created_at": created,
            "updated_at": created,
            **extra,
        }

    after = assert_rows_survive(
        empty_db_url,
        at="0003",
        to="0004",
        rows={
            "tierline_account": [{"id": 1, "ref": "org-1", "created_at": created}],
            "tierline_subscription": [
                row(1, "active", provider_updated_at=created),
                row(2, "past_due", provider_updated_at=failed),
                row(3, "past_due"),
            ],
        },
    )
    subs = after["tierline_subscription"]
    assert [s["provider_rank"] for s in subs] == [0, 0, 0]
    assert [s["cancel_at"] for s in subs] == [None, None, None]
    assert [s["livemode"] for s in subs] == [None, None, None]
    # Rows already past due count their grace from their last known change.
    assert [s["past_due_since"] for s in subs] == [None, failed, created]


def test_rows_survive_the_upgrade_to_0006_and_its_tables_take_new_rows(empty_db_url: URL) -> None:
    created = _naive("2026-03-04 05:06:07.000008")
    assert_rows_survive(
        empty_db_url,
        at="0005",
        to="0006",
        rows={
            "tierline_account": [{"id": 1, "ref": "org-1", "created_at": created}],
            "tierline_credit_grant": [
                {
                    "id": 1,
                    "account_id": 1,
                    "starts_at": created,
                    "expires_at": _naive("2026-04-04 05:06:07"),
                    "created_at": created,
                }
            ],
        },
    )
    engine = db.make_engine(empty_db_url)
    try:
        with engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO tierline_usage (account_id, feature, period_start, used, "
                    "updated_at) VALUES (1, 'quotes', :at, 3, :at)"
                ),
                {"at": created},
            )
            conn.execute(
                text(
                    "INSERT INTO tierline_seat (account_id, member_ref, created_at) "
                    "VALUES (1, 'alice', :at)"
                ),
                {"at": created},
            )
            conn.execute(
                text(
                    "INSERT INTO tierline_override (account_id, feature, reason, created_at) "
                    "VALUES (1, 'beta', 'early access', :at)"
                ),
                {"at": created},
            )
            enabled = conn.scalar(text("SELECT enabled FROM tierline_override"))
        assert bool(enabled) is True  # the server default grants
    finally:
        engine.dispose()
    db.downgrade(empty_db_url, "0005")
    db.upgrade(empty_db_url)


def _naive(value: str):  # type: ignore[no-untyped-def]
    from datetime import datetime

    return datetime.fromisoformat(value)


def test_the_chain_has_exactly_one_head() -> None:
    assert len(db.heads()) == 1


REVISION_FILES = sorted((MIGRATIONS_DIR / "versions").glob("*.py"))


@pytest.mark.parametrize("path", REVISION_FILES, ids=lambda p: p.name)
def test_revision_files_are_dated_and_downgrade_does_something(path: Path) -> None:
    assert re.fullmatch(r"\d{4}_\d{2}_\d{2}_\w+\.py", path.name)
    tree = ast.parse(path.read_text())
    funcs = {n.name: n for n in tree.body if isinstance(n, ast.FunctionDef)}
    body = [
        n
        for n in funcs["downgrade"].body
        if not (isinstance(n, ast.Expr) and isinstance(n.value, ast.Constant))
    ]
    assert body and not all(isinstance(n, ast.Pass) for n in body)
    # No silent failure inside a migration: a try/except would hide a broken schema.
    assert not any(isinstance(n, ast.Try) for n in ast.walk(tree))
