"""What every CLI command shares: the database option, error reporting and output helpers."""

from __future__ import annotations

import json
import os
import sys
from typing import TYPE_CHECKING, Annotated, Any

import typer
from typer.core import TyperGroup

from tierline.errors import TierlineError, ValidationError

if TYPE_CHECKING:
    from tierline.facade import Tierline

# Only light modules at the top: Typer builds the command tree (and prints --help) from these
# annotations, and the ORM, SQLAlchemy and Rich load inside the commands that use them.

DatabaseURLOption = Annotated[
    str | None,
    typer.Option(
        "--database-url",
        help="Database URL; else TIERLINE_DATABASE_URL; else sqlite:///tierline.db.",
        show_default=False,
    ),
]

JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]


def database_url(option: str | None) -> str:
    """The URL given on the command line, else the one from the environment or the default."""
    from tierline.settings import TierlineSettings

    return option or TierlineSettings().database_url


class TierlineGroup(TyperGroup):
    """The CLI's error boundary: every command's failure becomes one ``error:`` line, exit 1.

    It catches Tierline's own errors, any database error (missing tables, unreachable server,
    read-only or locked database, a value out of the column's range), and operating-system
    errors, so no command ever ends in a traceback.
    """

    # ``Any``: Typer vendors its own click, whose Context type is private.
    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except BrokenPipeError as exc:
            # The reader of the output went away (`| head`): the command's work is done, so no
            # message. stdout is pointed at /dev/null first, so that flushing it at exit cannot
            # fail again (Python's documentation, "Note on SIGPIPE").
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            raise typer.Exit(1) from exc
        except (TierlineError, OSError, OverflowError) as exc:
            typer.echo(f"error: {describe_failure(exc)}", err=True)
            raise typer.Exit(1) from exc
        except Exception as exc:
            # A database error can only come from a command that imported SQLAlchemy already;
            # a setting the environment gives a bad value, from one that read the settings.
            from pydantic import ValidationError as SettingsError
            from sqlalchemy.exc import SQLAlchemyError

            if isinstance(exc, SettingsError):
                typer.echo(f"error: {describe_settings_error(exc)}", err=True)
                raise typer.Exit(1) from exc
            if not isinstance(exc, SQLAlchemyError):
                raise
            typer.echo(f"error: {describe_failure(exc)}", err=True)
            raise typer.Exit(1) from exc


#: Database messages (SQLite, PostgreSQL, MariaDB) meaning a table is missing.
_MISSING_TABLE = ("no such table", "does not exist", "doesn't exist")
_READ_ONLY = ("readonly database", "read-only", "read only")
_LOCKED = ("database is locked", "database table is locked", "lock wait timeout")


def describe_failure(exc: BaseException) -> str:
    """The one line the CLI prints (after ``error:``) for a failed command."""
    if isinstance(exc, TierlineError):
        return str(exc)
    from sqlalchemy.exc import SQLAlchemyError

    from tierline.db.engine import first_line
    from tierline.db.migrate import NO_SCHEMA

    if isinstance(exc, SQLAlchemyError):
        detail = first_line(exc)
        lowered = detail.lower()
        if any(text in lowered for text in _MISSING_TABLE) and "database" not in lowered:
            return f"{NO_SCHEMA} ({detail})"
        if any(text in lowered for text in _READ_ONLY):
            return f"the database is read-only ({detail}); this command needs write access"
        if any(text in lowered for text in _LOCKED):
            return f"the database is locked by another connection ({detail}); retry later"
        return f"database error: {detail}"
    if isinstance(exc, OverflowError):
        return f"a number is out of range: {first_line(exc)}"
    return first_line(exc)


def describe_settings_error(exc: Any) -> str:
    """One line for a ``pydantic.ValidationError`` raised while reading the ``TIERLINE_*``
    environment: each bad setting by its variable name, its value (cut) and what is valid."""
    from tierline.bounds import shown

    parts = []
    for error in exc.errors():
        field = "_".join(str(part) for part in error["loc"][:1])
        name = "TIERLINE_" + field.upper()
        # A secret, token, key or URL (which may hold a password) is named, never echoed.
        hidden = any(word in field for word in _SENSITIVE)
        value = "" if hidden else f"={shown(error.get('input'))}"
        parts.append(f"{name}{value}: {error['msg']}")
    return "invalid setting " + "; ".join(parts)


_SENSITIVE = ("secret", "token", "key", "password", "url")


#: Row ids are 32-bit ``INTEGER`` columns on every dialect (PostgreSQL's and MariaDB's ``INT``).
MAX_ROW_ID = 2**31 - 1


def check_row_id(name: str, value: int) -> int:
    """Refuse an id no row can have before it reaches the database (where it would overflow).

    Raises:
        ValidationError: ``value`` is not from 1 to :data:`MAX_ROW_ID`.
    """
    if not 1 <= value <= MAX_ROW_ID:
        raise ValidationError(f"{name} {value} is out of range: ids run from 1 to {MAX_ROW_ID}")
    return value


def print_json(data: Any) -> None:
    """Print ``data`` as JSON on standard output, without Rich markup or wrapping."""
    typer.echo(json.dumps(data, indent=2, default=str))


CatalogOption = Annotated[
    str | None,
    typer.Option(
        "--catalog",
        help="Catalog TOML file; else TIERLINE_CATALOG; else tierline.toml.",
        show_default=False,
    ),
]


def migrated_database_url(option: str | None) -> str:
    """:func:`database_url`, checked to hold Tierline's tables (see :func:`require_schema`).

    Only ``tierline db upgrade`` may create a database: a SQLite file that does not exist is
    refused before connecting would create it.
    """
    from tierline.db.migrate import require_schema

    url = database_url(option)
    require_schema(url)
    return url


def open_tierline(database_url_option: str | None, catalog: str | None = None) -> Tierline:
    """A :class:`Tierline` for a CLI command, from its options and the environment.

    Raises:
        SchemaMissingError: the database has no Tierline tables (or its SQLite file is missing).
        DatabaseUnreachableError: the server cannot be reached.
    """
    from tierline.facade import Tierline
    from tierline.settings import TierlineSettings

    settings = TierlineSettings()
    updates: dict[str, str] = {"database_url": migrated_database_url(database_url_option)}
    if catalog is not None:
        updates["catalog"] = catalog
    return Tierline(settings=settings.model_copy(update=updates))
