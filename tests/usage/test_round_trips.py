"""check() answers from status()'s own statement: one round trip, counted on the wire."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from sqlalchemy.engine import URL

from tierline import Tierline, TierlineSettings
from tierline.testing.roundtrips import RoundTripProxy

from ..access.seed import add_subscription
from ..clock import FrozenClock
from .seed import CATALOG, add_tiers

#: Round trips exist only over a network: the database servers, not SQLite.
SERVERS = pytest.mark.parametrize("dialect", ["postgresql", "mariadb"], indirect=True)


@pytest.fixture
def proxied(db_url: URL, clock: FrozenClock) -> Iterator[tuple[Tierline, RoundTripProxy]]:
    with RoundTripProxy.to(db_url) as proxy:
        settings = TierlineSettings(database_url=proxy.url.render_as_string(hide_password=False))
        tl = Tierline(settings=settings, catalog=CATALOG, clock=clock)
        try:
            add_tiers(tl)
            yield tl, proxy
        finally:
            tl.close()


@SERVERS
def test_check_reads_the_status_and_the_counter_in_one_round_trip(
    proxied: tuple[Tierline, RoundTripProxy], clock: FrozenClock
) -> None:
    tl, proxy = proxied
    clock.set(datetime(2026, 3, 31, 23, 0, tzinfo=UTC))
    add_subscription(tl, "acct", "pro", "active", period_end=datetime(2026, 4, 14, tzinfo=UTC))
    for feature, amount in (("quotes", 7), ("exports", 2), ("api", 4)):
        assert tl.usage.track("acct", feature, amount).allowed
    assert tl.status("acct").tier == "pro"  # the read connection is open before counting

    answers = {}
    for feature in ("quotes", "exports", "api"):
        proxy.reset()
        decision = tl.usage.check("acct", feature, 1)
        answers[feature] = (decision.used, decision.limit, decision.allowed, proxy.round_trips)

    assert answers == {
        "quotes": (7, 100, True, 1),  # this month's counter
        "exports": (2, 5, True, 1),  # the lifetime one
        "api": (4, None, True, 1),  # unlimited: counted per month
    }
    # A new month: last month's counter no longer counts, still in one round trip.
    clock.set(datetime(2026, 4, 1, 0, 30, tzinfo=UTC))
    proxy.reset()
    assert tl.usage.check("acct", "quotes").used == 0
    assert proxy.round_trips == 1
