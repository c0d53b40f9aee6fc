"""Webhook ingest through HTTP: events/s into a uvicorn-served app (DESIGN.md budget: >= 1,000/s
on PostgreSQL with 8 connections on 2 cores; >= 500/s on SQLite).

    uv run python -m benchmarks.http_ingest [--events 5000] [--max-seconds 60]
        [--concurrency 8] [--workers 1] [--runs 3]
        [--postgres-url postgresql://postgres@127.0.0.1:5432/postgres] [--sqlite]

PostgreSQL is the default (``--postgres-url``, else ``TIERLINE_BENCH_POSTGRES_URL``, else the
local server above); ``--sqlite`` measures a SQLite file instead.

A minimal FastAPI app with Tierline's router runs under uvicorn in a separate process, on a new
SQLite file (or a new database on the PostgreSQL server given), with ``--workers`` worker
processes (default 1: on 2 cores shared with PostgreSQL and the load generator, a second
worker measured slower, 745-897 events/s against 865-979 on 2026-11-30). This process sends
distinct, correctly signed fake-provider events to ``POST /webhooks/fake`` over loopback on
``--concurrency`` keep-alive connections (a small asyncio client sending prebuilt requests, so
the load generator takes little CPU from the server), and times every request: the whole path,
HTTP parsing, signature check, idempotent claim, apply and commit. It stops after ``--events``
events or ``--max-seconds`` seconds, whichever comes first, and prints the throughput and the
latency percentiles. It does so ``--runs`` times (a new database each) and prints the median and
the 95th percentile of the runs' throughputs too. Then it counts the database round trips of
one new event (in this process, through :class:`tierline.testing.roundtrips.RoundTripProxy`):
the first event of a subscription and an update of it.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
from sqlalchemy import text

from benchmarks.machine import describe, percentile
from tierline import Tierline, TierlineSettings, db
from tierline.billing.providers import fake, sign_for
from tierline.catalog.spec import Catalog, TierSpec

BUDGETS = {"PostgreSQL": 1000.0, "SQLite (file, WAL)": 500.0}
DEFAULT_POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
SECRET = "http-bench-secret"  # noqa: S105 - a throwaway key for a local benchmark
SECRET_KEY = "http-bench-signing-key-" + "x" * 16
ACCOUNTS = 500
CATALOG = Catalog(
    tiers={
        "free": TierSpec(key="free", name="Free", exempt=True),
        "pro": TierSpec(key="pro", name="Pro", providers={"fake": ("pro",)}),
    },
    free_tier="free",
)
REPO_ROOT = Path(__file__).resolve().parents[1]


def build_app(database_url: str) -> object:
    """The app under test: nothing but Tierline's router (and its webhook endpoint)."""
    from fastapi import FastAPI

    from tierline.web.fastapi import TierlineFastAPI

    settings = TierlineSettings(
        database_url=database_url,
        enable_fake_provider=True,
        fake_webhook_secret=[SECRET],
        secret_key=SECRET_KEY,
    )
    tl = Tierline(settings=settings, catalog=CATALOG)
    app = FastAPI()
    TierlineFastAPI(tl, current_account=lambda request: None).install(app)
    return app


#: The server's database, for :func:`app_from_environment` in each uvicorn worker process.
DATABASE_URL_VARIABLE = "TIERLINE_BENCH_SERVE_DATABASE_URL"


def app_from_environment() -> object:
    """The app of one uvicorn worker (an app factory: each worker builds its own Tierline)."""
    return build_app(os.environ[DATABASE_URL_VARIABLE])


def serve(database_url: str, port: int, workers: int) -> None:
    """The server process: uvicorn with ``workers`` worker processes, access log off (as in
    production)."""
    import uvicorn

    os.environ[DATABASE_URL_VARIABLE] = database_url
    uvicorn.run(
        "benchmarks.http_ingest:app_from_environment",
        factory=True,
        workers=workers,
        host="127.0.0.1",
        port=port,
        log_level="warning",
        access_log=False,
    )


def prepare(database_url: str) -> None:
    db.upgrade(database_url)
    with Tierline(settings=TierlineSettings(database_url=database_url), catalog=CATALOG) as tl:
        tl.sync_catalog()


