"""Billing tables: normalized subscriptions and the webhook inbox."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    false,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from tierline.db.base import Base
from tierline.db.types import LongText, UTCDateTime, exact_string, utcnow


class SubscriptionStatus(StrEnum):
    """A subscription's state, normalized across providers."""

    INCOMPLETE = "incomplete"
    TRIALING = "trialing"
    ACTIVE = "active"
    PAST_DUE = "past_due"
    PAUSED = "paused"
    CANCELED = "canceled"
    UNPAID = "unpaid"
    EXPIRED = "expired"

    @property
    def grants_access(self) -> bool:
        """Whether this state alone gives paid access (past-due grace is decided by policy)."""
        return self in (SubscriptionStatus.ACTIVE, SubscriptionStatus.TRIALING)

    @property
    def is_terminal(self) -> bool:
        """Whether the subscription has ended for good: no later snapshot reopens it.

        Stripe: ``incomplete_expired`` (Tierline's ``expired``) "is a terminal status" and a
        canceled subscription cannot be updated
        (https://docs.stripe.com/api/subscriptions/object#subscription_object-status); Paddle:
        "cannot update subscription, as subscription is canceled"
        (https://developer.paddle.com/errors/subscriptions/subscription_update_when_canceled).
        """
        return self in (SubscriptionStatus.CANCELED, SubscriptionStatus.EXPIRED)


class EventStatus(StrEnum):
    """Where a received webhook is in the inbox."""

    PROCESSING = "processing"
    PROCESSED = "processed"
    FAILED = "failed"
    UNMAPPED = "unmapped"
    IGNORED = "ignored"

    @property
    def is_final(self) -> bool:
        """A final event is answered as a duplicate when it is delivered again."""
        return self in (EventStatus.PROCESSED, EventStatus.IGNORED)


class Subscription(Base):
    """The provider's view of one subscription, normalized."""

    __tablename__ = "tierline_subscription"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_id: Mapped[int] = mapped_column(
        ForeignKey("tierline_account.id", ondelete="CASCADE"), index=True
    )
    tier_id: Mapped[int | None] = mapped_column(
        ForeignKey("tierline_tier.id", ondelete="RESTRICT"), index=True
    )
    provider: Mapped[str] = mapped_column(exact_string(32))
    external_id: Mapped[str] = mapped_column(exact_string(255))
    customer_id: Mapped[str | None] = mapped_column(exact_string(255), index=True)
    status: Mapped[str] = mapped_column(String(16))
    current_period_end: Mapped[datetime | None] = mapped_column(UTCDateTime)
    cancel_at_period_end: Mapped[bool] = mapped_column(
        Boolean, default=False, server_default=false()
    )
    trial_end: Mapped[datetime | None] = mapped_column(UTCDateTime)
    quantity: Mapped[int] = mapped_column(Integer, default=1, server_default=text("1"))
    provider_updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: Breaks ties of equal ``provider_updated_at`` (the snapshot's lifecycle rank).
    provider_rank: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    #: When the subscription went past due: the past-due grace counts from here.
    past_due_since: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: A scheduled end date (Stripe ``cancel_at``): access ends then at the latest.
    cancel_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: The provider's live/test mode, when it says (Stripe ``livemode``).
    livemode: Mapped[bool | None] = mapped_column(Boolean)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    __table_args__ = (
        UniqueConstraint("provider", "external_id"),
        CheckConstraint(
            "status IN ('incomplete', 'trialing', 'active', 'past_due', 'paused', "
            "'canceled', 'unpaid', 'expired')",
            name="status",
        ),
        CheckConstraint("quantity >= 0", name="quantity_nonnegative"),
    )


class Event(Base):
    """One received webhook: the inbox row that makes its effect happen exactly once."""

    __tablename__ = "tierline_event"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    provider: Mapped[str] = mapped_column(exact_string(32))
    external_id: Mapped[str] = mapped_column(exact_string(255))
    type: Mapped[str] = mapped_column(String(128))
    occurred_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    processed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    status: Mapped[str] = mapped_column(String(16), default=EventStatus.PROCESSING.value)
    # Until when a worker holds the event; a claim whose lease has run out (a crashed or killed
    # process) may be taken again, so no event is stuck "processing" forever.
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    last_error: Mapped[str | None] = mapped_column(Text)
    payload: Mapped[str] = mapped_column(LongText)
    handler_version: Mapped[int] = mapped_column(Integer, default=1, server_default=text("1"))

    __table_args__ = (
        UniqueConstraint("provider", "external_id"),
        Index("ix_tierline_event_status_received_at", "status", "received_at"),
        CheckConstraint(
            "status IN ('processing', 'processed', 'failed', 'unmapped', 'ignored')",
            name="status",
        ),
    )
