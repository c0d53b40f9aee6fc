"""How fast a write in one process reaches another process's cached ``status()`` (PostgreSQL
LISTEN/NOTIFY), and what the seam of :mod:`tierline.access.changes` costs a write.

    uv run python -m benchmarks.cache_notify [--rounds 200]
        [--postgres-url postgresql://postgres@127.0.0.1:5432/postgres]

Part 1, across processes: a reader process caches ``status()`` with a 300 s TTL and polls it;
this process grants and revokes a credit in turn. Printed: the time from the end of each write
(its commit returned) to the reader seeing the new access, and the write's own duration, as
medians and percentiles. Without NOTIFY the reader would see it after the TTL (300 s).

Part 2, in this process, the cost of a credit grant + revoke pair on PostgreSQL and SQLite,
side by side: nothing listening (``cache_notify`` off), with NOTIFY (PostgreSQL), and with one
access hook (the old and new status read in the transaction, one outbox item written and
delivered after the commit).
"""

from __future__ import annotations

import argparse
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.engine import URL, make_url

from benchmarks.machine import describe, percentile
from tierline import Tierline, TierlineSettings, db

READER = textwrap.dedent(
    """
    import sys, time
    from tierline import Tierline, TierlineSettings
    settings = TierlineSettings(database_url=sys.argv[1], cache_ttl_seconds=300)
    with Tierline(settings=settings) as tl:
        active = tl.status("bench").active
        assert tl.cache_listener is not None and tl.cache_listener.listening.wait(10)
        print("ready", flush=True)
        while True:
            now = tl.status("bench").active
            if now != active:
                active = now
                print(f"{int(now)} {time.monotonic()!r}", flush=True)
            time.sleep(0.0002)
    """
)


def summary(label: str, values_ms: list[float]) -> str:
    ordered = sorted(values_ms)
    return (
        f"{label:<44} median {statistics.median(ordered):7.2f} ms   "
        f"p90 {percentile(ordered, 90):7.2f} ms   p99 {percentile(ordered, 99):7.2f} ms   "
        f"(n={len(ordered)})"
    )


def cross_process(url: str, rounds: int) -> None:
    writer = Tierline(settings=TierlineSettings(database_url=url))
    writer.ensure_account("bench")
    reader = subprocess.Popen(  # noqa: S603 - our own script
        [sys.executable, "-c", READER, url], stdout=subprocess.PIPE, text=True
    )
    assert reader.stdout is not None
    assert reader.stdout.readline().strip() == "ready"
    seen_ms: list[float] = []
    write_ms: list[float] = []
    try:
        for n in range(rounds):
            start = time.monotonic()
            if n % 2 == 0:
                writer.grant_credit("bench", days=1)
            else:
                writer.revoke_credit("bench")
            done = time.monotonic()
            flag, at = reader.stdout.readline().split()
            assert flag == ("1" if n % 2 == 0 else "0")
            seen_ms.append((float(at) - done) * 1000)
            write_ms.append((done - start) * 1000)
    finally:
        reader.kill()
        reader.wait()
        writer.close()
    print(summary("seen by the other process, after the commit", seen_ms))
    print(summary("the write itself (grant or revoke)", write_ms))
    print("without NOTIFY: seen after the TTL, 300000 ms")


def write_pairs(tl: Tierline, rounds: int) -> list[float]:
    tl.ensure_account("pair")
    timings: list[float] = []
    for _ in range(rounds):
        start = time.perf_counter()
        tl.grant_credit("pair", days=1)
        tl.revoke_credit("pair")
        timings.append((time.perf_counter() - start) * 1000)
    return timings


def write_costs(url: str, rounds: int) -> None:
    variants: list[tuple[str, dict[str, object], bool]] = [
        ("nothing listening", {"cache_notify": False}, False),
        ("NOTIFY only (default)", {}, False),
        ("NOTIFY + one access hook", {}, True),
    ]
    dialect = make_url(url).get_backend_name()
    baseline = None
    for label, extra, hooked in variants:
        if dialect != "postgresql" and label.startswith("NOTIFY only"):
            continue
        settings = TierlineSettings(database_url=url).model_copy(update=extra)
        with Tierline(settings=settings) as tl:
            if hooked:
                tl.on_access_change(_noop)
            write_pairs(tl, 10)  # warm up
            median = statistics.median(write_pairs(tl, rounds))
        baseline = baseline or median
        print(
            f"{dialect:<10} grant+revoke, {label:<26} median {median:7.2f} ms   "
            f"x{median / baseline:4.2f} of nothing listening"
        )


def _noop(*_args: object) -> None:
    return None


def _postgres_database(admin_url: str) -> tuple[str, Callable[[], None]]:
    admin = db.make_engine(admin_url, isolation_level="AUTOCOMMIT")
    name = f"tl_bench_notify_{secrets.token_hex(4)}"
    with admin.connect() as conn:
        conn.execute(text(f"CREATE DATABASE {name}"))
    url: URL = admin.url.set(database=name)

    def drop() -> None:
        with admin.connect() as conn:
            conn.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        admin.dispose()

    return url.render_as_string(hide_password=False), drop


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=200)
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get(
            "TIERLINE_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
        ),
    )
    args = parser.parse_args()
    print(describe())
    url, drop = _postgres_database(args.postgres_url)
    try:
        db.upgrade(url)
        cross_process(url, args.rounds)
        write_costs(url, args.rounds)
    finally:
        drop()
    with tempfile.TemporaryDirectory() as folder:
        sqlite_url = f"sqlite:///{Path(folder) / 'bench.db'}"
        db.upgrade(sqlite_url)
        write_costs(sqlite_url, args.rounds)


if __name__ == "__main__":
    main()
