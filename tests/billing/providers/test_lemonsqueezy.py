"""Lemon Squeezy: X-Signature, the derived dedup key, the maximum event age, the fixtures."""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tierline.billing.models import SubscriptionStatus
from tierline.billing.providers import WebhookRejected, sign_for
from tierline.billing.providers.lemonsqueezy import (
    DEFAULT_MAX_EVENT_AGE_SECONDS,
    LIFECYCLE,
    LemonSqueezyProvider,
)

from ...fakes import fixture_names, load_fixture

SECRET = "ls_signing_secret"
#: The fixtures' times are 2026-06-01T10:00Z onwards.
NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
PROVIDER = LemonSqueezyProvider([SECRET], clock=lambda: NOW)
RENEWS = datetime(2026, 7, 1, 10, 2, tzinfo=UTC)
SNAPSHOTS = {
    "subscription_created": SubscriptionStatus.ACTIVE,
    "subscription_updated": SubscriptionStatus.ACTIVE,
    "subscription_paused": SubscriptionStatus.PAUSED,
    "subscription_unpaused": SubscriptionStatus.ACTIVE,
    "subscription_cancelled": SubscriptionStatus.ACTIVE,
    "subscription_resumed": SubscriptionStatus.ACTIVE,
    "subscription_expired": SubscriptionStatus.EXPIRED,
}
PAYMENTS = {
    "subscription_payment_success": 1000,
    "subscription_payment_recovered": 1000,
    "subscription_payment_failed": None,
    "order_created": 1000,
}


def body_of(name: str) -> bytes:
    return json.dumps(load_fixture("lemonsqueezy", name)).encode()


def test_the_fixtures_cover_every_documented_subscription_and_order_event() -> None:
    assert set(SNAPSHOTS) | set(PAYMENTS) == set(fixture_names("lemonsqueezy"))


def test_the_signature_is_the_hex_hmac_of_the_raw_body() -> None:
    body = body_of("subscription_created")
    expected = hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    assert sign_for("lemonsqueezy", body, SECRET) == {"X-Signature": expected}
    assert PROVIDER.verify({"x-signature": expected.upper()}, body)["meta"]
    rotated = LemonSqueezyProvider(["old_secret", SECRET], clock=lambda: NOW)
    assert rotated.verify({"X-Signature": expected}, body)
    for headers, sent in (
        ({"X-Signature": expected}, body + b"\n"),
        (sign_for("lemonsqueezy", body, "another"), body),
        ({"X-Signature": "zz"}, body),
    ):
        with pytest.raises(WebhookRejected) as info:
            PROVIDER.verify(headers, sent)
        assert info.value.reason == "bad_signature"
    with pytest.raises(WebhookRejected) as missing:
        PROVIDER.verify({}, body)
    assert missing.value.reason == "missing_signature"
    with pytest.raises(WebhookRejected, match="TIERLINE_LEMONSQUEEZY_WEBHOOK_SECRET"):
        LemonSqueezyProvider([]).verify(sign_for("lemonsqueezy", body, ""), body)


def test_a_delivery_older_than_the_maximum_age_is_refused_as_stale() -> None:
    body = body_of("subscription_updated")  # updated_at 2026-06-01T10:04Z
    updated = datetime(2026, 6, 1, 10, 4, tzinfo=UTC)
    limit = timedelta(seconds=DEFAULT_MAX_EVENT_AGE_SECONDS)
    assert LemonSqueezyProvider([SECRET], clock=lambda: updated + limit).verify(
        sign_for("lemonsqueezy", body, SECRET), body
    )
    for now in (updated + limit + timedelta(seconds=1), updated - limit - timedelta(seconds=1)):
        late = LemonSqueezyProvider([SECRET], clock=lambda now=now: now)
        with pytest.raises(WebhookRejected, match="updated_at") as info:
            late.verify(sign_for("lemonsqueezy", body, SECRET), body)
        assert info.value.reason == "stale_timestamp"
    # The bound is a setting.
    strict = LemonSqueezyProvider([SECRET], tolerance_seconds=60, clock=lambda: NOW)
    with pytest.raises(WebhookRejected, match="tolerance 60 s"):
        strict.verify(sign_for("lemonsqueezy", body, SECRET), body)
    # A forged old body is a bad signature, never "stale".
    with pytest.raises(WebhookRejected) as forged:
        strict.verify(sign_for("lemonsqueezy", body, "another"), body)
    assert forged.value.reason == "bad_signature"


