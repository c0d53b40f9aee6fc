"""SQL on the subscription table for the inbox: ordered upserts, checkout links, look-ups.

Statements are built once with bind parameters (the inbox's hot path runs them per webhook).
Ordering is decided inside the UPDATE's WHERE clause, so a newer snapshot committed by a
concurrent delivery can never be overwritten between a read and a write: the provider's
timestamp first, then the snapshot's lifecycle rank on equal timestamps, and a terminal status
(canceled, expired) is never reopened.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from typing import Any, cast

from sqlalchemy import (
    Connection,
    Integer,
    Table,
    and_,
    bindparam,
    case,
    func,
    insert,
    literal_column,
    or_,
    select,
    true,
    update,
)
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from tierline.access.rules import EXEMPT_PROVIDER
from tierline.accounts.customers import linked_account_id
from tierline.accounts.models import Account
from tierline.accounts.queries import AccountRef
from tierline.billing.claims import rowcount
from tierline.billing.models import Subscription, SubscriptionStatus
from tierline.billing.providers.base import SubscriptionSnapshot
from tierline.billing.scheduled import FROM_TIER, hold_key
from tierline.catalog.models import Tier
from tierline.db.fast import FastStatement, Flight, Pending
from tierline.outbox.models import OutboxItem, OutboxStatus

_SUB = cast(Table, Subscription.__table__)
_C = _SUB.c
_OUTBOX = cast(Table, OutboxItem.__table__)

# Bind names carry a ``p_`` prefix: a name equal to a column's is reserved by SQLAlchemy for
# the VALUES/SET clause.
_KEY = and_(_C.provider == bindparam("p_provider"), _C.external_id == bindparam("p_external_id"))
_TS = bindparam("p_provider_updated_at", type_=_C.provider_updated_at.type)
_RANK = bindparam("p_rank", type_=Integer())
_SINCE = bindparam("p_past_due_since", type_=_C.past_due_since.type)
_PAST_DUE = SubscriptionStatus.PAST_DUE.value
# past_due_since: kept while the subscription stays past due, set when it enters that state,
# cleared otherwise (``p_past_due_since`` is NULL unless the snapshot is past due). It is
# assigned FIRST: MariaDB evaluates SET assignments left to right with the new values, so
# ``status`` must still hold the stored state here.
_KEEP_SINCE = case(
    (
        and_(
            bindparam("p_past_due", type_=Integer()) == 1,
            _C.status == _PAST_DUE,
            _C.past_due_since.is_not(None),
        ),
        _C.past_due_since,
    ),
    else_=_SINCE,
)
# A snapshot without a customer id keeps the one already known; one whose price no longer maps
# to a tier keeps the stored tier and quantity (NULL binds).
_CUSTOMER = bindparam("p_customer_id", type_=_C.customer_id.type)
_PERIOD_END = bindparam("p_period_end", type_=_C.current_period_end.type)
_TIERS = cast(Table, Tier.__table__)


def _rank_of(tier_id: Any) -> Any:
    """The catalog order (``sort_order``) of the tier ``tier_id``: the order that decides the
    higher tier everywhere (two items on two tiers, tierline.billing.plan; access ties)."""
    return select(_TIERS.c.sort_order).where(_TIERS.c.id == tier_id).scalar_subquery()


# The stored row's tier, named as text: SQLAlchemy correlates a subquery to the UPDATE's table
# but not to an INSERT's ON CONFLICT DO UPDATE, where it would add the table to the FROM list.
_STORED_TIER: Any = literal_column(f"{_SUB.name}.{_C.tier_id.name}")


# A downgrade scheduled for the period end (tierline.billing.scheduled) holds the stored tier
# against a snapshot of the held period that names a LOWER tier than the stored one: its outbox
# item is waiting, its time (the period end) has not come, and the snapshot's period end is not
# beyond it (a renewal, whose period end moved on, is never held; a snapshot without a period
# end is held until the period end), and the stored tier is still the one the hold was
# scheduled from. A snapshot naming a higher or equal tier (an upgrade made in the provider's
# portal) applies, and the hold no longer holds anything once the stored tier has changed. In
# PostgreSQL's ON CONFLICT DO UPDATE the subscription's columns are the existing row's, as in
# the UPDATE.
_HELD = and_(
    select(_OUTBOX.c.id)
    .where(
        _OUTBOX.c.idempotency_key == bindparam("p_hold_key"),
        or_(
            _OUTBOX.c.status == OutboxStatus.PENDING.value,
            _OUTBOX.c.status == OutboxStatus.FAILED.value,
        ),
        _OUTBOX.c.next_attempt_at > bindparam("p_now", type_=_OUTBOX.c.next_attempt_at.type),
        or_(_PERIOD_END.is_(None), _OUTBOX.c.next_attempt_at >= _PERIOD_END),
        select(_TIERS.c.key).where(_TIERS.c.id == _STORED_TIER).scalar_subquery() == FROM_TIER,
    )
    .exists(),
    _rank_of(bindparam("p_tier_id", type_=Integer())) < _rank_of(_STORED_TIER),
)
_STATE: tuple[tuple[Any, Any], ...] = (
    (_C.past_due_since, _KEEP_SINCE),
    (_C.account_id, bindparam("p_account_id")),
    (
        _C.tier_id,
        case(
            (_HELD, _C.tier_id),
            else_=func.coalesce(bindparam("p_tier_id", type_=Integer()), _C.tier_id),
        ),
    ),
    (_C.customer_id, func.coalesce(_CUSTOMER, _C.customer_id)),
    (_C.status, bindparam("p_status")),
    (_C.current_period_end, _PERIOD_END),
    (_C.cancel_at_period_end, bindparam("p_cancel", type_=_C.cancel_at_period_end.type)),
    (_C.cancel_at, bindparam("p_cancel_at", type_=_C.cancel_at.type)),
    (_C.trial_end, bindparam("p_trial_end", type_=_C.trial_end.type)),
    (_C.quantity, func.coalesce(bindparam("p_quantity", type_=Integer()), _C.quantity)),
    (_C.provider_updated_at, func.coalesce(_TS, _C.provider_updated_at)),
    (_C.provider_rank, _RANK),
    (
        _C.livemode,
        func.coalesce(bindparam("p_livemode", type_=_C.livemode.type), _C.livemode),
    ),
    (_C.updated_at, bindparam("p_now", type_=_C.updated_at.type)),
)
# The total order of one subscription's snapshots: (provider timestamp, lifecycle rank). A
# snapshot applies only when it is strictly later; a row without a timestamp (a checkout's
# link row) takes any snapshot.
_LATER = or_(
    _C.provider_updated_at.is_(None),
    _C.provider_updated_at < _TS,
    and_(_C.provider_updated_at == _TS, _C.provider_rank < _RANK),
)
# Terminal states are final: only another terminal snapshot may still update such a row.
_OPEN = and_(
    _C.status != SubscriptionStatus.CANCELED.value,
    _C.status != SubscriptionStatus.EXPIRED.value,
)


def _apply(*conditions: Any) -> FastStatement:
    # The common case of every webhook: run on the DBAPI cursor (see tierline.db.fast).
    return FastStatement(update(_SUB).where(_KEY, *conditions).ordered_values(*_STATE))


#: By (snapshot has a timestamp, snapshot is terminal).
_APPLY = {
    (True, False): _apply(_LATER, _OPEN),
    (True, True): _apply(_LATER),
    (False, False): _apply(_OPEN),
    (False, True): _apply(),
}
_INSERT_VALUES: dict[str, Any] = dict(
    provider=bindparam("p_provider"),
    external_id=bindparam("p_external_id"),
    account_id=bindparam("p_account_id"),
    tier_id=bindparam("p_tier_id", type_=Integer()),
    customer_id=_CUSTOMER,
    status=bindparam("p_status"),
    current_period_end=bindparam("p_period_end", type_=_C.current_period_end.type),
    cancel_at_period_end=bindparam("p_cancel", type_=_C.cancel_at_period_end.type),
    cancel_at=bindparam("p_cancel_at", type_=_C.cancel_at.type),
    trial_end=bindparam("p_trial_end", type_=_C.trial_end.type),
    quantity=bindparam("p_new_quantity", type_=Integer()),
    provider_updated_at=_TS,
    provider_rank=_RANK,
    past_due_since=_SINCE,
    livemode=bindparam("p_livemode", type_=_C.livemode.type),
    created_at=bindparam("p_now", type_=_C.created_at.type),
    updated_at=bindparam("p_now", type_=_C.updated_at.type),
)
_INSERT = insert(_SUB).values(**_INSERT_VALUES)
# PostgreSQL's one-statement form of apply_snapshot for an account named by its ref: insert, or
# update when (provider, external_id) exists and the ordering conditions hold ("ON CONFLICT
# DO UPDATE ... WHERE": a row that does not satisfy the condition is not updated and not
# returned). ``xmax = 0`` holds for a row this statement inserted (no earlier version of it
# locked or updated it), the usual way to tell an insert from an update in RETURNING.
_ACCOUNT_TABLE = cast(Table, Account.__table__)
_ACCOUNT_OF_REF = (
    select(_ACCOUNT_TABLE.c.id)
    .where(_ACCOUNT_TABLE.c.ref == bindparam("p_account_ref"))
    .scalar_subquery()
)


# What the upsert returns besides ``xmax = 0``: the row's account and whether it was referred
# (the effect needs both), so the flight reads no account of its own. A correlated subquery
# in RETURNING sees the account the flight's earlier statement created.
# (SQLAlchemy does not correlate a subquery in RETURNING with the statement's table, hence
# the SQL spelled out.)
_REFERRED: ColumnElement[bool] = literal_column(
    "(SELECT a.referred_by_id IS NOT NULL FROM tierline_account AS a"
    " WHERE a.id = tierline_subscription.account_id)"
)
# With ``notify``, the cache invalidation of the account (``pg_notify(channel, ref)``, see
# tierline.access.changes) rides in the same RETURNING: it is queued only for a row the
# statement wrote, and delivered at commit like any NOTIFY.
_NOTIFY_REF = func.pg_notify(bindparam("p_channel"), bindparam("p_account_ref"))


_ACCOUNT_OF_SUBSCRIPTION = select(_C.account_id).where(_KEY)
# The subscription's holder before the upsert, its row locked: the account a snapshot naming
# another one moves it from. A CTE, so it costs no statement of its own; the VALUES' account
# look-up joins it so that it is read (and the row locked) before the row is written: a WITH
# query is evaluated when it is first read, and one read twice is computed once (PostgreSQL's
# documentation, "WITH Queries"). The lock makes it the latest committed holder (see
# :func:`lock_holder`); the RETURNING's read of it gives that one row again.
_PREVIOUS_HOLDER = _ACCOUNT_OF_SUBSCRIPTION.with_for_update().cte("previous_holder")
_ACCOUNT_OF_REF_AFTER_HOLDER = (
    select(_ACCOUNT_TABLE.c.id)
    .select_from(_ACCOUNT_TABLE.outerjoin(_PREVIOUS_HOLDER, true()))
    .where(_ACCOUNT_TABLE.c.ref == bindparam("p_account_ref"))
    .scalar_subquery()
)


def _upsert(*conditions: Any, notify: bool) -> FastStatement:
    statement = postgresql.insert(_SUB).values(
        **{**_INSERT_VALUES, "account_id": _ACCOUNT_OF_REF_AFTER_HOLDER}
    )
    state = {column.name: value for column, value in _STATE}
    state["account_id"] = _ACCOUNT_OF_REF
    statement = statement.on_conflict_do_update(
        index_elements=[_C.provider, _C.external_id],
        set_=state,
        where=and_(*conditions) if conditions else None,
    )
    returned: list[ColumnElement[Any]] = [
        literal_column("xmax = 0"),
        _C.account_id,
        _REFERRED,
        select(_PREVIOUS_HOLDER.c.account_id).scalar_subquery(),
    ]
    if notify:
        returned.append(_NOTIFY_REF)
    return FastStatement(statement.returning(*returned), fetch=True)


#: By (snapshot has a timestamp, snapshot is terminal, the NOTIFY rides along).
_UPSERT = {
    (timestamped, terminal, notify): _upsert(
        *((_LATER,) if timestamped else ()), *(() if terminal else (_OPEN,)), notify=notify
    )
    for timestamped in (True, False)
    for terminal in (True, False)
    for notify in (True, False)
}
_EXISTS = select(_C.id).where(_KEY)
_STORED = select(_C.account_id, _C.tier_id, _C.status).where(_KEY)
_LINK = (
    update(_SUB)
    .where(_KEY)
    .values(
        account_id=bindparam("p_account_id"),
        customer_id=func.coalesce(_CUSTOMER, _C.customer_id),
        updated_at=bindparam("p_now", type_=_C.updated_at.type),
    )
)
_HOLDER = FastStatement(_ACCOUNT_OF_SUBSCRIPTION.with_for_update(), fetch=True)
# A customer id means something only at its provider: ``cus_X`` at the fake provider is not
# Stripe's ``cus_X``.
_ACCOUNT_OF_CUSTOMER = (
    select(_C.account_id)
    .where(_C.provider == bindparam("p_provider"), _C.customer_id == _CUSTOMER)
    .order_by(_C.id)
    .limit(1)
)


@dataclass(frozen=True)
class PlanTerms:
    """What a snapshot's plan item says, resolved against the catalog.

    ``tier_id`` and ``quantity`` are None when the snapshot's prices no longer map to a tier:
    the stored ones are kept (only an already stored subscription is applied that way).
    """

    tier_id: int | None
    quantity: int | None
    period_end: datetime | None


@dataclass(frozen=True)
class StoredSubscription:
    """The stored facts the inbox needs before applying a snapshot of an unmapped price."""

    account_id: int
    tier_id: int | None
    status: SubscriptionStatus


def stored_subscription(
    conn: Connection, provider: str, external_id: str
) -> StoredSubscription | None:
    """The stored subscription ``(provider, external_id)``, or ``None``."""
    row = conn.execute(_STORED, {"p_provider": provider, "p_external_id": external_id}).first()
    if row is None:
        return None
    return StoredSubscription(int(row.account_id), row.tier_id, SubscriptionStatus(row.status))


class Written(Enum):
    """What :func:`apply_snapshot` did to the row."""

    INSERTED = "inserted"
    UPDATED = "updated"
    #: Nothing: the stored state is later or final (or, with no tier, there is no row).
    NOTHING = "nothing"


def apply_snapshot(
    conn: Connection,
    provider: str,
    snap: SubscriptionSnapshot,
    *,
    account_id: int,
    terms: PlanTerms,
    now: datetime,
) -> Written:
    """Upsert the subscription from ``snap`` unless it is not later than the stored state.

    Order: the provider timestamp (``snap.updated_at``), then ``snap.rank`` on equal
    timestamps; an equal (timestamp, rank) does not apply, so a redelivery changes nothing. A
    snapshot without a timestamp applies whatever the stored timestamp (which it keeps). A
    stored terminal status (:attr:`SubscriptionStatus.is_terminal`) is final: only another
    terminal snapshot still updates the row. ``past_due_since`` is set to the snapshot's time
    (else ``now``) when it moves the row into ``past_due``, kept while it stays there, cleared
    otherwise. A new row needs ``terms.tier_id``; without one nothing is inserted.
    """
    params = _snapshot_params(provider, snap, terms, now, account_id=account_id)
    statement = _APPLY[(snap.updated_at is not None, snap.status.is_terminal)]
    if statement.execute(conn, params).rowcount:
        return Written.UPDATED
    if conn.execute(_EXISTS, params).first() is not None:
        # The row may have been committed by a concurrent first delivery between the UPDATE
        # (which did not see it yet) and this read: let the UPDATE's WHERE decide again, now
        # that the row is there (READ COMMITTED sees it; the UPDATE locks it).
        if statement.execute(conn, params).rowcount:
            return Written.UPDATED
        return Written.NOTHING  # stored state is later, or final
    if terms.tier_id is None:
        return Written.NOTHING
    conn.execute(_INSERT, params)
    return Written.INSERTED


def send_upsert_snapshot(
    sent: Flight,
    provider: str,
    snap: SubscriptionSnapshot,
    *,
    account_ref: str,
    terms: PlanTerms,
    now: datetime,
    notify_channel: str | None = None,
) -> Pending:
    """:func:`apply_snapshot` in one statement (PostgreSQL), for the account ``account_ref``
    (which must exist when the flight runs) and a snapshot whose plan maps to a tier
    (``terms.tier_id`` set); :func:`upserted` reads what it did, :func:`upserted_account`
    whose row it is and :func:`upserted_from` whose it was. Same ordering rules. With
    ``notify_channel``, a row written also sends ``pg_notify(notify_channel, account_ref)``
    (delivered at commit)."""
    assert terms.tier_id is not None
    params = _snapshot_params(provider, snap, terms, now, account_ref=account_ref)
    notify = notify_channel is not None
    if notify:
        params["p_channel"] = notify_channel
    key = (snap.updated_at is not None, snap.status.is_terminal, notify)
    return sent.send(_UPSERT[key], params)


def upserted(pending: Pending) -> Written:
    """What :func:`send_upsert_snapshot`'s statement did."""
    row = pending.result().first()
    if row is None:
        return Written.NOTHING  # stored state is later, or final
    return Written.INSERTED if row[0] else Written.UPDATED


