"""Statements for hot paths: compiled once per dialect, run on the DBAPI cursor.

``Connection.execute`` costs several times what SQLite or a nearby server needs for a short
statement (result set-up, parameter processing through the compiled cache). The webhook inbox
runs three statements per event, hundreds of times a second, so it compiles each once per
dialect with SQLAlchemy (same SQL, same bind processors: the column types still convert aware
datetimes to the stored naive UTC) and executes it on the connection's own DBAPI cursor, inside
the transaction the ``Connection`` holds.

:func:`flight` sends several such statements in one network round trip where the driver can:
psycopg 3's pipeline mode on PostgreSQL ("the client can send several queries without waiting
for the results of the previous ones": libpq's pipeline mode documentation; psycopg's
``Connection.pipeline()``). Elsewhere each statement runs as it is sent.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Engine
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

    def bind(self, conn: Connection, params: Mapping[str, Any]) -> tuple[str, Any]:
        compiled = self._compiled.get(conn.dialect.name) or self._compile(conn.dialect)
        values = {**compiled.defaults, **params}
        for name, processor in compiled.processors.items():
            values[name] = processor(values[name])
        driver_params: Any = (
            values
            if compiled.positions is None
            else tuple(values[name] for name in compiled.positions)
        )
        return compiled.sql, driver_params

    def execute(self, conn: Connection, params: Mapping[str, Any]) -> FastResult:
        """Run in ``conn``'s transaction; ``params`` by bind name, as for ``conn.execute``."""
        sql, driver_params = self.bind(conn, params)
        cursor = conn.connection.cursor()
        try:
            cursor.execute(sql, driver_params)
            return _result(cursor, self.fetch)
        except conn.dialect.loaded_dbapi.Error as exc:
            raise translate(conn, exc, sql, driver_params, cursor) from exc
        finally:
            cursor.close()


def _result(cursor: Any, fetch: bool) -> FastResult:
    rows = cursor.fetchall() if fetch else ()
    return FastResult(cursor.rowcount, rows, getattr(cursor, "lastrowid", None))


def translate(conn: Connection, exc: Any, sql: str, params: Any, cursor: Any = None) -> Exception:
    """The SQLAlchemy exception ``Connection.execute`` would raise for the driver's ``exc``
    (IntegrityError, OperationalError...); a dropped connection is invalidated, as there."""
    dropped = conn.dialect.is_disconnect(exc, conn.connection.dbapi_connection, cursor)
    if dropped:
        conn.invalidate(exc)
    error: Exception = DBAPIError.instance(
        sql,
        params,
        exc,
        conn.dialect.loaded_dbapi.Error,
        connection_invalidated=dropped,
        dialect=conn.dialect,
    )
    return error


class Pending:
    """A statement sent in a :func:`flight`: its result is read after the flight landed."""

    def __init__(self, cursor: Any = None, fetch: bool = False, done: FastResult | None = None):
        self._cursor = cursor
        self._fetch = fetch
        self._done = done

    def result(self) -> FastResult:
        """What the statement returned (call after the ``with flight(...)`` block)."""
        if self._done is None:
            try:
                self._done = _result(self._cursor, self._fetch)
            finally:
                self._cursor.close()
        return self._done


class Flight:
    """Statements sent together; see :func:`flight`."""

    def __init__(self, conn: Connection, pipelined: bool) -> None:
        self.conn = conn
        #: Whether the statements really share round trips (psycopg's pipeline mode).
        self.pipelined = pipelined
        self._sent: list[tuple[str, Any]] = []
        #: The first error the server reported while statements were still being sent.
        self.error: Exception | None = None
        # Looked up once per flight, not per statement: the driver connection's cursor
        # factory (what the pool's proxy calls for psycopg) and the driver's error class.
        self._cursor: Callable[[], Any] | None = None
        self._dbapi_error: type[Exception] = Exception
        if pipelined:
            driver = conn.connection.driver_connection
            assert driver is not None  # a live connection: the flight runs in its transaction
            self._cursor = driver.cursor
            self._dbapi_error = conn.dialect.loaded_dbapi.Error

    def send(self, statement: FastStatement, params: Mapping[str, Any]) -> Pending:
        """Send ``statement``; without a pipeline it runs now (errors are raised here)."""
        if self._cursor is None:
            return Pending(done=statement.execute(self.conn, params))
        sql, driver_params = statement.bind(self.conn, params)
        self._sent.append((sql, driver_params))
        cursor = self._cursor()
        if self.error is None:
            try:
                cursor.execute(sql, driver_params)
            except self._dbapi_error as exc:
                # psycopg reads results while it sends: an earlier statement failed (the rest
                # of the pipeline is aborted). Raised when the flight ends, not from inside the
                # pipeline block, whose exit would log the abort as a warning.
                self.error = exc
        return Pending(cursor, statement.fetch)


