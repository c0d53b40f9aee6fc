"""Each kind of webhook truth, for every provider that has the concept, on every dialect.

Kinds: a known subscription's status never waits on the price mapping; (timestamp, rank) order
and final terminal states; past-due grace from when payment failed; the plan item of a
multi-item subscription; the customer-to-account link scoped by provider.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest
from sqlalchemy import select

from tierline import AccessSource, DenialReason, Tierline
from tierline.billing.models import Subscription
from tierline.billing.result import IngestOutcome

from ..clock import FrozenClock
from .drivers import ACCOUNT, CUSTOMER, DRIVERS, SUBSCRIPTION, Driver, link_tiers
from .inbox_helpers import SECRET_SETTINGS, deliver, events, fixture, subscriptions

MakeTierline = Callable[..., Tierline]
MULTI_ITEM = [name for name, driver in DRIVERS.items() if driver.multi_item]


@pytest.fixture
def tl(make_tierline: MakeTierline) -> Tierline:
    tl = make_tierline(past_due_grace_days=3, **SECRET_SETTINGS)
    link_tiers(tl)
    return tl


def _row(tl: Tierline) -> Subscription:
    with tl.ctx.sessions() as session:
        return session.scalars(select(Subscription)).one()


# -- 1. a known subscription's status never depends on the price mapping ----------------
@pytest.mark.parametrize("provider", sorted(DRIVERS))
@pytest.mark.parametrize(("status", "access"), [("canceled", False), ("past_due", True)])
def test_a_status_change_on_an_unmapped_price_applies_and_keeps_the_tier(
    tl: Tierline, clock: FrozenClock, provider: str, status: str, access: bool
) -> None:
    driver = DRIVERS[provider]
    now = clock()
    deliver(tl, provider, driver.event("created", "active", now, [("team", 2)]))
    action = "canceled" if status == "canceled" else "updated"
    later = now + timedelta(minutes=5)

    result = deliver(tl, provider, driver.event(action, status, later, [(None, 1)]))

    assert result.outcome is IngestOutcome.PROCESSED
    assert "warning: price unmapped" in result.detail
    [sub] = subscriptions(tl)
    assert (sub["status"], sub["tier"], sub["quantity"]) == (status, "team", 2)
    last = events(tl)[-1]
    assert last.status == "processed"
    assert last.last_error is not None and last.last_error.startswith("warning: price unmapped")
    access_now = tl.status(ACCOUNT)
    assert access_now.active is access
    if access:  # past due on the stored tier, in grace from the failure
        assert (access_now.source, access_now.tier) == (AccessSource.GRACE, "team")
        assert access_now.expires_at == later + timedelta(days=3)


@pytest.mark.parametrize("provider", sorted(DRIVERS))
def test_an_unseen_subscription_on_an_unmapped_price_stays_unmapped(
    tl: Tierline, clock: FrozenClock, provider: str
) -> None:
    result = deliver(
        tl, provider, DRIVERS[provider].event("created", "active", clock(), [(None, 1)])
    )

    assert result.outcome is IngestOutcome.UNMAPPED
    assert subscriptions(tl) == [] and events(tl)[0].status == "unmapped"


def test_a_checkout_link_without_a_tier_is_not_a_known_subscription(tl: Tierline) -> None:
    deliver(tl, "stripe", fixture("stripe", "checkout.session.completed"))
    payload = fixture("stripe", "customer.subscription.created")
    for item in payload["data"]["object"]["items"]["data"]:
        item["price"]["lookup_key"] = "gold_unlinked"

    result = deliver(tl, "stripe", payload)

    assert result.outcome is IngestOutcome.UNMAPPED
    [sub] = subscriptions(tl)
    assert (sub["status"], sub["tier"]) == ("incomplete", None)


# -- 2. ordering: (timestamp, rank); terminal states are final --------------------------
@pytest.mark.parametrize("provider", ["stripe", "fake"])
@pytest.mark.parametrize("order", [("updated", "created"), ("created", "updated")])
def test_a_created_snapshot_of_the_same_second_never_overwrites_an_updated_one(
    tl: Tierline, clock: FrozenClock, provider: str, order: tuple[str, str]
) -> None:
    driver, now = DRIVERS[provider], clock()
    snapshots = {
        "created": driver.event("created", "incomplete", now),
        "updated": driver.event("updated", "active", now),
    }
    for action in order:
        assert deliver(tl, provider, snapshots[action]).outcome is IngestOutcome.PROCESSED

    assert subscriptions(tl)[0]["status"] == "active"
    assert tl.status(ACCOUNT).active


def test_an_equal_timestamp_and_rank_does_not_overwrite(tl: Tierline, clock: FrozenClock) -> None:
    driver, now = DRIVERS["fake"], clock()
    deliver(tl, "fake", driver.event("updated", "active", now, [("pro", 2)]))
    second = deliver(tl, "fake", driver.event("updated", "active", now, [("pro", 5)]))

    assert "stale snapshot ignored" in second.detail
    assert subscriptions(tl)[0]["quantity"] == 2


@pytest.mark.parametrize("provider", sorted(DRIVERS))
def test_a_terminal_status_is_final(tl: Tierline, clock: FrozenClock, provider: str) -> None:
    driver, now = DRIVERS[provider], clock()
    deliver(tl, provider, driver.event("created", "active", now))
    deliver(tl, provider, driver.event("canceled", "canceled", now + timedelta(minutes=1)))

    reopened = deliver(tl, provider, driver.event("updated", "active", now + timedelta(hours=1)))

    assert "stale snapshot ignored" in reopened.detail
    assert subscriptions(tl)[0]["status"] == "canceled"
    assert tl.status(ACCOUNT).reason is DenialReason.CANCELED


def test_a_later_terminal_snapshot_still_updates_a_terminal_row(
    tl: Tierline, clock: FrozenClock
) -> None:
    driver, now = DRIVERS["fake"], clock()
    deliver(tl, "fake", driver.event("canceled", "canceled", now))
    deliver(tl, "fake", driver.event("updated", "expired", now + timedelta(minutes=1)))
    assert subscriptions(tl)[0]["status"] == "expired"


# -- 3. past-due grace counts from when payment failed ----------------------------------
@pytest.mark.parametrize("provider", sorted(DRIVERS))
def test_past_due_since_is_set_on_entry_kept_while_past_due_and_cleared_after(
    tl: Tierline, clock: FrozenClock, provider: str
) -> None:
    driver, now = DRIVERS[provider], clock()

    def at(minutes: int) -> timedelta:
        return timedelta(minutes=minutes)

    deliver(tl, provider, driver.event("created", "active", now))
    assert _row(tl).past_due_since is None
    deliver(tl, provider, driver.event("updated", "past_due", now + at(10)))
    failed = _row(tl).past_due_since
    assert failed is not None and abs(failed - (now + at(10))) < timedelta(seconds=1)
    # A renewal moved the period 30 days on; the grace still ends 3 days after the failure.
    status = tl.status(ACCOUNT)
    assert (status.source, status.expires_at) == (AccessSource.GRACE, failed + timedelta(days=3))

    deliver(tl, provider, driver.event("updated", "past_due", now + at(20)))
    assert _row(tl).past_due_since == failed  # still past due: kept
    deliver(tl, provider, driver.event("updated", "active", now + at(30)))
    assert _row(tl).past_due_since is None
    deliver(tl, provider, driver.event("updated", "past_due", now + at(40)))
    again = _row(tl).past_due_since
    assert again is not None and again > failed

    clock.set(again + timedelta(days=3))
    tl.ctx.cache.clear()
    assert tl.status(ACCOUNT).reason is DenialReason.PAST_DUE


# -- 4. multi-item subscriptions: the plan item decides ---------------------------------
@pytest.mark.parametrize("provider", MULTI_ITEM)
def test_the_plan_item_decides_tier_seats_and_period_not_the_first_item(
    tl: Tierline, clock: FrozenClock, provider: str
) -> None:
    driver: Driver = DRIVERS[provider]
    now = clock()
    result = deliver(
        tl, provider, driver.event("created", "active", now, [(None, None), ("team", 3)])
    )

    assert result.outcome is IngestOutcome.PROCESSED and "warning" not in result.detail
    [sub] = subscriptions(tl)
    assert (sub["tier"], sub["quantity"]) == ("team", 3)
    status = tl.status(ACCOUNT)
    assert (status.tier, status.seats) == ("team", 15)
    # The plan's own period end (30 days), not the add-on's (10 days).
    assert status.expires_at is not None
    assert abs(status.expires_at - (now + timedelta(days=30))) < timedelta(seconds=1)


@pytest.mark.parametrize("provider", MULTI_ITEM)
def test_items_on_two_tiers_give_the_higher_tier_with_a_warning(
    tl: Tierline, clock: FrozenClock, provider: str
) -> None:
    driver = DRIVERS[provider]
    result = deliver(
        tl, provider, driver.event("created", "active", clock(), [("team", 4), ("pro", 2)])
    )
    reversed_items = driver.event(
        "updated", "active", clock() + timedelta(minutes=1), [("pro", 2), ("team", 4)]
    )

    assert (
        "warning: subscription" in result.detail and "the highest, 'team', applies" in result.detail
    )
    assert subscriptions(tl)[0]["quantity"] == 4
    deliver(tl, provider, reversed_items)
    [sub] = subscriptions(tl)
    assert (sub["tier"], sub["quantity"]) == ("team", 4)  # whatever the item order


@pytest.mark.parametrize("provider", sorted(DRIVERS))
@pytest.mark.parametrize("quantity", [0, 1, None])
def test_a_plan_quantity_of_zero_one_or_none(
    tl: Tierline, clock: FrozenClock, provider: str, quantity: int | None
) -> None:
    deliver(
        tl, provider, DRIVERS[provider].event("created", "active", clock(), [("team", quantity)])
    )

    stored = subscriptions(tl)[0]["quantity"]
    assert stored == (1 if quantity is None else quantity)
    assert tl.status(ACCOUNT).seats == 5  # seats x max(quantity, 1)


# -- 8. the customer-to-account link is per provider ------------------------------------
def test_a_customer_id_claimed_at_one_provider_never_links_another_providers_customer(
    tl: Tierline, clock: FrozenClock
) -> None:
    # A fake checkout claims the id of a real Stripe customer for another account.
    checkout = DRIVERS["fake"].event("created", "active", clock())
    checkout["type"] = "checkout.completed"
    checkout["data"]["account_ref"] = "intruder"
    checkout["data"]["customer_id"] = CUSTOMER["stripe"]
    checkout["data"]["subscription"]["account_ref"] = "intruder"
    checkout["data"]["subscription"]["customer_id"] = CUSTOMER["stripe"]
    assert deliver(tl, "fake", checkout).outcome is IngestOutcome.PROCESSED

    stripe_event = DRIVERS["stripe"].event("created", "active", clock())
    stripe_event["data"]["object"]["metadata"] = {}  # names the customer only
    result = deliver(tl, "stripe", stripe_event)

    assert result.outcome is IngestOutcome.UNMAPPED
    assert f"no account known for customer {CUSTOMER['stripe']}" in result.detail
    assert [s["provider"] for s in subscriptions(tl)] == ["fake"]
    assert SUBSCRIPTION["stripe"] not in {s["external_id"] for s in subscriptions(tl)}
