"""Claiming inbox rows: the statements that make a webhook's effect happen exactly once.

A new event's row is inserted in the same transaction as its effect, already marked handled:
the unique key on (provider, event id) makes a concurrent duplicate wait for that transaction
and then fail, and a crash before the commit leaves no row, so the provider's retry starts
afresh. When the row exists (a failed or unmapped event being retried), a delivery claims it
in a short transaction of its own with one conditional UPDATE that only succeeds for a failed
or unmapped event, or for one whose holder's lease ran out (a crashed or killed process),
then applies in a second one. Each take-over increments ``attempts``; the
attempt number is a fencing token: the holder marks the event handled with
``... WHERE id = ? AND attempts = <its attempt> AND status = 'processing'`` in the same
transaction as the effect, so a holder that lost its claim changes nothing.

The statements are built once with bind parameters: building and cache-keying a statement per
webhook costs more than executing it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import (
    Connection,
    CursorResult,
    Result,
    Table,
    UniqueConstraint,
    and_,
    bindparam,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError

from tierline.billing.models import Event, EventStatus
from tierline.db.fast import FastStatement, Flight, Pending

#: How long a claim is held before another delivery (or ``replay``) may take it over. Far
#: longer than an apply takes; short enough that a provider's retry finds a crashed claim free.
DEFAULT_LEASE = timedelta(seconds=60)

#: Recorded on every event row: which version of the handlers applied it.
HANDLER_VERSION = 1

#: The longest ``last_error`` kept: one line is enough to act on, the logs have the rest.
MAX_ERROR_LENGTH = 1000

_EVENT = cast(Table, Event.__table__)
_C = _EVENT.c
# Bind names carry a ``p_`` prefix: a name equal to a column's is reserved by SQLAlchemy for
# the VALUES/SET clause.
_PROCESSING = EventStatus.PROCESSING.value

_INSERT = insert(_EVENT).values(
    provider=bindparam("p_provider"),
    external_id=bindparam("p_external_id"),
    type=bindparam("p_type"),
    occurred_at=bindparam("p_occurred_at", type_=_C.occurred_at.type),
    received_at=bindparam("p_now", type_=_C.received_at.type),
    status=bindparam("p_status"),
    processed_at=bindparam("p_processed_at", type_=_C.processed_at.type),
    locked_until=bindparam("p_lease_end", type_=_C.locked_until.type),
    attempts=1,
    last_error=bindparam("p_error", type_=_C.last_error.type),
    payload=bindparam("p_payload"),
    handler_version=HANDLER_VERSION,
)

# A new row's id: RETURNING where the driver has no usable lastrowid (psycopg).
_INSERT_FAST = FastStatement(_INSERT)
_INSERT_RETURNING_FAST = FastStatement(_INSERT.returning(_C.id), fetch=True)

_UNIQUE_KEY = next(
    str(constraint.name)
    for constraint in _EVENT.constraints
    if isinstance(constraint, UniqueConstraint)
    and {column.name for column in constraint.columns} == {"provider", "external_id"}
)

_BY_KEY = and_(_C.provider == bindparam("p_provider"), _C.external_id == bindparam("p_external_id"))
_BY_ID = _C.id == bindparam("p_row_id")
_TAKEABLE = or_(
    _C.status.in_([EventStatus.FAILED.value, EventStatus.UNMAPPED.value]),
    and_(
        _C.status == _PROCESSING,
        or_(
            _C.locked_until.is_(None),
            _C.locked_until < bindparam("p_now", type_=_C.locked_until.type),
        ),
    ),
)
_TAKE_VALUES = {
    "status": _PROCESSING,
    "attempts": _C.attempts + 1,
    "locked_until": bindparam("p_lease_end", type_=_C.locked_until.type),
}
_TAKE = {
    "key": update(_EVENT).where(_BY_KEY, _TAKEABLE).values(_TAKE_VALUES),
    "id": update(_EVENT).where(_BY_ID, _TAKEABLE).values(_TAKE_VALUES),
}
_READ_CLAIM = {
    "key": select(_C.id, _C.status, _C.attempts).where(_BY_KEY),
    "id": select(_C.id, _C.status, _C.attempts).where(_BY_ID),
}

_MINE = and_(
    _C.id == bindparam("p_row_id"),
    _C.attempts == bindparam("p_attempt"),
    _C.status == _PROCESSING,
)
_MARK = (
    update(_EVENT)
    .where(_MINE)
    .values(
        status=bindparam("p_status"),
        processed_at=bindparam("p_processed_at", type_=_C.processed_at.type),
        locked_until=None,
        last_error=bindparam("p_error", type_=_C.last_error.type),
    )
)
_RESTATE = (
    update(_EVENT)
    .where(_C.id == bindparam("p_row_id"), _C.attempts == bindparam("p_attempt"))
    .values(
        status=bindparam("p_status"),
        processed_at=bindparam("p_processed_at", type_=_C.processed_at.type),
        last_error=bindparam("p_error", type_=_C.last_error.type),
    )
)


_UNMAPPED_OF_PROVIDER = select(_C.id).where(
    _C.status == EventStatus.UNMAPPED.value, _C.provider == bindparam("p_provider")
)
_ANY_UNMAPPED = FastStatement(_UNMAPPED_OF_PROVIDER.limit(1), fetch=True)
# PostgreSQL, in a flight: the new row's id and, in the same statement (one statement fewer
# to send and run per webhook), whether any event of its provider waits as ``unmapped`` (the
# new row is never one: this path inserts it as processed).
_INSERT_PROBING_FAST = FastStatement(
    _INSERT.returning(_C.id, _UNMAPPED_OF_PROVIDER.exists().label("unmapped_waiting")),
    fetch=True,
)


@dataclass(frozen=True)
class Claim:
    """This delivery holds the event: ``attempt`` is its fencing token."""

    row_id: int
    attempt: int


@dataclass(frozen=True)
class Refused:
    """Someone else holds the event, or it is already final."""

    row_id: int
    status: EventStatus


def insert_claim(conn: Connection, **row: Any) -> Claim | None:
    """Insert a new event row as claimed by this delivery; ``None`` if the event exists.

    ``row`` is :func:`claim_row`'s keyword arguments. ``status`` is ``processing`` (held under
    a lease) unless the caller inserts the row in the same transaction as the event's effect:
    then it is inserted already ``processed`` and becomes visible only together with the
    effect, or ``failed`` to record an error. Runs in the caller's transaction; a unique
    violation aborts it on PostgreSQL, so on ``None`` the caller must roll back before doing
    anything else.
    """
    try:
        pending = send_insert_claim(Flight(conn, pipelined=False), claim_row(**row))
    except IntegrityError:
        return None
    return inserted_claim(conn, pending)


def claim_row(
    *,
    provider: str,
    external_id: str,
    event_type: str,
    occurred_at: datetime | None,
    payload: str,
    now: datetime,
    lease: timedelta,
    status: EventStatus = EventStatus.PROCESSING,
    error: str | None = None,
) -> dict[str, Any]:
    """The bind values of a new event's row (see :func:`insert_claim`)."""
    return {
        "p_provider": provider,
        "p_external_id": external_id,
        "p_type": event_type,
        "p_occurred_at": occurred_at,
        "p_now": now,
        "p_status": status.value,
        "p_processed_at": now if status.is_final else None,
        "p_lease_end": now + lease if status is EventStatus.PROCESSING else None,
        "p_error": None if error is None else one_line(error),
        "p_payload": payload,
    }


