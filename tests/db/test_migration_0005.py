"""Revision 0005 (outbox, account-customer links): earlier rows survive, the new tables work."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import insert, select
from sqlalchemy.engine import URL
from sqlalchemy.exc import IntegrityError

from tierline import db
from tierline.accounts.models import Account, AccountCustomer
from tierline.outbox.models import OutboxItem

from .migration_helpers import assert_rows_survive

#: The revision 0005 follows in the chain.
PREVIOUS = db.history()[[r.revision for r in db.history()].index("0005") - 1].revision

CREATED = datetime.fromisoformat("2026-02-03 04:05:06.000007")
AWARE = CREATED.replace(tzinfo=UTC)


def test_accounts_subscriptions_and_events_survive_the_upgrade_to_0005(
    empty_db_url: URL,
) -> None:
    assert_rows_survive(
        empty_db_url,
        at=PREVIOUS,
        to="0005",
        rows={
            "tierline_account": [{"id": 1, "ref": "org-1", "created_at": CREATED}],
            "tierline_subscription": [
                {
                    "id": 1,
                    "account_id": 1,
                    "provider": "stripe",
                    "external_id": "sub_1",
                    "customer_id": "cus_1",
                    "status": "active",
                    "cancel_at_period_end": False,
                    "quantity": 2,
                    "created_at": CREATED,
                    "updated_at": CREATED,
                }
            ],
            "tierline_event": [
                {
                    "id": 1,
                    "provider": "stripe",
                    "external_id": "evt_1",
                    "type": "invoice.paid",
                    "received_at": CREATED,
                    "status": "processed",
                    "attempts": 1,
                    "payload": "{}",
                }
            ],
        },
    )


def test_the_outbox_keeps_one_item_per_idempotency_key_and_links_one_account_per_customer(
    db_url: URL,
) -> None:
    engine = db.make_engine(db_url)
    item = {
        "kind": "stripe.coupon",
        "payload": '{"coupon": "C"}',
        "idempotency_key": "k-1",
        "status": "pending",
        "next_attempt_at": AWARE,
        "created_at": AWARE,
    }
    try:
        with engine.begin() as conn:
            conn.execute(insert(OutboxItem).values(**item))
        try:
            with engine.begin() as conn:
                conn.execute(insert(OutboxItem).values(**item))
        except IntegrityError:
            pass
        else:
            raise AssertionError("a second item with the same idempotency key was stored")
        with engine.connect() as conn:
            assert conn.execute(select(OutboxItem.attempts, OutboxItem.status)).all() == [
                (0, "pending")
            ]
        with engine.begin() as conn:
            conn.execute(insert(Account).values(id=7, ref="org-7", created_at=AWARE))
            link = {"account_id": 7, "customer_id": "cus_X", "created_at": AWARE}
            conn.execute(insert(AccountCustomer).values(provider="stripe", **link))
            # The same customer id at another provider is another customer.
            conn.execute(insert(AccountCustomer).values(provider="fake", **link))
        try:
            with engine.begin() as conn:
                conn.execute(insert(AccountCustomer).values(provider="stripe", **link))
        except IntegrityError:
            pass
        else:
            raise AssertionError("one provider customer was linked twice")
    finally:
        engine.dispose()
