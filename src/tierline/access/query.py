"""The one query behind ``status()``: an account's subscriptions and credit grants.

One round trip: a ``UNION ALL`` of the account's subscriptions (outer-joined, so a known
account with none still answers one row) and its non-revoked grants, both found through the
unique index on ``tierline_account.ref``. The statement is compiled once per engine and run on
a DBAPI connection, because SQLAlchemy's per-execution bookkeeping would otherwise be most of
the ``status()`` time budget; values are converted here instead of by column types.

On PostgreSQL and MariaDB the query runs on connections of its own, in autocommit mode and
without pre-ping: the shared pool's ping, ``BEGIN`` and reset ``ROLLBACK`` would triple the
round trips. They are kept outside SQLAlchemy's pool (:class:`~tierline.db.fast.RawConnections`:
its checkout and return cost more than SQLite takes to answer). A connection the server dropped
is discarded and the query retried once, which is what pre-ping would have done. Everything is
closed with the main engine.
"""

from __future__ import annotations

import functools
import operator
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any, NamedTuple

from sqlalchemy import (
    BindParameter,
    Connection,
    Engine,
    String,
    bindparam,
    create_engine,
    literal_column,
    null,
    or_,
    select,
    union_all,
)

from tierline.access.memo import Memo
from tierline.access.rules import GrantFacts, SubscriptionFacts
from tierline.accounts.models import Account
from tierline.billing.models import Subscription
from tierline.credits.models import CreditGrant
from tierline.db.engine import first_line, sqlite_file
from tierline.db.fast import RawConnections
from tierline.errors import DatabaseError, DatabaseUnreachableError
from tierline.usage.models import UsageCounter

_account = Account.__table__
_sub = Subscription.__table__
_grant = CreditGrant.__table__
_usage = UsageCounter.__table__

_REF: BindParameter[str] = bindparam("ref", type_=String())

# Row shape: kind, provider, status, tier_id, t1, t2, t3, t4, flag, quantity, t5, t6
#   kind 0 (subscription): t1 = current_period_end, t2 = trial_end, t3 = provider_updated_at,
#          t4 = updated_at, flag = cancel_at_period_end, t5 = cancel_at, t6 = past_due_since
#   kind 1 (grant):        t1 = starts_at, t2 = expires_at
_BRANCHES = (
    select(
        literal_column("0"),
        _sub.c.provider,
        _sub.c.status,
        _sub.c.tier_id,
        _sub.c.current_period_end,
        _sub.c.trial_end,
        _sub.c.provider_updated_at,
        _sub.c.updated_at,
        _sub.c.cancel_at_period_end,
        _sub.c.quantity,
        _sub.c.cancel_at,
        _sub.c.past_due_since,
    )
    .select_from(_account.outerjoin(_sub, _sub.c.account_id == _account.c.id))
    .where(_account.c.ref == _REF),
    select(
        literal_column("1"),
        null(),
        null(),
        null(),
        _grant.c.starts_at,
        _grant.c.expires_at,
        null(),
        null(),
        null(),
        null(),
        null(),
        null(),
    )
    .select_from(_account.join(_grant, _grant.c.account_id == _account.c.id))
    .where(_account.c.ref == _REF, _grant.c.revoked_at.is_(None)),
)
_STATEMENT = union_all(*_BRANCHES)
#   kind 2 (usage counter, with a UsageRange only): t1 = period_start, quantity = used
_FEATURE: BindParameter[str] = bindparam("feature", type_=String())
_SINCE = bindparam("since", type_=_usage.c.period_start.type)
_ALSO = bindparam("also", type_=_usage.c.period_start.type)


def _usage_branch(also: bool) -> Any:
    """The usage counters of one feature started at or after ``since`` (and, with ``also``,
    the one started exactly then: the lifetime counter)."""
    started = _usage.c.period_start >= _SINCE
    return (
        select(
            literal_column("2"),
            null(),
            null(),
            null(),
            _usage.c.period_start,
            null(),
            null(),
            null(),
            null(),
            _usage.c.used,
            null(),
            null(),
        )
        .select_from(_account.join(_usage, _usage.c.account_id == _account.c.id))
        .where(
            _account.c.ref == _REF,
            _usage.c.feature == _FEATURE,
            or_(started, _usage.c.period_start == _ALSO) if also else started,
        )
    )


