"""Time ``status(account)`` on SQLite and PostgreSQL as accounts grow (DESIGN.md budgets).

    uv run python -m benchmarks.access [--accounts 1000,1000000] [--samples 5000]
        [--postgres-url postgresql://postgres@127.0.0.1:5432/postgres]

Each database is built by the migration chain, then seeded with bulk inserts (executemany of
plain tuples on SQLite, COPY on PostgreSQL) with a realistic mix: about a third of accounts
pay, some trial, some are past due, some cancelled, a few are exempt staff, and one in ten has
a credit grant (running or run out). ``status()`` is then timed for random accounts (1 in 50
unknown), uncached and from the in-process cache. The PostgreSQL URL (also
``TIERLINE_BENCH_POSTGRES_URL``) must be allowed to create databases: the benchmark makes its
own and drops it. Without one, only SQLite is measured.
"""

from __future__ import annotations

import argparse
import os
import random
import secrets
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, text
from sqlalchemy.engine import URL, make_url

from benchmarks.machine import describe, percentile
from tierline import Tierline, TierlineSettings, db
from tierline.catalog.models import Feature, Tier, TierFeature
from tierline.catalog.spec import Catalog

#: Median budgets in microseconds, from DESIGN.md.
BUDGET_US = {"sqlite": 150.0, "postgresql": 500.0, "cached": 2.0}

TIERS = [
    # key, exempt, sort order, features
    ("free", True, 0, ["basic"]),
    ("pro", False, 10, ["basic", "export", "api"]),
    ("team", False, 20, ["basic", "export", "api", "sso"]),
    ("staff", True, 100, ["basic", "admin"]),
]


def seed_tiers(tl: Tierline) -> dict[str, int]:
    ids: dict[str, int] = {}
    with tl.ctx.sessions.begin() as session:
        features: dict[str, Feature] = {}
        for key, exempt, order, feature_keys in TIERS:
            tier = Tier(key=key, name=key.title(), exempt=exempt, sort_order=order)
            session.add(tier)
            session.flush()
            ids[key] = tier.id
            for fkey in feature_keys:
                if fkey not in features:
                    features[fkey] = Feature(key=fkey)
                    session.add(features[fkey])
                    session.flush()
                limit = 1000 if fkey == "api" else None
                session.add(
                    TierFeature(
                        tier_id=tier.id,
                        feature_id=features[fkey].id,
                        limit_value=limit,
                        period="month" if limit else "none",
                    )
                )
    return ids


def ref_of(index: int) -> str:
    return f"acct-{index:07d}"


def rows(count: int, tiers: dict[str, int], now: datetime) -> dict[str, Iterator[tuple[Any, ...]]]:
    """Row generators for accounts, subscriptions and grants (naive UTC datetimes)."""
    base = now.replace(tzinfo=None)
    rng = random.Random(42)
    day = timedelta(days=1)

    def accounts() -> Iterator[tuple[Any, ...]]:
        for i in range(count):
            yield (i + 1, ref_of(i), base)

    def subscriptions() -> Iterator[tuple[Any, ...]]:
        sub_id = 0
        for i in range(count):
            roll = rng.random()
            if roll < 0.30:
                status, tier, end = "active", rng.choice(("pro", "team")), base + 20 * day
            elif roll < 0.35:
                status, tier, end = "trialing", "pro", base + 7 * day
            elif roll < 0.38:
                status, tier, end = "past_due", "pro", base - rng.choice((1, 10)) * day
            elif roll < 0.48:
                status, tier, end = "canceled", rng.choice(("pro", "team")), base - 40 * day
            elif roll < 0.50:
                status, tier, end = "active", "staff", None
            else:
                continue
            sub_id += 1
            provider = "exempt" if tier == "staff" else "stripe"
            trial_end = end if status == "trialing" else None
            yield (
                sub_id, i + 1, tiers[tier], provider, f"sub_{sub_id}", status, end,
                False, trial_end, 1, base, base, base,
            )  # fmt: skip

    def grants() -> Iterator[tuple[Any, ...]]:
        grant_id = 0
        for i in range(count):
            if rng.random() >= 0.10:
                continue
            grant_id += 1
            start = base - rng.choice((2, 60)) * day
            yield (grant_id, i + 1, start, start + 30 * day, "bench", base)

    return {
        "tierline_account (id, ref, created_at)": accounts(),
        "tierline_subscription (id, account_id, tier_id, provider, external_id, status, "
        "current_period_end, cancel_at_period_end, trial_end, quantity, provider_updated_at, "
        "created_at, updated_at)": subscriptions(),
        "tierline_credit_grant (id, account_id, starts_at, expires_at, reason, "
        "created_at)": grants(),
    }


