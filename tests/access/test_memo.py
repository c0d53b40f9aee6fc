"""What ``status()`` derives from an account's rows is remembered by the rows: it must never
differ from what the rows give afresh, whatever time it is, whatever the catalog says now, and
whatever overrides apply."""

from __future__ import annotations

import dataclasses
import json
import pickle
import sys
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from tierline import AccessSource, DenialReason, Tierline
from tierline.access.memo import Memo
from tierline.access.query import AccountRows
from tierline.access.rules import EXEMPT_PROVIDER, GrantFacts, SubscriptionFacts, decide
from tierline.access.service import build_status, status_interval
from tierline.access.status import AccessStatus, LimitInfo
from tierline.access.tiers import TierData, TierSnapshot
from tierline.catalog.models import Feature, Tier, TierFeature

from ..clock import FrozenClock
from .seed import CATALOG, FEATURES, add_subscription, add_tiers

MakeTierline = Callable[..., Tierline]
NOW = datetime(2026, 6, 1, 12, tzinfo=UTC)
GRACE = timedelta(days=3)

_TIERS = {
    1: TierData(1, "free", 1, 0, True, False, frozenset({"basic"})),
    2: TierData(2, "pro", 1, 10, False, False, frozenset({"basic", "api"}),
                {"api": LimitInfo("api", 100, "month")}),
    3: TierData(3, "staff", 1, 100, True, False, frozenset({"admin"})),
}  # fmt: skip
SNAPSHOT = TierSnapshot(
    by_id=_TIERS,
    facts={tier_id: tier.facts for tier_id, tier in _TIERS.items()},
    free=_TIERS[1],
    credit=_TIERS[2],
)

# Instants within 40 days of NOW, to the microsecond (edges included by the shrinker).
offsets = st.integers(min_value=-40 * 86_400_000_000, max_value=40 * 86_400_000_000)
moments = offsets.map(lambda us: NOW + timedelta(microseconds=us))
maybe_moments = st.none() | moments
subscriptions = st.builds(
    SubscriptionFacts,
    provider=st.sampled_from(["stripe", "paddle", EXEMPT_PROVIDER]),
    status=st.sampled_from(
        ["active", "trialing", "past_due", "canceled", "unpaid", "paused", "incomplete"]
    ),
    tier_id=st.sampled_from([None, 1, 2, 3, 99]),
    current_period_end=maybe_moments,
    cancel_at_period_end=st.booleans(),
    trial_end=maybe_moments,
    changed_at=maybe_moments,
    quantity=st.integers(min_value=1, max_value=5),
    cancel_at=maybe_moments,
    past_due_since=maybe_moments,
)
grants = st.tuples(moments, st.integers(min_value=1, max_value=20 * 86_400_000_000)).map(
    lambda pair: GrantFacts(pair[0], pair[0] + timedelta(microseconds=pair[1]))
)


def status_at(rows: AccountRows, now: datetime):  # type: ignore[no-untyped-def]
    decision = decide(rows.subscriptions, rows.grants, SNAPSHOT.facts, now, GRACE)
    return build_status("acct", decision, SNAPSHOT, now)


@settings(max_examples=400, deadline=None)
@given(
    subs=st.lists(subscriptions, max_size=3),
    credit=st.lists(grants, max_size=3),
    now=moments,
    where=st.floats(min_value=0, max_value=1),
)
def test_the_status_holds_over_its_whole_interval(
    subs: list[SubscriptionFacts], credit: list[GrantFacts], now: datetime, where: float
) -> None:
    rows = AccountRows(True, subs, credit)
    status = status_at(rows, now)
    start, end = status_interval(rows, GRACE, status, now)
    assert start <= now < end
    # Its first instant, its last one, and one in between all give the same status.
    last = min(end - timedelta(microseconds=1), NOW + timedelta(days=400))
    first = max(start, NOW - timedelta(days=400))
    between = first + (last - first) * where
    for moment in (first, between, last):
        assert status_at(rows, moment) == status, moment
    # The next interval starts where this one ends: no instant is left to no interval.
    if end.year < 9999:
        assert status_interval(rows, GRACE, status_at(rows, end), end)[0] == end


@pytest.mark.parametrize("locked", [False, True])
def test_the_memo_keeps_at_most_its_size_and_drops_the_oldest(locked: bool) -> None:
    memo: Memo[str, int] = Memo(size=2, locked=locked)
    memo.put("a", 1)
    memo.put("b", 2)
    memo.put("a", 10)  # replacing a key drops nothing
    assert (memo.get("a"), memo.get("b")) == (10, 2)
    memo.put("c", 3)
    assert (memo.get("a"), memo.get("b"), memo.get("c")) == (None, 2, 3)