#: By "also a lifetime counter": the OR costs SQLite a second index search.
_WITH_USAGE = {also: union_all(*_BRANCHES, _usage_branch(also)) for also in (False, True)}


class _DisconnectedError(Exception):
    """The server dropped the connection; the pool has discarded it."""


class AccountRows(NamedTuple):
    """What the database holds for one account ref: its subscriptions and credit grants (a
    named tuple, as the facts in it: built on every read of rows ``status()`` has not seen)."""

    exists: bool
    subscriptions: Sequence[SubscriptionFacts]
    grants: Sequence[GrantFacts]


_UNKNOWN = AccountRows(False, (), ())
#: A known account with neither a subscription nor a grant.
_NOTHING = AccountRows(True, (), ())
#: What :meth:`AccessQuery.read` answers for counters it was not asked for (read-only).
NO_COUNTERS: Mapping[datetime, int] = MappingProxyType({})


@dataclass(frozen=True)
class UsageRange:
    """Which usage counters :meth:`AccessQuery.read` reads with the account's rows: those of
    ``feature`` whose period started at or after ``since``, or exactly at ``also`` (None: no
    other)."""

    feature: str
    since: datetime
    also: datetime | None = None


def _as_is(values: dict[str, Any]) -> dict[str, Any]:
    return values


class _Compiled:
    """A statement's SQL for one dialect, its bind names in driver order, its converters."""

    def __init__(self, statement: Any, engine: Engine) -> None:
        compiled = statement.compile(dialect=engine.dialect)
        self.sql = str(compiled)
        names = compiled.positiontup if compiled.positional else None
        self.names: tuple[str, ...] | None = tuple(names) if names else None
        self.processors: dict[str, Any] = {}
        for name, bind in compiled.binds.items():
            processor = bind.type.dialect_impl(engine.dialect).bind_processor(engine.dialect)
            if processor is not None and name != "ref":
                self.processors[name] = processor
        #: The driver's parameters out of values by name that need no converting: a tuple in
        #: bind order for a positional driver, else the dict itself.
        self.order: Callable[[dict[str, Any]], Any] = _as_is
        if self.names is not None:
            getter = operator.itemgetter(*self.names)
            self.order = getter if len(self.names) > 1 else lambda v: (getter(v),)
        #: The driver's parameters out of values by name: :meth:`params`, or :attr:`order`
        #: itself when nothing needs converting (status()'s statement: a call less).
        self.bind: Callable[[dict[str, Any]], Any] = self.params if self.processors else self.order

    def params(self, values: dict[str, Any]) -> Any:
        """The driver's parameters, converted where the column type says so."""
        for name, processor in self.processors.items():
            values[name] = processor(values[name])
        return self.order(values)


#: Connections the access pool keeps open when the main engine's pool says no size (it opens
#: as many again under load and closes them after); else the main pool's size.
READ_POOL_SIZE = 5


def read_engine(engine: Engine) -> Engine:
    """The engine ``status()`` reads through: ``engine`` itself for SQLite (its connections are
    local and cheap), else an autocommit pool on the same URL (disposed along with ``engine``
    by :class:`~tierline.db.fast.RawConnections`, or by :meth:`AccessQuery.close`)."""
    if engine.dialect.name == "sqlite":
        return engine
    size = _pool_size(engine, READ_POOL_SIZE)
    reader = create_engine(
        engine.url,
        isolation_level="AUTOCOMMIT",
        pool_reset_on_return=None,
        pool_size=size,
        max_overflow=size,
    )
    return reader


def _pool_size(engine: Engine, default: int) -> int:
    size = getattr(engine.pool, "size", None)
    return int(size()) if callable(size) else default


