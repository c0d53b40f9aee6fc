"""Webhook ingest throughput: verify + claim + apply + mark, no HTTP (budget: >= 1,000 events/s
on SQLite, >= 500 events/s on PostgreSQL, flat as the inbox grows).

    uv run python -m benchmarks.ingest [--events 2000] [--accounts 300] [--inbox-rows 1000000]
        [--postgres-url postgresql://postgres@127.0.0.1:5432/postgres]

The PostgreSQL run needs ``--postgres-url`` or ``TIERLINE_BENCH_POSTGRES_URL`` (an account that
may CREATE DATABASE); it creates its own database, migrates it through the chain and drops it.
Each dialect is measured twice: with an (almost) empty inbox, and after bulk-inserting
``--inbox-rows`` stored events directly. Events are distinct, signed fake-provider subscription
events (the Stripe signature scheme) for ``--accounts`` accounts that already have a
subscription; the first contact of each account (which creates it) is reported separately.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import secrets
import statistics
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import insert, text
from sqlalchemy.engine import URL

from benchmarks.machine import describe, percentile
from tierline import Tierline, TierlineSettings, db
from tierline.billing.models import Event
from tierline.billing.providers import fake, sign_for
from tierline.billing.result import IngestOutcome
from tierline.catalog.models import Tier, TierProviderLink
from tierline.catalog.spec import Catalog

BUDGETS = {"sqlite": 1000.0, "postgresql": 500.0}
SECRET = "bench-webhook-secret"  # noqa: S105 - a throwaway secret for local signing
START = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
Delivery = tuple[dict[str, str], bytes]


@contextmanager
def sqlite_database() -> Iterator[str]:
    with tempfile.TemporaryDirectory() as tmp:
        yield f"sqlite:///{Path(tmp) / 'bench.db'}"


@contextmanager
def postgres_database(admin_url: str) -> Iterator[str]:
    admin = db.make_engine(admin_url, isolation_level="AUTOCOMMIT")
    name = f"tl_bench_{os.getpid()}_{secrets.token_hex(4)}"
    with admin.connect() as conn:
        conn.execute(text(f"CREATE DATABASE {name}"))
    try:
        yield admin.url.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        admin.dispose()


def delivery(event_type: str, account: str, at: datetime, status: str) -> Delivery:
    payload = fake.build_event(
        event_type, account_ref=account, tier_key="pro", now=at, status=status
    )
    body = json.dumps(payload).encode()
    return sign_for("fake", body, SECRET, int(START.timestamp())), body


def run(tl: Tierline, deliveries: list[Delivery]) -> tuple[list[float], float]:
    """Ingest every delivery; per-event latencies (s) and the wall time of the whole run."""
    latencies: list[float] = []
    began = time.perf_counter()
    for headers, body in deliveries:
        start = time.perf_counter()
        result = tl.ingest("fake", headers, body)
        latencies.append(time.perf_counter() - start)
        if result.outcome is not IngestOutcome.PROCESSED:
            raise SystemExit(f"benchmark event not processed: {result}")
    return latencies, time.perf_counter() - began


def run_concurrently(
    tl: Tierline, deliveries: list[Delivery], threads: int
) -> tuple[list[float], float]:
    """As :func:`run`, with ``threads`` workers sharing one Tierline (as a web server would)."""
    chunks = [deliveries[i::threads] for i in range(threads)]
    results: list[tuple[list[float], float]] = []
    began = time.perf_counter()
    workers = [
        threading.Thread(target=lambda c=chunk: results.append(run(tl, c))) for chunk in chunks
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    wall = time.perf_counter() - began
    if len(results) != threads:
        raise SystemExit("a benchmark worker failed")
    return [latency for latencies, _ in results for latency in latencies], wall


def report(label: str, latencies: list[float], wall: float, budget: float | None) -> None:
    ordered = sorted(latencies)
    rate = len(latencies) / wall
    verdict = (
        ""
        if budget is None
        else f" | budget {budget:,.0f}/s " + ("OK" if rate >= budget else "OVER BUDGET")
    )
    print(
        f"  {label:<36} {len(latencies):>6} events | {rate:8,.0f} events/s | latency median "
        f"{statistics.median(ordered) * 1e3:.2f} ms, p90 {percentile(ordered, 90) * 1e3:.2f}, "
        f"p99 {percentile(ordered, 99) * 1e3:.2f}, max {ordered[-1] * 1e3:.2f} ms{verdict}"
    )


def bulk_fill(url: str, rows: int) -> float:
    """Insert ``rows`` processed events straight into the inbox; returns seconds taken."""
    engine = db.make_engine(url)
    payload = json.dumps({"id": "evt", "type": "subscription.updated", "data": {"x": "y" * 120}})
    began = time.perf_counter()
    chunk = 20_000
    try:
        if engine.dialect.name == "postgresql":
            raw = engine.raw_connection()
            try:
                cursor = raw.cursor()
                columns = "provider, external_id, type, received_at, processed_at, status, "
                columns += "attempts, payload, handler_version"
                with cursor.copy(f"COPY tierline_event ({columns}) FROM STDIN") as copy:  # type: ignore[attr-defined]
                    for i in range(rows):
                        at = START - timedelta(seconds=rows - i)
                        copy.write_row(
                            (
                                "bulk",
                                f"evt_bulk_{i}",
                                "subscription.updated",
                                at,
                                at,
                                "processed",
                                1,
                                payload,
                                1,
                            )
                        )
                raw.commit()
            finally:
                raw.close()
        else:
            with engine.begin() as conn:
                for offset in range(0, rows, chunk):
                    batch: list[dict[str, Any]] = []
                    for i in range(offset, min(rows, offset + chunk)):
                        at = START - timedelta(seconds=rows - i)
                        batch.append(
                            {
                                "provider": "bulk",
                                "external_id": f"evt_bulk_{i}",
                                "type": "subscription.updated",
                                "received_at": at,
                                "processed_at": at,
                                "status": "processed",
                                "attempts": 1,
                                "payload": payload,
                            }
                        )
                    conn.execute(insert(Event), batch)
        with engine.begin() as conn:
            if engine.dialect.name == "postgresql":
                conn.execute(text("ANALYZE tierline_event"))
            else:
                conn.execute(text("ANALYZE"))
    finally:
        engine.dispose()
    return time.perf_counter() - began


def bench(dialect: str, url: str, args: argparse.Namespace) -> None:
    print(f"\n{dialect}: migrating a new database through the chain...")
    db.upgrade(url)
    settings = TierlineSettings(
        database_url=url, enable_fake_provider=True, fake_webhook_secret=[SECRET]
    )
    clock: Callable[[], datetime] = lambda: START  # noqa: E731 - signatures stay in tolerance
    with Tierline(settings=settings, catalog=Catalog(), clock=clock) as tl:
        with tl.ctx.sessions.begin() as session:
            tier = Tier(key="pro", name="Pro")
            tier.provider_links.append(TierProviderLink(provider="fake", external_key="pro"))
            session.add(tier)
        accounts = [f"org_{i}" for i in range(args.accounts)]
        first = [delivery("subscription.created", a, START, "trialing") for a in accounts]
        report("first contact (creates the account)", *run(tl, first), None)

        rng = random.Random(7)
        step = 0

        def updates(count: int) -> list[Delivery]:
            nonlocal step
            batch = []
            for _ in range(count):
                step += 1
                status = rng.choice(("active", "active", "past_due", "active"))
                at = START + timedelta(seconds=step)
                batch.append(delivery("subscription.updated", rng.choice(accounts), at, status))
            return batch

        budget = BUDGETS[dialect]
        run(tl, updates(min(200, args.events)))  # warm the statement caches and the pool
        threads = args.threads
        report("empty inbox, 1 thread", *run(tl, updates(args.events)), budget)
        report(
            f"empty inbox, {threads} threads",
            *run_concurrently(tl, updates(args.events), threads),
            budget,
        )
        if args.inbox_rows:
            took = bulk_fill(url, args.inbox_rows)
            print(f"  (bulk-inserted {args.inbox_rows:,} stored events in {took:.1f} s)")
            full = f"inbox of {args.inbox_rows:,}"
            report(f"{full}, 1 thread", *run(tl, updates(args.events)), budget)
            report(
                f"{full}, {threads} threads",
                *run_concurrently(tl, updates(args.events), threads),
                budget,
            )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--events", type=int, default=2000, help="events per measurement")
    parser.add_argument("--accounts", type=int, default=300)
    parser.add_argument("--threads", type=int, default=4, help="workers for the concurrent runs")
    parser.add_argument("--inbox-rows", type=int, default=1_000_000)
    parser.add_argument("--postgres-url", default=os.environ.get("TIERLINE_BENCH_POSTGRES_URL"))
    args = parser.parse_args()
    print(f"machine: {describe()}")
    print(
        "budgets: >= 1,000 events/s on SQLite, >= 500 events/s on PostgreSQL "
        "(verify + claim + apply + mark, no HTTP)"
    )
    with sqlite_database() as url:
        bench("sqlite", url, args)
    if args.postgres_url:
        admin: URL = db.parse_url(args.postgres_url)
        with postgres_database(admin.render_as_string(hide_password=False)) as url:
            bench("postgresql", url, args)
    else:
        print("\npostgresql: skipped (give --postgres-url or TIERLINE_BENCH_POSTGRES_URL)")


if __name__ == "__main__":
    main()
