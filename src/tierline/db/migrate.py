"""Programmatic migrations: upgrade, downgrade, current revision, history and drift check."""

from __future__ import annotations

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
from sqlalchemy import Engine
from sqlalchemy.engine import URL, Connection
from sqlalchemy.exc import SQLAlchemyError

from tierline.db.engine import ensure_reachable, first_line, make_engine
from tierline.db.schema import VERSION_TABLE, include_own_object
from tierline.errors import DatabaseError

MIGRATIONS_DIR = Path(__file__).with_name("migrations")


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
    """The database's current revision, or ``None`` when Tierline's chain was never applied."""
    with _connected(url) as conn:
        context = MigrationContext.configure(conn, opts={"version_table": VERSION_TABLE})
        heads = context.get_current_heads()
    return heads[0] if heads else None


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
