"""Usage counters and their idempotency keys, seats, and per-account overrides.

Four new tables, no change to existing ones. ``tierline_usage`` holds one row per account,
feature and period (a new period is a new row, so nothing resets by a job);
``tierline_usage_key`` makes a retried ``track()`` count once; ``tierline_seat`` holds the
members assigned to an account; ``tierline_override`` an admin's grant of a feature or limit.
Every unique constraint starts with ``account_id``, which also serves the foreign key.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-29 16:40:00
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision: str = "0006"
# Relinked after the revisions of the other branches at merge (a one-line change).
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _timestamp() -> sa.types.TypeEngine[Any]:
    # Naive UTC everywhere; MariaDB needs DATETIME(6) or it drops the microseconds.
    return sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")


def _account_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["account_id"],
        ["tierline_account.id"],
        name=f"fk_{table}_account_id_tierline_account",
        ondelete="CASCADE",
    )


def upgrade() -> None:
    op.create_table(
        "tierline_usage",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("feature", sa.String(length=64), nullable=False),
        sa.Column("period_start", _timestamp(), nullable=False),
        sa.Column("used", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", _timestamp(), nullable=False),
        sa.CheckConstraint("used >= 0", name="ck_tierline_usage_used_nonnegative"),
        _account_fk("tierline_usage"),
        sa.PrimaryKeyConstraint("id", name="pk_tierline_usage"),
        sa.UniqueConstraint(
            "account_id",
            "feature",
            "period_start",
            name="uq_tierline_usage_account_id_feature_period_start",
        ),
    )
    op.create_table(
        "tierline_usage_key",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("feature", sa.String(length=64), nullable=False),
        sa.Column("key", sa.String(length=255), nullable=False),
        sa.Column("amount", sa.Integer(), nullable=False),
        sa.Column("period_start", _timestamp(), nullable=False),
        sa.Column("released_at", _timestamp(), nullable=True),
        sa.Column("created_at", _timestamp(), nullable=False),
        _account_fk("tierline_usage_key"),
        sa.PrimaryKeyConstraint("id", name="pk_tierline_usage_key"),
        sa.UniqueConstraint(
            "account_id", "feature", "key", name="uq_tierline_usage_key_account_id_feature_key"
        ),
    )
    op.create_table(
        "tierline_seat",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("member_ref", sa.String(length=255), nullable=False),
        sa.Column("created_at", _timestamp(), nullable=False),
        _account_fk("tierline_seat"),
        sa.PrimaryKeyConstraint("id", name="pk_tierline_seat"),
        sa.UniqueConstraint(
            "account_id", "member_ref", name="uq_tierline_seat_account_id_member_ref"
        ),
    )
    op.create_table(
        "tierline_override",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("feature", sa.String(length=64), nullable=False),
        sa.Column("enabled", sa.Boolean(), server_default=sa.true(), nullable=False),
        sa.Column("limit_value", sa.Integer(), nullable=True),
        sa.Column("period", sa.String(length=8), nullable=True),
        sa.Column("expires_at", _timestamp(), nullable=True),
        sa.Column("reason", sa.String(length=255), nullable=False),
        sa.Column("created_by", sa.String(length=255), nullable=True),
        sa.Column("created_at", _timestamp(), nullable=False),
        sa.CheckConstraint(
            "period IS NULL OR period IN ('day', 'month', 'none')",
            name="ck_tierline_override_period",
        ),
        sa.CheckConstraint(
            "limit_value IS NULL OR limit_value >= 0",
            name="ck_tierline_override_limit_nonnegative",
        ),
        _account_fk("tierline_override"),
        sa.PrimaryKeyConstraint("id", name="pk_tierline_override"),
        sa.UniqueConstraint(
            "account_id", "feature", name="uq_tierline_override_account_id_feature"
        ),
    )
    # CREATE INDEX needs no table rebuild, on SQLite either.
    op.create_index(
        "ix_tierline_override_expires_at", "tierline_override", ["expires_at"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_tierline_override_expires_at", table_name="tierline_override")
    op.drop_table("tierline_override")
    op.drop_table("tierline_seat")
    op.drop_table("tierline_usage_key")
    op.drop_table("tierline_usage")
