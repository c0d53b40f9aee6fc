"""Index subscriptions by provider customer id.

The webhook inbox finds a subscription's account through the customer a checkout linked when
an event names no account (Stripe invoices, out-of-order deliveries); without an index that
look-up scans every subscription.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-24 02:40:00
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # CREATE INDEX needs no table rebuild, on SQLite either.
    op.create_index(
        op.f("ix_tierline_subscription_customer_id"),
        "tierline_subscription",
        ["customer_id"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_tierline_subscription_customer_id"), table_name="tierline_subscription")
