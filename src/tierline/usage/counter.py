"""The SQL of the usage counter: each change is one conditional statement, never read-then-write.

``add`` is ``UPDATE tierline_usage SET used = used + :n WHERE <account, feature, period> AND
used + :n <= :limit``: the database checks and counts in one step, so concurrent callers can
never count past the limit. A period's first use creates its row with an insert that ignores a
conflict (``ON CONFLICT DO NOTHING`` on SQLite and PostgreSQL, a no-op ``ON DUPLICATE KEY
UPDATE`` on MariaDB), then counts with the same conditional update. The account is found by a
subquery on its ref, so a call needs no separate look-up.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, cast

from sqlalchemy import (
    BigInteger,
    Connection,
    Insert,
    ScalarSelect,
    Table,
    and_,
    case,
    literal,
    select,
    update,
)
from sqlalchemy.dialects import mysql, postgresql, sqlite
from sqlalchemy.exc import IntegrityError

from tierline.accounts.models import Account
from tierline.db.types import UTCDateTime
from tierline.usage.models import UsageCounter, UsageKey

_usage = cast(Table, UsageCounter.__table__)
_key = cast(Table, UsageKey.__table__)


def account_id(ref: str) -> ScalarSelect[int]:
    """The account's id as a scalar subquery (NULL when there is no such account)."""
    return select(Account.id).where(Account.ref == ref).scalar_subquery()


def _row(ref: str, feature: str, start: datetime) -> Any:
    return and_(
        _usage.c.account_id == account_id(ref),
        _usage.c.feature == feature,
        _usage.c.period_start == start,
    )


def _insert_ignoring_conflict(conn: Connection, statement_for: Any) -> Insert:
    name = conn.dialect.name
    if name == "postgresql":
        return statement_for(postgresql.insert).on_conflict_do_nothing()  # type: ignore[no-any-return]
    if name == "sqlite":
        return statement_for(sqlite.insert).on_conflict_do_nothing()  # type: ignore[no-any-return]
    # MariaDB/MySQL: a plain insert whose duplicate-key error the caller ignores. (INSERT
    # IGNORE would turn other errors into warnings too, and concurrent INSERT ... SELECT ... ON
    # DUPLICATE KEY UPDATE on one existing key fails on MariaDB 11 with error 1467, "Failed to
    # read auto-increment value from storage engine", under the exactness test's 8 threads.)
    return statement_for(mysql.insert)  # type: ignore[no-any-return]


_DUPLICATE_KEY = 1062


def _mysql_errno(exc: IntegrityError) -> object:
    args: tuple[object, ...] = getattr(exc.orig, "args", ())
    return args[0] if args else None


def open_period(conn: Connection, ref: str, feature: str, start: datetime, now: datetime) -> None:
    """Create the counter row of the period (``used`` 0) unless it exists; no row is created
    when there is no account ``ref``."""
    source = select(
        Account.id,
        literal(feature),
        literal(start, UTCDateTime()),
        literal(0, BigInteger()),
        literal(now, UTCDateTime()),
    ).where(Account.ref == ref)
    columns = ["account_id", "feature", "period_start", "used", "updated_at"]
    statement = _insert_ignoring_conflict(
        conn, lambda insert: insert(_usage).from_select(columns, source)
    )
    if conn.dialect.name in ("mysql", "mariadb"):
        # INSERT ... VALUES, not ... SELECT: InnoDB holds its table-level AUTO-INC lock to the
        # end of an INSERT ... SELECT, which deadlocks with the row locks of concurrent counts
        # (MariaDB reports it as error 1467). A duplicate key ends only this statement.
        account = conn.scalar(select(Account.id).where(Account.ref == ref))
        if account is None:
            return
        try:
            conn.execute(
                _usage.insert().values(
                    account_id=account, feature=feature, period_start=start, used=0, updated_at=now
                )
            )
        except IntegrityError as exc:
            if _mysql_errno(exc) != _DUPLICATE_KEY:
                raise
        return
    conn.execute(statement)


def add(
    conn: Connection,
    ref: str,
    feature: str,
    start: datetime,
    amount: int,
    limit: int | None,
    now: datetime,
) -> bool:
    """Count ``amount`` if the total stays within ``limit`` (``None``: always); whether it did."""
    statement = (
        update(_usage)
        .where(_row(ref, feature, start))
        .values(used=_usage.c.used + amount, updated_at=now)
    )
    if limit is not None:
        statement = statement.where(_usage.c.used + amount <= limit)
    return bool(conn.execute(statement).rowcount)


def subtract(
    conn: Connection, ref: str, feature: str, start: datetime, amount: int, now: datetime
) -> None:
    """Give ``amount`` back, never below 0."""
    conn.execute(
        update(_usage)
        .where(_row(ref, feature, start))
        .values(
            used=case((_usage.c.used >= amount, _usage.c.used - amount), else_=0),
            updated_at=now,
        )
    )


def used(conn: Connection, ref: str, feature: str, start: datetime) -> int | None:
    """The period's count (``None``: no row yet)."""
    value = conn.scalar(select(_usage.c.used).where(_row(ref, feature, start)))
    return None if value is None else int(value)


def used_since(conn: Connection, ref: str, since: datetime) -> dict[tuple[str, datetime], int]:
    """Every counter of the account from ``since`` on, by (feature, period start)."""
    rows = conn.execute(
        select(_usage.c.feature, _usage.c.period_start, _usage.c.used).where(
            _usage.c.account_id == account_id(ref), _usage.c.period_start >= since
        )
    )
    return {(feature, start): int(count) for feature, start, count in rows}


def record_key(
    conn: Connection,
    ref: str,
    feature: str,
    key: str,
    amount: int,
    start: datetime,
    now: datetime,
) -> None:
    """Store a track's idempotency key (raises IntegrityError when it was already stored).

    A single-row ``INSERT ... VALUES`` (the account found by a scalar subquery): on MariaDB an
    ``INSERT ... SELECT`` would take InnoDB's table-level AUTO-INC lock (see open_period).
    """
    conn.execute(
        _key.insert().values(
            account_id=account_id(ref),
            feature=feature,
            key=key,
            amount=amount,
            period_start=start,
            created_at=now,
        )
    )


def find_key(
    conn: Connection, ref: str, feature: str, key: str
) -> tuple[int, datetime, datetime | None] | None:
    """A stored key's (amount, period start, released at), or ``None``."""
    row = conn.execute(
        select(_key.c.amount, _key.c.period_start, _key.c.released_at).where(
            _key.c.account_id == account_id(ref), _key.c.feature == feature, _key.c.key == key
        )
    ).first()
    return None if row is None else (int(row[0]), row[1], row[2])


def mark_released(conn: Connection, ref: str, feature: str, key: str, now: datetime) -> bool:
    """Mark the key released once; whether this call did."""
    statement = (
        update(_key)
        .where(
            _key.c.account_id == account_id(ref),
            _key.c.feature == feature,
            _key.c.key == key,
            _key.c.released_at.is_(None),
        )
        .values(released_at=now)
    )
    return bool(conn.execute(statement).rowcount)
