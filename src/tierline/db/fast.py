"""Statements for hot paths: compiled once per dialect, run on the DBAPI cursor.

``Connection.execute`` costs several times what SQLite or a nearby server needs for a short
statement (result set-up, parameter processing through the compiled cache). The webhook inbox
runs three statements per event, hundreds of times a second, so it compiles each once per
dialect with SQLAlchemy (same SQL, same bind processors: the column types still convert aware
datetimes to the stored naive UTC) and executes it on the connection's own DBAPI cursor, inside
the transaction the ``Connection`` holds.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.expression import ClauseElement


@dataclass(frozen=True)
class _Compiled:
    sql: str
    #: Bind names in the order the driver takes them (positional paramstyles), else None.
    positions: tuple[str, ...] | None
    defaults: Mapping[str, Any]
    processors: Mapping[str, Callable[[Any], Any]]


@dataclass(frozen=True)
class FastResult:
    """What a fast statement returned: matched rows, fetched rows, the new row's id."""

    rowcount: int
    rows: Sequence[Sequence[Any]]
    lastrowid: int | None

    def first(self) -> Sequence[Any] | None:
        return self.rows[0] if self.rows else None


class FastStatement:
    """A Core statement compiled once per dialect and executed on the DBAPI cursor."""

    def __init__(self, statement: ClauseElement, *, fetch: bool = False) -> None:
        self.statement = statement
        self.fetch = fetch
        self._compiled: dict[str, _Compiled] = {}
        self._lock = threading.Lock()

    def _compile(self, dialect: Dialect) -> _Compiled:
        with self._lock:
            found = self._compiled.get(dialect.name)
            if found is not None:
                return found
            compiled = self.statement.compile(dialect=dialect)
            assert isinstance(compiled, SQLCompiler)
            processors: dict[str, Callable[[Any], Any]] = {}
            for name, bind in compiled.binds.items():
                # The dialect's own variant of the type (SQLite's DATETIME writes the text form
                # SQLAlchemy reads back and compares), as Connection.execute would use.
                processor = bind.type.dialect_impl(dialect).bind_processor(dialect)
                if processor is not None:
                    processors[name] = processor
            positions = tuple(compiled.positiontup or ()) if compiled.positional else None
            made = _Compiled(
                sql=str(compiled),
                positions=positions,
                # Values fixed in the statement (literals). Column defaults are NOT applied
                # (SQLAlchemy's execution context does that): the statement names every column.
                defaults={
                    name: bind.effective_value
                    for name, bind in compiled.binds.items()
                    if not bind.required
                },
                processors=processors,
            )
            self._compiled[dialect.name] = made
            return made

    def execute(self, conn: Connection, params: Mapping[str, Any]) -> FastResult:
        """Run in ``conn``'s transaction; ``params`` by bind name, as for ``conn.execute``."""
        compiled = self._compiled.get(conn.dialect.name) or self._compile(conn.dialect)
        values = {**compiled.defaults, **params}
        for name, processor in compiled.processors.items():
            values[name] = processor(values[name])
        driver_params: Any = (
            values
            if compiled.positions is None
            else tuple(values[name] for name in compiled.positions)
        )
        dbapi = conn.dialect.loaded_dbapi
        cursor = conn.connection.cursor()
        try:
            cursor.execute(compiled.sql, driver_params)
            rows = cursor.fetchall() if self.fetch else ()
            return FastResult(cursor.rowcount, rows, getattr(cursor, "lastrowid", None))
        except dbapi.Error as exc:
            # The same exception classes (IntegrityError, OperationalError...) and the same
            # handling of a dropped connection as Connection.execute gives.
            dropped = conn.dialect.is_disconnect(exc, conn.connection.dbapi_connection, cursor)
            if dropped:
                conn.invalidate(exc)
            raise DBAPIError.instance(
                compiled.sql,
                driver_params,
                exc,
                dbapi.Error,
                connection_invalidated=dropped,
                dialect=conn.dialect,
            ) from exc
        finally:
            cursor.close()
