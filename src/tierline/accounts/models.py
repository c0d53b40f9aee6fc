"""The account table: the host app's billable entity, known by the host's own id."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from tierline.db.base import Base
from tierline.db.types import UTCDateTime, exact_string, utcnow


class Account(Base):
    """A billable entity (a user or an organisation of the host app)."""

    __tablename__ = "tierline_account"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    ref: Mapped[str] = mapped_column(exact_string(255), unique=True)
    email: Mapped[str | None] = mapped_column(String(320))
    referral_code: Mapped[str | None] = mapped_column(String(16), unique=True)
    referred_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("tierline_account.id", ondelete="SET NULL"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class AccountCustomer(Base):
    """A provider customer linked to an account by an admin (``tierline accounts link``).

    Webhooks of that customer that name no account resolve to this account. The link is scoped
    by provider: the same customer id at two providers is two different customers.
    """

    __tablename__ = "tierline_account_customer"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_id: Mapped[int] = mapped_column(
        ForeignKey("tierline_account.id", ondelete="CASCADE"), index=True
    )
    provider: Mapped[str] = mapped_column(exact_string(32))
    customer_id: Mapped[str] = mapped_column(exact_string(255))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (UniqueConstraint("provider", "customer_id"),)
