"""Subscription lifecycle: ordering rank, past-due start, scheduled end and mode.

``provider_rank`` breaks ties between snapshots with the same provider timestamp (Stripe's
event ``created`` has one-second resolution); ``past_due_since`` is when the subscription went
past due, from which the past-due grace counts; ``cancel_at`` is a scheduled end date (Stripe
``cancel_at``, Paddle ``scheduled_change``); ``livemode`` records the provider's mode.

Rows already past due get ``past_due_since`` from their last provider update (else the row's):
the best known time they entered that state.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-29 16:20:00
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _timestamp() -> sa.types.TypeEngine[Any]:
    # Naive UTC everywhere; MariaDB needs DATETIME(6) or it drops the microseconds.
    return sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")


def upgrade() -> None:
    with op.batch_alter_table("tierline_subscription") as batch:
        batch.add_column(
            sa.Column("provider_rank", sa.Integer(), server_default=sa.text("0"), nullable=False)
        )
        batch.add_column(sa.Column("past_due_since", _timestamp(), nullable=True))
        batch.add_column(sa.Column("cancel_at", _timestamp(), nullable=True))
        batch.add_column(sa.Column("livemode", sa.Boolean(), nullable=True))
    subscription = sa.table(
        "tierline_subscription",
        sa.column("status", sa.String()),
        sa.column("past_due_since", _timestamp()),
        sa.column("provider_updated_at", _timestamp()),
        sa.column("updated_at", _timestamp()),
    )
    op.execute(
        subscription.update()
        .where(subscription.c.status == "past_due")
        .values(
            past_due_since=sa.func.coalesce(
                subscription.c.provider_updated_at, subscription.c.updated_at
            )
        )
    )


def downgrade() -> None:
    with op.batch_alter_table("tierline_subscription") as batch:
        batch.drop_column("livemode")
        batch.drop_column("cancel_at")
        batch.drop_column("past_due_since")
        batch.drop_column("provider_rank")