def send_insert_claim(
    sent: Flight, row: dict[str, Any], *, probe_unmapped: bool = False
) -> Pending:
    """:func:`insert_claim`'s INSERT of ``row`` (:func:`claim_row`) sent in a flight;
    :func:`inserted_claim` reads it after.

    ``probe_unmapped`` (PostgreSQL only) also asks :func:`any_unmapped`'s question for the
    row's provider in the same statement; :func:`unmapped_waiting` reads the answer. The
    flight raises ``IntegrityError`` when the event exists (:func:`is_duplicate` tells it from
    another statement's violation).
    """
    if sent.conn.dialect.name != "postgresql":
        assert not probe_unmapped, "the probing insert is PostgreSQL's (RETURNING)"
        return sent.send(_INSERT_FAST, row)
    return sent.send(_INSERT_PROBING_FAST if probe_unmapped else _INSERT_RETURNING_FAST, row)


def inserted_claim(conn: Connection, pending: Pending) -> Claim:
    """The claim of a row :func:`send_insert_claim` inserted."""
    result = pending.result()
    first = result.first()
    returning = conn.dialect.name == "postgresql"
    row_id = first[0] if returning and first is not None else result.lastrowid
    assert row_id is not None  # every dialect reports the new id of a single-row insert
    return Claim(row_id=int(row_id), attempt=1)