def test_the_dedup_key_is_event_name_object_and_updated_at() -> None:
    event = PROVIDER.parse(load_fixture("lemonsqueezy", "subscription_updated"))
    assert event.event_id == (
        "subscription_updated:subscriptions:413921:2026-06-01T10:04:00.000000Z"
    )
    again = PROVIDER.parse(load_fixture("lemonsqueezy", "subscription_updated"))
    assert again.event_id == event.event_id
    later = load_fixture("lemonsqueezy", "subscription_updated")
    later["data"]["attributes"]["updated_at"] = "2026-06-01T10:05:00.000000Z"
    assert PROVIDER.parse(later).event_id != event.event_id


@pytest.mark.parametrize("name", sorted(SNAPSHOTS))
def test_subscription_events_give_a_snapshot(name: str) -> None:
    event = PROVIDER.parse(load_fixture("lemonsqueezy", name))
    snap = event.subscription
    assert snap is not None
    assert (snap.external_id, snap.status, snap.account_ref, snap.customer_id) == (
        "413921",
        SNAPSHOTS[name],
        "org_42",
        "3547810",
    )
    assert snap.tier_keys == ("482117", "318945")  # variant id, then product id
    assert snap.items[0].quantity == 1
    assert snap.rank == LIFECYCLE.rank(name, SNAPSHOTS[name])


def test_cancelled_is_active_until_ends_at_and_expired_is_final() -> None:
    cancelled = PROVIDER.parse(load_fixture("lemonsqueezy", "subscription_cancelled"))
    snap = cancelled.subscription
    assert snap is not None
    assert (snap.status, snap.cancel_at, snap.cancel_at_period_end) == (
        SubscriptionStatus.ACTIVE,
        RENEWS,
        True,
    )
    expired = LIFECYCLE.rank("subscription_expired", SubscriptionStatus.EXPIRED)
    assert expired > LIFECYCLE.rank("subscription_resumed", SubscriptionStatus.ACTIVE)
    assert SubscriptionStatus.EXPIRED in LIFECYCLE.terminal


@pytest.mark.parametrize("name", sorted(PAYMENTS))
def test_payments_and_orders_give_payment_facts(name: str) -> None:
    facts = PROVIDER.parse(load_fixture("lemonsqueezy", name)).data
    assert facts["amount_paid"] == PAYMENTS[name]
    assert (facts["customer_id"], facts["account_ref"]) == ("3547810", "org_42")
    expected_sub = None if name == "order_created" else "413921"
    assert facts["subscription_id"] == expected_sub
    assert facts["payment_id"] == load_fixture("lemonsqueezy", name)["data"]["id"]
    assert facts["currency"] == "USD"


@pytest.mark.parametrize(
    ("change", "path"),
    [
        ({"status": "gone"}, "data.attributes.status"),
        ({"variant_id": True}, "data.attributes.variant_id"),
        ({"renews_at": "tomorrow"}, "data.attributes.renews_at"),
    ],
)
def test_a_malformed_subscription_names_the_field(change: dict[str, Any], path: str) -> None:
    payload = load_fixture("lemonsqueezy", "subscription_updated")
    payload["data"]["attributes"].update(change)
    with pytest.raises(WebhookRejected, match=path) as info:
        PROVIDER.parse(payload)
    assert info.value.reason == "malformed_payload"
