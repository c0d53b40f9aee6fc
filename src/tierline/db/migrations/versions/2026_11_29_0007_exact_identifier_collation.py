"""Identifiers compare exactly on MariaDB/MySQL: ``utf8mb4_bin`` on every id, ref and key column.

MariaDB's default collation (``utf8mb4_general_ci``; MySQL 8's ``utf8mb4_0900_ai_ci``) equates
case and accent variants, so ``"ALICE"`` found account ``"alice"`` and two Stripe events whose
ids differ only in case were deduplicated as one. SQLite and PostgreSQL compare exactly. On
MariaDB/MySQL this revision gives these columns the binary collation, keeping type, length,
nullability and indexes (``ALTER TABLE ... MODIFY`` rebuilds the indexes that hold them):

* ``tierline_account.ref``: the host's account id; every ``status()``, ``ensure_account()``,
  ``track()`` looks an account up by it.
* ``tierline_account_customer.provider``, ``.customer_id``: a provider's customer id (unique per
  provider), looked up on every event that names only the customer.
* ``tierline_subscription.provider``, ``.external_id``, ``.customer_id``: the provider's
  subscription id (unique per provider, the upsert's key) and its customer id (indexed, looked
  up to find the account).
* ``tierline_event.provider``, ``.external_id``: the provider's event id (unique per provider,
  the inbox's deduplication key; Stripe's ``evt_...`` ids are case-sensitive).
* ``tierline_tier.key``, ``tierline_feature.key``: catalog keys, looked up by the host's input
  (``tier("pro")``); the catalog holds them to ``[a-z0-9_-]``, but a lookup with ``"PRO"`` must
  not find ``"pro"`` on one dialect only.
* ``tierline_tier_provider_link.provider``, ``.external_key``: the provider's price lookup key or
  product id an event is mapped to a tier by (Stripe lookup keys are case-sensitive).
* ``tierline_credit_grant.idempotency_key``, ``tierline_outbox.idempotency_key``: caller- and
  Tierline-made idempotency keys (unique).
* ``tierline_seat.member_ref``: the host's id of a seated member (unique per account).
* ``tierline_usage.feature``, ``tierline_usage_key.feature``, ``tierline_usage_key.key``,
  ``tierline_override.feature``: the feature a counter, a ``track()`` idempotency key or an
  override is for, and the idempotency key itself (unique per account and feature).

Provider names are Tierline's own lower-case registry names; they change with the ids they
scope so that every unique key is compared one way.

Left as they are: ``tierline_account.referral_code`` and ``tierline_referral.code`` (a typed code
is normalised to upper case from a 31-letter alphabet before any lookup, deliberately
case-insensitive); free text and Tierline's own enum values (names, emails, reasons,
``granted_by``/``created_by``, statuses, event types, outbox kinds, periods), which no lookup by
outside input compares.

SQLite and PostgreSQL: nothing to do. Downgrade restores each table's default collation; it
first looks for rows whose unique keys would collide under it (``"alice"`` and ``"ALICE"``, both
legal after this revision) and refuses with an error naming them, before changing anything.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-29 22:40:00
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op
from alembic.util import CommandError
from sqlalchemy.dialects import mysql

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

EXACT = "utf8mb4_bin"

#: (table, column, length, nullable) of every column this revision changes.
COLUMNS: tuple[tuple[str, str, int, bool], ...] = (
    ("tierline_account", "ref", 255, False),
    ("tierline_account_customer", "provider", 32, False),
    ("tierline_account_customer", "customer_id", 255, False),
    ("tierline_subscription", "provider", 32, False),
    ("tierline_subscription", "external_id", 255, False),
    ("tierline_subscription", "customer_id", 255, True),
    ("tierline_event", "provider", 32, False),
    ("tierline_event", "external_id", 255, False),
    ("tierline_tier", "key", 64, False),
    ("tierline_feature", "key", 64, False),
    ("tierline_tier_provider_link", "provider", 32, False),
    ("tierline_tier_provider_link", "external_key", 255, False),
    ("tierline_credit_grant", "idempotency_key", 255, True),
    ("tierline_outbox", "idempotency_key", 255, False),
    ("tierline_seat", "member_ref", 255, False),
    ("tierline_usage", "feature", 64, False),
    ("tierline_usage_key", "feature", 64, False),
    ("tierline_usage_key", "key", 255, False),
    ("tierline_override", "feature", 64, False),
)

#: Every unique key holding one of those columns: (table, constraint, its columns).
UNIQUE_KEYS: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("tierline_account", "uq_tierline_account_ref", ("ref",)),
    (
        "tierline_account_customer",
        "uq_tierline_account_customer_provider_customer_id",
        ("provider", "customer_id"),
    ),
    (
        "tierline_subscription",
        "uq_tierline_subscription_provider_external_id",
        ("provider", "external_id"),
    ),
    ("tierline_event", "uq_tierline_event_provider_external_id", ("provider", "external_id")),
    ("tierline_tier", "uq_tierline_tier_key", ("key",)),
    ("tierline_feature", "uq_tierline_feature_key", ("key",)),
    (
        "tierline_tier_provider_link",
        "uq_tierline_tier_provider_link_provider_external_key",
        ("provider", "external_key"),
    ),
    ("tierline_credit_grant", "uq_tierline_credit_grant_idempotency_key", ("idempotency_key",)),
    ("tierline_outbox", "uq_tierline_outbox_idempotency_key", ("idempotency_key",)),
    ("tierline_seat", "uq_tierline_seat_account_id_member_ref", ("account_id", "member_ref")),
    (
        "tierline_usage",
        "uq_tierline_usage_account_id_feature_period_start",
        ("account_id", "feature", "period_start"),
    ),
    (
        "tierline_usage_key",
        "uq_tierline_usage_key_account_id_feature_key",
        ("account_id", "feature", "key"),
    ),
    ("tierline_override", "uq_tierline_override_account_id_feature", ("account_id", "feature")),
)


def _on_mysql() -> bool:
    # The context, not the bind: offline (``--sql``) runs have no connection.
    return op.get_context().dialect.name in ("mysql", "mariadb")


def _modify(collation: str | None) -> None:
    """Give every column of :data:`COLUMNS` ``collation`` (``None``: the table's default).

    One ``ALTER TABLE`` per table with a ``MODIFY`` per column, not Alembic's ``alter_column``
    (batch mode included), which issues one ALTER, so one table rebuild, per column.
    """
    dialect = op.get_context().dialect
    quote = dialect.identifier_preparer.quote
    for table in dict.fromkeys(table for table, *_ in COLUMNS):
        changes = ", ".join(
            f"MODIFY {quote(column)} "
            f"{mysql.VARCHAR(length, collation=collation).compile(dialect=dialect)} "
            f"{'NULL' if nullable else 'NOT NULL'}"
            for name, column, length, nullable in COLUMNS
            if name == table
        )
        op.execute(f"ALTER TABLE {quote(table)} {changes}")


def upgrade() -> None:
    if _on_mysql():
        _modify(EXACT)


def _table_collation(bind: sa.Connection, table: str) -> str:
    found = bind.execute(
        sa.text(
            "SELECT table_collation FROM information_schema.tables "
            "WHERE table_schema = DATABASE() AND table_name = :table"
        ),
        {"table": table},
    ).scalar_one()
    return str(found)


def _refuse_collisions(bind: sa.Connection) -> None:
    """Raise before any change if a unique key would hold duplicates under the old collation."""
    changed = {(table, column) for table, column, *_ in COLUMNS}
    for table, constraint, columns in UNIQUE_KEYS:
        collation = _table_collation(bind, table)
        cols: list[sa.ColumnClause[Any]] = [sa.column(c) for c in columns]
        keys = [col.collate(collation) if (table, col.name) in changed else col for col in cols]
        # The whole key as text, so the error shows two rows that would collide.
        shown = sa.func.concat_ws(" / ", *cols)
        query = (
            sa.select(sa.func.min(shown), sa.func.max(shown), sa.func.count())
            .select_from(sa.table(table, *cols))
            # NULLs never collide in a unique key (an unset credit idempotency key).
            .where(*(col.is_not(None) for col in cols))
            .group_by(*keys)
            .having(sa.func.count() > 1)
            .limit(1)
        )
        row = bind.execute(query).first()
        if row is not None:
            raise CommandError(
                f"cannot downgrade revision 0007: {table} holds {row[2]} rows that differ only "
                f"in case or accents (e.g. {row[0]!r} and {row[1]!r}), which {constraint} would "
                f"refuse under {collation}; remove or rename them first"
            )


def downgrade() -> None:
    if _on_mysql():
        # An offline (``--sql``) run has no rows to look at; its reader runs the ALTERs.
        if not op.get_context().as_sql:
            _refuse_collisions(op.get_bind())
        _modify(None)
