"""Programmatic migrations: upgrade, downgrade, current revision, history and drift check."""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util.exc import CommandError
from sqlalchemy import Engine, MetaData, func, inspect, select, table, text
from sqlalchemy.engine import URL, Connection
from sqlalchemy.exc import SQLAlchemyError

from tierline.db.engine import ensure_reachable, first_line, make_engine, sqlite_file
from tierline.db.schema import VERSION_TABLE, include_own_object
from tierline.errors import DatabaseError

MIGRATIONS_DIR = Path(__file__).with_name("migrations")

#: What every command but ``db upgrade`` says on a database the chain was never applied to.
NO_SCHEMA = "the database has no Tierline tables: run `tierline db upgrade`"


class SchemaMissingError(DatabaseError):
    """The database (or the SQLite file) has no Tierline tables yet."""


@dataclass(frozen=True)
class RevisionInfo:
    """One revision of Tierline's chain."""

    revision: str
    down_revision: str | None
    message: str
    is_head: bool


def alembic_config(url: str | URL | None = None) -> Config:
    """An Alembic ``Config`` for Tierline's chain (usable with ``alembic.command``)."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("file_template", "%%(year)d_%%(month).2d_%%(day).2d_%%(rev)s_%%(slug)s")
    if url is not None:
        rendered = url if isinstance(url, str) else url.render_as_string(hide_password=False)
        cfg.set_main_option("sqlalchemy.url", rendered.replace("%", "%%"))
    return cfg


def script_directory() -> ScriptDirectory:
    """The chain's revision scripts."""
    return ScriptDirectory.from_config(alembic_config())


def require_database_file(url: str | URL | Engine) -> None:
    """Refuse a SQLite URL whose file does not exist, before connecting would create it.

    Raises:
        SchemaMissingError: the file is missing (only ``tierline db upgrade`` creates it).
    """
    if _missing_file(url):
        path = sqlite_file(url.url if isinstance(url, Engine) else url)
        raise SchemaMissingError(
            f"the database has no Tierline tables (there is no file {str(path)!r}): "
            "run `tierline db upgrade`"
        )


def require_schema(url: str | URL | Engine) -> None:
    """Refuse a database Tierline's chain was never applied to (or was downgraded to base),
    or one an older Tierline migrated (behind the head: today's tables and columns are not
    all there, so a command would fail half-way on a missing table).

    Raises:
        SchemaMissingError: no Tierline tables (a missing SQLite file is never created), or
            a revision behind the head (the message names both).
        DatabaseUnreachableError: the server cannot be reached.
    """
    require_database_file(url)
    revision = current(url)
    if revision is None:
        raise SchemaMissingError(NO_SCHEMA)
    chain_heads = heads()
    if revision not in chain_heads and revision in {info.revision for info in history()}:
        raise SchemaMissingError(
            f"the database is at Tierline revision {revision}, behind the head "
            f"{', '.join(chain_heads)}: run `tierline db upgrade`"
        )


def _missing_file(url: str | URL | Engine) -> bool:
    path = sqlite_file(url.url if isinstance(url, Engine) else url)
    return path is not None and not path.exists()


@contextmanager
def _connected(url: str | URL | Engine) -> Iterator[Connection]:
    owned = not isinstance(url, Engine)
    engine = make_engine(url) if not isinstance(url, Engine) else url
    try:
        ensure_reachable(engine)
        with engine.begin() as conn:
            yield conn
    finally:
        if owned:
            engine.dispose()


def _run(url: str | URL | Engine, action: str, revision: str) -> None:
    with _connected(url) as conn:
        cfg = alembic_config()
        cfg.attributes["connection"] = conn
        try:
            getattr(command, action)(cfg, revision)
        except CommandError as exc:
            raise DatabaseError(f"cannot {action} to {revision!r}: {exc}") from exc
        except SQLAlchemyError as exc:
            raise DatabaseError(f"{action} to {revision!r} failed: {first_line(exc)}") from exc


def upgrade(url: str | URL | Engine, revision: str = "head") -> None:
    """Upgrade the database at ``url`` to ``revision`` (default: the newest)."""
    _run(url, "upgrade", revision)


def downgrade(url: str | URL | Engine, revision: str) -> None:
    """Downgrade the database at ``url`` to ``revision`` (``"base"`` removes every table)."""
    _run(url, "downgrade", revision)


def current(url: str | URL | Engine) -> str | None:
    """The database's current revision, or ``None`` when Tierline's chain was never applied.

    A SQLite URL whose file does not exist answers ``None`` without creating the file.
    """
    if _missing_file(url):
        return None
    with _connected(url) as conn:
        context = MigrationContext.configure(conn, opts={"version_table": VERSION_TABLE})
        heads = context.get_current_heads()
    return heads[0] if heads else None


@dataclass(frozen=True)
class TableLoss:
    """A table a downgrade would drop, and how many rows it holds now."""

    table: str
    rows: int


_DROP_TABLE = re.compile(r"^DROP TABLE (?:IF EXISTS )?\"?(\w+)\"?", re.MULTILINE)


