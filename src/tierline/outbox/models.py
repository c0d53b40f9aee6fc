"""The outbox table: side effects waiting for delivery after their transaction committed."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import CheckConstraint, Index, Integer, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from tierline.db.base import Base
from tierline.db.types import UTCDateTime, exact_string, utcnow


class OutboxStatus(StrEnum):
    """Where an outbox item is in its delivery."""

    #: Written, not tried yet.
    PENDING = "pending"
    #: The provider accepted the call.
    DELIVERED = "delivered"
    #: The last try failed; it is tried again at ``next_attempt_at``.
    FAILED = "failed"
    #: Every allowed try failed; only ``tierline outbox retry`` brings it back.
    DEAD = "dead"

    @property
    def is_waiting(self) -> bool:
        """Whether an item in this status is still to be delivered (when its time comes)."""
        return self in (OutboxStatus.PENDING, OutboxStatus.FAILED)


class OutboxItem(Base):
    """One call to make after a commit: its kind, JSON payload and idempotency key."""

    __tablename__ = "tierline_outbox"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    #: Which deliverer runs it (``stripe.coupon``...); see :mod:`tierline.outbox.deliverers`.
    kind: Mapped[str] = mapped_column(String(64))
    #: The deliverer's arguments, a JSON object.
    payload: Mapped[str] = mapped_column(Text)
    #: One key per call: writing the same call twice gives one item, and the deliverer passes
    #: it to the provider so a retried call takes effect once.
    idempotency_key: Mapped[str] = mapped_column(exact_string(255))
    status: Mapped[str] = mapped_column(String(16), default=OutboxStatus.PENDING.value)
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Until when a worker holds the item; a lease that ran out (a killed worker) frees it.
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (
        UniqueConstraint("idempotency_key"),
        # The claim query: due items of a status, oldest due first.
        Index("ix_tierline_outbox_status_next_attempt_at", "status", "next_attempt_at"),
        CheckConstraint(
            "status IN ('pending', 'delivered', 'failed', 'dead')",
            name="status",
        ),
        CheckConstraint("attempts >= 0", name="attempts_nonnegative"),
    )