def lock_holder(conn: Connection, provider: str, external_id: str) -> int | None:
    """The id of the account the stored subscription ``(provider, external_id)`` belongs to,
    its row locked until the transaction ends (``None``: not stored).

    Read before a write that may move the subscription to another account, so that the account
    it leaves is known. The lock makes that the latest committed holder: under READ COMMITTED
    a ``SELECT ... FOR UPDATE`` waits for a concurrent writer of the row and then reads the
    row's newest version (PostgreSQL's documentation, "Read Committed Isolation Level"; InnoDB
    locking reads the same), where a plain read could name the holder before a concurrent
    move. SQLite has no FOR UPDATE: its writers are serialized already.
    :func:`send_upsert_snapshot` reads it the same way, inside its own statement.
    """
    row = _HOLDER.execute(conn, {"p_provider": provider, "p_external_id": external_id}).first()
    return None if row is None else int(row[0])


def upserted_account(pending: Pending, account_ref: str) -> AccountRef | None:
    """The account of the row :func:`send_upsert_snapshot` wrote (``account_ref``'s), or
    ``None`` when it wrote none (then look the account up)."""
    row = pending.result().first()
    if row is None:
        return None
    return AccountRef(int(row[1]), account_ref, bool(row[2]))


def upserted_from(pending: Pending) -> int | None:
    """The id of the account the row :func:`send_upsert_snapshot` wrote belonged to before
    (read with the row locked, as :func:`lock_holder` does), or ``None``: the row is new, or
    the statement wrote none."""
    row = pending.result().first()
    return None if row is None or row[3] is None else int(row[3])


