"""The real-world webhook cases (tests/fixtures/cases) through the inbox, on every dialect.

Each case is delivered in its recorded order, signed with the provider's real scheme at the
test clock, and must give the outcome its README.txt expects; a bounded property test then
shuffles and duplicates the deliveries and checks the final state is the in-order one.
"""

from __future__ import annotations

import math
import shutil
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select
from sqlalchemy.engine import URL, make_url

from tierline import DenialReason, Tierline, TierlineSettings, db
from tierline.billing.models import Subscription
from tierline.billing.result import IngestOutcome

from ..clock import FrozenClock
from .cases import ACCOUNT, CASE_NAMES, CATALOG, EXPECTED, deliver_case, expected_expiry, load_case
from .inbox_helpers import SECRET_SETTINGS, events, subscriptions

MakeTierline = Callable[..., Tierline]


def case_tierline(make_tierline: MakeTierline) -> Tierline:
    tl = make_tierline(catalog=CATALOG, **SECRET_SETTINGS)
    tl.sync_catalog()
    return tl


@pytest.mark.parametrize("name", CASE_NAMES)
def test_a_case_gives_its_expected_outcome(make_tierline: MakeTierline, name: str) -> None:
    tl = case_tierline(make_tierline)
    case, expected = load_case(name), EXPECTED[name]
    now = tl.ctx.clock()

    results = deliver_case(tl, case)

    # Every delivery is processed, or (a payment failure) recorded as ignored: none unmapped.
    assert {r.outcome for r in results} <= {IngestOutcome.PROCESSED, IngestOutcome.IGNORED}
    status = tl.status(ACCOUNT)
    assert (status.active, status.source, status.tier) == (
        expected.active,
        expected.source,
        expected.tier,
    )
    assert status.reason == expected.reason
    assert status.seats == expected.seats
    expiry = expected_expiry(case, expected, now)
    assert status.expires_at == expiry
    if expiry is not None:
        assert status.days_remaining == math.ceil((expiry - now).total_seconds() / 86400)
    [sub] = subscriptions(tl)
    assert (sub["status"], sub["quantity"]) == (expected.status, expected.quantity)
    by_file = dict(zip((d.file for d in case.deliveries), events(tl), strict=True))
    for file, text in expected.warnings.items():
        row = by_file[file]
        assert row.status == "processed"
        assert row.last_error is not None and row.last_error.startswith("warning:")
        assert text in row.last_error


def test_cancel_at_ends_access_at_that_instant(make_tierline: MakeTierline) -> None:
    tl = case_tierline(make_tierline)
    case = load_case("stripe-cancel-at-date-ignored")
    clock = tl.ctx.clock
    assert isinstance(clock, FrozenClock)
    cancel_at = case.at(1796396056, clock())
    deliver_case(tl, case)

    clock.set(cancel_at - timedelta(microseconds=1))
    tl.ctx.cache.clear()
    assert tl.status(ACCOUNT).active
    clock.set(cancel_at)
    status = tl.status(ACCOUNT)
    assert (status.active, status.reason) == (False, DenialReason.CANCELED)


def test_the_lookup_key_case_is_active_on_pro_before_the_cancellation(
    make_tierline: MakeTierline,
) -> None:
    tl = case_tierline(make_tierline)
    case = load_case("stripe-lookup-key-transferred-cancel-unmapped")
    deliver_case(tl, case, order=[0])
    status = tl.status(ACCOUNT)
    assert (status.active, status.tier) == (True, "pro")
    deliver_case(tl, case, order=[1])
    assert not tl.status(ACCOUNT).active
    [sub] = subscriptions(tl)
    assert (sub["tier"], sub["status"]) == ("pro", "canceled")  # the stored tier is kept


# -- any order, any duplicates: the in-order outcome ------------------------------------
def _state(tl: Tierline) -> tuple[Any, ...]:
    with tl.ctx.sessions() as session:
        rows = session.execute(
            select(
                Subscription.external_id,
                Subscription.status,
                Subscription.tier_id,
                Subscription.quantity,
                Subscription.current_period_end,
                Subscription.cancel_at,
                Subscription.cancel_at_period_end,
                Subscription.past_due_since,
                Subscription.provider_updated_at,
                Subscription.provider_rank,
            ).order_by(Subscription.external_id)
        ).all()
    return (tuple(tuple(row) for row in rows), tl.status(ACCOUNT))


def _fresh(tmp_path_factory: pytest.TempPathFactory, template: URL) -> Tierline:
    path = tmp_path_factory.mktemp("shuffled") / "t.db"
    shutil.copyfile(str(template.database), path)
    settings_ = TierlineSettings(database_url=f"sqlite:///{path}").model_copy(
        update=SECRET_SETTINGS
    )
    return Tierline(settings=settings_, catalog=CATALOG, clock=FrozenClock())


@pytest.fixture(scope="module")
def synced_sqlite(tmp_path_factory: pytest.TempPathFactory) -> URL:
    """A migrated SQLite file with the cases' catalog synced, copied for every example."""
    url = make_url(f"sqlite:///{tmp_path_factory.mktemp('cases') / 'template.db'}")
    db.upgrade(url)
    tl = Tierline(
        settings=TierlineSettings(database_url=url.render_as_string()),
        catalog=CATALOG,
        clock=FrozenClock(),
    )
    tl.sync_catalog()
    tl.close()
    return url


def _orders(count: int) -> st.SearchStrategy[list[int]]:
    """Every delivery at least once, some twice, in any order."""
    return st.lists(st.integers(0, count - 1), max_size=count).flatmap(
        lambda extra: st.permutations(list(range(count)) + extra)
    )


@pytest.mark.parametrize("name", CASE_NAMES)
def test_any_order_and_duplicates_give_the_in_order_state(
    synced_sqlite: URL, tmp_path_factory: pytest.TempPathFactory, name: str
) -> None:
    case = load_case(name)
    reference = _fresh(tmp_path_factory, synced_sqlite)
    try:
        deliver_case(reference, case)
        wanted = _state(reference)
    finally:
        reference.close()

    @settings(
        max_examples=30,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture],
    )
    @given(order=_orders(len(case.deliveries)))
    def shuffled(order: list[int]) -> None:
        tl = _fresh(tmp_path_factory, synced_sqlite)
        try:
            deliver_case(tl, case, order)
            assert _state(tl) == wanted, order
        finally:
            tl.close()

    shuffled()
