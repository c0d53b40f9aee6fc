"""The in-process caches (status per account, tier definitions) and the admin token; a read
that races a write never caches what it fetched before the write."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import insert, select
from sqlalchemy.engine import URL

from tierline import AccessSource, DenialReason, Tierline
from tierline.access.cache import TTLCache
from tierline.access.service import AccessService
from tierline.access.tiers import REFRESH_SECONDS, TierCache
from tierline.accounts.service import get_account
from tierline.catalog.models import Feature, Tier, TierFeature
from tierline.credits.models import CreditGrant

from ..clock import FrozenClock
from ..usage.seed import CATALOG as USAGE_CATALOG
from ..usage.seed import add_tiers as add_usage_tiers
from .seed import add_subscription, add_tiers, tierline_on

TTL = 60.0


class Ticks:
    """A monotonic clock for the caches."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def ticks() -> Ticks:
    return Ticks()


@pytest.fixture
def cached(sqlite_url: URL, clock: FrozenClock, ticks: Ticks) -> Iterator[Tierline]:
    tl = tierline_on(sqlite_url, clock, cache_ttl_seconds=TTL)
    tl.ctx.cache = TTLCache(TTL, clock=ticks)
    tl.access = AccessService(tl.ctx, tl.catalog_spec)
    add_tiers(tl)
    tl.ensure_account("u")
    yield tl
    tl.close()


def grant_behind_its_back(tl: Tierline, ref: str, days: int) -> None:
    now = tl.ctx.clock()
    with tl.ctx.sessions.begin() as session:
        account_id = get_account(session, ref).id
        session.execute(
            insert(CreditGrant).values(
                account_id=account_id,
                starts_at=now,
                expires_at=now + timedelta(days=days),
                created_at=now,
            )
        )


def test_cached_status_is_served_until_a_write_through_tierline(cached: Tierline) -> None:
    assert cached.status("u").source is AccessSource.FREE
    grant_behind_its_back(cached, "u", 3)
    assert cached.status("u").source is AccessSource.FREE  # served from the cache
    cached.grant_credit("u", days=2)
    status = cached.status("u")
    assert status.source is AccessSource.CREDIT
    assert status.days_remaining == 5  # both grants: the one behind its back is read now
    cached.revoke_credit("u")
    assert cached.status("u").source is AccessSource.FREE
    assert cached.assign_exempt("u", "staff").source is AccessSource.EXEMPT
    assert cached.status("u").source is AccessSource.EXEMPT


def test_a_write_behind_its_back_is_seen_after_the_ttl(cached: Tierline, ticks: Ticks) -> None:
    assert cached.status("u").source is AccessSource.FREE
    grant_behind_its_back(cached, "u", 3)
    ticks.now += TTL - 1
    assert cached.status("u").source is AccessSource.FREE
    ticks.now += 2
    assert cached.status("u").source is AccessSource.CREDIT


def test_a_status_is_never_cached_past_its_own_expiry(
    cached: Tierline, clock: FrozenClock, ticks: Ticks
) -> None:
    now = clock()
    add_subscription(cached, "u", "pro", "trialing", trial_end=now + timedelta(seconds=30))
    assert cached.status("u").source is AccessSource.TRIAL
    clock.advance(seconds=31)
    ticks.now += 31
    status = cached.status("u")
    assert (status.active, status.reason) == (False, DenialReason.TRIAL_ENDED)


def test_tier_definitions_reload_on_clear_and_after_the_refresh_interval(
    sqlite_url: URL, clock: FrozenClock, ticks: Ticks
) -> None:
    tl = tierline_on(sqlite_url, clock)  # status cache off: only the tier cache is at work
    try:
        tl.access.tiers = TierCache(tl.engine, tl.catalog_spec, tl.ctx.cache, clock=ticks)
        add_tiers(tl)
        tl.ensure_account("u")
        assert tl.status("u").features == {"basic"}

        def add_free_feature(key: str) -> None:
            with tl.ctx.sessions.begin() as session:
                feature = Feature(key=key)
                session.add(feature)
                session.flush()
                free_id = session.scalars(select(Tier.id).where(Tier.key == "free")).one()
                session.add(TierFeature(tier_id=free_id, feature_id=feature.id))

        add_free_feature("beta")  # as a sync from another process would
        assert tl.status("u").features == {"basic"}
        tl.ctx.cache.clear()  # as a sync through this process does
        assert tl.status("u").features == {"basic", "beta"}
        add_free_feature("gamma")
        ticks.now += REFRESH_SECONDS + 1
        assert tl.status("u").features == {"basic", "beta", "gamma"}
    finally:
        tl.close()


@pytest.mark.parametrize(
    ("configured", "given", "ok"),
    [
        (None, "anything", False),
        (None, None, False),
        ("s3cret-token", "s3cret-token", True),
        ("s3cret-token", "s3cret-tokeN", False),
        ("s3cret-token", "", False),
        ("s3cret-token", None, False),
    ],
)
def test_admin_token(
    sqlite_url: URL, clock: FrozenClock, configured: str | None, given: str | None, ok: bool
) -> None:
    tl = tierline_on(sqlite_url, clock, admin_token=configured)
    try:
        assert tl.is_admin_token(given) is ok
    finally:
        tl.close()


class RacingFetch:
    """Wraps ``AccessQuery.read``: the first read of ``ref`` is followed, before the reader
    can store what it read, by ``write()`` (committed, its invalidation applied)."""

    def __init__(self, tl: Tierline, ref: str, write: Callable[[], None]) -> None:
        self.read = tl.access._query.read
        self.ref = ref
        self.write: Callable[[], None] | None = write

    def __call__(self, ref: str, *args: Any) -> tuple[Any, ...]:
        rows = self.read(ref, *args)
        if ref == self.ref and self.write is not None:
            write, self.write = self.write, None
            write()
        return rows


@pytest.mark.parametrize("read", ["status", "usage_check"])
def test_a_read_racing_a_write_does_not_cache_what_it_fetched_before_the_write(
    make_tierline: Callable[..., Tierline], monkeypatch: pytest.MonkeyPatch, read: str
) -> None:
    tl = make_tierline(USAGE_CATALOG, cache_ttl_seconds=300)
    add_usage_tiers(tl)
    tl.ensure_account("ann")
    race = RacingFetch(tl, "ann", lambda: tl.grant_credit("ann", days=3))
    monkeypatch.setattr(tl.access._query, "read", race)
    if read == "status":
        assert not tl.status("ann").active  # as of its fetch, before the credit
    else:
        assert tl.usage.check("ann", "quotes").allowed
    assert race.write is None  # the write did run between the fetch and the store
    assert tl.status("ann").active  # not the stale status, cached for the whole TTL


def test_a_token_taken_before_an_invalidation_or_a_clear_stores_nothing() -> None:
    cache: TTLCache[str] = TTLCache(TTL)
    token = cache.token()
    cache.invalidate("other")  # one epoch for the whole cache: conservative
    assert not cache.put("u", "stale", token=token) and cache.get("u") is None
    token = cache.token()
    cache.clear()
    assert not cache.put("u", "stale", token=token) and cache.get("u") is None
    assert cache.put("u", "fresh", token=cache.token()) and cache.get("u") == "fresh"
    assert cache.put("u", "current") and cache.get("u") == "current"  # no token: stored
