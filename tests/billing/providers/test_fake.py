"""The fake provider: a real signed-webhook implementation for demos and offline tests."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tierline.billing.models import SubscriptionStatus
from tierline.billing.providers import WebhookRejected, get_provider
from tierline.billing.providers.fake import EVENT_TYPES, FakeProvider, build_event, sign
from tierline.errors import ValidationError
from tierline.settings import TierlineSettings

from ...clock import FrozenClock
from ...fakes import fixture_names, load_fixture, signed_delivery

CLOCK = FrozenClock()
NOW = CLOCK()


def provider() -> FakeProvider:
    return FakeProvider(["fake-webhook-secret"], clock=CLOCK)


def deliver(payload: dict[str, Any]) -> Any:
    headers, body = signed_delivery("fake", payload, "fake-webhook-secret", int(NOW.timestamp()))
    p = provider()
    return p.parse(p.verify(headers, body))


def test_fixtures_cover_every_event_type() -> None:
    assert fixture_names("fake") == sorted(EVENT_TYPES)


def test_checkout_completed_fixture_carries_account_and_subscription() -> None:
    event = deliver(load_fixture("fake", "checkout.completed"))
    assert event.provider == "fake"
    assert event.event_id == "evt_fake_4f1c2a9e7b3d5c8a1e6f0b2d"
    assert event.type == "checkout.completed"
    assert event.occurred_at == NOW - timedelta(hours=1)
    sub = event.subscription
    assert sub is not None
    assert event.data == {
        "account_ref": "org_42",
        "customer_id": sub.customer_id,
        "subscription_id": sub.external_id,
    }
    assert sub.status is SubscriptionStatus.ACTIVE
    assert sub.tier_keys == ("pro",)
    assert sub.current_period_end == NOW - timedelta(hours=1) + timedelta(days=30)
    assert sub.updated_at == event.occurred_at


def test_subscription_fixtures_map_every_field() -> None:
    created = deliver(load_fixture("fake", "subscription.created")).subscription
    assert created is not None
    assert created.status is SubscriptionStatus.TRIALING
    assert created.trial_end == created.current_period_end
    updated = deliver(load_fixture("fake", "subscription.updated")).subscription
    assert updated is not None
    assert (updated.cancel_at_period_end, updated.items[0].quantity, updated.trial_end) == (True, 3, None)
    assert updated.current_period_end == NOW + timedelta(days=30)
    canceled = deliver(load_fixture("fake", "subscription.canceled")).subscription
    assert canceled is not None
    assert canceled.status is SubscriptionStatus.CANCELED
    # One account, one subscription: every fixture names the same one.
    assert created.external_id == updated.external_id == canceled.external_id
    assert created.account_ref == "org_42"


def test_build_event_round_trips_through_sign_verify_parse() -> None:
    payload = build_event(
        "subscription.updated",
        account_ref="acme",
        tier_key="team",
        status="past_due",
        subscription_id="sub_fake_given",
        period_days=7,
        now=NOW,
        quantity=4,
    )
    assert payload["id"].startswith("evt_fake_")
    event = deliver(payload)
    sub = event.subscription
    assert sub is not None
    assert sub.external_id == "sub_fake_given"
    assert sub.status is SubscriptionStatus.PAST_DUE
    assert sub.account_ref == "acme"
    assert sub.tier_keys == ("team",)
    assert sub.current_period_end == NOW + timedelta(days=7)
    assert sub.items[0].quantity == 4
    # Unix-seconds "now" works the same; ids are unique per event, stable per subscription.
    again = build_event(
        "subscription.updated", account_ref="acme", tier_key="t", now=NOW.timestamp()
    )
    assert again["created"] == payload["created"]
    assert again["id"] != payload["id"]
    assert (
        build_event("subscription.canceled", account_ref="acme", tier_key="t")["data"][
            "subscription"
        ]["status"]
        == "canceled"
    )


def test_build_event_rejects_bad_input() -> None:
    with pytest.raises(ValidationError, match=r"'refund'.*checkout\.completed"):
        build_event("refund", account_ref="a", tier_key="t")
    with pytest.raises(ValidationError, match=r"'gold'.*active"):
        build_event("subscription.created", account_ref="a", tier_key="t", status="gold")
    with pytest.raises(ValidationError, match="period_days"):
        build_event("subscription.created", account_ref="a", tier_key="t", period_days=-1)


def mutate(path: str, value: object) -> dict[str, Any]:
    payload = load_fixture("fake", "subscription.updated")
    target: Any = payload
    *parents, last = path.split(".")
    for key in parents:
        target = target[key]
    if value is ...:
        del target[last]
    else:
        target[last] = value
    return payload


@pytest.mark.parametrize(
    ("path", "value", "field"),
    [
        ("id", ..., "id"),
        ("type", 5, "type"),
        ("created", "yesterday", "created"),
        ("data", [], "data"),
        ("data.subscription", ..., "data.subscription"),
        ("data.subscription.status", "gold", "data.subscription.status"),
        ("data.subscription.id", "", "data.subscription.id"),
        ("data.subscription.quantity", -1, "data.subscription.quantity"),
        ("data.subscription.quantity", True, "data.subscription.quantity"),
        ("data.subscription.cancel_at_period_end", "yes", "data.subscription.cancel_at_period_end"),
        (
            "data.subscription.current_period_end",
            "2026-07-01",
            "data.subscription.current_period_end",
        ),
    ],
)
def test_malformed_payloads_name_the_field(path: str, value: object, field: str) -> None:
    with pytest.raises(WebhookRejected, match=f"'{field}'") as info:
        deliver(mutate(path, value))
    assert info.value.reason == "malformed_payload"


def test_unknown_event_types_parse_without_a_snapshot() -> None:
    event = deliver({"id": "evt_fake_x", "type": "invoice.paid", "created": 1, "data": {}})
    assert (event.type, event.subscription, dict(event.data)) == ("invoice.paid", None, {})


def test_registry_uses_the_fake_secret_setting() -> None:
    body = json.dumps(load_fixture("fake", "subscription.updated")).encode()
    ts = int(datetime.now(UTC).timestamp())
    p = get_provider("fake", TierlineSettings(fake_webhook_secret="demo-1,demo-2"))
    assert p.verify(sign(body, "demo-2", ts), body)["id"] == "evt_fake_0b1c2d3e4f5a6b7c8d9e0f1a"
    with pytest.raises(WebhookRejected) as info:
        p.verify(sign(body, "fake-webhook-secret", ts), body)
    assert info.value.reason == "bad_signature"
