"""Caches that agree across processes: on PostgreSQL a write in one process reaches another
process's cached ``status()`` through LISTEN/NOTIFY, well before a 300 s TTL; a listener that
lost its connection clears its cache when it is back. SQLite and MariaDB keep the TTL bound."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.engine import URL

from tierline import Tierline
from tierline.billing.providers import fake
from tierline.catalog.spec import Catalog, TierSpec

from ..billing.inbox_helpers import deliver

MakeTierline = Callable[..., Tierline]
TTL = 300.0

#: Process B: caches the account's status with a long TTL, says "ready" once its listener
#: listens and the inactive status is cached, then polls until it sees the credit.
READER = textwrap.dedent(
    """
    import sys, time
    from tierline import Tierline, TierlineSettings
    url, ref, notify, patience = sys.argv[1], sys.argv[2], sys.argv[3] == "1", float(sys.argv[4])
    settings = TierlineSettings(database_url=url, cache_ttl_seconds=300, cache_notify=notify)
    with Tierline(settings=settings) as tl:
        assert not tl.status(ref).active
        if tl.cache_listener is not None:
            assert tl.cache_listener.listening.wait(10), "the listener never listened"
        assert not tl.status(ref).active
        print("ready", flush=True)
        sys.stdin.readline()
        start = time.monotonic()
        while time.monotonic() - start < patience:
            if tl.status(ref).active:
                print(f"seen {(time.monotonic() - start) * 1000:.1f} ms", flush=True)
                break
            time.sleep(0.005)
        else:
            print("stale", flush=True)
    """
)


@pytest.fixture
def pg_url(dialect: str, db_url: URL) -> Iterator[str]:
    yield db_url.render_as_string(hide_password=False)


def run_reader(url: str, ref: str, *, notify: bool, patience: float) -> subprocess.Popen[str]:
    reader = subprocess.Popen(
        [sys.executable, "-c", READER, url, ref, "1" if notify else "0", str(patience)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert reader.stdout is not None
    assert reader.stdout.readline().strip() == "ready"
    return reader


def grant_and_read(reader: subprocess.Popen[str], tl: Tierline, ref: str) -> str:
    # Long enough to be current on the reader's real clock too (the writer's is frozen).
    tl.grant_credit(ref, days=3650)
    assert reader.stdin is not None and reader.stdout is not None
    reader.stdin.write("go\n")
    reader.stdin.flush()
    answer = reader.stdout.readline().strip()
    assert reader.wait(30) == 0
    return answer


@pytest.mark.parametrize("dialect", ["postgresql"], indirect=True)
def test_a_credit_granted_in_one_process_is_seen_by_another_before_the_ttl(
    make_tierline: MakeTierline, pg_url: str
) -> None:
    writer = make_tierline()
    writer.ensure_account("ann")
    reader = run_reader(pg_url, "ann", notify=True, patience=10)
    answer = grant_and_read(reader, writer, "ann")
    assert answer.startswith("seen"), answer
    print(f"\ncross-process invalidation: {answer} after the commit")


@pytest.mark.parametrize("dialect", ["postgresql"], indirect=True)
def test_a_subscription_webhook_ingested_in_one_process_is_seen_by_another_before_the_ttl(
    make_tierline: MakeTierline, pg_url: str
) -> None:
    # The webhook's one-flight path sends the NOTIFY in the subscription upsert's RETURNING.
    writer = make_tierline(
        Catalog(tiers={"pro": TierSpec(key="pro", name="Pro", providers={"fake": ("pro",)})})
    )
    writer.sync_catalog()
    writer.ensure_account("ann")
    reader = run_reader(pg_url, "ann", notify=True, patience=10)
    # Shaped on the real clock, so the period is current on the reader's clock too.
    payload = fake.build_event(fake.SUBSCRIPTION_CREATED, account_ref="ann", tier_key="pro")
    assert deliver(writer, "fake", payload).status_code == 200
    assert reader.stdin is not None and reader.stdout is not None
    reader.stdin.write("go\n")
    reader.stdin.flush()
    answer = reader.stdout.readline().strip()
    assert reader.wait(30) == 0
    assert answer.startswith("seen"), answer


@pytest.mark.parametrize("dialect", ["postgresql"], indirect=True)
def test_without_notify_the_other_process_keeps_its_cached_status(
    make_tierline: MakeTierline, pg_url: str
) -> None:
    writer = make_tierline(cache_notify=False)
    writer.ensure_account("ann")
    reader = run_reader(pg_url, "ann", notify=False, patience=1.5)
    assert grant_and_read(reader, writer, "ann") == "stale"


@pytest.mark.parametrize("dialect", ["postgresql"], indirect=True)
def test_a_reconnected_listener_clears_what_it_may_have_missed(
    make_tierline: MakeTierline, pg_url: str
) -> None:
    tl = make_tierline(cache_ttl_seconds=TTL)
    silent = make_tierline(cache_notify=False)  # its writes notify no one: "missed"
    tl.ensure_account("ann")
    assert not tl.status("ann").active
    listener = tl.cache_listener
    assert listener is not None and listener.listening.wait(10)
    assert not tl.status("ann").active  # cached
    silent.grant_credit("ann", days=3)
    assert not tl.status("ann").active  # still cached: nothing told this process
    with tl.engine.connect() as conn:
        conn.execute(
            text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = current_database() AND query = 'LISTEN tierline_access'"
            )
        )
    deadline = time.monotonic() + 15
    while listener.connections < 2 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert listener.connections == 2
    assert listener.listening.wait(10)
    assert tl.status("ann").active


@pytest.mark.parametrize("dialect", ["postgresql"], indirect=True)
def test_a_catalog_sync_elsewhere_clears_every_cached_status(
    make_tierline: MakeTierline,
) -> None:
    tl = make_tierline(cache_ttl_seconds=TTL)
    tl.ensure_account("ann")
    tl.status("ann")
    listener = tl.cache_listener
    assert listener is not None and listener.listening.wait(10)
    tl.status("ann")
    assert tl.ctx.cache.get("ann") is not None
    other = make_tierline(Catalog(tiers={"free": TierSpec(key="free", name="Free", exempt=True)}))
    other.sync_catalog()
    deadline = time.monotonic() + 10
    while tl.ctx.cache.get("ann") is not None and time.monotonic() < deadline:
        time.sleep(0.005)
    assert tl.ctx.cache.get("ann") is None


def test_only_postgresql_listens_elsewhere_the_ttl_bounds_staleness(
    make_tierline: MakeTierline, dialect: str
) -> None:
    tl = make_tierline(cache_ttl_seconds=TTL)
    tl.ensure_account("ann")
    tl.status("ann")
    assert (tl.cache_listener is not None) == (dialect == "postgresql")
    assert (make_tierline(cache_ttl_seconds=0).cache_listener) is None


@pytest.mark.parametrize("dialect", ["postgresql"], indirect=True)
def test_a_read_racing_a_write_elsewhere_does_not_cache_what_it_fetched_before_it(
    make_tierline: MakeTierline, monkeypatch: pytest.MonkeyPatch
) -> None:
    reader = make_tierline(cache_ttl_seconds=TTL)
    writer = make_tierline()  # another process's Tierline: its NOTIFY is all the reader gets
    writer.ensure_account("ann")
    reader.status("warm-up")  # starts the listener
    listener = reader.cache_listener
    assert listener is not None and listener.listening.wait(10)
    fetch = reader.access._query.read
    raced: list[bool] = []

    def fetch_then_write_elsewhere(ref: str, *args: Any) -> Any:
        rows = fetch(ref, *args)
        if not raced:
            raced.append(True)
            token = reader.ctx.cache.token()
            writer.grant_credit("ann", days=3650)
            deadline = time.monotonic() + 10  # until the listener applied the NOTIFY
            while reader.ctx.cache.token() == token and time.monotonic() < deadline:
                time.sleep(0.005)
            assert reader.ctx.cache.token() != token
        return rows

    monkeypatch.setattr(reader.access._query, "read", fetch_then_write_elsewhere)
    assert not reader.status("ann").active  # as of its fetch, before the credit
    assert raced and reader.status("ann").active  # not stale for the 300 s TTL
