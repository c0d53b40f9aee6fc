"""Seats: tier seats times the subscription quantity, refused past it, flagged when over."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import pytest
from sqlalchemy import update

from tierline import Tierline
from tierline.billing.models import Subscription
from tierline.errors import NotFoundError, SeatsExhaustedError, ValidationError

from ..access.seed import add_subscription
from ..usage.seed import CATALOG, add_tiers

MakeTierline = Callable[..., Tierline]
END = datetime(2026, 7, 1, tzinfo=UTC)


@pytest.fixture
def tl(make_tierline: MakeTierline) -> Tierline:
    tl = make_tierline(CATALOG)
    add_tiers(tl)
    add_subscription(tl, "org", "team", "active", period_end=END, quantity=2)
    return tl


def set_quantity(tl: Tierline, quantity: int) -> None:
    with tl.ctx.sessions.begin() as session:
        session.execute(update(Subscription).values(quantity=quantity))
    tl.ctx.cache.invalidate("org")


def test_the_limit_is_tier_seats_times_quantity(tl: Tierline) -> None:
    for n in range(10):
        summary = tl.seats.assign("org", f"user-{n}")
    assert (summary.limit, summary.assigned, summary.available, summary.over) == (10, 10, 0, False)
    with pytest.raises(SeatsExhaustedError, match="10 of 10") as refused:
        tl.seats.assign("org", "user-10")
    assert (refused.value.limit, refused.value.assigned) == (10, 10)
    assert tl.seats.list("org").assigned == 10


def test_assigning_a_member_twice_takes_one_seat(tl: Tierline) -> None:
    tl.seats.assign("org", "alice")
    assert tl.seats.assign("org", "alice").assigned == 1
    assert [m.member_ref for m in tl.seats.list("org").members] == ["alice"]


def test_a_lower_quantity_removes_no_one_and_flags_the_account(tl: Tierline) -> None:
    for n in range(8):
        tl.seats.assign("org", f"user-{n}")
    set_quantity(tl, 1)
    summary = tl.seats.list("org")
    assert (summary.limit, summary.assigned, summary.over) == (5, 8, True)
    assert summary.to_dict()["over"] is True
    with pytest.raises(SeatsExhaustedError):
        tl.seats.assign("org", "newcomer")
    # Still refused at the limit itself; allowed again once under it.
    for n in range(3):
        assert tl.seats.unassign("org", f"user-{n}")
    with pytest.raises(SeatsExhaustedError):
        tl.seats.assign("org", "newcomer")
    tl.seats.unassign("org", "user-3")
    assert tl.seats.assign("org", "newcomer").assigned == 5


def test_unassign_reports_whether_the_member_held_a_seat(tl: Tierline) -> None:
    tl.seats.assign("org", "alice")
    assert tl.seats.unassign("org", "alice") is True
    assert tl.seats.unassign("org", "alice") is False


def test_bad_input_is_refused_clearly(tl: Tierline) -> None:
    with pytest.raises(NotFoundError, match="nobody"):
        tl.seats.assign("nobody", "alice")
    with pytest.raises(ValidationError, match="member ref"):
        tl.seats.assign("org", " ")
    # A control character would be stored, shown as "m" and never matched by "m" again.
    with pytest.raises(ValidationError, match=r"member ref .* control character"):
        tl.seats.assign("org", "m\x07")
    with pytest.raises(NotFoundError):
        tl.seats.list("nobody")
    assert tl.seats.list("org").assigned == 0


def test_a_free_account_has_its_tier_seats(tl: Tierline) -> None:
    tl.ensure_account("solo")
    tl.seats.assign("solo", "me")
    with pytest.raises(SeatsExhaustedError, match="1 of 1"):
        tl.seats.assign("solo", "friend")


def test_a_quantity_lowered_elsewhere_is_obeyed_at_once_with_the_cache_on(
    make_tierline: MakeTierline,
) -> None:
    # Another process lowers the quantity (this Tierline's cache is not told, as on SQLite and
    # MariaDB, where only the TTL bounds it): the seat limit is read in the assignment's own
    # transaction, not from the cached status.
    tl = make_tierline(CATALOG, cache_ttl_seconds=300)
    add_tiers(tl)
    add_subscription(tl, "org", "team", "active", period_end=END, quantity=2)
    for n in range(5):
        tl.seats.assign("org", f"user-{n}")
    assert tl.status("org").seats == 10  # and cached for 300 s
    with tl.ctx.sessions.begin() as session:
        session.execute(update(Subscription).values(quantity=1))
    with pytest.raises(SeatsExhaustedError, match="5 of 5") as refused:
        tl.seats.assign("org", "user-5")
    assert refused.value.limit == 5
