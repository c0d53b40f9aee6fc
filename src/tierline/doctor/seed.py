"""Seed rows while the dynamic pass upgrades one revision at a time; find the rows a revision loses.

After each revision, :meth:`Seeder.after` reflects the schema (SQLAlchemy inspection), counts
every row seeded so far by its primary key, and inserts one row (SQLAlchemy Core) into every
table the revision created or altered. Values follow each column's reflected type: integers,
strings within their length (the first literal of a CHECK ... IN list on the column, when there
is one), booleans, dates and datetimes; nullable columns and columns with a server default are
left to the database; a foreign key points at the row seeded last in the parent table.

A seeded row missing after a revision is lost by that revision (``rows-lost``), unless its
table is gone: a dropped table drops its rows on purpose. A table the seeder cannot fill is
reported once as a ``seed-skipped`` warning and left out of the check.
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from dataclasses import dataclass, field

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

ROWS_LOST = "rows-lost"
SEED_SKIPPED = "seed-skipped"
_BASE_DAY = dt.datetime(2024, 1, 1, 12, 0, 0)


@dataclass(frozen=True, slots=True)
class LostRows:
    """``count`` rows of ``table``, seeded after revision ``seeded_at``, missing now."""

    table: str
    count: int
    seeded_at: str


@dataclass(frozen=True, slots=True)
class SkippedTable:
    """A table no row could be inserted into, and why (the database's error or a column)."""

    table: str
    reason: str


@dataclass(frozen=True, slots=True)
class _SeededRow:
    table: str
    revision: str
    key: dict[str, object]
    values: dict[str, object]


@dataclass
class Seeder:
    """One scratch database's seeded rows across the revisions of one upgrade."""

    engine: Engine
    _rows: list[_SeededRow] = field(default_factory=list)
    _shapes: dict[str, tuple[object, ...]] = field(default_factory=dict)
    _inserted: dict[str, int] = field(default_factory=dict)
    _skipped: set[str] = field(default_factory=set)

    def after(self, revision: str) -> tuple[list[LostRows], list[SkippedTable]]:
        """Check the rows seeded so far, then seed the tables ``revision`` created or altered.

        Returns the rows this revision lost (grouped by table) and the tables it could not seed
        (each table once per run).
        """
        metadata = sa.MetaData()
        with self.engine.connect() as conn:
            metadata.reflect(conn)
        tables = {
            name: table for name, table in metadata.tables.items() if not _is_version_table(table)
        }
        lost = self._count_lost(tables)
        skipped: list[SkippedTable] = []
        for table in metadata.sorted_tables:
            if table.name not in tables:
                continue
            shape = _shape(table)
            if self._shapes.get(table.name) == shape:
                continue
            self._shapes[table.name] = shape
            reason = self._seed(table, revision)
            if reason is not None and table.name not in self._skipped:
                self._skipped.add(table.name)
                skipped.append(SkippedTable(table.name, reason))
        for gone in set(self._shapes) - set(tables):
            del self._shapes[gone]
        return lost, skipped

    def _count_lost(self, tables: dict[str, sa.Table]) -> list[LostRows]:
        kept: list[_SeededRow] = []
        missing: dict[str, list[_SeededRow]] = {}
        with self.engine.connect() as conn:
            for row in self._rows:
                table = tables.get(row.table)
                if table is None or any(name not in table.c for name in row.key):
                    continue  # the table (or its key) was dropped: its rows go with it
                where = [table.c[name] == value for name, value in row.key.items()]
                count = conn.execute(sa.select(sa.func.count()).where(*where)).scalar_one()
                if count:
                    kept.append(row)
                else:
                    missing.setdefault(row.table, []).append(row)
        self._rows = kept
        return [
            LostRows(table=name, count=len(rows), seeded_at=rows[0].revision)
            for name, rows in sorted(missing.items())
        ]

    def _seed(self, table: sa.Table, revision: str) -> str | None:
        """Insert one row into ``table``; the reason it cannot, or None."""
        number = self._inserted.get(table.name, 0) + 1
        try:
            with self.engine.begin() as conn:
                values = self._values(conn, table, number)
                if isinstance(values, str):
                    return values
                result = conn.execute(sa.insert(table).values(values))
                pk = result.inserted_primary_key
                key = {
                    col.name: pk[i] if pk is not None and pk[i] is not None else values[col.name]
                    for i, col in enumerate(table.primary_key.columns)
                }
                if not key:
                    return "it has no primary key to find the row by"
                row = conn.execute(
                    sa.select(table).where(*[table.c[k] == v for k, v in key.items()])
                ).one()
        except Exception as exc:  # the database refuses the row: a constraint we cannot read
            orig = getattr(exc, "orig", None)
            text = str(orig if orig is not None else exc).strip().splitlines() or [""]
            return f"{type(exc).__name__}: {text[0]}"
        self._inserted[table.name] = number
        self._rows.append(_SeededRow(table.name, revision, key, dict(row._mapping)))
        return None

    def _values(self, conn: Connection, table: sa.Table, number: int) -> dict[str, object] | str:
        values: dict[str, object] = {}
        references = _references(table)
        checks = [str(c.sqltext) for c in table.constraints if isinstance(c, sa.CheckConstraint)]
        for index, col in enumerate(table.columns):
            if col.name in references:
                parent, parent_col = references[col.name]
                value = self._parent_value(conn, table, parent, parent_col)
                if value is not None:
                    values[col.name] = value
                    continue
                if col.nullable:
                    continue
                return f"column {col.name} must point at a row of {parent.name}, which has none"
            if col.nullable or col.server_default is not None or col.identity is not None:
                continue
            if col.primary_key and _generated_key(conn, table, col):
                continue
            if col.primary_key and isinstance(col.type, sa.Integer):
                top = conn.execute(sa.select(sa.func.max(col))).scalar()
                values[col.name] = int(top or 0) + 1
                continue
            value = _value(col, number, index, checks)
            if value is None:
                return f"column {col.name} has a type the seeder cannot fill ({col.type!r})"
            values[col.name] = value
        return values

    def _parent_value(
        self, conn: Connection, table: sa.Table, parent: sa.Table, parent_col: str
    ) -> object | None:
        if parent.name == table.name:
            return None
        for row in reversed(self._rows):
            if row.table == parent.name:
                return row.values.get(parent_col)
        return conn.execute(sa.select(parent.c[parent_col]).limit(1)).scalar()


def _is_version_table(table: sa.Table) -> bool:
    """Alembic's version table (any name: ``version_table=`` in env.py)."""
    return [c.name for c in table.columns] == ["version_num"]


def _shape(table: sa.Table) -> tuple[object, ...]:
    """What a revision can change in a table: columns, constraints, indexes."""
    columns = tuple(
        (
            c.name,
            repr(c.type),
            c.nullable,
            c.primary_key,
            None if c.server_default is None else str(getattr(c.server_default, "arg", "")),
        )
        for c in table.columns
    )
    constraints = sorted(
        (type(c).__name__, str(c.name), tuple(sorted(col.name for col in _columns(c))))
        for c in table.constraints
    )
    indexes = sorted(
        (str(i.name), tuple(str(col.name) for col in i.columns), bool(i.unique))
        for i in table.indexes
    )
    return columns, tuple(constraints), tuple(indexes)


def _columns(constraint: sa.Constraint) -> list[sa.Column[object]]:
    columns = getattr(constraint, "columns", ())
    return list(columns)


def _references(table: sa.Table) -> dict[str, tuple[sa.Table, str]]:
    """Column name → (parent table, parent column) for each foreign key column."""
    found: dict[str, tuple[sa.Table, str]] = {}
    for fk in table.foreign_key_constraints:
        for element in fk.elements:
            found[element.parent.name] = (element.column.table, element.column.name)
    return found


def _generated_key(conn: Connection, table: sa.Table, col: sa.Column[object]) -> bool:
    """Whether the database fills this integer primary key itself (serial, AUTO_INCREMENT)."""
    if not isinstance(col.type, sa.Integer) or len(table.primary_key.columns) != 1:
        return False
    if conn.dialect.name == "sqlite":
        return False  # an explicit max + 1 works on every SQLite key
    return col.autoincrement is True


def _value(col: sa.Column[object], number: int, index: int, checks: list[str]) -> object | None:
    """A value of the column's type, distinct per seeded row of the table."""
    kind = col.type
    if isinstance(kind, sa.Boolean):
        return True
    if isinstance(kind, sa.Enum) and kind.enums:
        return kind.enums[0]
    if isinstance(kind, sa.String):
        listed = _checked_literal(col.name, checks)
        if listed is not None:
            return listed
        text = f"s{number}c{index}"
        length = kind.length
        if length is not None and len(text) > length:
            text = str(number)[-length:]
        return text
    if isinstance(kind, sa.Integer):
        return number
    # Float before Numeric: SQLAlchemy 2.1's Float is no longer a Numeric.
    if isinstance(kind, sa.Float):
        return float(number)
    if isinstance(kind, sa.Numeric):
        return number
    moment = _BASE_DAY + dt.timedelta(days=number * 64 + index, minutes=index)
    if isinstance(kind, sa.DateTime):
        return moment
    if isinstance(kind, sa.Date):
        return moment.date()
    if isinstance(kind, sa.Time):
        return moment.time()
    if isinstance(kind, sa.Interval):
        return dt.timedelta(minutes=number)
    if isinstance(kind, sa.JSON):
        return {"seed": number}
    if isinstance(kind, sa.LargeBinary):
        return f"s{number}".encode()
    if isinstance(kind, sa.Uuid):
        value = uuid.UUID(int=number * 1000 + index)
        return value if kind.as_uuid else str(value)
    return None


def _checked_literal(column: str, checks: list[str]) -> str | None:
    """The first quoted literal after ``column`` in a CHECK (``status IN ('active', ...)``).

    Matches the text each dialect reflects: SQLite's own SQL, PostgreSQL's
    ``(status)::text = ANY (ARRAY['active'::character varying, ...])``, MariaDB's
    ``` `status` in ('active', ...)```.
    """
    pattern = re.compile(rf"\b{re.escape(column)}\b[^']*?\b(?:in|any)\b[^']*?'([^']*)'", re.I)
    for text in checks:
        match = pattern.search(text)
        if match:
            return match.group(1)
    return None
