"""Webhook ingest through HTTP: events/s into a uvicorn-served app (budget: >= 500/s on 2 cores).

    uv run python -m benchmarks.http_ingest [--events 5000] [--max-seconds 60]
        [--concurrency 8] [--postgres-url postgresql://postgres@127.0.0.1:5432/postgres]

A minimal FastAPI app with Tierline's router runs under uvicorn in a separate process, on a new
SQLite file (or a new database on the PostgreSQL server given). This process sends distinct,
correctly signed fake-provider events to ``POST /webhooks/fake`` over loopback on
``--concurrency`` keep-alive connections (a small asyncio client sending prebuilt requests, so
the load generator takes little CPU from the server), and times every request: the whole path,
HTTP parsing, signature check, idempotent claim, apply and commit. It stops after ``--events``
events or ``--max-seconds`` seconds, whichever comes first, and prints the throughput and the
latency percentiles.
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

BUDGET_EVENTS_PER_S = 500.0
SECRET = "http-bench-secret"  # noqa: S105 - a throwaway key for a local benchmark
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
        database_url=database_url, enable_fake_provider=True, fake_webhook_secret=[SECRET]
    )
    tl = Tierline(settings=settings, catalog=CATALOG)
    app = FastAPI()
    TierlineFastAPI(tl, current_account=lambda request: None).install(app)
    return app


def serve(database_url: str, port: int) -> None:
    """The server process: uvicorn, one worker, access log off (as in production)."""
    import uvicorn

    uvicorn.run(
        build_app(database_url), host="127.0.0.1", port=port, log_level="warning", access_log=False
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
def server(database_url: str) -> Iterator[str]:
    port = free_port()
    command = [sys.executable, "-m", "benchmarks.http_ingest", "--serve", database_url]
    command += ["--port", str(port)]
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
    parser.add_argument("--postgres-url", default=None)
    parser.add_argument("--serve", metavar="DATABASE_URL", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve, args.port)
        return

    print(f"machine: {describe()}")
    backend = "PostgreSQL" if args.postgres_url else "SQLite (file, WAL)"
    print(
        f"HTTP webhook ingest: {args.events} distinct signed fake events, {args.concurrency} "
        f"keep-alive connections, uvicorn (1 worker, separate process), {backend}, "
        f"{os.cpu_count()} cores"
    )
    events = signed_events(args.events)
    with database(args.postgres_url) as url:
        with server(url) as base:
            # Warm the server (imports, first connections) on events that are not measured.
            send(base, signed_events(20, "warm"), 2, 30)
            latencies, statuses, wall = send(base, events, args.concurrency, args.max_seconds)
        core_rate = in_process_rate(url, min(args.events, 1000))
    latencies.sort()
    done = len(latencies)
    rate = done / wall if wall else 0.0
    ms = [value * 1000 for value in latencies]
    print(
        f"  {done} events in {wall:.2f} s -> {rate:.0f} events/s | latency median "
        f"{statistics.median(ms):.1f} ms | p90 {percentile(ms, 90):.1f} ms | "
        f"p99 {percentile(ms, 99):.1f} ms | max {ms[-1]:.1f} ms"
    )
    print(f"  HTTP statuses: {dict(sorted(statuses.items()))}")
    print(
        f"  for comparison, Tierline.ingest() in one thread without HTTP on the same database: "
        f"{core_rate:.0f} events/s"
    )
    if set(statuses) != {200}:
        verdict = "ERRORS (every event should be answered 200)"
    else:
        verdict = "OK" if rate >= BUDGET_EVENTS_PER_S else "BELOW BUDGET"
    print(f"  budget >= {BUDGET_EVENTS_PER_S:.0f} events/s (on 2 cores): {verdict}")


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
