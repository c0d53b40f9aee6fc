"""Time usage ``track()`` on one hot counter with 8 threads, and ``check()`` against ``status()``.

    uv run python -m benchmarks.usage [--tracks 4000] [--threads 8] [--samples 2000]
        [--postgres-url postgresql://postgres@127.0.0.1:5432/postgres]
        [--mariadb-url mariadb://root@127.0.0.1:3306/test]

Each database is built by the migration chain (a temporary SQLite file; on the servers a
database of its own, dropped at the end). One account tracks one feature with a limit no run
reaches, so every call is the conditional ``UPDATE`` of the same row: the worst case for
contention. Prints events/s (wall clock) with per-call medians and percentiles, then the
median of ``check()`` and of ``status()`` (uncached) for the same account and their ratio.
The server URLs default to ``TIERLINE_BENCH_POSTGRES_URL`` / ``TIERLINE_BENCH_MARIADB_URL``;
without them only SQLite is measured. DESIGN.md budgets: >= 2,000/s on SQLite, >= 1,000/s on
PostgreSQL (MariaDB is printed), ``check()`` within 1.5x of ``status()``.
"""

from __future__ import annotations

import argparse
import os
import secrets
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import text

from benchmarks.machine import describe, percentile
from tierline import Tierline, TierlineSettings, db
from tierline.catalog.models import Feature, Tier, TierFeature
from tierline.catalog.spec import Catalog

BUDGETS = {"sqlite": 2000.0, "postgresql": 1000.0}
RATIO_BUDGET = 1.5
HOT = "hot-account"


@contextmanager
def database(dialect: str, admin_url: str | None) -> Iterator[str]:
    if dialect == "sqlite":
        with tempfile.TemporaryDirectory() as tmp:
            yield f"sqlite:///{Path(tmp) / 'bench.db'}"
        return
    assert admin_url is not None
    admin = db.make_engine(admin_url, isolation_level="AUTOCOMMIT")
    name = f"tl_bench_{os.getpid()}_{secrets.token_hex(4)}"
    with admin.connect() as conn:
        conn.execute(text(f"CREATE DATABASE {name}"))
    try:
        yield admin.url.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f"DROP DATABASE IF EXISTS {name}"))
        admin.dispose()


def seed(tl: Tierline) -> None:
    with tl.ctx.sessions.begin() as session:
        feature = Feature(key="quotes")
        tier = Tier(key="free", name="Free", exempt=True, sort_order=0)
        session.add_all([feature, tier])
        session.flush()
        session.add(
            TierFeature(
                tier_id=tier.id, feature_id=feature.id, limit_value=2**31 - 1, period="month"
            )
        )
    tl.ctx.cache.clear()
    tl.ensure_account(HOT)


def hot_counter(tl: Tierline, tracks: int, threads: int) -> tuple[float, list[float]]:
    """Wall seconds for ``tracks`` calls split over ``threads``, and each call's seconds."""
    per_thread = tracks // threads

    def worker(_: int) -> list[float]:
        times = []
        for _ in range(per_thread):
            start = time.perf_counter()
            decision = tl.usage.track(HOT, "quotes")
            times.append(time.perf_counter() - start)
            assert decision.allowed
        return times

    tl.usage.track(HOT, "quotes")  # warm the pools and the period row
    start = time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        latencies = [t for chunk in pool.map(worker, range(threads)) for t in chunk]
    return time.perf_counter() - start, latencies


def medians_us(calls: list[Callable[[], object]], samples: int, block: int = 100) -> list[float]:
    """The median time of each call in microseconds, ``samples`` calls each, run in
    alternating blocks of ``block`` so that every call sees the same machine load."""
    times: list[list[float]] = [[] for _ in calls]
    clock = time.perf_counter
    for _ in range(0, samples, block):
        for call, sink in zip(calls, times, strict=True):
            for _ in range(block):
                start = clock()
                call()
                sink.append(clock() - start)
    return [statistics.median(sink) * 1e6 for sink in times]


def bench(
    dialect: str, admin_url: str | None, args: argparse.Namespace, **settings_: object
) -> None:
    with database(dialect, admin_url) as url:
        db.upgrade(url)
        settings = TierlineSettings(database_url=url).model_copy(update=settings_)
        if settings_:
            dialect = f"{dialect} ({', '.join(f'{k}={v}' for k, v in settings_.items())})"
        with Tierline(settings=settings, catalog=Catalog(free_tier="free")) as tl:
            seed(tl)
            wall, latencies = hot_counter(tl, args.tracks, args.threads)
            used = tl.usage.check(HOT, "quotes").used
            assert used == len(latencies) + 1, (used, len(latencies))
            latencies.sort()
            rate = len(latencies) / wall
            budget = BUDGETS.get(dialect.split()[0])
            verdict = ""
            if budget is not None:
                verdict = f" (budget >= {budget:,.0f}/s: {'ok' if rate >= budget else 'MISSED'})"
            print(
                f"{dialect:10} track x{args.threads} threads: {rate:,.0f}/s"
                f"{verdict} | per call median "
                f"{statistics.median(latencies) * 1e3:.2f} ms, p90 "
                f"{percentile(latencies, 90) * 1e3:.2f} ms, p99 "
                f"{percentile(latencies, 99) * 1e3:.2f} ms ({len(latencies)} calls)"
            )
            for _ in range(200):  # warm both paths
                tl.status(HOT)
                tl.usage.check(HOT, "quotes")
            status_us, check_us = medians_us(
                [lambda: tl.status(HOT), lambda: tl.usage.check(HOT, "quotes")], args.samples
            )
            ratio = check_us / status_us
            print(
                f"{dialect:10} status() median {status_us:.0f} us, check() median "
                f"{check_us:.0f} us: ratio {ratio:.2f} (budget <= {RATIO_BUDGET}: "
                f"{'ok' if ratio <= RATIO_BUDGET else 'MISSED'})"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tracks", type=int, default=4000)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--samples", type=int, default=2000)
    parser.add_argument("--postgres-url", default=os.environ.get("TIERLINE_BENCH_POSTGRES_URL"))
    parser.add_argument("--mariadb-url", default=os.environ.get("TIERLINE_BENCH_MARIADB_URL"))
    args = parser.parse_args()
    print(describe())
    print(f"load average: {os.getloadavg()[0]:.2f} (shared machine: figures vary with it)")
    bench("sqlite", None, args)
    if args.postgres_url:
        bench("postgresql", args.postgres_url, args)
        bench("postgresql", args.postgres_url, args, usage_synchronous_commit=False)
    if args.mariadb_url:
        bench("mariadb", args.mariadb_url, args)


if __name__ == "__main__":
    main()
