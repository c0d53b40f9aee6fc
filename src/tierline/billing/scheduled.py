"""Downgrades that take effect at the end of the paid period.

A self-service downgrade (to a tier with a lower ``sort_order``) is sent to the provider at
once, billed from the next period (:attr:`TierlineSettings.downgrade_at_period_end`), and
Tierline keeps granting the tier the account paid for until that period ends:

- **Polar** schedules it itself (``proration_behavior: next_period``, "applied at the start of
  the next billing period", https://polar.sh/docs/features/subscriptions/proration): its
  snapshots keep the current product until the renewal.
- **Stripe** (``proration_behavior: none``), **Paddle** (``full_next_billing_period``) and
  **Lemon Squeezy** (``disable_prorations``) replace the price at once and bill it from the
  renewal: their API has no scheduled plan change (Paddle's ``scheduled_change`` is only
  ``cancel``/``pause``/``resume``), so Tierline holds the higher tier. Stripe documents the
  same pattern ("proration_behavior=none", then give access by what was paid).

The hold is one outbox item of kind :data:`KIND` (no schema change): its payload names the
two tiers, ``next_attempt_at`` is the period end, its key is :func:`hold_key`. While it is
pending and the period has not ended, a provider snapshot of that subscription keeps the
stored tier only when it is a snapshot of the held period (its period end is not beyond the
hold's, or it has none) AND it names a tier ranked lower (``sort_order``) than the stored one
(the UPDATE checks it, :mod:`tierline.billing.subscriptions`). So an upgrade the customer makes
in the provider's portal applies at once, and the renewal (its period end is the next one's)
applies the new tier even when it is processed before Tierline's clock reaches the period end;
a snapshot of the held period processed after the period end applies too. A later plan change
replaces or removes the hold. Delivering the item (at the period end) calls nothing: the hold
has simply run out.

Access does not end by itself when no renewal snapshot comes: an ``active`` subscription keeps
granting its stored tier past ``current_period_end`` (:mod:`tierline.access.rules`, rule 2),
so without the renewal webhook the account keeps the higher tier until a snapshot comes
(``tierline reconcile --apply`` fetches it from Stripe and Paddle).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import cast

from sqlalchemy import Connection, String, Table, delete, select
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Session
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement

from tierline.outbox.deliverers import Delivery
from tierline.outbox.models import OutboxItem, OutboxStatus
from tierline.outbox.queue import enqueue

#: The outbox kind of a scheduled downgrade.
KIND = "tierline.downgrade"
_WAITING = (OutboxStatus.PENDING.value, OutboxStatus.FAILED.value)


_PAYLOAD = cast(Table, OutboxItem.__table__).c.payload


class _FromTier(FunctionElement[str]):
    """The hold's ``from_tier`` read from its JSON payload in SQL (a tier key, or NULL)."""

    type = String()
    inherit_cache = True
    name = "tierline_hold_from_tier"


@compiles(_FromTier)
def _from_tier_sqlite(element: _FromTier, compiler: SQLCompiler, **kw: object) -> str:
    return f"json_extract({compiler.process(_PAYLOAD, **kw)}, '$.from_tier')"


@compiles(_FromTier, "postgresql")
def _from_tier_postgresql(element: _FromTier, compiler: SQLCompiler, **kw: object) -> str:
    return f"(CAST({compiler.process(_PAYLOAD, **kw)} AS JSON) ->> 'from_tier')"


@compiles(_FromTier, "mysql")
@compiles(_FromTier, "mariadb")
def _from_tier_mariadb(element: _FromTier, compiler: SQLCompiler, **kw: object) -> str:
    payload = compiler.process(_PAYLOAD, **kw)
    return f"JSON_UNQUOTE(JSON_EXTRACT({payload}, '$.from_tier'))"


#: The ``from_tier`` of an outbox hold row, as an SQL expression on ``tierline_outbox``: a hold
#: holds only while the subscription is still on the tier it was scheduled from (an upgrade
#: since, e.g. in the provider's portal, voids it).
FROM_TIER = _FromTier()


def hold_key(provider: str, external_id: str) -> str:
    """The outbox key of the hold on ``provider``'s subscription ``external_id``."""
    return f"tierline-downgrade:{provider}:{external_id}"


@dataclass(frozen=True)
class ScheduledDowngrade:
    """A downgrade waiting for the period end: ``to_tier`` from ``effective_at`` (UTC)."""

    provider: str
    external_id: str
    from_tier: str | None
    to_tier: str
    effective_at: datetime


def schedule(
    conn: Connection,
    *,
    provider: str,
    external_id: str,
    from_tier: str | None,
    to_tier: str,
    effective_at: datetime,
    now: datetime,
) -> None:
    """Hold the current tier of the subscription until ``effective_at`` (replacing a hold)."""
    cancel(conn, provider, external_id)
    enqueue(
        conn,
        KIND,
        {
            "provider": provider,
            "external_id": external_id,
            "from_tier": from_tier,
            "to_tier": to_tier,
            "effective_at": effective_at.isoformat(),
        },
        idempotency_key=hold_key(provider, external_id),
        now=now,
        due_at=effective_at,
    )


def cancel(conn: Connection, provider: str, external_id: str) -> None:
    """Drop the subscription's hold, whatever its state (a new plan change supersedes it)."""
    conn.execute(
        delete(OutboxItem).where(OutboxItem.idempotency_key == hold_key(provider, external_id))
    )


def pending(
    session: Session, provider: str, external_id: str, now: datetime
) -> ScheduledDowngrade | None:
    """The subscription's downgrade still to come at ``now``, or ``None``."""
    found = _hold(session, provider, external_id, _WAITING)
    return found if found is not None and found.effective_at > now else None


def taken_effect(
    session: Session, provider: str, external_id: str, now: datetime
) -> ScheduledDowngrade | None:
    """The subscription's downgrade whose period end has passed at ``now`` (waiting for its
    delivery or delivered: the provider bills the new tier), or ``None``."""
    found = _hold(session, provider, external_id, (*_WAITING, OutboxStatus.DELIVERED.value))
    return found if found is not None and found.effective_at <= now else None


def _hold(
    session: Session, provider: str, external_id: str, statuses: tuple[str, ...]
) -> ScheduledDowngrade | None:
    row = session.execute(
        select(OutboxItem.payload, OutboxItem.next_attempt_at).where(
            OutboxItem.idempotency_key == hold_key(provider, external_id),
            OutboxItem.status.in_(statuses),
        )
    ).first()
    if row is None:
        return None
    data = json.loads(row.payload)
    return ScheduledDowngrade(
        provider=provider,
        external_id=external_id,
        from_tier=data.get("from_tier"),
        to_tier=str(data["to_tier"]),
        effective_at=row.next_attempt_at,
    )


def deliver_hold_end(delivery: Delivery) -> None:
    """The hold's period has ended: nothing to call (the provider already has the new price;
    its renewal snapshot applies the new tier)."""
