"""Catalog and accounts: tiers, features, provider links, accounts.

Revision ID: 0001
Revises:
Create Date: 2026-11-24 01:30:00
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _timestamp() -> sa.types.TypeEngine[Any]:
    # Naive UTC everywhere; MariaDB needs DATETIME(6) or it drops the microseconds.
    return sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")


def upgrade() -> None:
    op.create_table(
        "tierline_tier",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("seats", sa.Integer(), server_default=sa.text("1"), nullable=False),
        sa.Column("customer_facing", sa.Boolean(), server_default=sa.true(), nullable=False),
        sa.Column("exempt", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("fallback_price", sa.String(length=32), nullable=True),
        sa.Column("sort_order", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("retired", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("created_at", _timestamp(), nullable=False),
        sa.Column("updated_at", _timestamp(), nullable=False),
        sa.CheckConstraint("seats >= 1", name=op.f("ck_tierline_tier_seats_positive")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tierline_tier")),
        sa.UniqueConstraint("key", name=op.f("uq_tierline_tier_key")),
    )
    op.create_index(op.f("ix_tierline_tier_exempt"), "tierline_tier", ["exempt"], unique=False)
    op.create_table(
        "tierline_feature",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=True),
        sa.Column("description", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tierline_feature")),
        sa.UniqueConstraint("key", name=op.f("uq_tierline_feature_key")),
    )
    op.create_table(
        "tierline_tier_feature",
        sa.Column("tier_id", sa.Integer(), nullable=False),
        sa.Column("feature_id", sa.Integer(), nullable=False),
        sa.Column("limit_value", sa.Integer(), nullable=True),
        sa.Column("period", sa.String(length=8), server_default=sa.text("'none'"), nullable=False),
        sa.CheckConstraint(
            "period IN ('day', 'month', 'none')", name=op.f("ck_tierline_tier_feature_period")
        ),
        sa.CheckConstraint(
            "limit_value IS NULL OR limit_value >= 0",
            name=op.f("ck_tierline_tier_feature_limit_nonnegative"),
        ),
        sa.ForeignKeyConstraint(
            ["feature_id"],
            ["tierline_feature.id"],
            name=op.f("fk_tierline_tier_feature_feature_id_tierline_feature"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tier_id"],
            ["tierline_tier.id"],
            name=op.f("fk_tierline_tier_feature_tier_id_tierline_tier"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("tier_id", "feature_id", name=op.f("pk_tierline_tier_feature")),
    )
    op.create_index(
        op.f("ix_tierline_tier_feature_feature_id"),
        "tierline_tier_feature",
        ["feature_id"],
        unique=False,
    )
    op.create_table(
        "tierline_tier_provider_link",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tier_id", sa.Integer(), nullable=False),
        sa.Column("provider", sa.String(length=32), nullable=False),
        sa.Column("external_key", sa.String(length=255), nullable=False),
        sa.ForeignKeyConstraint(
            ["tier_id"],
            ["tierline_tier.id"],
            name=op.f("fk_tierline_tier_provider_link_tier_id_tierline_tier"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tierline_tier_provider_link")),
        sa.UniqueConstraint(
            "provider",
            "external_key",
            name=op.f("uq_tierline_tier_provider_link_provider_external_key"),
        ),
    )
    op.create_index(
        op.f("ix_tierline_tier_provider_link_tier_id"),
        "tierline_tier_provider_link",
        ["tier_id"],
        unique=False,
    )
    op.create_table(
        "tierline_account",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("ref", sa.String(length=255), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=True),
        sa.Column("referral_code", sa.String(length=16), nullable=True),
        sa.Column("referred_by_id", sa.Integer(), nullable=True),
        sa.Column("created_at", _timestamp(), nullable=False),
        sa.ForeignKeyConstraint(
            ["referred_by_id"],
            ["tierline_account.id"],
            name=op.f("fk_tierline_account_referred_by_id_tierline_account"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tierline_account")),
        sa.UniqueConstraint("ref", name=op.f("uq_tierline_account_ref")),
        sa.UniqueConstraint("referral_code", name=op.f("uq_tierline_account_referral_code")),
    )
    op.create_index(
        op.f("ix_tierline_account_referred_by_id"),
        "tierline_account",
        ["referred_by_id"],
        unique=False,
    )


def downgrade() -> None:
    # Dropping a table drops its indexes; dropping them first would fail on MariaDB, where
    # an index backing a foreign key cannot be dropped on its own.
    op.drop_table("tierline_account")
    op.drop_table("tierline_tier_provider_link")
    op.drop_table("tierline_tier_feature")
    op.drop_table("tierline_feature")
    op.drop_table("tierline_tier")
