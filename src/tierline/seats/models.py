"""The seat table: one row per member assigned to an account."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from tierline.db.base import Base
from tierline.db.types import UTCDateTime, exact_string, utcnow


class Seat(Base):
    """A member (the host's id of a user) holding a seat of an account."""

    __tablename__ = "tierline_seat"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("tierline_account.id", ondelete="CASCADE"))
    member_ref: Mapped[str] = mapped_column(exact_string(255))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (UniqueConstraint("account_id", "member_ref"),)