def _snapshot_params(
    provider: str,
    snap: SubscriptionSnapshot,
    terms: PlanTerms,
    now: datetime,
    *,
    account_id: int | None = None,
    account_ref: str | None = None,
) -> dict[str, Any]:
    past_due = snap.status is SubscriptionStatus.PAST_DUE
    return {
        "p_provider": provider,
        "p_external_id": snap.external_id,
        "p_customer_id": snap.customer_id,
        "p_account_id": account_id,
        "p_account_ref": account_ref,
        "p_tier_id": terms.tier_id,
        "p_status": snap.status.value,
        "p_period_end": terms.period_end,
        "p_cancel": snap.cancel_at_period_end,
        "p_cancel_at": snap.cancel_at,
        "p_trial_end": snap.trial_end,
        "p_quantity": terms.quantity,
        "p_new_quantity": 1 if terms.quantity is None else terms.quantity,
        "p_provider_updated_at": snap.updated_at,
        "p_rank": snap.rank,
        "p_past_due": 1 if past_due else 0,
        "p_past_due_since": (snap.updated_at or now) if past_due else None,
        "p_livemode": snap.livemode,
        "p_now": now,
        "p_hold_key": hold_key(provider, snap.external_id),
    }


@dataclass(frozen=True)
class Linked:
    """What :func:`link_subscription` did: the row's stored status after the link, and
    whether it updated a stored row or inserted one."""

    status: SubscriptionStatus
    written: Written


