"""The one query behind ``status()``: an account's subscriptions and credit grants.

One round trip: a ``UNION ALL`` of the account's subscriptions (outer-joined, so a known
account with none still answers one row) and its non-revoked grants, both found through the
unique index on ``tierline_account.ref``. The statement is compiled once per engine and run on
a DBAPI connection, because SQLAlchemy's per-execution bookkeeping would otherwise be most of
the ``status()`` time budget; values are converted here instead of by column types.

On PostgreSQL and MariaDB the query runs on a small pool of its own, in autocommit mode and
without pre-ping: the shared pool's ping, ``BEGIN`` and reset ``ROLLBACK`` would triple the
round trips. A connection the server dropped is discarded and the query retried once, which is
what pre-ping would have done. The pool is disposed with the main engine.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    BindParameter,
    Engine,
    String,
    bindparam,
    create_engine,
    event,
    literal_column,
    null,
    select,
    union_all,
)

from tierline.access.rules import GrantFacts, SubscriptionFacts
from tierline.accounts.models import Account
from tierline.billing.models import Subscription
from tierline.credits.models import CreditGrant
from tierline.db.engine import first_line
from tierline.errors import DatabaseError, DatabaseUnreachableError

_account = Account.__table__
_sub = Subscription.__table__
_grant = CreditGrant.__table__

_REF: BindParameter[str] = bindparam("ref", type_=String())

# Row shape: kind, provider, status, tier_id, t1, t2, t3, t4, flag, quantity, t5, t6
#   kind 0 (subscription): t1 = current_period_end, t2 = trial_end, t3 = provider_updated_at,
#          t4 = updated_at, flag = cancel_at_period_end, t5 = cancel_at, t6 = past_due_since
#   kind 1 (grant):        t1 = starts_at, t2 = expires_at
_STATEMENT = union_all(
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


class _DisconnectedError(Exception):
    """The server dropped the connection; the pool has discarded it."""


@dataclass(frozen=True)
class AccountRows:
    """What the database holds for one account ref."""

    exists: bool
    subscriptions: Sequence[SubscriptionFacts]
    grants: Sequence[GrantFacts]


_UNKNOWN = AccountRows(False, (), ())


#: Connections the access pool keeps open when the main engine's pool says no size (it opens
#: as many again under load and closes them after); else the main pool's size.
READ_POOL_SIZE = 5


def read_engine(engine: Engine) -> Engine:
    """The engine ``status()`` reads through: ``engine`` itself for SQLite (its connections are
    local and cheap), else an autocommit pool on the same URL, disposed along with ``engine``."""
    if engine.dialect.name == "sqlite":
        return engine
    size = getattr(engine.pool, "size", lambda: READ_POOL_SIZE)()
    reader = create_engine(
        engine.url,
        isolation_level="AUTOCOMMIT",
        pool_reset_on_return=None,
        pool_size=size,
        max_overflow=size,
    )
    event.listen(engine, "engine_disposed", lambda _engine: reader.dispose())
    return reader


class AccessQuery:
    """The compiled statement for one engine, run with a single round trip."""

    def __init__(self, engine: Engine) -> None:
        self._engine = read_engine(engine)
        self._lock = threading.Lock()
        self._sql: str | None = None
        self._positions = 0
        self._textual_dates = engine.dialect.name == "sqlite"

    def _compile(self) -> str:
        with self._lock:
            if self._sql is None:
                compiled = _STATEMENT.compile(dialect=self._engine.dialect)
                positions = compiled.positiontup
                self._positions = len(positions) if compiled.positional and positions else 0
                self._sql = str(compiled)
            return self._sql

    def fetch(self, ref: str) -> AccountRows:
        """The account's rows; raises :class:`DatabaseError` when the tables cannot be read."""
        sql = self._sql or self._compile()
        params: Any = (ref,) * self._positions if self._positions else {"ref": ref}
        try:
            rows = self._run(sql, params)
        except _DisconnectedError:
            try:
                rows = self._run(sql, params)  # once more, on a fresh connection
            except _DisconnectedError as exc:
                raise DatabaseUnreachableError(
                    f"cannot read access status: {first_line(exc.__cause__ or exc)}"
                ) from exc
        if not rows:
            return _UNKNOWN
        return self._convert(rows)

    def _run(self, sql: str, params: Any) -> Sequence[Any]:
        try:
            raw = self._engine.raw_connection()
        except Exception as exc:
            raise DatabaseUnreachableError(f"cannot read access status: {first_line(exc)}") from exc
        try:
            cursor = raw.cursor()
            try:
                cursor.execute(sql, params)
                rows: Sequence[Any] = cursor.fetchall()
            finally:
                cursor.close()
        except Exception as exc:
            dbapi_error = self._engine.dialect.loaded_dbapi.Error
            if isinstance(exc, dbapi_error) and self._engine.dialect.is_disconnect(
                exc, raw.dbapi_connection, None
            ):
                raw.invalidate(exc)
                raise _DisconnectedError from exc
            raise DatabaseError(
                f"cannot read access status ({first_line(exc)}); "
                "is the database migrated (`tierline db upgrade`)?"
            ) from exc
        finally:
            raw.close()
        return rows

    def _convert(self, rows: Sequence[Any]) -> AccountRows:
        dt = _text_to_utc if self._textual_dates else _naive_to_utc
        subscriptions: list[SubscriptionFacts] = []
        grants: list[GrantFacts] = []
        for kind, provider, status, tier_id, t1, t2, t3, t4, flag, quantity, t5, t6 in rows:
            if int(kind) == 1:
                # Both columns are NOT NULL.
                grants.append(GrantFacts(_required(dt(t1)), _required(dt(t2))))
            elif status is not None:
                subscriptions.append(
                    SubscriptionFacts(
                        provider=provider,
                        status=status,
                        tier_id=tier_id,
                        current_period_end=dt(t1),
                        cancel_at_period_end=bool(flag),
                        trial_end=dt(t2),
                        changed_at=dt(t3) or dt(t4),
                        quantity=int(quantity),
                        cancel_at=dt(t5),
                        past_due_since=dt(t6),
                    )
                )
        return AccountRows(True, subscriptions, grants)


def _naive_to_utc(value: datetime | None) -> datetime | None:
    # Tierline stores naive UTC on every dialect (see tierline.db.types.UTCDateTime).
    return None if value is None else value.replace(tzinfo=UTC)


def _text_to_utc(value: str | datetime | None) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, str):
        return datetime.fromisoformat(value).replace(tzinfo=UTC)
    return value.replace(tzinfo=UTC)


def _required(value: datetime | None) -> datetime:
    if value is None:
        raise DatabaseError("a credit grant has no window; the schema forbids that")
    return value