def unmapped_waiting(pending: Pending) -> bool:
    """Whether an event of the provider waited as ``unmapped`` when a
    ``send_insert_claim(..., probe_unmapped=True)`` inserted its row."""
    first = pending.result().first()
    assert first is not None and len(first) == 2  # the probing insert returns one row
    return bool(first[1])


def is_duplicate(exc: IntegrityError) -> bool:
    """Whether ``exc`` is the violation of the event's unique key (provider, event id), as
    PostgreSQL names it (``diag.constraint_name``); other drivers do not say, and count as it."""
    diag = getattr(exc.orig, "diag", None)
    name = getattr(diag, "constraint_name", None)
    return name is None or name == _UNIQUE_KEY


def take_over(
    conn: Connection,
    *,
    now: datetime,
    lease: timedelta,
    row_id: int | None = None,
    provider: str | None = None,
    external_id: str | None = None,
) -> Claim | Refused | None:
    """Take the event (by ``row_id``, or by provider and id) if it is free to take.

    Free: failed, unmapped, or processing under a lease that ran out. The UPDATE comes first so
    that SQLite takes its write lock before reading and the other dialects lock the row; the
    SELECT after it then reads our own attempt number. ``None`` when no such event exists.
    """
    by = "id" if row_id is not None else "key"
    params: dict[str, Any] = {
        "p_row_id": row_id,
        "p_provider": provider,
        "p_external_id": external_id,
        "p_now": now,
        "p_lease_end": now + lease,
    }
    taken = rowcount(conn.execute(_TAKE[by], params))
    row = conn.execute(_READ_CLAIM[by], params).first()
    if row is None:
        return None
    if taken:
        return Claim(row_id=row.id, attempt=row.attempts)
    return Refused(row_id=row.id, status=EventStatus(row.status))


def mark(
    conn: Connection,
    claim: Claim,
    status: EventStatus,
    *,
    now: datetime,
    error: str | None = None,
) -> bool:
    """Record the outcome of ``claim`` in the caller's transaction; False if the claim is lost.

    Final outcomes get ``processed_at``; every outcome releases the lease. False means another
    delivery took the event over after our lease ran out: the caller must roll back whatever
    it applied.
    """
    matched = rowcount(
        conn.execute(
            _MARK,
            {
                "p_row_id": claim.row_id,
                "p_attempt": claim.attempt,
                "p_status": status.value,
                "p_processed_at": now if status.is_final else None,
                "p_error": None if error is None else one_line(error),
            },
        )
    )
    return bool(matched)


def restate(
    conn: Connection, claim: Claim, status: EventStatus, *, now: datetime, error: str | None
) -> None:
    """Change the outcome already marked in this transaction (we hold the row's lock)."""
    conn.execute(
        _RESTATE,
        {
            "p_row_id": claim.row_id,
            "p_attempt": claim.attempt,
            "p_status": status.value,
            "p_processed_at": now if status.is_final else None,
            "p_error": None if error is None else one_line(error),
        },
    )


def any_unmapped(conn: Connection, provider: str) -> bool:
    """Whether any event of ``provider`` waits as ``unmapped`` (one indexed probe)."""
    return _ANY_UNMAPPED.execute(conn, {"p_provider": provider}).first() is not None


def rowcount(result: Result[Any]) -> int:
    """Rows matched by an UPDATE (the generic result type hides ``rowcount``)."""
    return cast(CursorResult[Any], result).rowcount


def one_line(text: str) -> str:
    """``text`` folded to one line and cut to :data:`MAX_ERROR_LENGTH` characters."""
    folded = " ".join(text.split())
    return folded if len(folded) <= MAX_ERROR_LENGTH else folded[: MAX_ERROR_LENGTH - 3] + "..."