def link_subscription(
    conn: Connection,
    provider: str,
    external_id: str,
    *,
    account_id: int,
    customer_id: str | None,
    now: datetime,
) -> Linked:
    """Attach a subscription to an account (a checkout completed); create it if unseen.

    An unseen subscription is held as an ``incomplete`` row without a tier; its first snapshot
    fills it in (its ``provider_updated_at`` is empty, so any snapshot applies).
    """
    params = {
        "p_provider": provider,
        "p_external_id": external_id,
        "p_account_id": account_id,
        "p_customer_id": customer_id,
        "p_now": now,
    }
    if rowcount(conn.execute(_LINK, params)):
        stored = stored_subscription(conn, provider, external_id)
        assert stored is not None  # just updated, in this transaction
        return Linked(stored.status, Written.UPDATED)
    conn.execute(
        _INSERT,
        {
            **params,
            "p_tier_id": None,
            "p_status": SubscriptionStatus.INCOMPLETE.value,
            "p_period_end": None,
            "p_cancel": False,
            "p_cancel_at": None,
            "p_trial_end": None,
            "p_new_quantity": 1,
            "p_provider_updated_at": None,
            "p_rank": 0,
            "p_past_due_since": None,
            "p_livemode": None,
        },
    )
    return Linked(SubscriptionStatus.INCOMPLETE, Written.INSERTED)


