"""A subscription whose snapshot (or checkout) names another account moves to it: the account
it leaves loses that access at once, in this process's cache and in other processes' (the
change is reported for both accounts), on every dialect and through every apply path."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta

import pytest
from sqlalchemy import Connection, text

from tierline import Tierline
from tierline.billing import apply
from tierline.billing.providers import fake
from tierline.billing.result import IngestOutcome
from tierline.billing.subscriptions import lock_holder
from tierline.catalog.spec import Catalog, TierSpec

from ..clock import FrozenClock
from .inbox_helpers import deliver, fake_event

CATALOG = Catalog(tiers={"pro": TierSpec(key="pro", name="Pro", providers={"fake": ("pro",)})})


def test_a_moved_subscription_takes_its_access_from_the_account_it_left(
    make_tierline: Callable[..., Tierline], clock: FrozenClock
) -> None:
    tl, heard = synced(make_tierline, cache_ttl_seconds=300)
    start = clock()

    def send(event_type: str, account: str, seconds: int) -> None:
        payload = fake_event(
            event_type, account, start + timedelta(seconds=seconds), subscription_id="sub_move"
        )
        assert deliver(tl, "fake", payload).status_code == 200

    send(fake.SUBSCRIPTION_CREATED, "xena", 0)
    assert tl.status("xena").active  # and cached for 300 s
    send(fake.SUBSCRIPTION_UPDATED, "yuri", 60)
    assert tl.status("yuri").active
    assert not tl.status("xena").active
    send(fake.CHECKOUT_COMPLETED, "zoe", 120)
    assert tl.status("zoe").active
    assert not tl.status("yuri").active
    assert ("xena", True, False) in heard
    assert ("yuri", True, False) in heard


LOCK_WAITS = {
    "postgresql": "SELECT count(*) FROM pg_stat_activity "
    "WHERE wait_event_type = 'Lock' AND datname = current_database()",
    # A locking read of a unique key waits while the optimizer reads it as a constant: the
    # statement shows in the process list (state "Statistics") but not always as a LOCK WAIT
    # in INNODB_TRX, so look for the webhook's statement itself (not this one).
    "mariadb": "SELECT count(*) FROM information_schema.PROCESSLIST"
    " WHERE db = database() AND id <> connection_id() AND info LIKE '%%FOR UPDATE'",
}


Heard = list[tuple[str, bool, bool]]


def move_to_yuri(conn: Connection) -> None:
    """Move every subscription to yuri, as another delivery's transaction would."""
    conn.execute(
        text(
            "UPDATE tierline_subscription SET account_id = "
            "(SELECT id FROM tierline_account WHERE ref = 'yuri')"
        )
    )


def listen(tl: Tierline) -> Heard:
    """The access changes the Tierline's hooks hear: (ref, was active, is active)."""
    heard: Heard = []
    tl.on_access_change(lambda ref, old, new: heard.append((ref, old.active, new.active)))
    return heard


def synced(make_tierline: Callable[..., Tierline], **settings: object) -> tuple[Tierline, Heard]:
    """A Tierline on the catalog (synced), and what its access-change hooks hear."""
    tl = make_tierline(CATALOG, **settings)
    tl.sync_catalog()
    return tl, listen(tl)


def updated(account: str, at: datetime, subscription_id: str) -> dict[str, object]:
    return fake_event(fake.SUBSCRIPTION_UPDATED, account, at, subscription_id=subscription_id)


def deliver_while_uncommitted(
    tl: Tierline, dialect: str, write: Callable[[Connection], None], payload: dict[str, object]
) -> None:
    """Deliver ``payload`` on another thread while another transaction holds ``write``
    uncommitted; commit it once the delivery waits for its lock, then let the delivery end."""

    def send() -> None:
        assert deliver(tl, "fake", payload).status_code == 200

    other = tl.engine.connect()
    try:
        write(other)  # not committed yet
        webhook = threading.Thread(target=send)
        webhook.start()
        deadline = time.monotonic() + 10
        with tl.engine.connect() as watcher:
            while not watcher.execute(text(LOCK_WAITS[dialect])).scalar_one():
                # A new transaction per look: PostgreSQL keeps one statistics snapshot per
                # transaction.
                watcher.rollback()
                assert time.monotonic() < deadline, "the webhook never waited for the other"
                time.sleep(0.02)
        other.commit()
    finally:
        other.close()
    webhook.join(30)
    assert not webhook.is_alive()


@pytest.mark.parametrize("dialect", ["postgresql", "mariadb"], indirect=True)
def test_a_move_racing_another_reports_the_account_the_other_left_it_under(
    make_tierline: Callable[..., Tierline], clock: FrozenClock, dialect: str
) -> None:
    # Another transaction moves the subscription from xena to yuri and holds its commit while
    # a webhook moves it on to zoe: the webhook waits for it, and the account it reports as
    # left is yuri (the holder it found, locked), not xena (the holder before the race).
    tl, heard = synced(make_tierline)
    start = clock()
    assert deliver(tl, "fake", updated("xena", start, "sub_race")).status_code == 200
    tl.ensure_account("yuri")
    move = updated("zoe", start + timedelta(seconds=60), "sub_race")
    deliver_while_uncommitted(tl, dialect, move_to_yuri, move)
    assert tl.status("zoe").active
    assert ("yuri", True, False) in heard  # yuri had it (the other move), and lost it


