"""The transactional outbox, and provider customers linked to accounts by an admin.

``tierline_outbox`` holds calls to make after a commit (a referral coupon, later host hooks):
written in the effect's transaction, claimed by workers with ``FOR UPDATE SKIP LOCKED``
(PostgreSQL, MariaDB) or a conditional UPDATE with a lease (SQLite). ``tierline_account_customer``
holds ``tierline accounts link`` links, scoped by provider.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-29 16:15:00
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision: str = "0005"
# The revision this one follows: the only line to change when the chain is relinked.
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _timestamp() -> sa.types.TypeEngine[Any]:
    # Naive UTC everywhere; MariaDB needs DATETIME(6) or it drops the microseconds.
    return sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")


def upgrade() -> None:
    op.create_table(
        "tierline_outbox",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=64), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("idempotency_key", sa.String(length=255), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("next_attempt_at", _timestamp(), nullable=False),
        sa.Column("locked_until", _timestamp(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", _timestamp(), nullable=False),
        sa.Column("delivered_at", _timestamp(), nullable=True),
        sa.CheckConstraint(
            "status IN ('pending', 'delivered', 'failed', 'dead')",
            name=op.f("ck_tierline_outbox_status"),
        ),
        sa.CheckConstraint("attempts >= 0", name=op.f("ck_tierline_outbox_attempts_nonnegative")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tierline_outbox")),
        sa.UniqueConstraint("idempotency_key", name=op.f("uq_tierline_outbox_idempotency_key")),
    )
    op.create_index(
        "ix_tierline_outbox_status_next_attempt_at",
        "tierline_outbox",
        ["status", "next_attempt_at"],
        unique=False,
    )
    op.create_table(
        "tierline_account_customer",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("provider", sa.String(length=32), nullable=False),
        sa.Column("customer_id", sa.String(length=255), nullable=False),
        sa.Column("created_at", _timestamp(), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["tierline_account.id"],
            name=op.f("fk_tierline_account_customer_account_id_tierline_account"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tierline_account_customer")),
        sa.UniqueConstraint(
            "provider",
            "customer_id",
            name=op.f("uq_tierline_account_customer_provider_customer_id"),
        ),
    )
    op.create_index(
        op.f("ix_tierline_account_customer_account_id"),
        "tierline_account_customer",
        ["account_id"],
        unique=False,
    )


def downgrade() -> None:
    # Dropping the table drops its indexes (MariaDB refuses to drop the foreign key's index
    # on its own).
    op.drop_table("tierline_account_customer")
    op.drop_index("ix_tierline_outbox_status_next_attempt_at", table_name="tierline_outbox")
    op.drop_table("tierline_outbox")
