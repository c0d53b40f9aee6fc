"""Checks that an example app's Alembic chain and Tierline's share one database peacefully."""

from __future__ import annotations

from types import ModuleType

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import func, inspect, select

from tierline import db as tierline_db
from tierline.accounts.models import Account


def table_names(url: str) -> set[str]:
    engine = tierline_db.make_engine(url)
    try:
        return set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


def tierline_tables(names: set[str]) -> set[str]:
    return {name for name in names if name.startswith(tierline_db.TABLE_PREFIX)}


def account_count(url: str) -> int:
    engine = tierline_db.make_engine(url)
    try:
        with engine.connect() as conn:
            return int(conn.scalar(select(func.count(Account.id))) or 0)
    finally:
        engine.dispose()


def host_autogenerate_without_hook(url: str, host_db: ModuleType) -> list[str]:
    """Tables a host autogenerate would drop if its env.py did not pass include_object."""
    engine = tierline_db.make_engine(url)
    try:
        with engine.connect() as conn:
            context = MigrationContext.configure(conn)
            diffs = compare_metadata(context, host_db.Base.metadata)
    finally:
        engine.dispose()
    return sorted(d[1].name for d in diffs if isinstance(d, tuple) and d[0] == "remove_table")


def assert_chains_are_independent(url: str, host_db: ModuleType, host_tables: set[str]) -> None:
    """Both chains at head on ``url``; each downgrade leaves the other's tables and rows."""
    names = table_names(url)
    assert host_tables | {"alembic_version", "tierline_alembic_version"} <= names
    # Without the hook the host's autogenerate would want Tierline's tables gone...
    assert tierline_tables(names) <= set(host_autogenerate_without_hook(url, host_db))
    # ...with it (the example's env.py), it sees nothing to do, and neither does Tierline.
    host_db.check(url)
    assert tierline_db.check(url) == []
    accounts = account_count(url)
    assert accounts > 0

    host_db.downgrade(url, "base")
    after = table_names(url)
    assert not host_tables & after
    assert tierline_tables(after) == tierline_tables(names)
    assert tierline_db.check(url) == []
    assert account_count(url) == accounts

    host_db.upgrade(url)
    tierline_db.downgrade(url, "base")
    # Alembic keeps an emptied version table; every Tierline table is gone, the host's stay.
    assert table_names(url) - {tierline_db.VERSION_TABLE} == host_tables | {"alembic_version"}
    host_db.check(url)
    tierline_db.upgrade(url)
