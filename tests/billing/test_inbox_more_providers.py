"""Polar, Whop and Lemon Squeezy fixtures through verify -> parse -> apply -> status, every dialect.

Each provider's documented lifecycle takes an account from free to paid to cancelled; a retry
is a duplicate; an older snapshot never undoes a newer one; a payment converts a referral.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from tierline import Tierline
from tierline.billing.result import IngestOutcome

from ..clock import FrozenClock
from .inbox_helpers import (
    SECRET_SETTINGS,
    add_tier,
    deliver,
    events,
    fixture,
    link_tier,
    refer,
    referral_catalog,
    signed,
    subscriptions,
)

MakeTierline = Callable[..., Tierline]
ACCOUNT = "org_42"
P, IGN, U = IngestOutcome.PROCESSED, IngestOutcome.IGNORED, IngestOutcome.UNMAPPED
LINKS = {
    "polar": ("pro",),  # the product's metadata tierline_tier
    "whop": ("plan_9XcRt5YhJk3mNa",),
    "lemonsqueezy": ("482117",),  # the variant id
}
#: provider -> [(fixture, outcome, subscription status after it (None: none yet), access)]
LIFECYCLES: dict[str, list[tuple[str, IngestOutcome, str | None, bool]]] = {
    "polar": [
        ("checkout.created", IGN, None, False),
        ("checkout.updated", P, None, False),
        ("subscription.created", P, "incomplete", False),
        ("subscription.active", P, "active", True),
        ("order.created", P, "active", True),
        ("order.paid", P, "active", True),
        ("subscription.updated", P, "active", True),
        ("subscription.past_due", P, "past_due", True),  # within the past-due grace
        ("subscription.canceled", P, "active", True),  # active until ends_at
        ("subscription.uncanceled", P, "active", True),
        ("subscription.revoked", P, "canceled", False),
    ],
    "whop": [
        ("membership.activated", P, "trialing", True),
        ("membership.trial_ending_soon", P, "trialing", True),
        ("payment.succeeded", P, "trialing", True),
        ("membership.updated", P, "active", True),
        ("membership.cancel_at_period_end_changed", P, "active", True),
        ("payment.failed", IGN, "active", True),
        ("membership.deactivated", P, "expired", False),
    ],
    "lemonsqueezy": [
        # An order names no subscription: it waits (unmapped) until the subscription event
        # links the customer, which replays it.
        ("order_created", U, None, False),
        ("subscription_created", P, "active", True),
        ("subscription_payment_success", P, "active", True),
        ("subscription_updated", P, "active", True),
        # Recorded; its custom data links the customer (the status comes from subscriptions).
        ("subscription_payment_failed", P, "active", True),
        ("subscription_paused", P, "paused", False),
        ("subscription_unpaused", P, "active", True),
        ("subscription_payment_recovered", P, "active", True),
        ("subscription_cancelled", P, "active", True),  # the grace period until ends_at
        ("subscription_resumed", P, "active", True),
        ("subscription_expired", P, "expired", False),
    ],
}


@pytest.fixture
def tl(make_tierline: MakeTierline) -> Tierline:
    tl = make_tierline(catalog=referral_catalog(), **SECRET_SETTINGS)
    add_tier(tl, "pro", dict(LINKS))
    return tl


def status_of(tl: Tierline) -> str | None:
    rows = subscriptions(tl)
    assert len(rows) <= 1
    return rows[0]["status"] if rows else None


@pytest.mark.parametrize("provider", sorted(LIFECYCLES))
def test_free_to_paid_to_cancelled(tl: Tierline, provider: str) -> None:
    assert tl.status(ACCOUNT).active is False
    for name, outcome, status, access in LIFECYCLES[provider]:
        result = deliver(tl, provider, fixture(provider, name))
        assert result.outcome is outcome, (name, result)
        assert status_of(tl) == status, name
        assert tl.status(ACCOUNT).active is access, name
        if access:
            assert tl.status(ACCOUNT).tier == "pro"
    [sub] = subscriptions(tl)
    assert (sub["account"], sub["tier"], sub["provider"]) == (ACCOUNT, "pro", provider)
    assert len(events(tl)) == len(LIFECYCLES[provider])
    assert {row.status for row in events(tl)} <= {"processed", "ignored"}


@pytest.mark.parametrize("provider", sorted(LIFECYCLES))
def test_a_retried_delivery_is_a_duplicate(tl: Tierline, provider: str) -> None:
    name = LIFECYCLES[provider][-1][0]
    headers, body = signed(provider, fixture(provider, name), tl.ctx.clock())
    assert tl.ingest(provider, headers, body).outcome is IngestOutcome.PROCESSED
    assert tl.ingest(provider, headers, body).outcome is IngestOutcome.DUPLICATE
    assert len(events(tl)) == 1


@pytest.mark.parametrize(
    ("provider", "newer", "older"),
    [
        ("polar", "subscription.uncanceled", "subscription.canceled"),
        ("whop", "membership.cancel_at_period_end_changed", "membership.updated"),
        ("lemonsqueezy", "subscription_resumed", "subscription_cancelled"),
    ],
)
def test_an_older_snapshot_never_undoes_a_newer_one(
    tl: Tierline, provider: str, newer: str, older: str
) -> None:
    deliver(tl, provider, fixture(provider, newer))
    before = subscriptions(tl)
    late = deliver(tl, provider, fixture(provider, older))
    assert late.outcome is IngestOutcome.PROCESSED
    assert "stale snapshot ignored" in late.detail
    assert subscriptions(tl) == before


@pytest.mark.parametrize(
    ("provider", "payment"),
    [
        ("polar", "order.paid"),
        ("whop", "payment.succeeded"),
        ("lemonsqueezy", "subscription_payment_success"),
    ],
)
def test_a_payment_converts_the_referral_once(tl: Tierline, provider: str, payment: str) -> None:
    refer(tl, "referrer", ACCOUNT)
    first = deliver(tl, provider, fixture(provider, payment))
    assert first.outcome is IngestOutcome.PROCESSED
    assert "converted" in first.detail
    again = fixture(provider, payment)
    again["data"]["id"] = "another-payment"
    assert "converted" not in deliver(tl, provider, again).detail


def test_an_old_lemonsqueezy_delivery_beyond_the_maximum_age_is_refused(
    tl: Tierline, clock: FrozenClock
) -> None:
    clock.set(datetime(2026, 6, 1, 10, 4, tzinfo=UTC) + timedelta(days=3, seconds=1))
    result = deliver(tl, "lemonsqueezy", fixture("lemonsqueezy", "subscription_updated"))
    assert (result.outcome, result.status_code) == (IngestOutcome.REJECTED, 400)
    assert "stale" in result.detail or "updated_at" in result.detail
    assert events(tl) == []


def test_an_unmapped_polar_event_replays_from_its_stored_body(tl: Tierline) -> None:
    payload = fixture("polar", "subscription.active")
    payload["data"]["product"]["metadata"] = {}  # links to no tier: the product id only
    first = deliver(tl, "polar", payload)
    assert first.outcome is IngestOutcome.UNMAPPED

    link_tier(tl, "pro", "polar", payload["data"]["product_id"])
    [replayed] = tl.inbox.replay_all("unmapped")

    # The stored body has no webhook-id header: the replay still applies it once.
    assert replayed.outcome is IngestOutcome.PROCESSED
    assert status_of(tl) == "active" and tl.status(ACCOUNT).active
    assert [row.external_id for row in events(tl)] == [first.event_id]
