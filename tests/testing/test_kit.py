"""``tierline.testing``: the clock, the signed events and the pytest fixtures host apps use."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tierline import Tierline
from tierline.access.status import AccessSource, DenialReason
from tierline.billing.result import IngestOutcome
from tierline.errors import ValidationError
from tierline.testing import FrozenClock, paddle_event, provider_event, stripe_event

CATALOG = """
[catalog]
free_tier = "free"

[tiers.free]
name = "Free"
exempt = true

[tiers.pro]
name = "Pro"
features = ["analyze"]
providers = { stripe = ["pro_monthly"], paddle = "pri_pro" }
"""


@pytest.fixture
def tierline_catalog(tmp_path: Path) -> Path:
    path = tmp_path / "tierline.toml"
    path.write_text(CATALOG, encoding="utf-8")
    return path


def test_a_stripe_subscription_then_past_due_then_grace_ends(
    tierline: Tierline, tierline_clock: FrozenClock
) -> None:
    created = stripe_event(
        "customer.subscription.created",
        account="user-42",
        tier="pro",
        catalog=tierline,
        now=tierline_clock,
    )
    result = tierline.ingest("stripe", created.headers, created.body)
    assert result.outcome is IngestOutcome.PROCESSED, result.detail
    assert json.loads(created.body)["type"] == "customer.subscription.created"
    item = created.payload["data"]["object"]["items"]["data"][0]
    assert item["price"]["lookup_key"] == "pro_monthly"  # the tier, mapped by the catalog
    status = tierline.status("user-42")
    assert (status.active, status.tier, status.source) == (True, "pro", AccessSource.SUBSCRIPTION)

    tierline_clock.advance(days=1)
    late = stripe_event(
        "customer.subscription.updated",
        account="user-42",
        tier="pro",
        status="past_due",
        catalog=tierline,
        now=tierline_clock,
    )
    assert tierline.ingest("stripe", late.headers, late.body).outcome is IngestOutcome.PROCESSED
    assert late.payload["data"]["object"]["status"] == "past_due"

    # Grace runs for the grace days (3) from when the subscription went past due.
    tierline_clock.advance(days=2, hours=23)
    assert tierline.status("user-42").active
    tierline_clock.advance(hours=1)
    ended = tierline.status("user-42")
    assert not ended.active
    assert ended.reason is DenialReason.PAST_DUE


def test_a_credit_expires_when_the_clock_passes_it(
    tierline: Tierline, tierline_clock: FrozenClock
) -> None:
    tierline.ensure_account("user-7")
    tierline.grant_credit("user-7", days=14, reason="support")
    tierline_clock.advance(days=13, hours=23)
    assert tierline.status("user-7").active
    tierline_clock.advance(hours=1, seconds=1)
    assert not tierline.status("user-7").active


def test_a_paddle_event_verifies_and_applies(
    tierline: Tierline, tierline_clock: FrozenClock
) -> None:
    event = paddle_event(
        "subscription.created", account="acme", tier="pro", catalog=tierline, now=tierline_clock
    )
    assert "Paddle-Signature" in event.headers
    result = tierline.ingest("paddle", event.headers, event.body)
    assert result.outcome is IngestOutcome.PROCESSED, result.detail
    assert tierline.status("acme").tier == "pro"


def test_an_event_signed_at_another_time_is_refused(
    tierline: Tierline, tierline_clock: FrozenClock
) -> None:
    stale = stripe_event(
        "customer.subscription.created", account="user-42", tier="pro_monthly", now=tierline_clock
    )
    tierline_clock.advance(hours=1)  # past Stripe's 5-minute tolerance
    assert tierline.ingest("stripe", stale.headers, stale.body).status_code == 400


def test_without_a_catalog_the_tier_is_the_providers_key(tierline_clock: FrozenClock) -> None:
    event = stripe_event(
        "customer.subscription.deleted", account="a", tier="pro_yearly", now=tierline_clock
    )
    obj = event.payload["data"]["object"]
    assert obj["status"] == "canceled"
    assert obj["items"]["data"][0]["price"]["lookup_key"] == "pro_yearly"
    assert event.payload["created"] == int(tierline_clock.timestamp())


def test_unknown_event_types_and_providers_name_the_valid_ones() -> None:
    with pytest.raises(ValidationError, match=r"'invoice\.paid'; valid types: .*customer"):
        stripe_event("invoice.paid", account="a", tier="pro")
    with pytest.raises(ValidationError, match="valid providers: stripe"):
        provider_event("braintree", "subscription.created", account="a", tier="pro")


def test_the_clock_refuses_naive_times_and_moves_both_ways() -> None:
    clock = FrozenClock()
    start = clock()
    assert clock.advance(days=-1, hours=24) == start
    with pytest.raises(ValueError, match="naive"):
        clock.set(start.replace(tzinfo=None))
