"""SQL on the outbox table: write an item, claim due items, record a try's outcome.

Claiming is safe with several workers on every dialect. Each claim is one conditional UPDATE
(``... WHERE id = ? AND status IN ('pending', 'failed') AND next_attempt_at <= now AND the lease
is free``) that sets a lease and increments ``attempts``: only one worker's UPDATE matches. On
PostgreSQL and MariaDB (10.6+) the candidates are first read with ``SELECT ... FOR UPDATE SKIP
LOCKED`` so concurrent workers pick different rows instead of queueing on each other's locks;
SQLite has one writer at a time, so the conditional UPDATE alone decides. The attempt number and
the lease's end fence the outcome: a worker whose lease ran out and was taken over changes
nothing when it finishes.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import Connection, Table, and_, bindparam, insert, or_, select, update

from tierline.billing.claims import one_line, rowcount
from tierline.outbox.models import OutboxItem, OutboxStatus

_OUTBOX = cast(Table, OutboxItem.__table__)
_C = _OUTBOX.c
_DUE_STATUSES = (OutboxStatus.PENDING.value, OutboxStatus.FAILED.value)
#: Dialects whose row locks can be skipped (``FOR UPDATE SKIP LOCKED``).
_SKIP_LOCKED_DIALECTS = frozenset({"postgresql", "mysql", "mariadb"})

_NOW = bindparam("p_now", type_=_C.next_attempt_at.type)
_DUE = and_(
    _C.status.in_(_DUE_STATUSES),
    _C.next_attempt_at <= _NOW,
    or_(_C.locked_until.is_(None), _C.locked_until <= _NOW),
)
_INSERT = insert(_OUTBOX).values(
    kind=bindparam("p_kind"),
    payload=bindparam("p_payload"),
    idempotency_key=bindparam("p_key"),
    status=OutboxStatus.PENDING.value,
    attempts=0,
    next_attempt_at=bindparam("p_due", type_=_C.next_attempt_at.type),
    created_at=_NOW,
)
_BY_KEY = select(_C.id).where(_C.idempotency_key == bindparam("p_key"))
_CLAIM = (
    update(_OUTBOX)
    .where(_C.id == bindparam("p_id"), _DUE)
    .values(
        locked_until=bindparam("p_lease", type_=_C.locked_until.type),
        attempts=_C.attempts + 1,
    )
)
_FENCE = and_(
    _C.id == bindparam("p_id"),
    _C.attempts == bindparam("p_attempt"),
    _C.locked_until == bindparam("p_lease", type_=_C.locked_until.type),
)
_DELIVERED = (
    update(_OUTBOX)
    .where(_FENCE)
    .values(
        status=OutboxStatus.DELIVERED.value,
        locked_until=None,
        last_error=None,
        delivered_at=bindparam("p_now", type_=_C.delivered_at.type),
    )
)
_FAILED = (
    update(_OUTBOX)
    .where(_FENCE)
    .values(
        status=bindparam("p_status"),
        locked_until=None,
        last_error=bindparam("p_error"),
        next_attempt_at=bindparam("p_next", type_=_C.next_attempt_at.type),
    )
)


@dataclass(frozen=True)
class Claimed:
    """An item this worker holds until ``lease_until``; ``attempt`` counts this try."""

    id: int
    kind: str
    payload: str
    idempotency_key: str
    attempt: int
    lease_until: datetime

    def arguments(self) -> dict[str, Any]:
        """The decoded JSON payload (an object)."""
        value = json.loads(self.payload)
        return value if isinstance(value, dict) else {"value": value}


def enqueue(
    conn: Connection,
    kind: str,
    payload: Mapping[str, Any],
    *,
    idempotency_key: str,
    now: datetime,
    due_at: datetime | None = None,
) -> int:
    """Write an item in the caller's transaction; return its id.

    It is due at ``due_at`` (a worker delivers it from then on), by default ``now``.

    An item with the same ``idempotency_key`` is the same call: its id is returned and nothing
    is written. A concurrent writer of the same key makes the insert raise ``IntegrityError``
    (the caller's transaction retries and then finds it).
    """
    params = {"p_key": idempotency_key}
    found = conn.execute(_BY_KEY, params).scalar()
    if found is not None:
        return int(found)
    text = json.dumps(dict(payload), sort_keys=True, separators=(",", ":"), default=str)
    result = conn.execute(
        _INSERT,
        {
            "p_kind": kind,
            "p_payload": text,
            "p_key": idempotency_key,
            "p_now": now,
            "p_due": now if due_at is None else due_at,
        },
    )
    pk = result.inserted_primary_key
    assert pk is not None  # every dialect reports the new id of a single-row insert
    return int(pk[0])


def claim(
    conn: Connection,
    *,
    now: datetime,
    lease: timedelta,
    limit: int,
    ids: Sequence[int] | None = None,
    skip: Sequence[str] = (),
) -> list[Claimed]:
    """Take up to ``limit`` due items (of ``ids`` when given, of no kind in ``skip``), oldest
    due first.

    Run it in a short transaction of its own and commit before delivering: the lease, not an
    open transaction, keeps other workers off the items while the provider is called.
    """
    candidates = select(_C.id).where(_DUE).order_by(_C.next_attempt_at, _C.id).limit(limit)
    if ids is not None:
        candidates = candidates.where(_C.id.in_(list(ids)))
    if skip:
        candidates = candidates.where(_C.kind.not_in(list(skip)))
    if conn.dialect.name in _SKIP_LOCKED_DIALECTS:
        candidates = candidates.with_for_update(skip_locked=True)
    found = [int(row_id) for row_id in conn.execute(candidates, {"p_now": now}).scalars()]
    lease_until = now + lease
    taken: list[int] = []
    for row_id in found:
        params = {"p_id": row_id, "p_now": now, "p_lease": lease_until}
        if rowcount(conn.execute(_CLAIM, params)):
            taken.append(row_id)
    if not taken:
        return []
    rows = conn.execute(
        select(_C.id, _C.kind, _C.payload, _C.idempotency_key, _C.attempts)
        .where(_C.id.in_(taken))
        .order_by(_C.next_attempt_at, _C.id)
    ).all()
    return [
        Claimed(row.id, row.kind, row.payload, row.idempotency_key, row.attempts, lease_until)
        for row in rows
    ]


def mark_delivered(conn: Connection, item: Claimed, *, now: datetime) -> bool:
    """Record a successful try; False if the lease was lost (another worker took it over)."""
    params = {"p_id": item.id, "p_attempt": item.attempt, "p_lease": item.lease_until}
    return bool(rowcount(conn.execute(_DELIVERED, {**params, "p_now": now})))


def mark_failed(
    conn: Connection,
    item: Claimed,
    *,
    error: str,
    next_attempt_at: datetime,
    dead: bool,
) -> bool:
    """Record a failed try (``dead`` after the last allowed one); False if the lease was lost."""
    params = {
        "p_id": item.id,
        "p_attempt": item.attempt,
        "p_lease": item.lease_until,
        "p_status": (OutboxStatus.DEAD if dead else OutboxStatus.FAILED).value,
        "p_error": one_line(error),
        "p_next": next_attempt_at,
    }
    return bool(rowcount(conn.execute(_FAILED, params)))


def revive(conn: Connection, *, now: datetime, item_id: int | None = None) -> int:
    """Make failed and dead items (one, or all) due now with a fresh budget of tries.

    An item held under a live lease is being tried right now and is left alone. Returns how
    many items were revived.
    """
    statement = (
        update(_OUTBOX)
        .where(
            _C.status.in_((OutboxStatus.FAILED.value, OutboxStatus.DEAD.value)),
            or_(_C.locked_until.is_(None), _C.locked_until <= _NOW),
        )
        .values(status=OutboxStatus.PENDING.value, attempts=0, next_attempt_at=_NOW)
    )
    if item_id is not None:
        statement = statement.where(_C.id == item_id)
    return rowcount(conn.execute(statement, {"p_now": now}))
