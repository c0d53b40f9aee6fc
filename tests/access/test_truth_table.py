"""Every combination of subscription status, credit, exempt assignment and period end, checked
against an expectation table written here, independently of the rules module."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from tierline import Tierline, db

from ..clock import FrozenClock
from .seed import add_subscription, add_tiers, tierline_on

STATUSES = (
    None,
    "incomplete",
    "trialing",
    "active",
    "past_due",
    "paused",
    "canceled",
    "unpaid",
    "expired",
)
CREDITS = ("none", "active", "expired", "revoked")
PERIODS = ("past", "future")

# What a subscription alone gives, by (status, period end): a granting source, or the reason
# it does not grant. Period end is 10 days away; grace is 3 days; a trial ends with its period;
# a past-due subscription went past due 10 days before ("past") or 1 day before ("future").
SUBSCRIPTION_ALONE: dict[tuple[str | None, str], tuple[str, str] | tuple[None, str | None]] = {
    (None, "past"): (None, None),
    (None, "future"): (None, None),
    ("incomplete", "past"): (None, "incomplete"),
    ("incomplete", "future"): (None, "incomplete"),
    ("trialing", "past"): (None, "trial_ended"),
    ("trialing", "future"): ("trial", "pro"),
    ("active", "past"): ("subscription", "pro"),  # provider says active: it renewed late
    ("active", "future"): ("subscription", "pro"),
    ("past_due", "past"): (None, "past_due"),  # failed 10 days ago: 3-day grace is over
    ("past_due", "future"): ("grace", "pro"),
    ("paused", "past"): (None, "paused"),
    ("paused", "future"): (None, "paused"),
    ("canceled", "past"): (None, "canceled"),
    ("canceled", "future"): (None, "canceled"),
    ("unpaid", "past"): (None, "past_due"),
    ("unpaid", "future"): (None, "past_due"),
    ("expired", "past"): (None, "canceled"),
    ("expired", "future"): (None, "canceled"),
}


def expected(
    status: str | None, credit: str, exempt: bool, period: str
) -> tuple[bool, str, str | None, str]:
    """(active, source, reason, tier shown)."""
    if exempt:
        return True, "exempt", None, "staff"
    source, detail = SUBSCRIPTION_ALONE[(status, period)]
    if source is not None:
        return True, source, None, str(detail)
    if credit == "active":
        return True, "credit", None, "free"
    if detail is not None:
        return False, "free", detail, "free"
    if credit == "expired":
        return False, "free", "credit_expired", "free"
    return False, "free", "no_subscription", "free"


@pytest.fixture(scope="module")
def truth_tl(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Tierline]:
    path: Path = tmp_path_factory.mktemp("truth") / "truth.db"
    url = make_url(f"sqlite:///{path}")
    db.upgrade(url)
    tl = tierline_on(url, FrozenClock())
    add_tiers(tl)
    yield tl
    tl.close()


@pytest.mark.parametrize(
    ("status", "credit", "exempt", "period"),
    list(itertools.product(STATUSES, CREDITS, (False, True), PERIODS)),
)
def test_status_truth_table(
    truth_tl: Tierline, status: str | None, credit: str, exempt: bool, period: str
) -> None:
    tl = truth_tl
    clock = tl.ctx.clock
    assert isinstance(clock, FrozenClock)
    now = clock()
    ref = f"{status}-{credit}-{exempt}-{period}"
    tl.ensure_account(ref)
    end = now + timedelta(days=10) if period == "future" else now - timedelta(days=10)
    if status is not None:
        failed = now - timedelta(days=10 if period == "past" else 1)
        since = failed if status == "past_due" else None
        add_subscription(
            tl, ref, "pro", status, period_end=end, trial_end=end, past_due_since=since
        )
    if credit == "expired":
        # Granted twelve days ago for ten days: ended two days ago.
        clock.set(now - timedelta(days=12))
        tl.grant_credit(ref, days=10)
        clock.set(now)
    elif credit in ("active", "revoked"):
        tl.grant_credit(ref, days=5)
        if credit == "revoked":
            assert tl.revoke_credit(ref) == 1
    if exempt:
        tl.assign_exempt(ref, "staff")

    status_now = tl.status(ref)
    active, source, reason, tier = expected(status, credit, exempt, period)
    assert (status_now.active, status_now.source.value) == (active, source)
    assert (status_now.reason.value if status_now.reason else None) == reason
    assert status_now.tier == tier
