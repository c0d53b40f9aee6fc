"""Catalog tables: tiers, features, per-tier features and limits, and provider links."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
    false,
    text,
    true,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from tierline.db.base import Base
from tierline.db.types import UTCDateTime, exact_string, utcnow


class LimitPeriod(StrEnum):
    """How often a numeric limit resets."""

    DAY = "day"
    MONTH = "month"
    NONE = "none"


class Tier(Base):
    """A plan: what an account may do, and how it links to each provider's catalog."""

    __tablename__ = "tierline_tier"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key: Mapped[str] = mapped_column(exact_string(64), unique=True)
    name: Mapped[str] = mapped_column(String(128))
    description: Mapped[str | None] = mapped_column(Text)
    seats: Mapped[int] = mapped_column(Integer, default=1, server_default=text("1"))
    customer_facing: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())
    exempt: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false(), index=True)
    fallback_price: Mapped[str | None] = mapped_column(String(32))
    sort_order: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    retired: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    features: Mapped[list[TierFeature]] = relationship(
        back_populates="tier", cascade="all, delete-orphan"
    )
    provider_links: Mapped[list[TierProviderLink]] = relationship(
        back_populates="tier", cascade="all, delete-orphan"
    )

    __table_args__ = (CheckConstraint("seats >= 1", name="seats_positive"),)


class Feature(Base):
    """A named permission; with a number and a period on a tier it becomes a limit."""

    __tablename__ = "tierline_feature"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key: Mapped[str] = mapped_column(exact_string(64), unique=True)
    name: Mapped[str | None] = mapped_column(String(128))
    description: Mapped[str | None] = mapped_column(Text)


class TierFeature(Base):
    """A feature granted by a tier, with an optional numeric limit per period."""

    __tablename__ = "tierline_tier_feature"

    tier_id: Mapped[int] = mapped_column(
        ForeignKey("tierline_tier.id", ondelete="CASCADE"), primary_key=True
    )
    feature_id: Mapped[int] = mapped_column(
        ForeignKey("tierline_feature.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    limit_value: Mapped[int | None] = mapped_column(Integer)
    period: Mapped[str] = mapped_column(
        String(8), default=LimitPeriod.NONE.value, server_default=text("'none'")
    )

    tier: Mapped[Tier] = relationship(back_populates="features")
    feature: Mapped[Feature] = relationship(lazy="joined")

    __table_args__ = (
        CheckConstraint("period IN ('day', 'month', 'none')", name="period"),
        CheckConstraint("limit_value IS NULL OR limit_value >= 0", name="limit_nonnegative"),
    )


class TierProviderLink(Base):
    """The only link from a tier to a provider's catalog: a stable external key.

    A Stripe price ``lookup_key``, a Paddle price/product id or ``custom_data`` key, a Polar
    product id, a Whop product id or a Lemon Squeezy variant id. Prices live at the provider.
    """

    __tablename__ = "tierline_tier_provider_link"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    tier_id: Mapped[int] = mapped_column(
        ForeignKey("tierline_tier.id", ondelete="CASCADE"), index=True
    )
    provider: Mapped[str] = mapped_column(exact_string(32))
    external_key: Mapped[str] = mapped_column(exact_string(255))

    tier: Mapped[Tier] = relationship(back_populates="provider_links")

    __table_args__ = (UniqueConstraint("provider", "external_key"),)
