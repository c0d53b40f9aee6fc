"""The hot path of ``track()`` (without an idempotency key) and ``check()``: statements compiled
once per engine and run on a DBAPI connection, one round trip each.

The statements are :mod:`tierline.usage.counter`'s; what changes is only how they run. Each is
atomic on its own (the conditional ``UPDATE`` checks and counts in one step), so on PostgreSQL
and MariaDB they run in autocommit mode on the access pool (:func:`read_engine`: no ping, no
``BEGIN``/``COMMIT`` round trips). The new count comes back with the update: ``RETURNING`` on
SQLite and PostgreSQL; on MariaDB, whose ``UPDATE`` has no ``RETURNING``, the documented
``LAST_INSERT_ID(expr)`` counter idiom puts it in the OK packet ("If expr is given as an
argument to LAST_INSERT_ID(), the value of the argument is returned by the function and is
remembered as the next value to be returned by LAST_INSERT_ID()": MariaDB's LAST_INSERT_ID
documentation), read without a round trip as the cursor's ``lastrowid``. SQLite writers in
this process queue on a lock instead of in SQLite's busy handler, whose sleeps would cost
milliseconds under contention.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, cast

from sqlalchemy import (
    BigInteger,
    Engine,
    Integer,
    String,
    Table,
    and_,
    bindparam,
    event,
    func,
    select,
    update,
)
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.elements import ClauseElement

from tierline.access.query import read_engine
from tierline.accounts.models import Account
from tierline.db.fast import EngineWatch
from tierline.usage import counter
from tierline.usage.models import UsageCounter

_usage = cast(Table, UsageCounter.__table__)


class _Compiled:
    """One statement's SQL text and how to order its parameters."""

    def __init__(self, statement: ClauseElement, engine: Engine) -> None:
        compiled = cast(SQLCompiler, statement.compile(dialect=engine.dialect))
        self.sql = str(compiled)
        names = compiled.positiontup if compiled.positional else None
        self.names: Sequence[str] | None = list(names) if names else None

    def params(self, values: dict[str, Any]) -> Any:
        if self.names is None:
            return values
        return tuple(values[name] for name in self.names)


def _asynchronous_commit(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("SET synchronous_commit TO off")
    finally:
        cursor.close()


class FastCounter:
    """The counter statements of one engine, compiled on first use."""

    def __init__(self, engine: Engine, *, synchronous_commit: bool = True) -> None:
        self._engine = engine
        #: Autocommit on the servers (no ping, no BEGIN/ROLLBACK); the engine itself on SQLite.
        #: Disposed with ``engine`` (seen by the next statement: ``dispose()`` replaces the
        #: pool) or by :meth:`close`.
        self._writer = read_engine(engine)
        self._watch = EngineWatch(engine)
        if not synchronous_commit and engine.dialect.name == "postgresql":
            # PostgreSQL's asynchronous commit: "transactions complete more quickly, at the
            # cost that the most recent transactions may be lost if the database should
            # crash" (docs: wal-async-commit); only this pool's counter statements use it.
            event.listen(self._writer, "connect", _asynchronous_commit)
        self._dialect = engine.dialect.name
        self._sqlite = self._dialect == "sqlite"
        self._mysql = self._dialect in ("mysql", "mariadb")
        self._sqlite_lock = threading.Lock()
        self._compile_lock = threading.Lock()
        self._statements: dict[str, _Compiled] | None = None
        # The dialect's own processor (SQLite stores "YYYY-MM-DD HH:MM:SS.ffffff" text): an
        # equality on period_start must compare the same text the ORM wrote.
        column_type = UsageCounter.__table__.c.period_start.type
        to_db = column_type.dialect_impl(engine.dialect).bind_processor(engine.dialect)
        self._to_db: Callable[[Any], Any] = to_db or (lambda value: value)

    def _compile(self) -> dict[str, _Compiled]:
        with self._compile_lock:
            if self._statements is not None:
                return self._statements
            ref = bindparam("ref", type_=String())
            account = select(Account.id).where(Account.ref == ref).scalar_subquery()
            row = and_(
                _usage.c.account_id == account,
                _usage.c.feature == bindparam("feature", type_=String()),
                _usage.c.period_start == bindparam("start"),
            )
            amount = bindparam("amount", type_=Integer())
            new_used = _usage.c.used + amount
            value: Any = func.last_insert_id(new_used) if self._mysql else new_used

            def add(limited: bool) -> ClauseElement:
                statement = (
                    update(_usage).where(row).values(used=value, updated_at=bindparam("now"))
                )
                if limited:
                    statement = statement.where(new_used <= bindparam("limit", type_=BigInteger()))
                if not self._mysql:
                    statement = statement.returning(_usage.c.used)
                return statement

            used = select(_usage.c.used).where(row)
            statements = {
                "add_limited": _Compiled(add(True), self._engine),
                "add": _Compiled(add(False), self._engine),
                "used": _Compiled(used, self._engine),
            }
            self._statements = statements
            return statements

    def close(self) -> None:
        """Release the counter pool's connections (when it is its own, not ``engine``)."""
        if self._writer is not self._engine:
            self._writer.dispose()

    def _run(self, name: str, values: dict[str, Any], write: bool) -> Any:
        statement = (self._statements or self._compile())[name]
        if self._watch.forked() and self._writer is not self._engine:
            # A forked worker: the pool's connections are its parent's sockets, dropped and
            # never closed (closing would end the parent's sessions).
            self._writer.dispose(close=False)
        if self._watch.disposed():
            # The engine was disposed since (a shutdown, a fork): so is this pool.
            self.close()
        raw = self._writer.raw_connection()
        try:
            cursor = raw.cursor()
            try:
                cursor.execute(statement.sql, statement.params(values))
                if write and self._mysql:
                    return cursor.lastrowid if cursor.rowcount else None
                found = cursor.fetchone()
                return None if found is None else found[0]
            finally:
                cursor.close()
                if write and self._sqlite:
                    raw.commit()
        finally:
            raw.close()

    def add(
        self,
        ref: str,
        feature: str,
        start: datetime,
        amount: int,
        limit: int | None,
        now: datetime,
    ) -> int | None:
        """The new count, or ``None`` when the row is missing or the limit refuses."""
        values: dict[str, Any] = {
            "ref": ref,
            "feature": feature,
            "start": self._to_db(start),
            "amount": amount,
            "now": self._to_db(now),
        }
        name = "add"
        if limit is not None:
            values["limit"] = limit
            name = "add_limited"
        if self._sqlite:
            with self._sqlite_lock:
                found = self._run(name, values, write=True)
        else:
            found = self._run(name, values, write=True)
        return None if found is None else int(found)

    def used(self, ref: str, feature: str, start: datetime) -> int | None:
        """The period's count (``None``: no row)."""
        found = self._run(
            "used", {"ref": ref, "feature": feature, "start": self._to_db(start)}, write=False
        )
        return None if found is None else int(found)

    def open_period(self, ref: str, feature: str, start: datetime, now: datetime) -> None:
        """:func:`tierline.usage.counter.open_period` in a transaction of its own."""
        if self._sqlite:
            with self._sqlite_lock, self._engine.begin() as conn:
                counter.open_period(conn, ref, feature, start, now)
            return
        with self._engine.begin() as conn:
            counter.open_period(conn, ref, feature, start, now)
