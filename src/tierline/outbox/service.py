"""The outbox's use cases: deliver items after their commit, list them, retry the failed.

Writing an item is :func:`tierline.outbox.queue.enqueue`, called inside the transaction of the
effect that needs the call (only when there is a call to make). Delivering is this service:
right after the commit for the items that commit wrote (best effort, see
:meth:`OutboxService.deliver_now`), and by a worker (``tierline outbox run``) for whatever is
due: new items nobody delivered inline, and failed tries whose backoff has passed.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select

from tierline.context import Context
from tierline.db.engine import first_line
from tierline.errors import NotFoundError, ValidationError
from tierline.outbox import queue
from tierline.outbox.background import BACKGROUND_KINDS
from tierline.outbox.backoff import retry_delay
from tierline.outbox.deliverers import Delivery, get_deliverer
from tierline.outbox.models import OutboxItem, OutboxStatus

logger = logging.getLogger("tierline.outbox")

#: Items claimed per round trip by a worker.
DEFAULT_BATCH = 20
#: Kinds delivered only by a process that registered their deliverer on its context (the
#: in-process access hooks): other workers leave them alone instead of failing them.
LOCAL_KINDS = ("access.hook",)


@dataclass(frozen=True)
class OutboxItemInfo:
    """An outbox item as callers see it."""

    id: int
    kind: str
    payload: str
    idempotency_key: str
    status: OutboxStatus
    attempts: int
    next_attempt_at: datetime
    locked_until: datetime | None
    last_error: str | None
    created_at: datetime
    delivered_at: datetime | None

    @classmethod
    def of(cls, row: OutboxItem) -> OutboxItemInfo:
        return cls(
            id=row.id,
            kind=row.kind,
            payload=row.payload,
            idempotency_key=row.idempotency_key,
            status=OutboxStatus(row.status),
            attempts=row.attempts,
            next_attempt_at=row.next_attempt_at,
            locked_until=row.locked_until,
            last_error=row.last_error,
            created_at=row.created_at,
            delivered_at=row.delivered_at,
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields (datetimes as ISO 8601 strings)."""
        return {
            "id": self.id,
            "kind": self.kind,
            "payload": self.payload,
            "idempotency_key": self.idempotency_key,
            "status": self.status.value,
            "attempts": self.attempts,
            "next_attempt_at": self.next_attempt_at.isoformat(),
            "locked_until": _iso(self.locked_until),
            "last_error": self.last_error,
            "created_at": self.created_at.isoformat(),
            "delivered_at": _iso(self.delivered_at),
        }


