"""Exactness under concurrency: threads (and processes on the servers) tracking or assigning
until refused count exactly the limit, on every dialect."""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

from sqlalchemy import func, select
from sqlalchemy.engine import URL

from tierline import Tierline
from tierline.errors import SeatsExhaustedError
from tierline.seats.models import Seat
from tierline.usage.models import UsageCounter

from ..access.seed import add_subscription
from .seed import CATALOG, add_tiers
from .workers import assign_until_refused, track_until_refused

MakeTierline = Callable[..., Tierline]
THREADS = 8
PROCESSES = 4


def stored_use(tl: Tierline) -> int:
    with tl.ctx.sessions() as session:
        return int(session.scalar(select(func.sum(UsageCounter.used))) or 0)


def test_eight_threads_count_exactly_the_limit(make_tierline: MakeTierline) -> None:
    tl = make_tierline(CATALOG)
    add_tiers(tl)
    tl.ensure_account("hot")
    tl.overrides.set("hot", "beta", limit=1000, period="none", reason="exactness test")

    def worker(_: int) -> tuple[int, int]:
        counted = refused = 0
        while True:
            decision = tl.usage.track("hot", "beta")
            if not decision.allowed:
                refused += 1
                assert decision.used == 1000
                return counted, refused
            counted += 1

    with ThreadPoolExecutor(THREADS) as pool:
        results = list(pool.map(worker, range(THREADS)))
    assert sum(counted for counted, _ in results) == 1000
    assert stored_use(tl) == 1000
    assert not tl.usage.track("hot", "beta").allowed


def test_eight_threads_with_idempotency_keys_count_exactly_the_limit(
    make_tierline: MakeTierline,
) -> None:
    tl = make_tierline(CATALOG)
    add_tiers(tl)
    tl.ensure_account("hot")
    tl.overrides.set("hot", "beta", limit=200, period="none", reason="exactness test")

    def worker(n: int) -> int:
        counted = 0
        while True:
            # Every request is sent twice, as a retrying client would: it counts once.
            key = f"req-{n}-{counted}"
            first = tl.usage.track("hot", "beta", idempotency_key=key)
            if not first.allowed:
                return counted
            assert tl.usage.track("hot", "beta", idempotency_key=key).duplicate
            counted += 1

    with ThreadPoolExecutor(THREADS) as pool:
        assert sum(pool.map(worker, range(THREADS))) == 200
    assert stored_use(tl) == 200


def test_four_processes_count_exactly_the_limit(make_tierline: MakeTierline, db_url: URL) -> None:
    tl = make_tierline(CATALOG)
    add_tiers(tl)
    tl.ensure_account("hot")
    tl.overrides.set("hot", "beta", limit=200, period="none", reason="exactness test")
    url = db_url.render_as_string(hide_password=False)
    with multiprocessing.get_context("spawn").Pool(PROCESSES) as pool:
        counts = pool.starmap(track_until_refused, [(url, "hot", "beta")] * PROCESSES)
    assert sum(counts) == 200
    assert stored_use(tl) == 200


def seat_count(tl: Tierline) -> int:
    with tl.ctx.sessions() as session:
        return int(session.scalar(select(func.count()).select_from(Seat)) or 0)


def test_eight_threads_assign_exactly_the_seats(make_tierline: MakeTierline) -> None:
    tl = make_tierline(CATALOG)
    add_tiers(tl)
    # team: 5 seats x quantity 8 = 40.
    add_subscription(
        tl, "org", "team", "active", period_end=datetime(2026, 7, 1, tzinfo=UTC), quantity=8
    )

    def worker(n: int) -> int:
        for attempt in range(100):
            try:
                tl.seats.assign("org", f"t{n}-{attempt}")
            except SeatsExhaustedError:
                return attempt
        return 100

    with ThreadPoolExecutor(THREADS) as pool:
        assigned = sum(pool.map(worker, range(THREADS)))
    assert assigned == 40
    assert seat_count(tl) == 40


def test_four_processes_assign_exactly_the_seats(make_tierline: MakeTierline, db_url: URL) -> None:
    tl = make_tierline(CATALOG)
    add_tiers(tl)
    add_subscription(
        tl, "org", "team", "active", period_end=datetime(2099, 7, 1, tzinfo=UTC), quantity=4
    )
    url = db_url.render_as_string(hide_password=False)
    with multiprocessing.get_context("spawn").Pool(PROCESSES) as pool:
        counts = pool.starmap(
            assign_until_refused, [(url, "org", f"p{n}", 100) for n in range(PROCESSES)]
        )
    assert sum(counts) == 20
    assert seat_count(tl) == 20