@pytest.mark.parametrize("locked", [False, True])
def test_the_memo_stays_whole_and_bounded_under_threads_storing_and_clearing(
    locked: bool,
) -> None:
    # Stores, evictions and clears racing on several threads must neither raise nor leave more
    # than the size: without a lock (under the GIL) and with one (a free-threaded Python).
    memo: Memo[tuple[int, int], int] = Memo(size=16, locked=locked)
    errors: list[BaseException] = []
    start = threading.Barrier(5)

    def store(worker: int) -> None:
        try:
            start.wait()
            for i in range(20_000):
                memo.put((worker, i), i)
                assert memo.get((worker, i)) in (i, None)  # None: dropped or cleared since
        except BaseException as exc:  # reported below
            errors.append(exc)

    def clear() -> None:
        try:
            start.wait()
            for _ in range(2_000):
                memo.clear()
        except BaseException as exc:  # reported below
            errors.append(exc)

    previous = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads as often as the interpreter can
    try:
        threads = [threading.Thread(target=store, args=(n,)) for n in range(4)]
        threads.append(threading.Thread(target=clear))
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        sys.setswitchinterval(previous)
    assert errors == []
    memo.put((9, 9), 9)
    assert len(memo._entries) <= 16


@pytest.fixture
def tl(make_tierline: MakeTierline) -> Tierline:
    tierline = make_tierline(catalog=CATALOG, past_due_grace_days=3)
    add_tiers(tierline)
    return tierline


def test_the_same_rows_give_the_status_of_the_moment_not_of_the_last_read(
    tl: Tierline, clock: FrozenClock
) -> None:
    now = clock()
    end = now + timedelta(days=3)
    add_subscription(tl, "m", "pro", "active", period_end=end, cancel=True)
    add_subscription(tl, "t", "team", "trialing", trial_end=now + timedelta(hours=5))
    assert tl.status("m").days_remaining == 3
    clock.advance(days=1)  # exactly two days left
    assert tl.status("m").days_remaining == 2
    clock.advance(microseconds=1)
    assert tl.status("m").days_remaining == 2
    clock.set(end - timedelta(microseconds=1))
    status = tl.status("m")
    assert (status.active, status.days_remaining) == (True, 1)
    clock.set(end)  # every end is exclusive
    status = tl.status("m")
    assert (status.active, status.reason, status.days_remaining) == (
        False,
        DenialReason.CANCELED,
        None,
    )
    # A clock moved back (as a test's may be) is served the earlier status again.
    clock.set(now)
    assert (tl.status("m").active, tl.status("m").days_remaining) == (True, 3)
    assert tl.status("t").source is AccessSource.TRIAL
    clock.set(now + timedelta(hours=5))
    assert (tl.status("t").active, tl.status("t").reason) == (False, DenialReason.TRIAL_ENDED)


def test_a_catalog_change_and_an_override_apply_to_rows_read_before(
    tl: Tierline, clock: FrozenClock
) -> None:
    add_subscription(tl, "c", "pro", "active", period_end=clock() + timedelta(days=9))
    assert tl.status("c").features == FEATURES["pro"]
    with tl.ctx.sessions.begin() as session:  # the tier gains a feature, as a sync would do
        pro = session.scalars(select(Tier.id).where(Tier.key == "pro")).one()
        feature = Feature(key="beta")
        session.add(feature)
        session.flush()
        session.add(TierFeature(tier_id=pro, feature_id=feature.id, period="none"))
    tl.ctx.cache.clear()  # what a catalog sync through Tierline does
    assert tl.status("c").features == FEATURES["pro"] | {"beta"}
    tl.overrides.set("c", "export", enabled=False, reason="abuse")
    assert "export" not in tl.status("c").features
    tl.overrides.clear("c", "export")
    assert "export" in tl.status("c").features


def test_a_caller_cannot_change_the_status_another_caller_is_handed(
    tl: Tierline, clock: FrozenClock
) -> None:
    add_subscription(tl, "r", "pro", "active", period_end=clock() + timedelta(days=9))
    handed = tl.status("r")
    for change in (
        lambda: handed.limits.pop("api"),
        lambda: handed.limits.update({"api": None}),
        lambda: handed.limits.__setitem__("api", None),
        lambda: handed.feature_sources.clear(),
        lambda: handed.limit_sources.setdefault("x", "override"),
    ):
        with pytest.raises(TypeError, match="read-only"):
            change()
    again = tl.status("r")
    assert again.limits["api"].limit == 1000 and again.feature_sources["api"] == "tier"
    # A copy is the caller's own to change; the status pickles and serialises as before.
    mine = dict(again.limits)
    mine.pop("api")
    assert "api" in tl.status("r").limits
    assert pickle.loads(pickle.dumps(again)) == again  # noqa: S301 - our own bytes
    assert json.loads(json.dumps(again.to_dict()))["limits"]["api"]["limit"] == 1000


def test_a_status_made_from_plain_dicts_holds_read_only_ones() -> None:
    api = LimitInfo("api", 10, "month")
    made = AccessStatus("r", True, AccessSource.SUBSCRIPTION, "pro", limits={"api": api})
    assert made.limits == {"api": api} and made.feature_sources == {} and made.seats == 1
    changed = dataclasses.replace(made, feature_sources={"api": "override"}, seats=3)
    assert changed.feature_sources == {"api": "override"} and changed.limits == made.limits
    for status in (made, changed):
        for mapping in (status.limits, status.feature_sources, status.limit_sources):
            with pytest.raises(TypeError, match="read-only"):
                mapping.clear()
    with pytest.raises(dataclasses.FrozenInstanceError):
        made.seats = 2  # type: ignore[misc]
