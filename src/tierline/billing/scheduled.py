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
stored tier (the UPDATE checks it, :mod:`tierline.billing.subscriptions`); the first snapshot
after the period end (the renewal every provider sends) applies the new tier. A later plan
change replaces or removes the hold. Delivering the item (at the period end) calls nothing:
the hold has simply run out.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, delete, select
from sqlalchemy.orm import Session

from tierline.outbox.deliverers import Delivery
from tierline.outbox.models import OutboxItem, OutboxStatus
from tierline.outbox.queue import enqueue

#: The outbox kind of a scheduled downgrade.
KIND = "tierline.downgrade"
_WAITING = (OutboxStatus.PENDING.value, OutboxStatus.FAILED.value)


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
    row = session.execute(
        select(OutboxItem.payload, OutboxItem.next_attempt_at).where(
            OutboxItem.idempotency_key == hold_key(provider, external_id),
            OutboxItem.status.in_(_WAITING),
        )
    ).first()
    if row is None:
        return None
    effective_at: datetime = row.next_attempt_at
    if effective_at <= now:
        return None
    data = json.loads(row.payload)
    return ScheduledDowngrade(
        provider=provider,
        external_id=external_id,
        from_tier=data.get("from_tier"),
        to_tier=str(data["to_tier"]),
        effective_at=effective_at,
    )


def deliver_hold_end(delivery: Delivery) -> None:
    """The hold's period has ended: nothing to call (the provider already has the new price;
    its renewal snapshot applies the new tier)."""
