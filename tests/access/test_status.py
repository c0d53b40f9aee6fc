"""Precedence, grace, credits, exempt assignment and tier features on every dialect."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import timedelta

import pytest
from sqlalchemy import Engine, func, select, text
from sqlalchemy.engine import URL

from tierline import AccessSource, DenialReason, Tierline, TierlineSettings, db
from tierline.access.describe import describe_status
from tierline.accounts.models import Account
from tierline.errors import NotFoundError, ValidationError

from ..clock import FrozenClock
from ..usage.seed import CATALOG as USAGE_CATALOG
from ..usage.seed import add_tiers as add_usage_tiers
from .seed import CATALOG, FEATURES, add_subscription, add_tiers

MakeTierline = Callable[..., Tierline]


@pytest.fixture
def tl(make_tierline: MakeTierline) -> Tierline:
    tierline = make_tierline(catalog=CATALOG, past_due_grace_days=3)
    add_tiers(tierline)
    return tierline


def test_best_source_wins_then_highest_tier(tl: Tierline, clock: FrozenClock) -> None:
    now = clock()
    # A trial on the higher tier loses to a paid subscription on the lower one.
    add_subscription(tl, "a", "team", "trialing", trial_end=now + timedelta(days=7))
    add_subscription(tl, "a", "pro", "active", period_end=now + timedelta(days=20))
    status = tl.status("a")
    assert (status.source, status.tier) == (AccessSource.SUBSCRIPTION, "pro")
    assert status.features == FEATURES["pro"]
    assert status.days_remaining == 20
    # Two paid subscriptions: the higher tier wins, with its seats and limits.
    add_subscription(tl, "a", "team", "active", period_end=now + timedelta(days=3), quantity=2)
    status = tl.status("a")
    assert (status.tier, status.seats) == ("team", 10)
    limit = tl.limit("a", "api")
    assert limit is not None and (limit.limit, limit.period) == (10000, "month")
    assert tl.has_feature("a", "sso") and not tl.has_feature("a", "admin")
    # The exempt assignment beats everything and has no expiry.
    status = tl.assign_exempt("a", "staff")
    assert (status.source, status.tier, status.expires_at) == (AccessSource.EXEMPT, "staff", None)
    assert status.features == FEATURES["staff"]


def test_grace_runs_from_when_payment_failed_not_from_the_period_end(
    tl: Tierline, clock: FrozenClock
) -> None:
    now = clock()
    # The renewal moved the period 30 days forward before the payment failed 2 days ago.
    add_subscription(
        tl,
        "late",
        "pro",
        "past_due",
        period_end=now + timedelta(days=28),
        past_due_since=now - timedelta(days=2),
    )
    status = tl.status("late")
    assert (status.active, status.source) == (True, AccessSource.GRACE)
    assert status.expires_at == now + timedelta(days=1)
    assert status.days_remaining == 1
    assert status.features == FEATURES["pro"]
    clock.advance(days=1, seconds=1)
    status = tl.status("late")
    assert (status.active, status.reason, status.tier) == (False, DenialReason.PAST_DUE, "free")
    assert status.features == FEATURES["free"]
    assert describe_status(status) == "free · no paid access: payment past due"


def test_grace_without_a_past_due_start_counts_from_the_provider_update(
    tl: Tierline, clock: FrozenClock
) -> None:
    now = clock()
    add_subscription(tl, "p", "pro", "past_due", provider_updated_at=now - timedelta(hours=1))
    assert tl.status("p").expires_at == now + timedelta(days=3, hours=-1)


def test_cancelling_subscription_lasts_until_its_period_end(
    tl: Tierline, clock: FrozenClock
) -> None:
    now = clock()
    add_subscription(tl, "c", "pro", "active", period_end=now + timedelta(hours=30), cancel=True)
    status = tl.status("c")
    assert (status.source, status.days_remaining) == (AccessSource.SUBSCRIPTION, 2)
    assert describe_status(status) == (
        f"pro · subscription · 2 day(s) remaining (period ends {status.expires_at:%Y-%m-%d})"
    )
    clock.advance(hours=30)
    status = tl.status("c")
    assert (status.active, status.reason) == (False, DenialReason.CANCELED)


def test_credit_gives_the_credit_tier_under_the_free_badge(
    tl: Tierline, clock: FrozenClock
) -> None:
    now = clock()
    tl.ensure_account("cr")
    tl.grant_credit("cr", days=10)
    tl.grant_credit("cr", days=5)  # starts when the first ends: one contiguous window
    status = tl.status("cr")
    assert (status.active, status.source, status.tier) == (True, AccessSource.CREDIT, "free")
    assert status.features == FEATURES["pro"]
    assert status.expires_at == now + timedelta(days=15)
    assert describe_status(status) == (
        f"free · credit · 15 day(s) remaining (expires {status.expires_at:%Y-%m-%d})"
    )
    # A past-due subscription in grace outranks the credit.
    add_subscription(tl, "cr", "team", "past_due", period_end=now)
    assert tl.status("cr").source is AccessSource.GRACE
    clock.advance(days=16)
    status = tl.status("cr")
    # Grace over and credit run out: the subscription's state is the more telling reason.
    assert (status.active, status.reason) == (False, DenialReason.PAST_DUE)


def test_retired_tier_still_serves_its_subscribers(tl: Tierline, clock: FrozenClock) -> None:
    add_subscription(tl, "old", "legacy", "active", period_end=clock() + timedelta(days=5))
    status = tl.status("old")
    assert (status.active, status.tier) == (True, "legacy")
    assert status.features == FEATURES["legacy"]


def test_unknown_account_is_free_and_not_created(tl: Tierline) -> None:
    status = tl.status("nobody")
    assert (status.active, status.source, status.reason) == (
        False,
        AccessSource.FREE,
        DenialReason.NO_SUBSCRIPTION,
    )
    assert (status.tier, status.features, status.days_remaining) == ("free", FEATURES["free"], None)
    with tl.ctx.sessions() as session:
        assert session.scalar(select(func.count(Account.id))) == 0


def test_assign_exempt_rejects_bad_input_and_changes_nothing(tl: Tierline) -> None:
    tl.ensure_account("s")
    with pytest.raises(NotFoundError, match="'ghost'"):
        tl.assign_exempt("ghost", "staff")
    with pytest.raises(
        ValidationError, match="'pro' is not an exempt tier; exempt tiers: free, staff"
    ):
        tl.assign_exempt("s", "pro")
    with pytest.raises(ValidationError, match="'nope' does not exist"):
        tl.assign_exempt("s", "nope")
    assert tl.status("s").source is AccessSource.FREE
    # Assigning again moves the one exempt row to the new tier.
    tl.assign_exempt("s", "staff")
    assert tl.assign_exempt("s", "free").tier == "free"


def test_status_survives_the_server_dropping_its_connections(tl: Tierline) -> None:
    tl.ensure_account("d")
    assert tl.status("d").source is AccessSource.FREE  # the read pool now holds a connection
    dialect = tl.engine.dialect.name
    killed = 0
    with tl.engine.connect() as conn:
        if dialect == "postgresql":
            killed = len(
                conn.execute(
                    text(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                        "WHERE datname = current_database() AND pid <> pg_backend_pid()"
                    )
                ).all()
            )
        elif dialect != "sqlite":
            ids = conn.execute(
                text(
                    "SELECT id FROM information_schema.processlist "
                    "WHERE db = DATABASE() AND id <> CONNECTION_ID()"
                )
            ).scalars()
            for pid in list(ids):
                conn.execute(text(f"KILL {int(pid)}"))
                killed += 1
    assert killed >= (0 if dialect == "sqlite" else 1)
    tl.grant_credit("d", days=1)
    assert tl.status("d").source is AccessSource.CREDIT


def _sessions_elsewhere(engine: Engine) -> int:
    """Connections to this test database other than the one asking (0 on SQLite), once the
    server has let go of those just closed (it drops them a moment after)."""
    dialect = engine.dialect.name
    if dialect == "sqlite":
        return 0
    sql = (
        "SELECT count(*) FROM pg_stat_activity "
        "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        if dialect == "postgresql"
        else "SELECT count(*) FROM information_schema.processlist "
        "WHERE db = DATABASE() AND id <> CONNECTION_ID()"
    )
    deadline = time.monotonic() + 5
    while True:
        with engine.connect() as conn:
            count = int(conn.execute(text(sql)).scalar_one())
        if count == 0 or time.monotonic() > deadline:
            return count
        time.sleep(0.05)


def test_reads_go_with_the_host_engine_dispose_and_with_close(db_url: URL) -> None:
    # The host owns the engine: disposing it drops status()'s kept connections too, at the
    # next read, and status() goes on; Tierline.close() releases them at once.
    engine = db.make_engine(db_url)
    try:
        url = db_url.render_as_string(hide_password=False)
        tl = Tierline(settings=TierlineSettings(database_url=url), engine=engine)
        tl.ensure_account("e")
        assert tl.status("e").source is AccessSource.FREE
        engine.dispose()
        tl.grant_credit("e", days=1)
        assert tl.status("e").source is AccessSource.CREDIT
        tl.close()
        assert _sessions_elsewhere(engine) == 0
    finally:
        engine.dispose()


def test_closed_tierlines_leave_no_connection_open(db_url: URL) -> None:
    # Every pool a Tierline opens (the main one, status()'s reads, the usage counters) is
    # released by close(), however many Tierline objects come and go.
    url = db_url.render_as_string(hide_password=False)
    for index in range(3):
        tl = Tierline(settings=TierlineSettings(database_url=url), catalog=USAGE_CATALOG)
        if index == 0:
            add_usage_tiers(tl)
        tl.ensure_account("u")
        tl.status("u")
        tl.usage.track("u", "quotes")
        tl.close()
    engine = db.make_engine(db_url)
    try:
        assert _sessions_elsewhere(engine) == 0
    finally:
        engine.dispose()