@contextmanager
def database(postgres_url: str | None) -> Iterator[str]:
    """A new, migrated database for this run; dropped (or deleted) afterwards."""
    if postgres_url is None:
        with tempfile.TemporaryDirectory() as tmp:
            url = f"sqlite:///{Path(tmp) / 'bench.db'}"
            prepare(url)
            yield url
        return
    admin = db.make_engine(postgres_url, isolation_level="AUTOCOMMIT")
    name = f"tl_bench_{secrets.token_hex(4)}"
    with admin.connect() as conn:
        conn.execute(text(f"CREATE DATABASE {name}"))
    url = admin.url.set(database=name).render_as_string(hide_password=False)
    try:
        prepare(url)
        yield url
    finally:
        with admin.connect() as conn:
            conn.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        admin.dispose()


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def server(database_url: str, workers: int) -> Iterator[str]:
    port = free_port()
    command = [sys.executable, "-m", "benchmarks.http_ingest", "--serve", database_url]
    command += ["--port", str(port), "--workers", str(workers)]
    process = subprocess.Popen(command, cwd=REPO_ROOT)  # noqa: S603 - our own module
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(f"{base}/billing/static/tierline.css", timeout=1)
                break
            except httpx.TransportError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit("the benchmark server did not start") from None
                time.sleep(0.1)
        yield base
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def signed_events(count: int, prefix: str = "bench") -> list[tuple[bytes, dict[str, str]]]:
    """Distinct events (unique ids), spread over accounts, signed now: a subscription is
    created, then updated, as a provider would send them."""
    events = []
    now = int(time.time())
    for index in range(count):
        kind = fake.SUBSCRIPTION_CREATED if index < ACCOUNTS else fake.SUBSCRIPTION_UPDATED
        payload = fake.build_event(
            kind, account_ref=f"{prefix}-{index % ACCOUNTS}", tier_key="pro", now=now + index // 100
        )
        body = json.dumps(payload).encode()
        headers = {"Content-Type": "application/json"}
        headers.update(sign_for("fake", body, SECRET, now))
        events.append((body, headers))
    return events


def request_bytes(host: str, body: bytes, headers: dict[str, str]) -> bytes:
    """One complete HTTP/1.1 keep-alive request, built before the clock starts."""
    lines = [
        "POST /webhooks/fake HTTP/1.1",
        f"Host: {host}",
        f"Content-Length: {len(body)}",
        *(f"{name}: {value}" for name, value in headers.items()),
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


async def _connection(
    host: str,
    port: int,
    requests: list[bytes],
    cursor: Iterator[int],
    deadline: float,
    latencies: list[float],
    statuses: dict[int, int],
) -> None:
    # A minimal keep-alive client: the requests are prebuilt bytes and the answer is read by
    # its Content-Length, so the load generator costs little of the two cores it shares with
    # the server.
    reader, writer = await asyncio.open_connection(host, port)
    try:
        for index in cursor:
            if time.monotonic() >= deadline:
                return
            start = time.perf_counter()
            writer.write(requests[index])
            status = int((await reader.readline()).split()[1])
            length = 0
            while (line := await reader.readline()) not in (b"\r\n", b""):
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value)
            await reader.readexactly(length)
            latencies.append(time.perf_counter() - start)
            statuses[status] = statuses.get(status, 0) + 1
    finally:
        writer.close()