@contextmanager
def flight(conn: Connection) -> Iterator[Flight]:
    """Send the statements of the block in as few round trips as the driver allows.

    On PostgreSQL with psycopg 3 the block runs in pipeline mode: statements are queued and go
    out with one Sync when the block ends, so their results (``Pending.result()``) are read
    after it; a statement's error is raised then, as the SQLAlchemy exception
    ``Connection.execute`` would raise, and aborts the statements after it (the transaction
    must be rolled back). Elsewhere each statement runs when sent.
    """
    driver: Any = conn.connection.driver_connection
    pipeline = getattr(driver, "pipeline", None) if conn.dialect.name == "postgresql" else None
    if pipeline is None:
        yield Flight(conn, pipelined=False)
        return
    sent = Flight(conn, pipelined=True)
    dbapi_error = conn.dialect.loaded_dbapi.Error
    try:
        with pipeline():
            if conn.info.pop(_DEFERRED_BEGIN, False):
                # The transaction's BEGIN (see deferred_begin), queued ahead of the statements.
                sent._sent.append((_BEGIN, None))
                driver.cursor().execute(_BEGIN)
            yield sent
    except dbapi_error as exc:
        sent.error = sent.error or exc
    if sent.error is not None:
        sql = "; ".join(text for text, _ in sent._sent)
        params = [params for _, params in sent._sent]
        raise translate(conn, sent.error, sql, params) from sent.error


_BEGIN = "BEGIN"
#: ``Connection.info`` key: the transaction's BEGIN is still to be sent by a flight.
_DEFERRED_BEGIN = "tierline_deferred_begin"


@contextmanager
def deferred_begin(engine: Engine) -> Iterator[Connection]:
    """``engine.begin()``, whose BEGIN rides in the transaction's first :func:`flight` on
    PostgreSQL (one round trip fewer); the first statement MUST be sent in a flight.

    psycopg 3 opens a transaction by sending BEGIN before the first statement and, in pipeline
    mode, syncs on it: a round trip of its own ("BEGIN" then a Sync, before the pipeline's
    statements). With the connection in autocommit mode psycopg sends no BEGIN, so the flight
    queues an explicit one ahead of its statements; COMMIT and ROLLBACK then end the
    transaction as usual (psycopg sends them whenever a transaction is open, autocommit or
    not: its ``Connection.commit``). The connection leaves autocommit before it goes back to
    the pool, or is invalidated when it cannot. Elsewhere, and when the engine sets transaction
    characteristics (isolation level, read only, deferrable) or has a ``begin`` listener, this
    is ``engine.begin()``.
    """
    if engine.dialect.name != "postgresql":
        with engine.begin() as conn:
            yield conn
        return
    with engine.connect() as conn:
        driver: Any = conn.connection.driver_connection
        if (
            getattr(driver, "pipeline", None) is None
            or driver.autocommit
            # psycopg's own BEGIN carries the transaction's settings (ISOLATION LEVEL, READ
            # ONLY, DEFERRABLE), and a "begin" listener must run inside the transaction:
            # either keeps psycopg's BEGIN.
            or driver.isolation_level is not None
            or driver.read_only is not None
            or driver.deferrable is not None
            or engine.dispatch.begin
        ):
            with conn.begin():
                yield conn
            return
        info = conn.info
        driver.autocommit = True
        info[_DEFERRED_BEGIN] = True
        try:
            with conn.begin():
                yield conn
        finally:
            info.pop(_DEFERRED_BEGIN, None)
            # An invalidated connection (dropped) is not pooled again; touching it would check
            # out a new one.
            if not conn.invalidated:
                try:
                    driver.autocommit = False  # idle again: after COMMIT or ROLLBACK
                except Exception:
                    # Broken, or still in a transaction: never pooled in autocommit mode.
                    conn.invalidate()


