"""Billing, credits and referrals: subscriptions, the webhook inbox, credit ledger, referrals.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24 01:30:00
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _timestamp() -> sa.types.TypeEngine[Any]:
    # Naive UTC everywhere; MariaDB needs DATETIME(6) or it drops the microseconds.
    return sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")


def _long_text() -> sa.types.TypeEngine[Any]:
    # Webhook bodies up to the 1 MiB ingest limit; MariaDB's TEXT stops at 64 KiB.
    return sa.Text().with_variant(mysql.LONGTEXT(), "mysql", "mariadb")


def upgrade() -> None:
    op.create_table(
        "tierline_subscription",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("tier_id", sa.Integer(), nullable=True),
        sa.Column("provider", sa.String(length=32), nullable=False),
        sa.Column("external_id", sa.String(length=255), nullable=False),
        sa.Column("customer_id", sa.String(length=255), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("current_period_end", _timestamp(), nullable=True),
        sa.Column("cancel_at_period_end", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("trial_end", _timestamp(), nullable=True),
        sa.Column("quantity", sa.Integer(), server_default=sa.text("1"), nullable=False),
        sa.Column("provider_updated_at", _timestamp(), nullable=True),
        sa.Column("created_at", _timestamp(), nullable=False),
        sa.Column("updated_at", _timestamp(), nullable=False),
        sa.CheckConstraint(
            "status IN ('incomplete', 'trialing', 'active', 'past_due', 'paused', "
            "'canceled', 'unpaid', 'expired')",
            name=op.f("ck_tierline_subscription_status"),
        ),
        sa.CheckConstraint(
            "quantity >= 0", name=op.f("ck_tierline_subscription_quantity_nonnegative")
        ),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["tierline_account.id"],
            name=op.f("fk_tierline_subscription_account_id_tierline_account"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tier_id"],
            ["tierline_tier.id"],
            name=op.f("fk_tierline_subscription_tier_id_tierline_tier"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tierline_subscription")),
        sa.UniqueConstraint(
            "provider", "external_id", name=op.f("uq_tierline_subscription_provider_external_id")
        ),
    )
    op.create_index(
        op.f("ix_tierline_subscription_account_id"),
        "tierline_subscription",
        ["account_id"],
        unique=False,
    )
    op.create_index(
        op.f("ix_tierline_subscription_tier_id"), "tierline_subscription", ["tier_id"], unique=False
    )
    op.create_table(
        "tierline_event",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("provider", sa.String(length=32), nullable=False),
        sa.Column("external_id", sa.String(length=255), nullable=False),
        sa.Column("type", sa.String(length=128), nullable=False),
        sa.Column("occurred_at", _timestamp(), nullable=True),
        sa.Column("received_at", _timestamp(), nullable=False),
        sa.Column("processed_at", _timestamp(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("locked_until", _timestamp(), nullable=True),
        sa.Column("attempts", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("payload", _long_text(), nullable=False),
        sa.Column("handler_version", sa.Integer(), server_default=sa.text("1"), nullable=False),
        sa.CheckConstraint(
            "status IN ('processing', 'processed', 'failed', 'unmapped', 'ignored')",
            name=op.f("ck_tierline_event_status"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tierline_event")),
        sa.UniqueConstraint(
            "provider", "external_id", name=op.f("uq_tierline_event_provider_external_id")
        ),
    )
    op.create_index(
        "ix_tierline_event_status_received_at",
        "tierline_event",
        ["status", "received_at"],
        unique=False,
    )
    op.create_table(
        "tierline_credit_grant",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("starts_at", _timestamp(), nullable=False),
        sa.Column("expires_at", _timestamp(), nullable=False),
        sa.Column("reason", sa.String(length=255), nullable=True),
        sa.Column("granted_by", sa.String(length=255), nullable=True),
        sa.Column("revoked_at", _timestamp(), nullable=True),
        sa.Column("idempotency_key", sa.String(length=255), nullable=True),
        sa.Column("created_at", _timestamp(), nullable=False),
        sa.CheckConstraint(
            "expires_at > starts_at", name=op.f("ck_tierline_credit_grant_window_positive")
        ),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["tierline_account.id"],
            name=op.f("fk_tierline_credit_grant_account_id_tierline_account"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tierline_credit_grant")),
        sa.UniqueConstraint(
            "idempotency_key", name=op.f("uq_tierline_credit_grant_idempotency_key")
        ),
    )
    op.create_index(
        op.f("ix_tierline_credit_grant_account_id"),
        "tierline_credit_grant",
        ["account_id"],
        unique=False,
    )
    op.create_table(
        "tierline_referral",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("referrer_id", sa.Integer(), nullable=False),
        sa.Column("referred_id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=16), nullable=False),
        sa.Column("created_at", _timestamp(), nullable=False),
        sa.Column("converted_at", _timestamp(), nullable=True),
        sa.Column("credited_at", _timestamp(), nullable=True),
        sa.ForeignKeyConstraint(
            ["referred_id"],
            ["tierline_account.id"],
            name=op.f("fk_tierline_referral_referred_id_tierline_account"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["referrer_id"],
            ["tierline_account.id"],
            name=op.f("fk_tierline_referral_referrer_id_tierline_account"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tierline_referral")),
        sa.UniqueConstraint("referred_id", name=op.f("uq_tierline_referral_referred_id")),
    )
    op.create_index(
        op.f("ix_tierline_referral_referrer_id"), "tierline_referral", ["referrer_id"], unique=False
    )


def downgrade() -> None:
    # Dropping a table drops its indexes; dropping them first would fail on MariaDB, where
    # an index backing a foreign key cannot be dropped on its own.
    op.drop_table("tierline_referral")
    op.drop_table("tierline_credit_grant")
    op.drop_table("tierline_event")
    op.drop_table("tierline_subscription")