def insert_first_row(conn: Connection, account: str, subscription_id: str, at: datetime) -> None:
    """The subscription's first row, as another delivery's transaction writes it (the catalog
    has one tier), left for the caller to commit."""
    tier_id = conn.execute(text("SELECT id FROM tierline_tier")).scalar()
    holder = conn.execute(
        text("SELECT id FROM tierline_account WHERE ref = :ref"), {"ref": account}
    ).scalar()
    conn.execute(
        text(
            "INSERT INTO tierline_subscription (account_id, provider, external_id, tier_id,"
            " status, cancel_at_period_end, quantity, provider_updated_at, provider_rank,"
            " created_at, updated_at) VALUES (:a, 'fake', :sub, :t, 'active',"
            " false, 1, :ts, 1, :ts, :ts)"
        ),
        {"a": holder, "sub": subscription_id, "t": tier_id, "ts": at.replace(tzinfo=None)},
    )


@pytest.mark.parametrize("dialect", ["postgresql", "mariadb"], indirect=True)
def test_a_move_racing_the_first_insert_reports_the_account_it_left(
    make_tierline: Callable[..., Tierline], clock: FrozenClock, dialect: str
) -> None:
    # Another delivery stores the subscription under yuri and holds its commit while a
    # webhook naming zoe arrives: the webhook waits on the unique key, then moves the row.
    tl, heard = synced(make_tierline)
    start = clock()
    tl.ensure_account("yuri")
    tl.ensure_account("zoe")
    deliver_while_uncommitted(
        tl,
        dialect,
        lambda conn: insert_first_row(conn, "yuri", "sub_race_insert", start),
        updated("zoe", start + timedelta(seconds=60), "sub_race_insert"),
    )
    assert tl.status("zoe").active
    assert not tl.status("yuri").active
    assert ("yuri", True, False) in heard  # yuri had it (committed first), and lost it


@pytest.mark.parametrize("way", ["checkout", "replay"])
@pytest.mark.parametrize("dialect", ["postgresql"], indirect=True)
def test_a_first_row_committed_between_the_holder_read_and_the_write_is_seen_on_a_retry(
    make_tierline: Callable[..., Tierline],
    clock: FrozenClock,
    dialect: str,
    way: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Statement by statement (a checkout; a stored event replayed), the holder is read, then
    # the row written. On PostgreSQL a row whose insert is not committed yet is invisible to
    # that read, which does not wait for it; if it commits before the write, the write moves
    # it, and the account it left is unknown until the event is tried again. (MariaDB's
    # locking read waits for the insert.)
    tl = make_tierline(CATALOG)
    heard = listen(tl)
    event_type = fake.CHECKOUT_COMPLETED if way == "checkout" else fake.SUBSCRIPTION_UPDATED
    payload = fake_event(
        event_type, "zoe", clock() + timedelta(seconds=60), subscription_id="sub_race_read"
    )
    replayed = None
    if way == "replay":
        # Stored before the catalog links its price (unmapped), replayed once it does.
        replayed = deliver(tl, "fake", payload)
        assert replayed.outcome is IngestOutcome.UNMAPPED
    tl.sync_catalog()
    tl.ensure_account("yuri")
    other = tl.engine.connect()
    insert_first_row(other, "yuri", "sub_race_read", clock())  # not committed yet

    def read_then_let_the_other_commit(conn: Connection, provider: str, sub: str) -> int | None:
        found = lock_holder(conn, provider, sub)
        if not other.closed:
            other.commit()
            other.close()
        return found

    monkeypatch.setattr(apply, "lock_holder", read_then_let_the_other_commit)
    if replayed is None:
        assert deliver(tl, "fake", payload).status_code == 200
    else:
        assert replayed.row_id is not None
        assert tl.inbox.replay(replayed.row_id).outcome is IngestOutcome.PROCESSED
    assert other.closed  # the race did happen
    assert tl.status("zoe").active
    assert not tl.status("yuri").active
    assert ("yuri", True, False) in heard


@pytest.mark.parametrize("dialect", ["postgresql", "mariadb"], indirect=True)
def test_a_snapshot_naming_no_account_stays_with_the_account_a_racing_move_gave_it(
    make_tierline: Callable[..., Tierline], clock: FrozenClock, dialect: str
) -> None:
    # A snapshot that names no account (the provider's customer was linked by a checkout)
    # belongs to the subscription's holder. Another transaction moves the subscription from
    # xena to yuri and holds its commit while such a snapshot (a cancellation) arrives: it
    # waits for the move, then cancels yuri's subscription, and must not move it back to xena.
    tl, heard = synced(make_tierline, cache_ttl_seconds=300)
    start = clock()
    created = fake_event(fake.SUBSCRIPTION_CREATED, "xena", start, subscription_id="sub_anon")
    assert deliver(tl, "fake", created).status_code == 200
    tl.ensure_account("yuri")
    assert not tl.status("yuri").active  # and cached for 300 s
    canceled = fake_event(
        fake.SUBSCRIPTION_CANCELED,
        "xena",
        start + timedelta(seconds=60),
        subscription_id="sub_anon",
    )
    del canceled["data"]["subscription"]["account_ref"]
    deliver_while_uncommitted(tl, dialect, move_to_yuri, canceled)
    with tl.engine.connect() as conn:
        holder = conn.execute(
            text(
                "SELECT a.ref FROM tierline_subscription s JOIN tierline_account a"
                " ON a.id = s.account_id WHERE s.external_id = 'sub_anon'"
            )
        ).scalar_one()
    assert holder == "yuri"
    assert not tl.status("yuri").active
    assert heard[1:] == [("yuri", True, False)]  # after xena's creation: yuri lost it