#: Statuses that show an account has paid: active, or past due after a paid period.
_PAID = (
    select(_C.id)
    .where(
        _C.account_id == bindparam("p_account_id"),
        or_(
            _C.status == SubscriptionStatus.ACTIVE.value,
            _C.status == SubscriptionStatus.PAST_DUE.value,
        ),
        _C.provider != EXEMPT_PROVIDER,
    )
    .limit(1)
)


def has_paid_subscription(session: Session, account_id: int) -> bool:
    """Whether the account has a paid (active or past-due) provider subscription."""
    return session.execute(_PAID, {"p_account_id": account_id}).first() is not None


def account_id_for(
    conn: Connection, provider: str, subscription_id: str | None, customer_id: str | None
) -> int | None:
    """The account a stored subscription (or any subscription of the customer) belongs to.

    Both look-ups are scoped by ``provider``: external ids are unique only at their provider.
    """
    if subscription_id is not None:
        found = conn.execute(
            _ACCOUNT_OF_SUBSCRIPTION, {"p_provider": provider, "p_external_id": subscription_id}
        ).scalar()
        if found is not None:
            return int(found)
    if customer_id is not None:
        found = conn.execute(
            _ACCOUNT_OF_CUSTOMER, {"p_provider": provider, "p_customer_id": customer_id}
        ).scalar()
        if found is not None:
            return int(found)
        # A customer an admin linked (`tierline accounts link`) before any subscription.
        return linked_account_id(conn, provider, customer_id)
    return None