@dataclass(frozen=True)
class DeliveryOutcome:
    """What one try of one item gave: its new status, and the error if it failed."""

    id: int
    kind: str
    attempt: int
    status: OutboxStatus
    error: str | None = None
    #: False when the lease ran out during the call and another worker took the item over
    #: (the provider saw the same idempotency key twice; nothing was recorded by this try).
    recorded: bool = True

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields."""
        return {
            "id": self.id,
            "kind": self.kind,
            "attempt": self.attempt,
            "status": self.status.value,
            "error": self.error,
            "recorded": self.recorded,
        }


def parse_outbox_status(value: OutboxStatus | str) -> OutboxStatus:
    """An :class:`OutboxStatus` from its name; raises :class:`ValidationError` naming the valid."""
    if isinstance(value, OutboxStatus):
        return value
    try:
        return OutboxStatus(value)
    except ValueError:
        valid = ", ".join(status.value for status in OutboxStatus)
        raise ValidationError(f"unknown outbox status {value!r}; valid: {valid}") from None


class OutboxService:
    """Deliver, list and retry outbox items of one Tierline instance.

    ``jitter`` returns a number in [0, 1) that spreads retries (tests pass a constant).
    """

    def __init__(self, ctx: Context, *, jitter: Callable[[], float] = random.random) -> None:
        self.ctx = ctx
        self.jitter = jitter

    @property
    def lease(self) -> timedelta:
        return timedelta(seconds=self.ctx.settings.outbox_lease_seconds)

    # -- delivering --------------------------------------------------------------------
    def deliver_now(self, ids: Sequence[int]) -> list[DeliveryOutcome]:
        """Try the items a transaction just committed, once each; never raises.

        For the moment right after a commit (a webhook's, a credit's): an item another worker
        already holds, or one not due, is skipped; anything that goes wrong is logged and left
        to the worker. Off when ``outbox_inline`` is false. Items of
        :data:`~tierline.outbox.background.BACKGROUND_KINDS` (a receiver over the network) are
        not tried on the caller's thread but handed to the instance's background thread
        (``ctx.background``); the outcomes returned are those tried here.
        """
        if not ids or not self.ctx.settings.outbox_inline:
            return []
        try:
            claimed = self._claim(limit=len(ids), ids=ids, skip=BACKGROUND_KINDS)
        except Exception:
            logger.exception("outbox: inline delivery of items %s failed; the worker retries", ids)
            return []
        taken = {item.id for item in claimed}
        # Not claimed here: a background kind (or one held or not due: its claim finds nothing).
        self.ctx.background.submit([item_id for item_id in ids if item_id not in taken])
        try:
            return self._deliver_claimed(claimed)
        except Exception:
            logger.exception("outbox: inline delivery of items %s failed; the worker retries", ids)
            return []

    def deliver_in_background(self, ids: Sequence[int]) -> list[DeliveryOutcome]:
        """What the background thread runs: claim ``ids`` (any kind) and try each once; never
        raises (the worker retries whatever goes wrong)."""
        try:
            return self._deliver_claimed(self._claim(limit=len(ids), ids=ids))
        except Exception:
            logger.exception("outbox: delivery of items %s failed; the worker retries", ids)
            return []

    def deliver_due(self, *, limit: int = DEFAULT_BATCH) -> list[DeliveryOutcome]:
        """Claim up to ``limit`` due items and try each once; return the outcomes."""
        if limit < 1:
            raise ValidationError(f"limit must be at least 1, not {limit}")
        return self._deliver_claimed(self._claim(limit=limit, ids=None))

    def _claim(
        self, *, limit: int, ids: Sequence[int] | None, skip: Sequence[str] = ()
    ) -> list[queue.Claimed]:
        # Kinds only some processes deliver (the in-process access hooks) are left to them.
        skip = [*skip, *(kind for kind in LOCAL_KINDS if kind not in self.ctx.deliverers)]
        with self.ctx.engine.begin() as conn:
            return queue.claim(
                conn, now=self.ctx.clock(), lease=self.lease, limit=limit, ids=ids, skip=skip
            )

    def _deliver_claimed(self, claimed: list[queue.Claimed]) -> list[DeliveryOutcome]:
        return [self._deliver_one(item) for item in claimed]

    def _deliver_one(self, item: queue.Claimed) -> DeliveryOutcome:
        settings = self.ctx.settings
        error: str | None = None
        deliverer = self.ctx.deliverers.get(item.kind) or get_deliverer(item.kind)
        if deliverer is None:
            error = f"no deliverer is registered for outbox kind {item.kind!r}"
        else:
            try:
                deliverer(
                    Delivery(
                        item_id=item.id,
                        kind=item.kind,
                        payload=item.arguments(),
                        idempotency_key=item.idempotency_key,
                        attempt=item.attempt,
                        settings=settings,
                    )
                )
            except Exception as exc:
                error = f"{type(exc).__name__}: {first_line(exc)}"
        now = self.ctx.clock()
        if error is None:
            with self.ctx.engine.begin() as conn:
                recorded = queue.mark_delivered(conn, item, now=now)
            return DeliveryOutcome(
                item.id, item.kind, item.attempt, OutboxStatus.DELIVERED, recorded=recorded
            )
        dead = item.attempt >= settings.outbox_max_attempts
        delay = retry_delay(
            item.attempt,
            base_seconds=settings.outbox_backoff_seconds,
            max_seconds=settings.outbox_backoff_max_seconds,
            jitter=self.jitter,
        )
        with self.ctx.engine.begin() as conn:
            recorded = queue.mark_failed(
                conn, item, error=error, next_attempt_at=now + delay, dead=dead
            )
        status = OutboxStatus.DEAD if dead else OutboxStatus.FAILED
        if dead:
            logger.error(
                "outbox item %d (%s) is dead after %d tries: %s; fix the cause, then run "
                "`tierline outbox retry %d`",
                item.id,
                item.kind,
                item.attempt,
                error,
                item.id,
            )
        else:
            logger.warning(
                "outbox item %d (%s) try %d failed, retrying in %.0f s: %s",
                item.id,
                item.kind,
                item.attempt,
                delay.total_seconds(),
                error,
            )
        return DeliveryOutcome(item.id, item.kind, item.attempt, status, error, recorded)

    # -- reading and retrying ----------------------------------------------------------
    def list(
        self, status: OutboxStatus | str | None = None, *, limit: int = 50
    ) -> list[OutboxItemInfo]:
        """Items, newest first, optionally of one status."""
        query = select(OutboxItem).order_by(OutboxItem.id.desc()).limit(limit)
        if status is not None:
            query = query.where(OutboxItem.status == parse_outbox_status(status).value)
        with self.ctx.sessions() as session:
            return [OutboxItemInfo.of(row) for row in session.scalars(query)]

    def get(self, item_id: int) -> OutboxItemInfo:
        """One item; raises :class:`NotFoundError`."""
        with self.ctx.sessions() as session:
            row = session.get(OutboxItem, item_id)
            if row is None:
                raise NotFoundError(f"no outbox item with id {item_id}; see `tierline outbox list`")
            return OutboxItemInfo.of(row)

    def counts(self) -> dict[OutboxStatus, int]:
        """How many items are in each status."""
        with self.ctx.sessions() as session:
            rows = session.execute(
                select(OutboxItem.status, func.count()).group_by(OutboxItem.status)
            ).all()
        found = {OutboxStatus(status): int(count) for status, count in rows}
        return {status: found.get(status, 0) for status in OutboxStatus}

    def retry(self, item_id: int) -> OutboxItemInfo:
        """Make a failed or dead item due now with a fresh budget of tries.

        Raises :class:`NotFoundError` for an unknown id, :class:`ValidationError` for an item
        that is pending, delivered, or being tried right now.
        """
        item = self.get(item_id)
        with self.ctx.engine.begin() as conn:
            revived = queue.revive(conn, now=self.ctx.clock(), item_id=item_id)
        if not revived:
            held = item.status is OutboxStatus.FAILED  # failed, yet not revived: held
            state = "being tried by a worker right now" if held else item.status.value
            raise ValidationError(
                f"outbox item {item_id} is {state}; only failed or dead items can be retried"
            )
        return self.get(item_id)

    def retry_all_failed(self) -> int:
        """Make every failed and dead item due now; returns how many."""
        with self.ctx.engine.begin() as conn:
            return queue.revive(conn, now=self.ctx.clock())


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()
