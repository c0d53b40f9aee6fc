"""check / track / release on every dialect, with the test clock moving across periods."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from tierline import Tierline
from tierline.errors import NotFoundError, ValidationError
from tierline.usage.decision import UsageReason
from tierline.usage.models import UsageCounter, UsageKey
from tierline.usage.periods import LIFETIME_START

from ..access.seed import add_subscription
from ..clock import FrozenClock
from .seed import CATALOG, add_tiers

MakeTierline = Callable[..., Tierline]


@pytest.fixture
def tl(make_tierline: MakeTierline) -> Tierline:
    tl = make_tierline(CATALOG)
    add_tiers(tl)
    return tl


def counters(tl: Tierline) -> list[tuple[str, datetime, int]]:
    with tl.ctx.sessions() as session:
        rows = session.execute(
            select(UsageCounter.feature, UsageCounter.period_start, UsageCounter.used).order_by(
                UsageCounter.id
            )
        ).all()
    return [(feature, start, used) for feature, start, used in rows]


def track_until_refused(tl: Tierline, ref: str, feature: str) -> int:
    counted = 0
    while tl.usage.track(ref, feature).allowed:
        counted += 1
    return counted


def test_a_day_limit_refuses_past_it_and_resets_with_a_new_period_row(
    tl: Tierline, clock: FrozenClock
) -> None:
    assert track_until_refused(tl, "acct", "quotes") == 3
    refused = tl.usage.track("acct", "quotes")
    assert not refused.allowed
    assert refused.reason is UsageReason.QUOTA_EXCEEDED
    assert (refused.used, refused.limit, refused.remaining) == (3, 3, 0)
    assert refused.resets_at == datetime(2026, 6, 2, tzinfo=UTC)

    clock.set(datetime(2026, 6, 2, tzinfo=UTC))
    decision = tl.usage.track("acct", "quotes")
    assert decision.allowed and decision.used == 1
    assert [start.day for _, start, _ in counters(tl)] == [1, 2]


def test_a_month_limit_resets_at_the_month_end(tl: Tierline, clock: FrozenClock) -> None:
    clock.set(datetime(2026, 1, 31, 23, 59, 59, tzinfo=UTC))
    add_subscription(tl, "acct", "pro", "active", period_end=datetime(2026, 2, 14, tzinfo=UTC))
    assert tl.usage.track("acct", "quotes", 100).used == 100
    assert not tl.usage.track("acct", "quotes").allowed
    clock.set(datetime(2026, 2, 1, tzinfo=UTC))
    assert tl.usage.track("acct", "quotes").used == 1


def test_leap_day_has_its_own_day_period(tl: Tierline, clock: FrozenClock) -> None:
    clock.set(datetime(2028, 2, 28, 23, tzinfo=UTC))
    assert track_until_refused(tl, "acct", "quotes") == 3
    clock.set(datetime(2028, 2, 29, 0, 0, tzinfo=UTC))
    assert track_until_refused(tl, "acct", "quotes") == 3
    assert tl.usage.check("acct", "quotes").resets_at == datetime(2028, 3, 1, tzinfo=UTC)
    clock.set(datetime(2028, 3, 1, tzinfo=UTC))
    assert tl.usage.check("acct", "quotes").used == 0


def test_days_follow_the_configured_time_zone(
    make_tierline: MakeTierline, clock: FrozenClock
) -> None:
    tl = make_tierline(CATALOG, usage_timezone="Asia/Tokyo")
    add_tiers(tl)
    clock.set(datetime(2026, 6, 1, 14, 59, tzinfo=UTC))  # 23:59 in Tokyo
    assert track_until_refused(tl, "acct", "quotes") == 3
    assert tl.usage.check("acct", "quotes").resets_at == datetime(2026, 6, 1, 15, tzinfo=UTC)
    clock.set(datetime(2026, 6, 1, 15, tzinfo=UTC))  # midnight in Tokyo
    assert tl.usage.track("acct", "quotes").allowed


def test_anniversary_months_align_to_the_subscription_period(
    make_tierline: MakeTierline, clock: FrozenClock
) -> None:
    tl = make_tierline(CATALOG, usage_alignment="anniversary")
    add_tiers(tl)
    add_subscription(tl, "acct", "pro", "active", period_end=datetime(2026, 6, 15, 10, tzinfo=UTC))
    decision = tl.usage.track("acct", "quotes", 100)
    assert decision.period_start == datetime(2026, 5, 15, 10, tzinfo=UTC)
    assert decision.resets_at == datetime(2026, 6, 15, 10, tzinfo=UTC)
    assert not tl.usage.track("acct", "quotes").allowed
    # Without a subscription the months are calendar months.
    assert tl.usage.check("free-acct", "quotes").period == "day"


def test_an_idempotency_key_counts_a_retried_track_once(tl: Tierline) -> None:
    first = tl.usage.track("acct", "quotes", idempotency_key="req-1")
    again = tl.usage.track("acct", "quotes", idempotency_key="req-1")
    assert (first.used, first.duplicate) == (1, False)
    assert (again.allowed, again.used, again.duplicate) == (True, 1, True)
    assert tl.usage.track("acct", "quotes", 2, idempotency_key="req-2").used == 3
    # At the limit, a retry of a counted request is still its success, not a refusal.
    assert tl.usage.track("acct", "quotes", idempotency_key="req-2").allowed
    assert not tl.usage.track("acct", "quotes", idempotency_key="req-3").allowed
    with tl.ctx.sessions() as session:
        assert session.scalar(select(func.count()).select_from(UsageKey)) == 2


def test_release_gives_a_reservation_back_once(tl: Tierline) -> None:
    tl.usage.track("acct", "quotes", 2, idempotency_key="job-7")
    assert tl.usage.release("acct", "quotes", idempotency_key="job-7").used == 0
    assert tl.usage.release("acct", "quotes", idempotency_key="job-7").used == 0
    # The released key still answers its retry as a duplicate: it never counts twice.
    assert tl.usage.track("acct", "quotes", idempotency_key="job-7").duplicate
    tl.usage.track("acct", "quotes")
    assert tl.usage.release("acct", "quotes", 5).used == 0  # never below 0
    with pytest.raises(NotFoundError, match="nope"):
        tl.usage.release("acct", "quotes", idempotency_key="nope")
    tl.usage.track("acct", "quotes", idempotency_key="job-8")
    with pytest.raises(ValidationError, match="differs"):
        tl.usage.release("acct", "quotes", 3, idempotency_key="job-8")


def test_an_unlimited_feature_still_counts(tl: Tierline) -> None:
    add_subscription(tl, "acct", "pro", "active", period_end=datetime(2026, 6, 15, tzinfo=UTC))
    decision = tl.usage.track("acct", "api", 5)
    assert (decision.allowed, decision.used, decision.limit, decision.remaining) == (
        True,
        5,
        None,
        None,
    )
    assert tl.usage.track("acct", "api", 1000).used == 1005


def test_a_feature_not_granted_is_refused_and_counts_nothing(tl: Tierline) -> None:
    decision = tl.usage.track("acct", "api")
    assert not decision.allowed
    assert decision.reason is UsageReason.FEATURE_NOT_IN_TIER
    assert counters(tl) == []
    assert tl.usage.check("acct", "api").reason is UsageReason.FEATURE_NOT_IN_TIER


def test_a_lifetime_limit_never_resets(tl: Tierline, clock: FrozenClock) -> None:
    add_subscription(tl, "acct", "pro", "active")
    assert track_until_refused(tl, "acct", "exports") == 5
    clock.advance(days=400)
    decision = tl.usage.check("acct", "exports")
    assert (decision.allowed, decision.used, decision.resets_at) == (False, 5, None)
    assert decision.period_start == LIFETIME_START


def test_a_lifetime_limit_no_tier_has_is_counted_too(tl: Tierline, clock: FrozenClock) -> None:
    # No tier limits quotes for a lifetime: the override's lifetime counter is read apart.
    tl.ensure_account("acct")
    tl.overrides.set("acct", "quotes", limit=4, period="none", reason="trial of a pack")
    assert track_until_refused(tl, "acct", "quotes") == 4
    clock.advance(days=40)
    decision = tl.usage.check("acct", "quotes")
    assert (decision.allowed, decision.used, decision.limit) == (False, 4, 4)
    assert decision.period_start == LIFETIME_START
    tl.overrides.clear("acct", "quotes")  # back to the tier's 3 a day, from a new day row
    assert (tl.usage.check("acct", "quotes").used, tl.usage.check("acct", "quotes").limit) == (
        0,
        3,
    )


def test_check_sees_counts_made_elsewhere_and_the_next_period(
    tl: Tierline, make_tierline: MakeTierline, clock: FrozenClock
) -> None:
    other = make_tierline(CATALOG)  # another process's Tierline on the same database
    tl.ensure_account("acct")
    assert tl.usage.check("acct", "quotes").used == 0
    assert tl.usage.check("acct", "quotes").used == 0  # the same rows: the same decision
    other.usage.track("acct", "quotes", 2)
    decision = tl.usage.check("acct", "quotes")
    assert (decision.used, decision.remaining, decision.allowed) == (2, 1, True)
    other.usage.track("acct", "quotes")
    assert not tl.usage.check("acct", "quotes").allowed
    clock.advance(days=1)  # a new day: a new period, counted from zero
    assert (tl.usage.check("acct", "quotes").used, tl.usage.check("acct", "quotes").allowed) == (
        0,
        True,
    )


def test_check_counts_nothing_and_weighs_the_amount(tl: Tierline) -> None:
    tl.usage.track("acct", "quotes", 2)
    assert tl.usage.check("acct", "quotes").allowed
    assert not tl.usage.check("acct", "quotes", 2).allowed
    assert tl.usage.check("acct", "quotes").used == 2
    assert tl.usage.check("never-seen", "quotes").used == 0


def test_an_amount_over_the_limit_is_refused_whole(tl: Tierline) -> None:
    tl.usage.track("acct", "quotes", 2)
    assert not tl.usage.track("acct", "quotes", 2).allowed
    assert tl.usage.check("acct", "quotes").used == 2


@pytest.mark.parametrize("amount", [0, -1, True, 1.5, "1", 10**7])
def test_a_bad_amount_is_refused_and_changes_nothing(tl: Tierline, amount: object) -> None:
    with pytest.raises(ValidationError, match="amount"):
        tl.usage.track("acct", "quotes", amount)  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="amount"):
        tl.usage.check("acct", "quotes", amount)  # type: ignore[arg-type]
    assert counters(tl) == []


def test_an_unknown_feature_is_a_clear_error(tl: Tierline) -> None:
    with pytest.raises(ValidationError, match=r"'quotez' is not in the catalog.*quotes"):
        tl.usage.track("acct", "quotez")
    with pytest.raises(ValidationError, match="quotez"):
        tl.usage.check("acct", "quotez")
    with pytest.raises(ValidationError, match="idempotency key"):
        tl.usage.track("acct", "quotes", idempotency_key="")
    assert counters(tl) == []


def test_summary_reports_every_limited_feature(tl: Tierline) -> None:
    add_subscription(tl, "acct", "pro", "active", period_end=datetime(2026, 6, 15, tzinfo=UTC))
    tl.usage.track("acct", "quotes", 7)
    summary = {d.feature: d for d in tl.usage.summary("acct")}
    assert set(summary) == {"quotes", "exports"}
    assert (summary["quotes"].used, summary["quotes"].limit) == (7, 100)
    assert summary["exports"].used == 0
    assert summary["quotes"].resets_at == datetime(2026, 7, 1, tzinfo=UTC)


def test_a_credit_counts_against_the_credit_tier_limit(tl: Tierline) -> None:
    tl.ensure_account("acct")
    tl.grant_credit("acct", days=3)
    status = tl.status("acct")
    assert status.limit_sources["quotes"] == "credit_tier"
    assert tl.usage.track("acct", "quotes", 100).allowed
    assert not tl.usage.track("acct", "quotes").allowed


def test_the_period_row_is_never_moved_back_by_a_clock_change(
    tl: Tierline, clock: FrozenClock
) -> None:
    tl.usage.track("acct", "quotes")
    clock.advance(days=1)
    tl.usage.track("acct", "quotes")
    clock.set(clock.now - timedelta(days=1))
    assert tl.usage.check("acct", "quotes").used == 1


def test_the_one_statement_path_finds_the_rows_the_orm_wrote(tl: Tierline) -> None:
    # The hot path compares period_start with its own parameters: it must match every row
    # the transactional path creates, else every track would fall back to the slow path.
    tl.usage.track("acct", "quotes")
    start = tl.usage.check("acct", "quotes").period_start
    assert start is not None
    fast = tl.usage._fast
    assert fast.used("acct", "quotes", start) == 1
    assert fast.add("acct", "quotes", start, 1, 3, tl.ctx.clock()) == 2
    assert fast.add("acct", "quotes", start, 2, 3, tl.ctx.clock()) is None
    assert fast.used("acct", "quotes", LIFETIME_START) is None


def test_asynchronous_commit_is_opt_in_and_counts_the_same(
    make_tierline: MakeTierline, dialect: str
) -> None:
    tl = make_tierline(CATALOG, usage_synchronous_commit=False)
    add_tiers(tl)
    assert track_until_refused(tl, "acct", "quotes") == 3
    if dialect == "postgresql":
        raw = tl.usage._fast._writer.raw_connection()  # the pool under test
        try:
            cursor = raw.cursor()
            cursor.execute("SHOW synchronous_commit")
            assert cursor.fetchone()[0] == "off"
        finally:
            raw.close()


def test_a_feature_added_by_a_catalog_sync_is_known_at_once(tl: Tierline) -> None:
    from tierline.catalog.spec import Catalog, TierSpec

    tl.usage.check("acct", "quotes")  # the feature keys are loaded
    catalog = Catalog(
        features={"reports": None},
        tiers={"free": TierSpec(key="free", name="Free", exempt=True, features=("reports",))},
        free_tier="free",
    )
    tl.sync_catalog(catalog)
    assert tl.usage.track("acct", "reports").allowed


@pytest.mark.parametrize("key", ["a\x00b", "\ud800", "k\udc80", "k\x01", "tab\tkey"])
def test_an_idempotency_key_with_a_control_character_or_a_lone_surrogate_is_refused(
    tl: Tierline, key: str
) -> None:
    with pytest.raises(ValidationError, match="idempotency key"):
        tl.usage.track("acct", "quotes", idempotency_key=key)
    with pytest.raises(ValidationError, match="idempotency key"):
        tl.usage.release("acct", "quotes", idempotency_key=key)
    assert counters(tl) == []