def send(
    base: str, events: list[tuple[bytes, dict[str, str]]], concurrency: int, max_seconds: float
) -> tuple[list[float], dict[int, int], float]:
    """Send every event once over ``concurrency`` keep-alive connections; latencies (s),
    status counts, wall time."""
    host, port = base.removeprefix("http://").split(":")
    requests = [request_bytes(f"{host}:{port}", body, headers) for body, headers in events]
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    cursor = iter(range(len(requests)))
    deadline = time.monotonic() + max_seconds

    async def run_all() -> None:
        await asyncio.gather(
            *(
                _connection(host, int(port), requests, cursor, deadline, latencies, statuses)
                for _ in range(concurrency)
            )
        )

    started = time.perf_counter()
    asyncio.run(run_all())
    return latencies, statuses, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=5000)
    parser.add_argument("--max-seconds", type=float, default=60.0)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--workers", type=int, default=1, help="uvicorn worker processes")
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get("TIERLINE_BENCH_POSTGRES_URL", DEFAULT_POSTGRES_URL),
    )
    parser.add_argument("--sqlite", action="store_true", help="measure a SQLite file instead")
    parser.add_argument("--serve", metavar="DATABASE_URL", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve, args.port, args.workers)
        return

    postgres_url = None if args.sqlite else args.postgres_url
    print(f"machine: {describe()}")
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())} (shared)")
    backend = "PostgreSQL" if postgres_url else "SQLite (file, WAL)"
    budget = BUDGETS[backend]
    print(
        f"HTTP webhook ingest: {args.events} distinct signed fake events per run, "
        f"{args.concurrency} keep-alive connections, uvicorn ({args.workers} worker "
        f"process(es), access log off), "
        f"{backend}, {os.cpu_count()} cores, {args.runs} run(s)"
    )
    rates: list[float] = []
    failures = 0
    for run in range(1, args.runs + 1):
        events = signed_events(args.events, f"run{run}")
        with database(postgres_url) as url, server(url, args.workers) as base:
            # Warm every worker (imports, first connections) on events that are not measured.
            send(base, signed_events(10 * args.concurrency, f"warm{run}"), args.concurrency, 30)
            latencies, statuses, wall = send(base, events, args.concurrency, args.max_seconds)
        latencies.sort()
        done = len(latencies)
        rate = done / wall if wall else 0.0
        rates.append(rate)
        failures += sum(count for status, count in statuses.items() if status != 200)
        ms = [value * 1000 for value in latencies]
        print(
            f"  run {run}: {done} events in {wall:.2f} s -> {rate:,.0f} events/s | latency "
            f"median {statistics.median(ms):.1f} ms | p95 {percentile(ms, 95):.1f} ms | "
            f"p99 {percentile(ms, 99):.1f} ms | max {ms[-1]:.1f} ms | "
            f"HTTP statuses {dict(sorted(statuses.items()))}"
        )
    rates.sort()
    print(
        f"  events/s over {len(rates)} run(s): median {statistics.median(rates):,.0f} | "
        f"p95 {percentile(rates, 95):,.0f} | min {rates[0]:,.0f}"
    )
    with database(postgres_url) as url:
        core_rate = in_process_rate(url, min(args.events, 1000))
        print(
            f"  for comparison, Tierline.ingest() in one thread without HTTP on the same "
            f"database: {core_rate:,.0f} events/s"
        )
        if postgres_url:
            new, update = round_trips(url)
            print(
                f"  round trips per event (PostgreSQL): {new} for a new subscription, "
                f"{update} for an update"
            )
    if failures:
        verdict = "ERRORS (every event should be answered 200)"
    else:
        verdict = "OK" if statistics.median(rates) >= budget else "BELOW BUDGET"
    print(f"  budget >= {budget:,.0f} events/s median (on 2 cores): {verdict}")
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


def round_trips(database_url: str) -> tuple[int, int]:
    """Round trips of a new event: a subscription's first, then an update of it."""
    from tierline.testing.roundtrips import RoundTripProxy

    with RoundTripProxy.to(database_url) as proxy:
        settings = TierlineSettings(
            database_url=proxy.url.render_as_string(hide_password=False),
            enable_fake_provider=True,
            fake_webhook_secret=[SECRET],
        )
        with Tierline(settings=settings, catalog=CATALOG) as tl:
            first, warm = signed_events(2, "trips")
            tl.ingest("fake", warm[1], warm[0])  # the pool's connection, outside the count
            proxy.reset()
            tl.ingest("fake", first[1], first[0])
            new = proxy.round_trips
            payload = fake.build_event(
                fake.SUBSCRIPTION_UPDATED, account_ref="trips-0", tier_key="pro",
                now=int(time.time()) + 60,
            )  # fmt: skip
            body = json.dumps(payload).encode()
            proxy.reset()
            tl.ingest("fake", sign_for("fake", body, SECRET, int(time.time())), body)
            return new, proxy.round_trips


def in_process_rate(database_url: str, count: int) -> float:
    """Events/s of ``Tierline.ingest`` called directly: what HTTP is measured against."""
    events = signed_events(count, "direct")
    settings = TierlineSettings(
        database_url=database_url, enable_fake_provider=True, fake_webhook_secret=[SECRET]
    )
    with Tierline(settings=settings, catalog=CATALOG) as tl:
        started = time.perf_counter()
        for body, headers in events:
            tl.ingest("fake", headers, body)
        return count / (time.perf_counter() - started)


if __name__ == "__main__":
    main()