class EngineWatch:
    """Tells whether ``engine`` was disposed, or this process forked, since it last looked.

    ``Engine.dispose()`` replaces the engine's pool object, so comparing it with the pool seen
    before is enough: no ``engine_disposed`` listener, whose presence would make every
    ``Connection`` of the engine dispatch its events (a few percent of a webhook's CPU). A fork
    is told by the process id, not by an ``os.register_at_fork`` hook: uWSGI forks its workers
    from C and, unless told to (``py-call-osafterfork``), runs no such hook.
    """

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._pool = engine.pool
        self._pid = os.getpid()

    def changed(self) -> bool:
        """Whether :meth:`forked` or :meth:`disposed` would say True (one call where nothing
        changed, on hot paths)."""
        return self._pid != os.getpid() or self._engine.pool is not self._pool

    def forked(self) -> bool:
        """True once in a forked child: connections opened before are its parent's sockets."""
        if self._pid == os.getpid():
            return False
        self._pid = os.getpid()
        return True

    def disposed(self) -> bool:
        """True once after each ``dispose()`` of the engine."""
        if self._engine.pool is self._pool:
            return False
        self._pool = self._engine.pool
        return True


class RawConnections:
    """DBAPI connections of ``engine`` kept for one-statement reads, outside its pool.

    SQLAlchemy's pool costs tens of microseconds per checkout and return (events, reset,
    bookkeeping): more than SQLite takes to run ``status()``'s query, and a third of a nearby
    server's answer. A read that runs one statement needs none of it: a connection is taken
    from a stack of idle ones (opened by the engine, so its connect set-up ran, then detached
    from the pool) and put back after, at most ``keep`` of them kept. A connection the server
    dropped is :meth:`discard`-ed instead.

    They go with the engine they follow (``follows``, default ``engine``): its ``dispose()``
    replaces its pool, and the next :meth:`acquire` that sees the new pool closes the idle
    connections first (and disposes ``engine`` too, when it is another). No engine event is
    listened for: one ``engine_disposed`` listener would make every ``Connection`` of the engine
    dispatch its events, a few percent of a webhook's CPU. :meth:`close` releases them at once.
    """

    def __init__(self, engine: Engine, keep: int, follows: Engine | None = None) -> None:
        self._engine = engine
        self._keep = keep
        self._follows = engine if follows is None else follows
        self._watch = EngineWatch(self._follows)
        # list.pop() and list.append() are atomic: no lock on the hot path.
        self._idle: list[Any] = []
        self._inherited: list[Any] = []

    def acquire(self) -> Any:
        """An idle DBAPI connection, or a new one (raises the driver's connection error)."""
        if self._watch.changed():
            self._follow()
        try:
            return self._idle.pop()
        except IndexError:
            proxied = self._engine.raw_connection()
            driver = proxied.dbapi_connection
            proxied.detach()
            return driver

    def _follow(self) -> None:
        """Leave the connections of the parent process, or of the engine's former pool."""
        if self._watch.forked():
            # A forked worker: the idle connections are its parent's sockets. Kept referenced
            # and never used or closed (closing would end the parent's sessions).
            self._inherited.extend(self._idle)
            self._idle = []
            if self._engine is not self._follows:
                # Its own pool holds the parent's sockets too: dropped, never closed.
                self._engine.dispose(close=False)
        if self._watch.disposed():
            # The engine followed was disposed since: so are these connections.
            if self._engine is not self._follows:
                self._engine.dispose()
            self.close()

    def release(self, connection: Any) -> None:
        """Give back a connection that is idle (no transaction left open)."""
        if len(self._idle) < self._keep:
            self._idle.append(connection)
        else:
            self.discard(connection)

    @staticmethod
    def discard(connection: Any) -> None:
        """Close a connection (one the server dropped, or one too many)."""
        with suppress(Exception):  # already broken: nothing more to release
            connection.close()

    def close(self) -> None:
        """Close every idle connection."""
        while self._idle:
            self.discard(self._idle.pop())