def tables_dropped(from_revision: str, to_revision: str) -> list[str]:
    """The tables the chain's downgrade scripts drop between two revisions.

    The scripts are rendered in Alembic's offline (``--sql``) mode for PostgreSQL, whose
    ALTERs need no table copy, so every ``DROP TABLE`` in the output is a real drop.
    """
    buffer = io.StringIO()
    cfg = alembic_config("postgresql+psycopg://")
    cfg.output_buffer = buffer
    try:
        command.downgrade(cfg, f"{from_revision}:{to_revision}", sql=True)
    except CommandError as exc:
        raise DatabaseError(f"cannot downgrade to {to_revision!r}: {exc}") from exc
    return list(dict.fromkeys(_DROP_TABLE.findall(buffer.getvalue())))


def downgrade_losses(url: str | URL | Engine, revision: str) -> list[TableLoss]:
    """The tables holding rows that downgrading to ``revision`` would drop, with row counts.

    Empty when nothing would be lost (no table dropped holds a row). The CLI asks before
    running such a downgrade.
    """
    at = current(url)
    if at is None:
        return []
    with _connected(url) as conn:
        existing = set(inspect(conn).get_table_names())
        losses = []
        for name in tables_dropped(at, revision):
            if name not in existing:
                continue
            rows = conn.execute(select(func.count()).select_from(table(name))).scalar_one()
            if rows:
                losses.append(TableLoss(name, int(rows)))
    return losses


def heads() -> list[str]:
    """The chain's head revisions (exactly one, which the tests assert)."""
    return list(script_directory().get_heads())


def history() -> list[RevisionInfo]:
    """Every revision from base to head, oldest first."""
    script = script_directory()
    head_set = set(script.get_heads())
    revisions = list(script.walk_revisions())
    revisions.reverse()
    return [
        RevisionInfo(
            revision=rev.revision,
            down_revision=rev.down_revision if isinstance(rev.down_revision, str) else None,
            message=(rev.doc or "").strip(),
            is_head=rev.revision in head_set,
        )
        for rev in revisions
    ]


def check(url: str | URL | Engine) -> list[str]:
    """Differences between Tierline's models and the migrated database; empty means none.

    Reports a database not at head first, then each table, column, index or constraint that
    differs, one readable line each.
    """
    # Imported here: the models import tierline.db, which imports this module.
    from tierline.db.models import Base

    problems: list[str] = []
    with _connected(url) as conn:
        context = MigrationContext.configure(
            conn,
            opts={
                "version_table": VERSION_TABLE,
                "include_object": include_own_object,
                "compare_type": True,
                "target_metadata": Base.metadata,
            },
        )
        at = context.get_current_heads()
        head = heads()
        if list(at) != head:
            shown = ", ".join(at) if at else "none (never migrated)"
            problems.append(f"database is at revision {shown}; head is {', '.join(head)}")
        problems.extend(describe_diff(d) for d in compare_metadata(context, Base.metadata))
        problems.extend(collation_drift(conn, Base.metadata))
    return problems


_COLLATIONS = text(
    "SELECT c.table_name, c.column_name, c.collation_name, t.table_collation "
    "FROM information_schema.columns c JOIN information_schema.tables t "
    "ON t.table_schema = c.table_schema AND t.table_name = c.table_name "
    "WHERE c.table_schema = DATABASE() AND c.collation_name IS NOT NULL"
)


def collation_drift(conn: Connection, metadata: MetaData) -> list[str]:
    """On MariaDB/MySQL, each text column whose collation is not the models'; else nothing.

    Alembic's type comparison ignores collations, and an identifier column left in the
    server's case- and accent-insensitive default would find ``"alice"`` for ``"ALICE"``.
    A column the models give no collation should have its table's default.
    """
    if conn.dialect.name not in ("mysql", "mariadb"):
        return []
    found = {(row[0], row[1]): (row[2], row[3]) for row in conn.execute(_COLLATIONS)}
    problems = []
    for model in metadata.sorted_tables:
        for column in model.columns:
            actual = found.get((model.name, column.name))
            if actual is None:  # not a text column, or missing (reported apart)
                continue
            collation, table_default = actual
            declared = getattr(column.type.dialect_impl(conn.dialect), "collation", None)
            wanted = declared or table_default
            if collation != wanted:
                problems.append(
                    f"column {model.name}.{column.name}: collation is {collation!r} in the "
                    f"database, {wanted!r} in the models"
                )
    return problems


def describe_diff(diff: Any) -> str:
    """One readable line for an Alembic autogenerate diff entry."""
    if isinstance(diff, list):
        return "; ".join(describe_diff(item) for item in diff)
    kind = diff[0]
    if kind in ("add_table", "remove_table"):
        verb = "missing from the database" if kind == "add_table" else "not in the models"
        return f"table {diff[1].name} is {verb}"
    if kind in ("add_column", "remove_column"):
        verb = "missing from the database" if kind == "add_column" else "not in the models"
        return f"column {diff[2]}.{diff[3].name} is {verb}"
    if kind in ("add_index", "remove_index", "add_constraint", "remove_constraint"):
        obj = diff[1]
        what = "index" if "index" in kind else "constraint"
        verb = "missing from the database" if kind.startswith("add") else "not in the models"
        return f"{what} {obj.name} on {obj.table.name} is {verb}"
    if kind in ("add_fk", "remove_fk"):
        verb = "missing from the database" if kind == "add_fk" else "not in the models"
        return f"foreign key {diff[1].name} on {diff[1].parent.name} is {verb}"
    if kind.startswith("modify_"):
        _, _schema, table, column, _existing, old, new = diff
        field = kind.removeprefix("modify_")
        return f"column {table}.{column}: {field} is {old!r} in the database, {new!r} in the models"
    return f"difference: {diff!r}"
