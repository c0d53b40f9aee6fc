"""The override table: an admin's per-account grant (or removal) of a feature or limit."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
    true,
)
from sqlalchemy.orm import Mapped, mapped_column

from tierline.db.base import Base
from tierline.db.types import UTCDateTime, exact_string, utcnow


class Override(Base):
    """One account's override of one feature: enabled or not, with an optional own limit."""

    __tablename__ = "tierline_override"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("tierline_account.id", ondelete="CASCADE"))
    feature: Mapped[str] = mapped_column(exact_string(64))
    enabled: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())
    limit_value: Mapped[int | None] = mapped_column(Integer)
    period: Mapped[str | None] = mapped_column(String(8))
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    reason: Mapped[str] = mapped_column(String(255))
    created_by: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (
        UniqueConstraint("account_id", "feature"),
        Index("ix_tierline_override_expires_at", "expires_at"),
        CheckConstraint("limit_value IS NULL OR limit_value >= 0", name="limit_nonnegative"),
        CheckConstraint("period IS NULL OR period IN ('day', 'month', 'none')", name="period"),
    )
