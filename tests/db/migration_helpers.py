"""Helpers every migration test uses: seed rows at one revision, upgrade, check they survived."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import MetaData, Table, insert, select
from sqlalchemy.engine import URL

from tierline import db


def seed_and_upgrade(
    url: URL,
    *,
    at: str,
    to: str,
    rows: Mapping[str, Sequence[Mapping[str, Any]]],
) -> dict[str, list[dict[str, Any]]]:
    """Migrate ``url`` to revision ``at``, insert ``rows``, upgrade to ``to``; return the tables.

    Rows are inserted through tables reflected from the database *at that revision* (never
    through today's models), in the order the mapping gives, so a test states the schema as it
    was. Returns every row of each seeded table after the upgrade, ordered by primary key.
    """
    db.upgrade(url, at)
    engine = db.make_engine(url)
    try:
        before = MetaData()
        before.reflect(engine, only=list(rows))
        with engine.begin() as conn:
            for table_name, table_rows in rows.items():
                # One row at a time: rows may name different columns.
                for row in table_rows:
                    conn.execute(insert(before.tables[table_name]).values(**row))
        db.upgrade(url, to)
        after = MetaData()
        after.reflect(engine, only=list(rows))
        result: dict[str, list[dict[str, Any]]] = {}
        with engine.connect() as conn:
            for table_name in rows:
                table: Table = after.tables[table_name]
                order = list(table.primary_key.columns)
                fetched = conn.execute(select(table).order_by(*order)).mappings()
                result[table_name] = [dict(row) for row in fetched]
        return result
    finally:
        engine.dispose()


def assert_rows_survive(
    url: URL,
    *,
    at: str,
    to: str,
    rows: Mapping[str, Sequence[Mapping[str, Any]]],
) -> dict[str, list[dict[str, Any]]]:
    """Like :func:`seed_and_upgrade`, and assert every seeded value is unchanged after it."""
    after = seed_and_upgrade(url, at=at, to=to, rows=rows)
    for table_name, seeded in rows.items():
        found = after[table_name]
        assert len(found) == len(seeded), (
            f"{table_name}: {len(seeded)} rows seeded at {at}, {len(found)} after {to}"
        )
        for before_row, after_row in zip(seeded, found, strict=True):
            for column, value in before_row.items():
                assert after_row[column] == value, (
                    f"{table_name}.{column}: {value!r} at {at} became {after_row[column]!r} at {to}"
                )
    return after
