"""The pure decision at its exact instants and with several rows, credit windows, and reading
from a database that was never migrated."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import make_url

from tierline.access.rules import (
    EXEMPT_PROVIDER,
    Decision,
    GrantFacts,
    SubscriptionFacts,
    TierFacts,
    credit_window,
    decide,
)
from tierline.access.status import AccessSource, DenialReason
from tierline.errors import DatabaseError

from ..clock import FrozenClock
from .seed import tierline_on

NOW = datetime(2026, 6, 1, tzinfo=UTC)


def window(start_days: float, end_days: float) -> GrantFacts:
    return GrantFacts(NOW + timedelta(days=start_days), NOW + timedelta(days=end_days))


@pytest.mark.parametrize(
    ("grants", "end_days", "had_expired"),
    [
        ([], None, False),
        ([window(-5, -1)], None, True),
        ([window(1, 3)], None, False),  # starts later: not active yet
        ([window(-1, 2)], 2, False),
        ([window(-1, 2), window(2, 4), window(4, 9)], 9, False),  # touching windows chain
        ([window(-1, 2), window(3, 4)], 2, False),  # a gap stops the chain
        ([window(-9, -2), window(-1, 6), window(0, 3)], 6, True),
    ],
)
def test_credit_window(grants: list[GrantFacts], end_days: float | None, had_expired: bool) -> None:
    end, expired = credit_window(grants, NOW)
    assert end == (None if end_days is None else NOW + timedelta(days=end_days))
    assert expired is had_expired


def test_status_on_an_unmigrated_database_says_so(tmp_path: Path) -> None:
    tl = tierline_on(make_url(f"sqlite:///{tmp_path / 'empty.db'}"), FrozenClock())
    try:
        with pytest.raises(DatabaseError, match="is the database migrated"):
            tl.status("x")
    finally:
        tl.close()


# -- decide(): exact instants, precedence, exempt rows, grace days, quantities -----------
US = timedelta(microseconds=1)
GRACE = timedelta(days=3)
PRO, TEAM, STAFF, SAME = 1, 2, 3, 4
TIERS = {
    PRO: TierFacts(exempt=False, sort_order=10),
    TEAM: TierFacts(exempt=False, sort_order=20),
    STAFF: TierFacts(exempt=True, sort_order=100),
    SAME: TierFacts(exempt=False, sort_order=20),  # same order as TEAM
}


def sub(status: str, tier: int | None = PRO, **kw: Any) -> SubscriptionFacts:
    facts: dict[str, Any] = {
        "provider": "stripe",
        "status": status,
        "tier_id": tier,
        "current_period_end": None,
        "cancel_at_period_end": False,
        "trial_end": None,
        "changed_at": None,
    }
    facts.update(kw)
    return SubscriptionFacts(**facts)


def decide_now(*subs: SubscriptionFacts, grace: timedelta = GRACE, at: datetime = NOW) -> Decision:
    return decide(list(subs), [], TIERS, at, grace)


@pytest.mark.parametrize(("offset", "active"), [(-US, True), (timedelta(0), False), (US, False)])
def test_a_trial_ends_at_its_exact_instant(offset: timedelta, active: bool) -> None:
    verdict = decide_now(sub("trialing", trial_end=NOW), at=NOW + offset)
    assert verdict.active is active
    if active:
        assert (verdict.source, verdict.expires_at, verdict.reason) == (
            AccessSource.TRIAL,
            NOW,
            None,
        )
    else:
        assert verdict.reason is DenialReason.TRIAL_ENDED


def test_a_trial_without_an_end_is_active_without_expiry() -> None:
    assert decide_now(sub("trialing")) == Decision(True, AccessSource.TRIAL, PRO)


@pytest.mark.parametrize(("offset", "active"), [(-US, True), (timedelta(0), False), (US, False)])
def test_grace_ends_at_its_exact_instant(offset: timedelta, active: bool) -> None:
    failed = NOW - GRACE
    verdict = decide_now(sub("past_due", past_due_since=failed), at=NOW + offset)
    assert verdict.active is active
    if active:
        assert (verdict.source, verdict.expires_at) == (AccessSource.GRACE, NOW)
    else:
        assert verdict.reason is DenialReason.PAST_DUE


def test_a_grace_that_would_run_past_year_9999_ends_at_the_last_moment() -> None:
    late = datetime.max.replace(tzinfo=UTC) - timedelta(days=1)
    verdict = decide_now(sub("past_due", past_due_since=late), at=late)
    assert (verdict.active, verdict.source) == (True, AccessSource.GRACE)
    assert verdict.expires_at == datetime.max.replace(tzinfo=UTC)


def test_grace_counts_from_past_due_since_not_the_period_end_nor_the_update() -> None:
    verdict = decide_now(
        sub(
            "past_due",
            current_period_end=NOW + timedelta(days=30),
            changed_at=NOW - timedelta(hours=1),
            past_due_since=NOW - timedelta(days=1),
        )
    )
    assert verdict.expires_at == NOW + timedelta(days=2)
    fallback = decide_now(sub("past_due", changed_at=NOW - timedelta(days=1)))
    assert fallback.expires_at == NOW + timedelta(days=2)
    assert decide_now(sub("past_due")).reason is DenialReason.PAST_DUE  # nothing to count from


@pytest.mark.parametrize(("days", "active"), [(0, False), (1, True)])
def test_a_zero_or_one_day_grace(days: int, active: bool) -> None:
    verdict = decide_now(sub("past_due", past_due_since=NOW), grace=timedelta(days=days))
    assert verdict.active is active
    if active:
        assert verdict.expires_at == NOW + timedelta(days=1)
        assert (
            decide_now(
                sub("past_due", past_due_since=NOW - timedelta(days=1)), grace=timedelta(days=1)
            ).active
            is False
        )


@pytest.mark.parametrize(("offset", "active"), [(-US, True), (timedelta(0), False), (US, False)])
def test_a_cancelling_subscription_ends_at_its_period_end(offset: timedelta, active: bool) -> None:
    verdict = decide_now(
        sub("active", current_period_end=NOW, cancel_at_period_end=True), at=NOW + offset
    )
    assert verdict.active is active
    assert verdict.reason is (None if active else DenialReason.CANCELED)


def test_an_active_subscription_past_its_period_end_still_grants_when_not_cancelling() -> None:
    verdict = decide_now(sub("active", current_period_end=NOW - timedelta(days=2)))
    assert (verdict.active, verdict.reason) == (True, None)


@pytest.mark.parametrize("status", ["active", "trialing", "past_due"])
@pytest.mark.parametrize(("offset", "active"), [(-US, True), (timedelta(0), False), (US, False)])
def test_cancel_at_ends_access_at_its_exact_instant(
    status: str, offset: timedelta, active: bool
) -> None:
    facts = sub(
        status,
        current_period_end=NOW + timedelta(days=30),
        trial_end=NOW + timedelta(days=30),
        past_due_since=NOW - timedelta(days=1),
        cancel_at=NOW,
    )
    verdict = decide_now(facts, at=NOW + offset)
    assert verdict.active is active
    if active:
        assert verdict.expires_at == NOW  # the earlier of cancel_at and the rule's own end
    else:
        assert verdict.reason is DenialReason.CANCELED


def test_a_cancel_at_after_the_period_end_does_not_extend_it() -> None:
    end = NOW + timedelta(days=3)
    facts = sub("active", current_period_end=end, cancel_at=NOW + timedelta(days=9))
    assert decide_now(facts).expires_at == end
    assert decide_now(sub("active", cancel_at=end)).expires_at == end  # no period end known


def test_an_active_subscription_has_no_reason() -> None:
    verdict = decide_now(sub("active", current_period_end=NOW + timedelta(days=1)))
    assert verdict == Decision(True, AccessSource.SUBSCRIPTION, PRO, NOW + timedelta(days=1))
    assert verdict.reason is None


@pytest.mark.parametrize(("quantity", "seats"), [(0, 1), (1, 1), (4, 4)])
def test_the_quantity_of_a_granting_row_is_at_least_one(quantity: int, seats: int) -> None:
    assert decide_now(sub("active", quantity=quantity)).quantity == seats


# Several subscriptions: the verdict never depends on their order.
PRECEDENCE = [
    # (rows, the winner's (source, tier, expiry days or None, quantity))
    ([sub("trialing", TEAM), sub("active", PRO)], (AccessSource.SUBSCRIPTION, PRO, None, 1)),
    ([sub("active", PRO), sub("active", TEAM)], (AccessSource.SUBSCRIPTION, TEAM, None, 1)),
    (
        [
            sub("active", TEAM, current_period_end=NOW + timedelta(days=3)),
            sub("active", TEAM, current_period_end=NOW + timedelta(days=9)),
        ],
        (AccessSource.SUBSCRIPTION, TEAM, 9, 1),
    ),
    (
        [sub("active", TEAM, current_period_end=NOW + timedelta(days=3)), sub("active", TEAM)],
        (AccessSource.SUBSCRIPTION, TEAM, None, 1),
    ),
    (
        [sub("active", TEAM, quantity=2), sub("active", TEAM, quantity=5)],
        (AccessSource.SUBSCRIPTION, TEAM, None, 5),
    ),
    ([sub("active", SAME), sub("active", TEAM)], (AccessSource.SUBSCRIPTION, SAME, None, 1)),
    ([sub("active", None), sub("active", PRO)], (AccessSource.SUBSCRIPTION, PRO, None, 1)),
    (
        [sub("past_due", TEAM, past_due_since=NOW), sub("trialing", PRO)],
        (AccessSource.TRIAL, PRO, None, 1),
    ),
    (
        [sub("active", TEAM), sub("active", STAFF, provider=EXEMPT_PROVIDER)],
        (AccessSource.EXEMPT, STAFF, None, 1),
    ),
]


@pytest.mark.parametrize(("rows", "winner"), PRECEDENCE)
def test_precedence_is_independent_of_row_order(
    rows: list[SubscriptionFacts], winner: tuple[AccessSource, int, int | None, int]
) -> None:
    source, tier, days, quantity = winner
    expiry = None if days is None else NOW + timedelta(days=days)
    for order in itertools.permutations(rows):
        verdict = decide_now(*order)
        assert (verdict.source, verdict.tier_id, verdict.expires_at, verdict.quantity) == (
            source,
            tier,
            expiry,
            quantity,
        ), order


def test_the_most_telling_reason_wins_whatever_the_order() -> None:
    rows = [sub("incomplete"), sub("paused"), sub("canceled"), sub("unpaid")]
    for order in itertools.permutations(rows):
        assert decide_now(*order).reason is DenialReason.PAST_DUE
    for order in itertools.permutations(rows[:3]):
        assert decide_now(*order).reason is DenialReason.CANCELED


@pytest.mark.parametrize(
    ("row", "reason"),
    [
        (sub("active", PRO, provider=EXEMPT_PROVIDER), None),  # tier no longer exempt
        (sub("active", None, provider=EXEMPT_PROVIDER), None),  # tier gone
        (sub("active", 999, provider=EXEMPT_PROVIDER), None),  # tier unknown
        (sub("canceled", STAFF, provider=EXEMPT_PROVIDER), DenialReason.CANCELED),
        (sub("paused", STAFF, provider=EXEMPT_PROVIDER), DenialReason.PAUSED),
    ],
)
def test_an_exempt_row_that_no_longer_qualifies_grants_nothing(
    row: SubscriptionFacts, reason: DenialReason | None
) -> None:
    verdict = decide_now(row)
    assert (verdict.active, verdict.source) == (False, AccessSource.FREE)
    assert verdict.reason is (reason or DenialReason.NO_SUBSCRIPTION)


def test_an_exempt_row_grants_without_expiry_and_with_its_quantity() -> None:
    verdict = decide_now(sub("active", STAFF, provider=EXEMPT_PROVIDER, quantity=0))
    assert verdict == Decision(True, AccessSource.EXEMPT, STAFF)
    verdict = decide_now(sub("active", STAFF, provider=EXEMPT_PROVIDER, quantity=3))
    assert verdict == Decision(True, AccessSource.EXEMPT, STAFF, quantity=3)


@pytest.mark.parametrize(
    ("row", "source"),
    [
        (sub("active", quantity=3), AccessSource.SUBSCRIPTION),
        (sub("trialing", quantity=3), AccessSource.TRIAL),
        (sub("past_due", quantity=3, past_due_since=NOW), AccessSource.GRACE),
    ],
    ids=["active", "trialing", "grace"],
)
def test_every_granting_status_carries_the_quantity(
    row: SubscriptionFacts, source: AccessSource
) -> None:
    verdict = decide_now(row)
    assert (verdict.source, verdict.quantity) == (source, 3)


def test_a_zero_day_grace_never_grants_even_before_the_failure() -> None:
    row = sub("past_due", past_due_since=NOW + timedelta(hours=1))
    assert decide_now(row, grace=timedelta(0)).reason is DenialReason.PAST_DUE
    assert decide_now(row, grace=timedelta(days=1)).active is True


def test_a_row_in_a_status_without_a_reason_does_not_hide_the_rows_after_it() -> None:
    # "active" on an exempt row whose tier is not exempt: no grant and no reason.
    silent = sub("active", PRO, provider=EXEMPT_PROVIDER)
    assert decide_now(silent).reason is DenialReason.NO_SUBSCRIPTION
    assert decide_now(silent, sub("active", TEAM)).tier_id == TEAM


@pytest.mark.parametrize("order", [1, -1])
def test_a_row_on_a_tier_outranks_a_tierless_one_whatever_its_sort_order(order: int) -> None:
    tiers = {**TIERS, 9: TierFacts(exempt=False, sort_order=-1000)}
    rows = [sub("active", None), sub("active", 9)][::order]
    assert decide(rows, [], tiers, NOW, GRACE).tier_id == 9


@pytest.mark.parametrize("order", [1, -1])
def test_among_rows_on_unknown_tiers_the_higher_tier_id_wins(order: int) -> None:
    rows = [sub("active", None), sub("active", 1)][::order]
    assert decide(rows, [], {}, NOW, GRACE).tier_id == 1  # tier 1 unknown to this catalog


@pytest.mark.parametrize(
    ("offset", "expected"),
    [(-US, NOW), (timedelta(0), None), (US, None)],
    ids=["before", "at", "after"],
)
def test_a_credit_expires_at_its_exact_instant(
    offset: timedelta, expected: datetime | None
) -> None:
    grant = GrantFacts(NOW - timedelta(days=1), NOW)
    end, expired = credit_window([grant], NOW + offset)
    assert end == expected
    assert expired is (expected is None)
    verdict = decide([], [grant], TIERS, NOW + offset, GRACE)
    assert verdict.active is (expected is not None)
    if expected is None:
        assert verdict.reason is DenialReason.CREDIT_EXPIRED


@pytest.mark.parametrize(("offset", "active"), [(-US, False), (timedelta(0), True), (US, True)])
def test_a_credit_starts_at_its_exact_instant(offset: timedelta, active: bool) -> None:
    end, _ = credit_window([GrantFacts(NOW, NOW + timedelta(days=1))], NOW + offset)
    assert (end is not None) is active


def test_a_grant_starting_exactly_when_the_window_ends_extends_it() -> None:
    grants = [GrantFacts(NOW - US, NOW + US), GrantFacts(NOW + US, NOW + timedelta(days=2))]
    assert credit_window(grants, NOW) == (NOW + timedelta(days=2), False)
    gap = [GrantFacts(NOW - US, NOW + US), GrantFacts(NOW + 2 * US, NOW + timedelta(days=2))]
    assert credit_window(gap, NOW) == (NOW + US, False)
