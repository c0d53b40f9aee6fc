"""Round trips per webhook, counted on the wire, and a dropped connection survived.

The count is behaviour, not timing: a TCP relay (tierline.testing.roundtrips) counts each
request/response turn between Tierline and the server, BEGIN and COMMIT included.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator

import pytest
from sqlalchemy import text
from sqlalchemy.engine import URL

from tierline import Tierline
from tierline.billing.result import IngestOutcome
from tierline.catalog.spec import Catalog
from tierline.db import make_engine
from tierline.testing import TEST_WEBHOOK_SECRET, FrozenClock, settings_for_tests, stripe_event
from tierline.testing.roundtrips import RoundTripProxy

from .inbox_helpers import add_tier, subscriptions

#: At most this many round trips for a new Stripe subscription event on PostgreSQL.
POSTGRES_BUDGET = 3


#: Round trips exist only over a network: the database servers, not SQLite.
SERVERS = pytest.mark.parametrize("dialect", ["postgresql", "mariadb"], indirect=True)


@pytest.fixture
def proxied(db_url: URL, clock: FrozenClock) -> Iterator[tuple[Tierline, RoundTripProxy]]:
    with RoundTripProxy.to(db_url) as proxy:
        settings = settings_for_tests(proxy.url.render_as_string(hide_password=False))
        tl = Tierline(settings=settings, catalog=Catalog(), clock=clock)
        try:
            add_tier(tl, "pro", {"stripe": ("pro",)})
            yield tl, proxy
        finally:
            tl.close()


def _ingest(tl: Tierline, event_type: str, account: str, clock: FrozenClock, **kw: str) -> str:
    event = stripe_event(event_type, account=account, tier="pro", now=clock, **kw)
    result = tl.ingest("stripe", event.headers, event.body)
    assert result.outcome is IngestOutcome.PROCESSED, result
    return result.detail


def _counted(
    tl: Tierline, proxy: RoundTripProxy, clock: FrozenClock, ingest: Callable[[], object]
) -> int:
    # Warm up: the pool's connection is opened (and Tierline's tier snapshot read) outside
    # the count, as in a running server.
    _ingest(tl, "customer.subscription.created", "warm-up", clock)
    proxy.reset()
    ingest()
    return proxy.round_trips


@SERVERS
def test_a_new_stripe_subscription_event_takes_at_most_three_round_trips_on_postgresql(
    proxied: tuple[Tierline, RoundTripProxy], clock: FrozenClock, dialect: str
) -> None:
    tl, proxy = proxied

    trips = _counted(
        tl,
        proxy,
        clock,
        lambda: _ingest(tl, "customer.subscription.created", "new-account", clock),
    )

    print(f"{dialect}: {trips} round trips for a new Stripe subscription event")
    [_, sub] = sorted(subscriptions(tl), key=lambda row: row["account"] == "new-account")
    assert (sub["account"], sub["status"], sub["tier"]) == ("new-account", "active", "pro")
    assert tl.status("new-account").active
    if dialect == "postgresql":
        assert trips <= POSTGRES_BUDGET
    else:
        # MariaDB: no pipeline, one round trip per statement (10 measured, the read of the
        # account a subscription may move from included: the README gives the figure). Held
        # there, so that a change that adds one shows.
        assert trips <= 10


@SERVERS
def test_an_update_of_a_known_subscription_also_fits_the_budget_on_postgresql(
    proxied: tuple[Tierline, RoundTripProxy], clock: FrozenClock, dialect: str
) -> None:
    tl, proxy = proxied
    _ingest(tl, "customer.subscription.created", "acct", clock)
    clock.advance(seconds=5)

    trips = _counted(
        tl,
        proxy,
        clock,
        lambda: _ingest(tl, "customer.subscription.updated", "acct", clock, status="past_due"),
    )

    assert [row["status"] for row in subscriptions(tl) if row["account"] == "acct"] == ["past_due"]
    if dialect == "postgresql":
        assert trips <= POSTGRES_BUDGET


def _terminate_pooled_connections(url: URL) -> int:
    """Kill, from another session, every other connection to the test database."""
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            if url.get_backend_name() == "postgresql":
                killed = conn.execute(
                    text(
                        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                        "WHERE datname = current_database() AND pid <> pg_backend_pid()"
                    )
                ).scalar_one()
                return int(killed)
            ids = conn.execute(
                text(
                    "SELECT id FROM information_schema.processlist "
                    "WHERE db = DATABASE() AND id <> CONNECTION_ID()"
                )
            ).scalars()
            victims = list(ids)
            for victim in victims:
                conn.execute(text(f"KILL CONNECTION {int(victim)}"))
            return len(victims)
    finally:
        engine.dispose()


@SERVERS
def test_a_dropped_connection_is_retried_on_a_fresh_one_without_pre_ping(
    make_tierline: Callable[..., Tierline], db_url: URL, clock: FrozenClock
) -> None:
    tl = make_tierline(stripe_webhook_secret=[TEST_WEBHOOK_SECRET])
    add_tier(tl, "pro", {"stripe": ("pro",)})
    _ingest(tl, "customer.subscription.created", "before", clock)
    assert tl.status("before").active
    assert _terminate_pooled_connections(db_url) >= 2  # the pool's and status()'s

    _ingest(tl, "customer.subscription.created", "after", clock)

    assert tl.status("after").active and tl.status("before").active
    assert sorted(row["account"] for row in subscriptions(tl)) == ["after", "before"]


def test_a_duplicate_in_one_flight_answers_duplicate_and_logs_no_pipeline_warning(
    make_tierline: Callable[..., Tierline], clock: FrozenClock, caplog: pytest.LogCaptureFixture
) -> None:
    tl = make_tierline(stripe_webhook_secret=[TEST_WEBHOOK_SECRET])
    add_tier(tl, "pro", {"stripe": ("pro",)})
    event = stripe_event("customer.subscription.created", account="acct", tier="pro", now=clock)
    assert tl.ingest("stripe", event.headers, event.body).outcome is IngestOutcome.PROCESSED

    with caplog.at_level(logging.WARNING):
        again = tl.ingest("stripe", event.headers, event.body)

    assert again.outcome is IngestOutcome.DUPLICATE
    assert [record.getMessage() for record in caplog.records] == []
    assert len(subscriptions(tl)) == 1
