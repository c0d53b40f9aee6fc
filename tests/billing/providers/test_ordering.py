"""The lifecycle rank: one rule combining each provider's table, checked on every provider."""

from __future__ import annotations

import itertools

import pytest

from tierline.billing.models import SubscriptionStatus
from tierline.billing.providers import fake, paddle, stripe
from tierline.billing.providers.ordering import LifecycleOrder, event_ranks

ORDERS = {"stripe": stripe.LIFECYCLE, "paddle": paddle.LIFECYCLE, "fake": fake.LIFECYCLE}
#: Each provider's first event type (its created snapshot) and its plain update.
CREATED_UPDATED = {
    "stripe": ("customer.subscription.created", "customer.subscription.updated"),
    "paddle": ("subscription.created", "subscription.updated"),
    "fake": ("subscription.created", "subscription.updated"),
}
A = SubscriptionStatus.ACTIVE
T = SubscriptionStatus.TRIALING
I = SubscriptionStatus.INCOMPLETE  # noqa: E741 - the status's initial
C = SubscriptionStatus.CANCELED

TABLE = LifecycleOrder(
    events={"created": 0, "updated": 1, "deleted": 2},
    statuses={I: 0, T: 1, A: 2, C: 3},
    terminal=frozenset({C}),
)


def test_the_rank_is_terminal_band_then_event_then_status() -> None:
    assert TABLE.rank("created", I) == 0
    assert TABLE.rank("created", A) == 2
    assert TABLE.rank("updated", T) == 101
    assert TABLE.rank("deleted", C) == 10_203
    assert TABLE.rank("updated", C) == 10_103
    # Unknown event types rank lowest in their column, never above a known one.
    assert TABLE.rank("customer.subscription.future_thing", A) == 2


@pytest.mark.parametrize("value", [-1, 100])
def test_a_rank_outside_0_to_99_is_refused(value: int) -> None:
    with pytest.raises(ValueError, match=rf"'updated' is {value}; valid: 0\.\.99"):
        LifecycleOrder(events={"updated": value}, statuses={}, terminal=frozenset())
    with pytest.raises(ValueError, match=r"0\.\.99"):
        LifecycleOrder(events={}, statuses={A: value}, terminal=frozenset())


@pytest.mark.parametrize("provider", sorted(ORDERS))
def test_a_created_snapshot_never_outranks_an_update_of_the_same_second(provider: str) -> None:
    order = ORDERS[provider]
    created, updated = CREATED_UPDATED[provider]
    live = [s for s in order.statuses if s not in order.terminal]
    for before, after in itertools.product(live, live):
        assert order.rank(created, before) < order.rank(updated, after), (before, after)


@pytest.mark.parametrize("provider", sorted(ORDERS))
def test_within_one_event_type_the_status_follows_the_lifecycle(provider: str) -> None:
    order = ORDERS[provider]
    for event_type in order.events:
        ranks = [order.rank(event_type, s) for s in (I, T, A) if s in order.statuses]
        assert ranks == sorted(ranks) and len(set(ranks)) == len(ranks), event_type


@pytest.mark.parametrize("provider", sorted(ORDERS))
def test_terminal_states_outrank_every_other_snapshot(provider: str) -> None:
    order = ORDERS[provider]
    assert order.terminal
    ends = [order.rank(e, s) for e in order.events for s in order.terminal]
    others = [
        order.rank(e, s) for e in order.events for s in order.statuses if s not in order.terminal
    ]
    assert min(ends) > max(others)


@pytest.mark.parametrize("value", [0, 99])
def test_a_rank_at_either_end_of_0_to_99_is_accepted(value: int) -> None:
    order = LifecycleOrder(events={"created": value}, statuses={A: value})
    assert order.rank("created", A) == value * 100 + value


def test_a_status_the_table_does_not_name_ranks_0() -> None:
    order = LifecycleOrder(events={"created": 0, "updated": 1}, statuses={A: 2})
    assert order.rank("updated", T) == 100
    assert order.rank("updated", T) < order.rank("updated", A)


def test_event_ranks_number_the_groups_earliest_first() -> None:
    assert event_ranks(("created",), ("updated", "paused"), ("deleted",)) == {
        "created": 0,
        "updated": 1,
        "paused": 1,
        "deleted": 2,
    }
