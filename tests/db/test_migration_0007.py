"""Revision 0007 (exact identifiers): rows survive; on MariaDB the columns become utf8mb4_bin.

On SQLite and PostgreSQL the revision changes nothing (both compare text exactly already).
"""

from __future__ import annotations

from datetime import datetime

import pytest
from sqlalchemy import text
from sqlalchemy.engine import URL

from tierline import db
from tierline.errors import DatabaseError

from .migration_helpers import assert_rows_survive

#: The revision 0007 follows in the chain.
PREVIOUS = db.history()[[r.revision for r in db.history()].index("0007") - 1].revision

CREATED = datetime.fromisoformat("2026-05-06 07:08:09.000010")

#: Every column revision 0007 makes exact on MariaDB/MySQL.
EXACT = {
    ("tierline_account", "ref"),
    ("tierline_account_customer", "provider"),
    ("tierline_account_customer", "customer_id"),
    ("tierline_subscription", "provider"),
    ("tierline_subscription", "external_id"),
    ("tierline_subscription", "customer_id"),
    ("tierline_event", "provider"),
    ("tierline_event", "external_id"),
    ("tierline_tier", "key"),
    ("tierline_feature", "key"),
    ("tierline_tier_provider_link", "provider"),
    ("tierline_tier_provider_link", "external_key"),
    ("tierline_credit_grant", "idempotency_key"),
    ("tierline_outbox", "idempotency_key"),
    ("tierline_seat", "member_ref"),
    ("tierline_usage", "feature"),
    ("tierline_usage_key", "feature"),
    ("tierline_usage_key", "key"),
    ("tierline_override", "feature"),
}

#: One row in every table 0007 changes, with mixed case and non-ASCII values.
ROWS: dict[str, list[dict[str, object]]] = {
    "tierline_tier": [
        {"id": 1, "key": "pro", "name": "Pro", "created_at": CREATED, "updated_at": CREATED}
    ],
    "tierline_feature": [{"id": 1, "key": "quotes", "name": "Quotes"}],
    "tierline_tier_provider_link": [
        {"id": 1, "tier_id": 1, "provider": "stripe", "external_key": "Pro_Monthly"}
    ],
    "tierline_account": [
        {"id": 1, "ref": "Ålice-Ω", "created_at": CREATED},
        {"id": 2, "ref": "bob", "created_at": CREATED},
    ],
    "tierline_account_customer": [
        {
            "id": 1,
            "account_id": 1,
            "provider": "stripe",
            "customer_id": "cus_AbC",
            "created_at": CREATED,
        }
    ],
    "tierline_subscription": [
        {
            "id": 1,
            "account_id": 1,
            "tier_id": 1,
            "provider": "stripe",
            "external_id": "sub_1AbC",
            "customer_id": "cus_AbC",
            "status": "active",
            "cancel_at_period_end": False,
            "quantity": 1,
            "created_at": CREATED,
            "updated_at": CREATED,
        }
    ],
    "tierline_event": [
        {
            "id": 1,
            "provider": "stripe",
            "external_id": "evt_1AbC",
            "type": "invoice.paid",
            "received_at": CREATED,
            "status": "processed",
            "attempts": 1,
            "payload": "{}",
        }
    ],
    "tierline_credit_grant": [
        {
            "id": 1,
            "account_id": 1,
            "starts_at": CREATED,
            "expires_at": datetime.fromisoformat("2026-06-06 07:08:09"),
            "idempotency_key": "Promo-É",
            "created_at": CREATED,
        },
        {
            "id": 2,
            "account_id": 2,
            "starts_at": CREATED,
            "expires_at": datetime.fromisoformat("2026-06-06 07:08:09"),
            "created_at": CREATED,
        },
    ],
    "tierline_outbox": [
        {
            "id": 1,
            "kind": "stripe.coupon",
            "payload": "{}",
            "idempotency_key": "Ref-1/Coupon",
            "status": "pending",
            "attempts": 0,
            "next_attempt_at": CREATED,
            "created_at": CREATED,
        }
    ],
    "tierline_seat": [{"id": 1, "account_id": 1, "member_ref": "Zoë", "created_at": CREATED}],
    "tierline_usage": [
        {
            "id": 1,
            "account_id": 1,
            "feature": "quotes",
            "period_start": CREATED,
            "used": 2,
            "updated_at": CREATED,
        }
    ],
    "tierline_usage_key": [
        {
            "id": 1,
            "account_id": 1,
            "feature": "quotes",
            "key": "Req-ÿ",
            "amount": 2,
            "period_start": CREATED,
            "created_at": CREATED,
        }
    ],
    "tierline_override": [
        {"id": 1, "account_id": 1, "feature": "quotes", "reason": "beta", "created_at": CREATED}
    ],
}


def test_rows_survive_the_upgrade_to_0007_and_take_case_variants_after(
    empty_db_url: URL,
) -> None:
    assert_rows_survive(empty_db_url, at=PREVIOUS, to="0007", rows=ROWS)
    engine = db.make_engine(empty_db_url)
    try:
        with engine.begin() as conn:
            # Each would collide with a seeded row under a case- or accent-blind collation.
            # (Explicit ids: the seeded rows' ids did not advance PostgreSQL's sequences.)
            conn.execute(
                text("INSERT INTO tierline_account (id, ref, created_at) VALUES (3, :r, :at)"),
                {"r": "ålice-ω", "at": CREATED},
            )
            conn.execute(
                text(
                    "INSERT INTO tierline_event (id, provider, external_id, type, received_at, "
                    "status, attempts, payload) VALUES (2, 'stripe', 'evt_1abc', 't', :at, "
                    "'processed', 1, '{}')"
                ),
                {"at": CREATED},
            )
            conn.execute(
                text(
                    "INSERT INTO tierline_seat (id, account_id, member_ref, created_at) "
                    "VALUES (2, 1, 'Zoe', :at), (3, 1, 'ZOË', :at)"
                ),
                {"at": CREATED},
            )
            refs = conn.scalars(text("SELECT ref FROM tierline_account WHERE ref = 'ålice-ω'"))
            assert refs.all() == ["ålice-ω"]
    finally:
        engine.dispose()
    assert db.check(empty_db_url) == []