def bulk_insert(engine: Engine, count: int, tiers: dict[str, int], now: datetime) -> None:
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        for target, generator in rows(count, tiers, now).items():
            width = target.count(",") + 1
            if engine.dialect.name == "postgresql":
                with cursor.copy(f"COPY {target} FROM STDIN") as copy:
                    for row in generator:
                        copy.write_row(row)
            else:
                # SQLAlchemy stores SQLite datetimes as ISO text with microseconds.
                marks = ", ".join("?" * width)
                cursor.executemany(
                    f"INSERT INTO {target} VALUES ({marks})",
                    (tuple(_sqlite_value(v) for v in row) for row in generator),
                )
        raw.commit()
        cursor.close()
    finally:
        raw.close()
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            for table in ("tierline_account", "tierline_subscription", "tierline_credit_grant"):
                conn.execute(
                    text(
                        f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                        f"(SELECT COALESCE(MAX(id), 1) FROM {table}))"
                    )
                )
        conn.execute(text("ANALYZE"))


def _sqlite_value(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S.%f")
    return value


def measure(call: Callable[[str], object], refs: list[str]) -> list[float]:
    timings: list[float] = []
    clock = time.perf_counter_ns
    for ref in refs:
        start = clock()
        call(ref)
        timings.append((clock() - start) / 1000)
    timings.sort()
    return timings


def run_one(dialect: str, url: URL, count: int, samples: int) -> list[tuple[str, list[float]]]:
    db.upgrade(url)
    text_url = url.render_as_string(hide_password=False)
    settings = TierlineSettings(database_url=text_url)
    catalog = Catalog(free_tier="free")
    now = datetime.now(UTC)
    with Tierline(settings=settings, catalog=catalog) as tl:
        tiers = seed_tiers(tl)
        started = time.perf_counter()
        bulk_insert(tl.engine, count, tiers, now)
        print(f"  seeded {count:,} accounts on {dialect} in {time.perf_counter() - started:.1f} s")
    rng = random.Random(7)
    refs = [
        ref_of(rng.randrange(count)) if rng.random() >= 0.02 else f"ghost-{i}"
        for i in range(samples)
    ]
    results: list[tuple[str, list[float]]] = []
    with Tierline(settings=settings, catalog=catalog) as tl:
        measure(tl.status, refs[: min(500, samples)])  # warm the pools and the tier snapshot
        results.append(("uncached", measure(tl.status, refs)))
    cached_settings = settings.model_copy(update={"cache_ttl_seconds": 3600.0})
    with Tierline(settings=cached_settings, catalog=catalog) as tl:
        measure(tl.status, refs)  # fill the cache
        results.append(("cached", measure(tl.status, refs)))
    return results


def report(dialect: str, count: int, results: list[tuple[str, list[float]]]) -> None:
    for mode, timings in results:
        budget = BUDGET_US["cached"] if mode == "cached" else BUDGET_US[dialect]
        median = statistics.median(timings)
        verdict = "OK" if median <= budget else "OVER BUDGET"
        print(
            f"  {dialect:<10} {count:>9,} {mode:<9} median {median:8.1f} | "
            f"p90 {percentile(timings, 90):8.1f} | p99 {percentile(timings, 99):8.1f} us | "
            f"budget {budget:6.1f} us median: {verdict}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--accounts", default="1000,1000000", help="comma-separated sizes")
    parser.add_argument("--samples", type=int, default=5000, help="status() calls per run")
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get("TIERLINE_BENCH_POSTGRES_URL"),
        help="a PostgreSQL URL allowed to CREATE DATABASE (else TIERLINE_BENCH_POSTGRES_URL)",
    )
    args = parser.parse_args()
    sizes = [int(part.replace("_", "")) for part in args.accounts.split(",") if part.strip()]
    print(f"machine: {describe()}")
    print(f"status() budgets (median): {BUDGET_US}")
    with tempfile.TemporaryDirectory() as tmp:
        for count in sizes:
            url = make_url(f"sqlite:///{Path(tmp) / f'bench_{count}.db'}")
            report("sqlite", count, run_one("sqlite", url, count, args.samples))
    if not args.postgres_url:
        print("PostgreSQL skipped: give --postgres-url or TIERLINE_BENCH_POSTGRES_URL")
        return
    admin = db.make_engine(args.postgres_url, isolation_level="AUTOCOMMIT")
    try:
        for count in sizes:
            name = f"tl_bench_{secrets.token_hex(4)}"
            with admin.connect() as conn:
                conn.execute(text(f"CREATE DATABASE {name}"))
            try:
                url = admin.url.set(database=name)
                report("postgresql", count, run_one("postgresql", url, count, args.samples))
            finally:
                with admin.connect() as conn:
                    conn.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
    finally:
        admin.dispose()


if __name__ == "__main__":
    main()
