"""Realistic Stripe, Paddle and fake payloads through verify -> parse -> apply -> status."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tierline import Tierline
from tierline.access.status import AccessSource
from tierline.billing.result import IngestOutcome

from .inbox_helpers import (
    SECRET_SETTINGS,
    add_tier,
    deliver,
    events,
    fixture,
    subscriptions,
)

MakeTierline = Callable[..., Tierline]
ACCOUNT = "org_42"  # the account every fixture names
STRIPE_CUSTOMER = "cus_SGhT4xVb2KqM8n"
STRIPE_SUBSCRIPTION = "sub_1RLm9bHx4Yq2ZpW3kT6vN8cD"
# The access each subscription status gives, as (active, source); None: not asserted here
# (past-due grace is the access policy's business, tested with it).
ACCESS = {
    "trialing": (True, AccessSource.TRIAL),
    "active": (True, AccessSource.SUBSCRIPTION),
    "paused": (False, None),
    "canceled": (False, None),
    "incomplete": (False, None),
}


@pytest.fixture
def tl(make_tierline: MakeTierline) -> Tierline:
    tl = make_tierline(**SECRET_SETTINGS)
    add_tier(
        tl,
        "pro",
        {
            "stripe": ("pro_monthly",),
            "fake": ("pro",),
            # The Paddle fixtures name the tier by price custom_data, one only by its price id.
            "paddle": ("pro", "pri_01jx2z4b6c8d0f2g4h6k8m0n2p"),
        },
    )
    return tl


def assert_access(tl: Tierline, status: str) -> None:
    [sub] = subscriptions(tl)
    assert (sub["account"], sub["status"]) == (ACCOUNT, status)
    expected = ACCESS.get(status)
    if expected is None:
        return
    access = tl.status(ACCOUNT)
    assert access.active is expected[0]
    if expected[0]:
        assert (access.source, access.tier) == (expected[1], "pro")


def test_a_stripe_subscription_lifecycle(tl: Tierline) -> None:
    # (fixture, the outcome, the subscription status after it), in the order Stripe sends them.
    steps = [
        ("checkout.session.completed", IngestOutcome.PROCESSED, "incomplete"),
        ("customer.subscription.created", IngestOutcome.PROCESSED, "trialing"),
        ("invoice.paid", IngestOutcome.PROCESSED, "trialing"),
        ("customer.subscription.updated", IngestOutcome.PROCESSED, "active"),
        ("invoice.paid.pre_basil", IngestOutcome.PROCESSED, "active"),
        ("customer.subscription.updated.pre_basil", IngestOutcome.PROCESSED, "past_due"),
        ("customer.subscription.deleted", IngestOutcome.PROCESSED, "canceled"),
        # Canceled is final: later snapshots (a test clock, a replayed fixture) never reopen it.
        ("customer.subscription.paused", IngestOutcome.PROCESSED, "canceled"),
        ("customer.subscription.resumed", IngestOutcome.PROCESSED, "canceled"),
        ("invoice.payment_failed", IngestOutcome.IGNORED, "canceled"),
    ]
    for name, outcome, status in steps:
        result = deliver(tl, "stripe", fixture("stripe", name))
        assert result.outcome is outcome, (name, result)
        assert_access(tl, status)
    [sub] = subscriptions(tl)
    assert (sub["external_id"], sub["customer_id"]) == (STRIPE_SUBSCRIPTION, STRIPE_CUSTOMER)
    assert len(events(tl)) == len(steps)


def test_a_late_stripe_event_does_not_undo_newer_state(tl: Tierline) -> None:
    deliver(tl, "stripe", fixture("stripe", "customer.subscription.resumed"))
    late = deliver(tl, "stripe", fixture("stripe", "customer.subscription.deleted"))

    assert late.outcome is IngestOutcome.PROCESSED and "stale snapshot ignored" in late.detail
    assert_access(tl, "active")


def _without_metadata(name: str) -> dict[str, object]:
    payload = fixture("stripe", name)
    payload["data"]["object"]["metadata"] = {}  # type: ignore[index]
    return payload


def test_a_stripe_subscription_before_its_checkout_is_replayed_by_the_checkout(
    tl: Tierline,
) -> None:
    early = deliver(tl, "stripe", _without_metadata("customer.subscription.created"))
    paid = deliver(tl, "stripe", fixture("stripe", "invoice.paid"))

    assert early.outcome is paid.outcome is IngestOutcome.UNMAPPED
    assert f"no account known for customer {STRIPE_CUSTOMER}" in early.detail
    assert subscriptions(tl) == []

    checkout = deliver(tl, "stripe", fixture("stripe", "checkout.session.completed"))

    assert checkout.outcome is IngestOutcome.PROCESSED
    assert "replayed 2 unmapped event(s)" in checkout.detail
    assert_access(tl, "trialing")
    assert [row.status for row in events(tl)] == ["processed"] * 3


def test_a_stripe_checkout_before_its_subscription_links_the_account(tl: Tierline) -> None:
    deliver(tl, "stripe", fixture("stripe", "checkout.session.completed"))
    [sub] = subscriptions(tl)
    assert (sub["account"], sub["tier"], sub["status"]) == (ACCOUNT, None, "incomplete")

    result = deliver(tl, "stripe", _without_metadata("customer.subscription.created"))

    assert result.outcome is IngestOutcome.PROCESSED
    assert_access(tl, "trialing")


def test_a_paddle_subscription_lifecycle(tl: Tierline) -> None:
    steps = [
        ("subscription.created", "trialing"),
        ("subscription.trialing", "trialing"),
        ("subscription.updated", "active"),
        ("subscription.past_due", "past_due"),
        ("subscription.paused", "paused"),
        ("subscription.resumed", "active"),
        ("subscription.canceled", "canceled"),
        # Paddle cannot update a canceled subscription: a later snapshot changes nothing.
        ("subscription.activated", "canceled"),
    ]
    for name, status in steps:
        result = deliver(tl, "paddle", fixture("paddle", name))
        assert result.outcome is IngestOutcome.PROCESSED, (name, result)
        assert_access(tl, status)
    assert {row.status for row in events(tl)} == {"processed"}


def test_the_fake_provider_fixtures(tl: Tierline) -> None:
    steps = [
        ("checkout.completed", "active"),
        ("subscription.created", "trialing"),
        ("subscription.updated", "active"),
        ("subscription.canceled", "canceled"),
    ]
    for name, status in steps:
        assert deliver(tl, "fake", fixture("fake", name)).outcome is IngestOutcome.PROCESSED
        assert_access(tl, status)