def _collations(url: URL) -> tuple[dict[tuple[str, str], str], dict[str, str]]:
    """Each tierline text column's collation, and each tierline table's default collation."""
    engine = db.make_engine(url)
    try:
        with engine.connect() as conn:
            columns = conn.execute(
                text(
                    "SELECT table_name, column_name, collation_name "
                    "FROM information_schema.columns WHERE table_schema = DATABASE() "
                    "AND table_name LIKE 'tierline\\_%' AND collation_name IS NOT NULL"
                )
            ).all()
            tables = conn.execute(
                text(
                    "SELECT table_name, table_collation FROM information_schema.tables "
                    "WHERE table_schema = DATABASE() AND table_name LIKE 'tierline\\_%'"
                )
            ).all()
    finally:
        engine.dispose()
    return {(t, c): coll for t, c, coll in columns}, {t: coll for t, coll in tables}


def _assert_exact_only_where_wanted(url: URL) -> None:
    columns, tables = _collations(url)
    exact = {column for column, collation in columns.items() if collation == "utf8mb4_bin"}
    assert exact == EXACT
    others = {column: c for column, c in columns.items() if column not in EXACT}
    assert others == {column: tables[column[0]] for column in others}


def _assert_all_default(url: URL) -> None:
    columns, tables = _collations(url)
    assert tables["tierline_account"] != "utf8mb4_bin"
    assert columns == {column: tables[column[0]] for column in columns}


@pytest.mark.parametrize("dialect", ["mariadb"])
def test_mariadb_columns_are_binary_at_0007_and_default_again_after_a_downgrade(
    empty_db_url: URL,
) -> None:
    db.upgrade(empty_db_url, PREVIOUS)
    _assert_all_default(empty_db_url)
    db.upgrade(empty_db_url, "0007")
    _assert_exact_only_where_wanted(empty_db_url)
    assert db.check(empty_db_url) == []

    db.downgrade(empty_db_url, PREVIOUS)
    _assert_all_default(empty_db_url)
    problems = db.check(empty_db_url)
    assert (
        "column tierline_account.ref: collation is 'utf8mb4_general_ci' in the database, "
        "'utf8mb4_bin' in the models" in problems
    )

    db.upgrade(empty_db_url)
    _assert_exact_only_where_wanted(empty_db_url)
    assert db.check(empty_db_url) == []


@pytest.mark.parametrize("dialect", ["mariadb"])
def test_mariadb_downgrade_refuses_rows_that_would_collide_and_changes_nothing(
    empty_db_url: URL,
) -> None:
    db.upgrade(empty_db_url, "0007")
    engine = db.make_engine(empty_db_url)
    try:
        with engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO tierline_event (provider, external_id, type, received_at, "
                    "status, attempts, payload) VALUES ('stripe', 'evt_1abc', 't', :at, "
                    "'processed', 1, '{}'), ('stripe', 'evt_1ABC', 't', :at, 'processed', 1, "
                    "'{}')"
                ),
                {"at": CREATED},
            )
            # Unset idempotency keys never collide.
            conn.execute(
                text("INSERT INTO tierline_account (id, ref, created_at) VALUES (1, 'a', :at)"),
                {"at": CREATED},
            )
            conn.execute(
                text(
                    "INSERT INTO tierline_credit_grant (account_id, starts_at, expires_at, "
                    "created_at) VALUES (1, :at, :end, :at), (1, :at, :end, :at)"
                ),
                {"at": CREATED, "end": datetime.fromisoformat("2026-06-01 00:00:00")},
            )
        with pytest.raises(DatabaseError) as refused:
            db.downgrade(empty_db_url, PREVIOUS)
        message = str(refused.value)
        assert "tierline_event" in message and "uq_tierline_event_provider_external_id" in message
        assert "'stripe / evt_1ABC'" in message and "'stripe / evt_1abc'" in message
        assert db.current(empty_db_url) == "0007"
        _assert_exact_only_where_wanted(empty_db_url)

        with engine.begin() as conn:
            conn.execute(text("DELETE FROM tierline_event WHERE external_id = 'evt_1ABC'"))
        db.downgrade(empty_db_url, PREVIOUS)
        _assert_all_default(empty_db_url)
    finally:
        engine.dispose()


@pytest.mark.parametrize("dialect", ["mariadb"])
def test_check_reports_an_identifier_column_left_in_the_default_collation(
    empty_db_url: URL,
) -> None:
    db.upgrade(empty_db_url)
    engine = db.make_engine(empty_db_url)
    try:
        with engine.begin() as conn:
            conn.execute(
                text(
                    "ALTER TABLE tierline_seat MODIFY member_ref VARCHAR(255) "
                    "COLLATE utf8mb4_general_ci NOT NULL"
                )
            )
    finally:
        engine.dispose()
    assert db.check(empty_db_url) == [
        "column tierline_seat.member_ref: collation is 'utf8mb4_general_ci' in the database, "
        "'utf8mb4_bin' in the models"
    ]
