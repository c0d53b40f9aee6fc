"""Usage tables: one counter row per account, feature and period; idempotency keys of tracks."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, Integer, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from tierline.db.base import Base
from tierline.db.types import UTCDateTime, exact_string, utcnow


class UsageCounter(Base):
    """What one account used of one feature in the period starting at ``period_start``.

    A new period is a new row (a reset never needs a job); a lifetime cap uses one row whose
    ``period_start`` is :data:`tierline.usage.periods.LIFETIME_START`.
    """

    __tablename__ = "tierline_usage"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("tierline_account.id", ondelete="CASCADE"))
    feature: Mapped[str] = mapped_column(exact_string(64))
    period_start: Mapped[datetime] = mapped_column(UTCDateTime)
    used: Mapped[int] = mapped_column(BigInteger, default=0)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (
        UniqueConstraint("account_id", "feature", "period_start"),
        CheckConstraint("used >= 0", name="used_nonnegative"),
    )


class UsageKey(Base):
    """The idempotency key of one ``track()``: a retry with the same key counts once.

    ``released_at`` is set when ``release()`` gave the amount back (once).
    """

    __tablename__ = "tierline_usage_key"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("tierline_account.id", ondelete="CASCADE"))
    feature: Mapped[str] = mapped_column(exact_string(64))
    key: Mapped[str] = mapped_column(exact_string(255))
    amount: Mapped[int] = mapped_column(Integer)
    period_start: Mapped[datetime] = mapped_column(UTCDateTime)
    released_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (UniqueConstraint("account_id", "feature", "key"),)
