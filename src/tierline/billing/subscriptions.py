"""SQL on the subscription table for the inbox: ordered upserts, checkout links, look-ups.

Statements are built once with bind parameters (the inbox's hot path runs them per webhook).
Ordering is decided inside the UPDATE's WHERE clause, so a newer snapshot committed by a
concurrent delivery can never be overwritten between a read and a write.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, cast

from sqlalchemy import Connection, Table, and_, bindparam, func, insert, or_, select, update

from tierline.accounts.customers import linked_account_id
from tierline.billing.claims import rowcount
from tierline.billing.models import Subscription, SubscriptionStatus
from tierline.billing.providers.base import SubscriptionSnapshot
from tierline.db.fast import FastStatement

_SUB = cast(Table, Subscription.__table__)
_C = _SUB.c

# Bind names carry a ``p_`` prefix: a name equal to a column's is reserved by SQLAlchemy for
# the VALUES/SET clause.
_KEY = and_(_C.provider == bindparam("p_provider"), _C.external_id == bindparam("p_external_id"))
_STATE = {
    "account_id": bindparam("p_account_id"),
    "tier_id": bindparam("p_tier_id"),
    "status": bindparam("p_status"),
    "current_period_end": bindparam("p_period_end", type_=_C.current_period_end.type),
    "cancel_at_period_end": bindparam("p_cancel", type_=_C.cancel_at_period_end.type),
    "trial_end": bindparam("p_trial_end", type_=_C.trial_end.type),
    "quantity": bindparam("p_quantity"),
    "provider_updated_at": bindparam("p_provider_updated_at", type_=_C.provider_updated_at.type),
    "updated_at": bindparam("p_now", type_=_C.updated_at.type),
}
# A snapshot without a customer id keeps the one already known.
_CUSTOMER = bindparam("p_customer_id", type_=_C.customer_id.type)
_KEEP_CUSTOMER = func.coalesce(_CUSTOMER, _C.customer_id)
_NOT_NEWER = or_(
    _C.provider_updated_at.is_(None),
    _C.provider_updated_at <= bindparam("p_provider_updated_at", type_=_C.provider_updated_at.type),
)
_APPLY_ORDERED = update(_SUB).where(_KEY, _NOT_NEWER).values(customer_id=_KEEP_CUSTOMER, **_STATE)
_APPLY_ANY = update(_SUB).where(_KEY).values(customer_id=_KEEP_CUSTOMER, **_STATE)
# The common case of every webhook: run on the DBAPI cursor (see tierline.db.fast).
_APPLY_ORDERED_FAST = FastStatement(_APPLY_ORDERED)
_APPLY_ANY_FAST = FastStatement(_APPLY_ANY)
_INSERT = insert(_SUB).values(
    provider=bindparam("p_provider"),
    external_id=bindparam("p_external_id"),
    customer_id=_CUSTOMER,
    created_at=bindparam("p_now", type_=_C.created_at.type),
    **_STATE,
)
_EXISTS = select(_C.id).where(_KEY)
_LINK = (
    update(_SUB)
    .where(_KEY)
    .values(
        account_id=bindparam("p_account_id"),
        customer_id=_KEEP_CUSTOMER,
        updated_at=bindparam("p_now", type_=_C.updated_at.type),
    )
)
_ACCOUNT_OF_SUBSCRIPTION = select(_C.account_id).where(_KEY)
_ACCOUNT_OF_CUSTOMER = (
    select(_C.account_id).where(_C.customer_id == _CUSTOMER).order_by(_C.id).limit(1)
)


def apply_snapshot(
    conn: Connection,
    provider: str,
    snap: SubscriptionSnapshot,
    *,
    account_id: int,
    tier_id: int,
    now: datetime,
) -> bool:
    """Upsert the subscription from ``snap`` unless newer state is stored; True if applied.

    Equal timestamps apply (the later delivery wins); a snapshot without a timestamp always
    applies.
    """
    first = snap.items[0] if snap.items else None
    quantity = first.quantity if first is not None and first.quantity is not None else 1
    period_end = snap.current_period_end
    if first is not None and first.current_period_end is not None:
        period_end = first.current_period_end
    params: dict[str, Any] = {
        "p_provider": provider,
        "p_external_id": snap.external_id,
        "p_customer_id": snap.customer_id,
        "p_account_id": account_id,
        "p_tier_id": tier_id,
        "p_status": snap.status.value,
        "p_period_end": period_end,
        "p_cancel": snap.cancel_at_period_end,
        "p_trial_end": snap.trial_end,
        "p_quantity": quantity,
        "p_provider_updated_at": snap.updated_at,
        "p_now": now,
    }
    statement = _APPLY_ANY_FAST if snap.updated_at is None else _APPLY_ORDERED_FAST
    if statement.execute(conn, params).rowcount:
        return True
    if conn.execute(_EXISTS, params).first() is not None:
        return False  # stored state is newer
    conn.execute(_INSERT, params)
    return True


def link_subscription(
    conn: Connection,
    provider: str,
    external_id: str,
    *,
    account_id: int,
    customer_id: str | None,
    now: datetime,
) -> None:
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
        return
    conn.execute(
        _INSERT,
        {
            **params,
            "p_tier_id": None,
            "p_status": SubscriptionStatus.INCOMPLETE.value,
            "p_period_end": None,
            "p_cancel": False,
            "p_trial_end": None,
            "p_quantity": 1,
            "p_provider_updated_at": None,
        },
    )


def account_id_for(
    conn: Connection, provider: str, subscription_id: str | None, customer_id: str | None
) -> int | None:
    """The account a stored subscription (or any subscription of the customer) belongs to."""
    if subscription_id is not None:
        found = conn.execute(
            _ACCOUNT_OF_SUBSCRIPTION, {"p_provider": provider, "p_external_id": subscription_id}
        ).scalar()
        if found is not None:
            return int(found)
    if customer_id is not None:
        found = conn.execute(_ACCOUNT_OF_CUSTOMER, {"p_customer_id": customer_id}).scalar()
        if found is not None:
            return int(found)
        # A customer an admin linked (`tierline accounts link`) before any subscription.
        return linked_account_id(conn, provider, customer_id)
    return None
