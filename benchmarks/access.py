"""Time ``status(account)`` on SQLite, PostgreSQL and MariaDB as accounts grow, side by side with
the same SQL run raw through the same driver (DESIGN.md budgets: <= 1.3x raw on PostgreSQL and
MariaDB, <= 2x on SQLite).

    uv run python -m benchmarks.access [--accounts 1000,1000000] [--samples 5000]
        [--postgres-url postgresql://postgres@127.0.0.1:5432/postgres]
        [--mariadb-url mariadb://root@127.0.0.1:3306/test]

The raw comparator is the statement ``status()`` runs (its compiled SQL, taken from
``tierline.access.query``), executed on the very DBAPI connection ``status()`` reads through
(autocommit on the servers) with ``cursor.execute`` and ``fetchall``, for the
same refs in the same order, interleaved in blocks with the ``status()`` calls so that both
see the same machine load. ``status()`` is measured with the cache off, so every call runs the
query; what it derives from an account's rows is remembered by the rows themselves
(:mod:`tierline.access.memo`), which a repeated read of unchanged rows finds. The ``uncached``
line is that steady state (the refs repeat at 1k accounts; at 1M few do), the ``new rows``
line every read of rows not seen before (the memo emptied before each call), and the budget
ratio is the steady state's; both ratios are printed. The cached figure follows.

Each database is built by the migration chain, then seeded with bulk inserts (executemany of
plain tuples on SQLite, COPY on PostgreSQL) with a realistic mix: about a third of accounts
pay, some trial, some are past due, some cancelled, a few are exempt staff, and one in ten has
a credit grant (running or run out). ``status()`` is then timed for random accounts (1 in 50
unknown), uncached and from the in-process cache. The PostgreSQL and MariaDB URLs (also
``TIERLINE_BENCH_POSTGRES_URL`` / ``TIERLINE_BENCH_MARIADB_URL``) must be allowed to create
databases: the benchmark makes its own and drops it. Without them, only SQLite is measured.
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
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, text
from sqlalchemy.engine import URL, make_url

from benchmarks.machine import describe, percentile
from tierline import Tierline, TierlineSettings, db
from tierline.access.query import AccessQuery
from tierline.catalog.models import Feature, Tier, TierFeature
from tierline.catalog.spec import Catalog
from tierline.db.fast import RawConnections

#: Median budgets in microseconds, from DESIGN.md.
BUDGET_US = {"sqlite": 150.0, "postgresql": 500.0, "mariadb": 500.0, "cached": 2.0}
#: status() over the raw query, medians (DESIGN.md).
BUDGET_RATIO = {"sqlite": 2.0, "postgresql": 1.3, "mariadb": 1.3}
#: status() and raw calls alternate in blocks of this many refs.
BLOCK = 250

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
            elif engine.dialect.name == "sqlite":
                # SQLAlchemy stores SQLite datetimes as ISO text with microseconds.
                marks = ", ".join("?" * width)
                cursor.executemany(
                    f"INSERT INTO {target} VALUES ({marks})",
                    (tuple(_sqlite_value(v) for v in row) for row in generator),
                )
            else:
                # PyMySQL turns an executemany of INSERT ... VALUES into multi-row inserts.
                marks = ", ".join(["%s"] * width)
                batch: list[tuple[Any, ...]] = []
                for row in generator:
                    batch.append(row)
                    if len(batch) == 5000:
                        cursor.executemany(f"INSERT INTO {target} VALUES ({marks})", batch)
                        batch.clear()
                if batch:
                    cursor.executemany(f"INSERT INTO {target} VALUES ({marks})", batch)
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
        if engine.dialect.name == "mariadb":
            for table in ("tierline_account", "tierline_subscription", "tierline_credit_grant"):
                conn.execute(text(f"ANALYZE TABLE {table}"))
        else:
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


def kept_connections(tl: Tierline) -> RawConnections:
    """The DBAPI connections ``status()`` of ``tl`` reads through (a SQLite file or a server:
    an in-memory SQLite database has none)."""
    kept = tl.access._query._connections
    assert kept is not None, "the benchmark's databases are files or servers"
    return kept


def raw_query(tl: Tierline) -> Callable[[str], object]:
    """The comparator: status()'s SQL run raw on the very DBAPI connection status() reads
    through (idle between calls: one thread, and the kept connections are reused last in,
    first out), so both reach the same server process."""
    query = AccessQuery(tl.engine)
    sql = query.sql()
    positions = query.positions()
    query.close()
    kept = kept_connections(tl)
    conn = kept.acquire()
    kept.release(conn)

    def call(ref: str) -> object:
        cursor = conn.cursor()
        cursor.execute(sql, (ref,) * positions if positions else {"ref": ref})
        rows = cursor.fetchall()
        cursor.close()
        return rows

    return call


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
    with ExitStack() as stack:
        tl = stack.enter_context(Tierline(settings=settings, catalog=catalog))
        warm = refs[: min(500, samples)]
        measure(tl.status, warm)  # warm the pools and the tier snapshot
        raw = raw_query(tl)
        measure(raw, warm)
        # A second Tierline whose memo (what status() derived from rows it read before) is
        # emptied before each call, leaving the first one's steady state as it is. It reads
        # through the first one's connection too: on 2 cores, where the scheduler places a
        # server process alone moved a PostgreSQL round trip between about 45 and 95 us
        # (2026-11-30), more than status() adds to it.
        fresh = stack.enter_context(Tierline(settings=settings, catalog=catalog))
        kept_connections(fresh).close()
        fresh.access._query._connections = kept_connections(tl)
        measure(fresh.status, warm)
        memo = fresh.access._memo

        def first_read(ref: str) -> object:
            memo.clear()  # (a dict's clear: a fraction of a microsecond, timed along)
            return fresh.status(ref)

        uncached: list[float] = []
        new_rows: list[float] = []
        direct: list[float] = []
        for start in range(0, len(refs), BLOCK):
            block = refs[start : start + BLOCK]
            uncached += measure(tl.status, block)
            new_rows += measure(first_read, block)
            direct += measure(raw, block)
        for timings in (uncached, new_rows, direct):
            timings.sort()
        results.append(("uncached", uncached))
        results.append(("new rows", new_rows))
        results.append(("raw SQL", direct))
    cached_settings = settings.model_copy(update={"cache_ttl_seconds": 3600.0})
    with Tierline(settings=cached_settings, catalog=catalog) as tl:
        measure(tl.status, refs)  # fill the cache
        results.append(("cached", measure(tl.status, refs)))
    return results


def report(dialect: str, count: int, results: list[tuple[str, list[float]]]) -> None:
    medians = {mode: statistics.median(timings) for mode, timings in results}
    for mode, timings in results:
        median = medians[mode]
        line = (
            f"  {dialect:<10} {count:>9,} {mode:<9} median {median:8.1f} | "
            f"p90 {percentile(timings, 90):8.1f} | p99 {percentile(timings, 99):8.1f} us"
        )
        if mode == "raw SQL":
            ratio = medians["uncached"] / median
            budget = BUDGET_RATIO[dialect]
            verdict = "OK" if ratio <= budget else "OVER BUDGET"
            line += f" | status()/raw {ratio:.2f} (budget <= {budget}): {verdict}"
            line += f" | rows new to the memo: {medians['new rows'] / median:.2f}"
        elif mode == "new rows":
            line += " | every read of rows status() has not seen before"
        else:
            budget = BUDGET_US["cached"] if mode == "cached" else BUDGET_US[dialect]
            verdict = "OK" if median <= budget else "OVER BUDGET"
            line += f" | budget {budget:6.1f} us median: {verdict}"
        print(line)


def server_runs(admin_url: str, dialect: str, sizes: list[int], samples: int) -> None:
    """Run each size on a new database of the server ``admin_url`` names, dropped after."""
    admin = db.make_engine(admin_url, isolation_level="AUTOCOMMIT")
    force = " WITH (FORCE)" if dialect == "postgresql" else ""
    try:
        for count in sizes:
            name = f"tl_bench_{secrets.token_hex(4)}"
            with admin.connect() as conn:
                conn.execute(text(f"CREATE DATABASE {name}"))
            try:
                url = admin.url.set(database=name)
                report(dialect, count, run_one(dialect, url, count, samples))
            finally:
                with admin.connect() as conn:
                    conn.execute(text(f"DROP DATABASE IF EXISTS {name}{force}"))
    finally:
        admin.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--accounts", default="1000,1000000", help="comma-separated sizes")
    parser.add_argument("--samples", type=int, default=5000, help="status() calls per run")
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get("TIERLINE_BENCH_POSTGRES_URL"),
        help="a PostgreSQL URL allowed to CREATE DATABASE (else TIERLINE_BENCH_POSTGRES_URL)",
    )
    parser.add_argument(
        "--mariadb-url",
        default=os.environ.get("TIERLINE_BENCH_MARIADB_URL"),
        help="a MariaDB URL allowed to CREATE DATABASE (else TIERLINE_BENCH_MARIADB_URL)",
    )
    args = parser.parse_args()
    sizes = [int(part.replace("_", "")) for part in args.accounts.split(",") if part.strip()]
    print(f"machine: {describe()}")
    print(f"status() budgets (median): {BUDGET_US}")
    with tempfile.TemporaryDirectory() as tmp:
        for count in sizes:
            url = make_url(f"sqlite:///{Path(tmp) / f'bench_{count}.db'}")
            report("sqlite", count, run_one("sqlite", url, count, args.samples))
    for dialect, admin_url in (("postgresql", args.postgres_url), ("mariadb", args.mariadb_url)):
        if admin_url:
            server_runs(admin_url, dialect, sizes, args.samples)
        else:
            print(f"{dialect} skipped: give --{dialect.replace('postgresql', 'postgres')}-url")


if __name__ == "__main__":
    main()