class AccessQuery:
    """The compiled statement for one engine, run with a single round trip."""

    def __init__(self, engine: Engine) -> None:
        self._engine = read_engine(engine)
        # An in-memory SQLite database lives in its one pooled connection: no side door.
        shared = engine.dialect.name == "sqlite" and sqlite_file(engine.url) is None
        self._connections = (
            None
            if shared
            else RawConnections(self._engine, _pool_size(engine, READ_POOL_SIZE), follows=engine)
        )
        self._main = engine
        self._lock = threading.Lock()
        self._compiled: dict[bool | None, _Compiled] = {}
        #: The statement without usage counters (status()'s), once compiled.
        self._plain: _Compiled | None = None
        #: feature -> (usage range, its statement, its converted values): see _bind().
        self._bound: Memo[str, tuple[UsageRange, _Compiled, dict[str, Any]]] = Memo()
        self._textual_dates = engine.dialect.name == "sqlite"

    def close(self) -> None:
        """Release the connections kept for reads (and the read pool, when it is its own)."""
        if self._connections is not None:
            self._connections.close()
        if self._engine is not self._main:
            self._engine.dispose()

    def _statement(self, usage: UsageRange | None = None) -> _Compiled:
        """The statement without usage counters, or with those ``usage`` names."""
        also = None if usage is None else usage.also is not None
        found = self._compiled.get(also)
        if found is not None:
            return found
        with self._lock:
            made = _Compiled(_STATEMENT if also is None else _WITH_USAGE[also], self._engine)
            self._compiled[also] = made
            if also is None:
                self._plain = made
            return made

    def _bind(self, usage: UsageRange) -> tuple[UsageRange, _Compiled, dict[str, Any]]:
        """``usage``'s statement and its values but the ref, converted for the driver."""
        statement = self._statement(usage)
        values: dict[str, Any] = {"feature": usage.feature, "since": usage.since}
        if usage.also is not None:
            values["also"] = usage.also
        for name, processor in statement.processors.items():
            values[name] = processor(values[name])
        bound = (usage, statement, values)
        self._bound.put(usage.feature, bound)
        return bound

    def sql(self) -> str:
        """The statement's SQL for this engine's dialect (one bind: the account ref)."""
        return self._statement().sql

    def positions(self) -> int:
        """How many times a positional driver takes the ref (0: named parameters)."""
        return len(self._statement().names or ())

    def read(self, ref: str, usage: UsageRange | None = None) -> tuple[Any, ...]:
        """The account's rows, and with ``usage`` its counters of that feature in that range,
        in one statement, as the driver gave them, in a (hashable) tuple: none for an unknown
        account; :meth:`split` and :meth:`convert` make facts of them. Raises
        :class:`DatabaseError` when the tables cannot be read."""
        if usage is None:
            statement = self._plain or self._statement()
            params = statement.bind({"ref": ref})
        else:
            # The range's values converted once (a range stays the same all day).
            bound = self._bound.get(usage.feature)
            if bound is None or bound[0] is not usage:
                bound = self._bind(usage)
            statement = bound[1]
            params = statement.order({**bound[2], "ref": ref})
        sql = statement.sql
        try:
            rows = self._run(sql, params)
        except _DisconnectedError:
            try:
                rows = self._run(sql, params)  # once more, on a fresh connection
            except _DisconnectedError as exc:
                raise DatabaseUnreachableError(
                    f"cannot read access status: {first_line(exc.__cause__ or exc)}"
                ) from exc
        return tuple(rows)

    def split(self, rows: tuple[Any, ...]) -> tuple[tuple[Any, ...], Mapping[datetime, int]]:
        """:meth:`read`'s rows: the account's own (subscriptions, grants), and the usage
        counters by period start (aware UTC)."""
        start = _parse_utc if self._textual_dates else _naive_to_utc_required
        account: list[Any] = []
        counters: dict[datetime, int] = {}
        for row in rows:
            if row[0] == 2:  # a usage counter (see _usage_branch): t1, quantity (NOT NULL)
                counters[start(row[4])] = int(row[9])
            else:
                account.append(row)
        if not counters:
            return rows, NO_COUNTERS
        return tuple(account), counters

    def fetch_in(self, conn: Connection, ref: str) -> AccountRows:
        """The account's rows as ``conn``'s open transaction sees them (its own writes too)."""
        statement = self._statement()
        rows = conn.exec_driver_sql(statement.sql, statement.params({"ref": ref})).all()
        return self.convert(tuple(tuple(row) for row in rows))

    def _run(self, sql: str, params: Any) -> Sequence[Any]:
        kept = self._connections
        try:
            # A pooled connection (in-memory SQLite) or a kept DBAPI one (every other case).
            connection = self._engine.raw_connection() if kept is None else kept.acquire()
        except Exception as exc:
            raise DatabaseUnreachableError(f"cannot read access status: {first_line(exc)}") from exc
        try:
            cursor = connection.cursor()
            try:
                cursor.execute(sql, params)
                rows: Sequence[Any] = cursor.fetchall()
            finally:
                cursor.close()
        except Exception as exc:
            dropped = self._dropped(exc, connection)
            if kept is not None:
                kept.discard(connection)
            else:
                if dropped:
                    connection.invalidate(exc)
                connection.close()
            if dropped:
                raise _DisconnectedError from exc
            raise DatabaseError(
                f"cannot read access status ({first_line(exc)}); "
                "is the database migrated (`tierline db upgrade`)?"
            ) from exc
        if kept is None:
            connection.close()
        else:
            kept.release(connection)
        return rows

    def _dropped(self, exc: Exception, connection: Any) -> bool:
        dialect = self._engine.dialect
        driver = getattr(connection, "dbapi_connection", connection)
        return isinstance(exc, dialect.loaded_dbapi.Error) and bool(
            dialect.is_disconnect(exc, driver, None)
        )

    def convert(self, rows: Sequence[Any]) -> AccountRows:
        """The facts in an account's own rows (:meth:`split`; none: an unknown account)."""
        if not rows:
            return _UNKNOWN
        dt = _text_to_utc if self._textual_dates else _naive_to_utc
        subscriptions: list[SubscriptionFacts] = []
        grants: list[GrantFacts] = []
        # The facts are made by _make() from their fields in order: calling a named tuple's
        # class runs its __new__, a Python function, through the class (half as much again).
        for kind, provider, status, tier_id, t1, t2, t3, t4, flag, quantity, t5, t6 in rows:
            if int(kind) == 1:
                # Both columns are NOT NULL.
                grants.append(GrantFacts._make((_required(dt(t1)), _required(dt(t2)))))
            elif status is not None:
                subscriptions.append(
                    SubscriptionFacts._make(
                        (
                            provider,
                            status,
                            tier_id,
                            dt(t1),  # current_period_end
                            bool(flag),  # cancel_at_period_end
                            dt(t2),  # trial_end
                            dt(t3) or dt(t4),  # changed_at
                            int(quantity),
                            dt(t5),  # cancel_at
                            dt(t6),  # past_due_since
                        )
                    )
                )
        if not subscriptions and not grants:
            return _NOTHING
        return AccountRows._make((True, subscriptions, grants))


def _naive_to_utc(value: datetime | None) -> datetime | None:
    # Tierline stores naive UTC on every dialect (see tierline.db.types.UTCDateTime).
    return None if value is None else value.replace(tzinfo=UTC)


def _naive_to_utc_required(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC)


def _text_to_utc(value: str | datetime | None) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, str):
        return _parse_utc(value)
    return value.replace(tzinfo=UTC)


@functools.lru_cache(maxsize=8192)
def _parse_utc(value: str) -> datetime:
    """SQLite's stored text of a naive UTC datetime, as aware UTC (the same few period ends and
    trial ends are read again and again: parsing costs more than the look-up)."""
    return datetime.fromisoformat(value).replace(tzinfo=UTC)


def _required(value: datetime | None) -> datetime:
    if value is None:
        raise DatabaseError("a NOT NULL column read NULL; the schema forbids that")
    return value
