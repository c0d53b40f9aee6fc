"""Polar: every fixture parses to the documented snapshot or facts; the ordering table."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from tierline.billing.models import SubscriptionStatus
from tierline.billing.providers import WebhookRejected
from tierline.billing.providers.polar import LIFECYCLE, STATUS_MAP, PolarProvider
from tierline.billing.providers.standard_webhooks import WEBHOOK_ID_KEY

from ...fakes import fixture_names, load_fixture

PROVIDER = PolarProvider(["polar_whs_x"])
SUB = "e5149aae-e521-42b9-b24c-abb3d71eea2e"
CUSTOMER = "992fae2a-2a17-4b7a-8d9e-e287cf90131b"
PRODUCT = "d8dd2de1-21b7-4a41-8bc3-ce909c0cfe23"
PERIOD_END = datetime(2026, 7, 1, 10, 2, tzinfo=UTC)
#: fixture -> (status, cancel_at_period_end, cancel_at is set)
SNAPSHOTS = {
    "subscription.created": (SubscriptionStatus.INCOMPLETE, False, False),
    "subscription.active": (SubscriptionStatus.ACTIVE, False, False),
    "subscription.updated": (SubscriptionStatus.ACTIVE, False, False),
    "subscription.past_due": (SubscriptionStatus.PAST_DUE, False, False),
    "subscription.canceled": (SubscriptionStatus.ACTIVE, True, True),
    "subscription.uncanceled": (SubscriptionStatus.ACTIVE, False, False),
    "subscription.revoked": (SubscriptionStatus.CANCELED, False, True),
}


def parse(name: str, **extra: Any) -> Any:
    return PROVIDER.parse({**load_fixture("polar", name), **extra})


def test_the_fixtures_cover_every_documented_lifecycle_event() -> None:
    assert set(SNAPSHOTS) | {"order.created", "order.paid"} | {
        "checkout.created",
        "checkout.updated",
    } == set(fixture_names("polar"))


@pytest.mark.parametrize("name", sorted(SNAPSHOTS))
def test_subscription_events_give_a_snapshot(name: str) -> None:
    event = parse(name, **{WEBHOOK_ID_KEY: "msg_1"})
    status, at_period_end, has_cancel_at = SNAPSHOTS[name]
    snap = event.subscription
    assert (event.event_id, event.type, event.provider) == ("msg_1", name, "polar")
    assert snap is not None
    assert (snap.external_id, snap.status, snap.account_ref, snap.customer_id) == (
        SUB,
        status,
        "org_42",
        CUSTOMER,
    )
    # The product's metadata tier first, then the product id.
    assert snap.tier_keys == ("pro", PRODUCT)
    assert snap.current_period_end == PERIOD_END
    assert snap.cancel_at_period_end is at_period_end
    assert (snap.cancel_at is not None) is has_cancel_at
    assert snap.updated_at == datetime.fromisoformat(
        load_fixture("polar", name)["data"]["modified_at"]
    )
    assert snap.rank == LIFECYCLE.rank(name, status)


def test_order_paid_is_a_payment_and_order_created_unpaid_is_not() -> None:
    paid = parse("order.paid").data
    assert paid["amount_paid"] == 1000
    assert paid["payment_id"] == "57d4e2a7-3e0a-4c8b-8a2a-7b6f0e6c4d21"
    assert (paid["currency"], paid["billing_reason"]) == ("usd", "subscription_create")
    assert (paid["subscription_id"], paid["customer_id"], paid["account_ref"]) == (
        SUB,
        CUSTOMER,
        "org_42",
    )
    assert parse("order.created").data["amount_paid"] is None


def test_checkouts_carry_the_account_and_the_customer_once_it_exists() -> None:
    opened, done = parse("checkout.created").data, parse("checkout.updated").data
    assert (opened["account_ref"], opened["customer_id"], opened["status"]) == (
        "org_42",
        None,
        "open",
    )
    assert (done["customer_id"], done["status"]) == (CUSTOMER, "succeeded")


def test_the_account_falls_back_to_the_customers_external_id() -> None:
    payload = load_fixture("polar", "subscription.active")
    payload["data"]["metadata"] = {}
    snap = PROVIDER.parse(payload).subscription
    assert snap is not None and snap.account_ref == "org_42"
    payload["data"]["customer"]["external_id"] = None
    snap = PROVIDER.parse(payload).subscription
    assert snap is not None and snap.account_ref is None


def test_a_re_parsed_stored_event_without_headers_gets_a_derived_id() -> None:
    event = parse("subscription.updated")
    assert event.event_id == f"subscription.updated:{SUB}:2026-06-01T10:05:00.000000Z"


def test_ties_revoked_outranks_and_created_never_follows_active() -> None:
    revoked = LIFECYCLE.rank("subscription.revoked", SubscriptionStatus.CANCELED)
    active = LIFECYCLE.rank("subscription.active", SubscriptionStatus.ACTIVE)
    created = LIFECYCLE.rank("subscription.created", SubscriptionStatus.INCOMPLETE)
    updated_incomplete = LIFECYCLE.rank("subscription.updated", SubscriptionStatus.INCOMPLETE)
    assert created < updated_incomplete < active < revoked
    assert LIFECYCLE.rank("subscription.uncanceled", SubscriptionStatus.ACTIVE) < revoked


def test_unknown_events_parse_without_a_snapshot() -> None:
    event = PROVIDER.parse({"type": "benefit.created", "timestamp": None, "data": {"id": "b"}})
    assert (event.subscription, dict(event.data)) == (None, {})


@pytest.mark.parametrize(
    ("change", "path"),
    [
        ({"status": "gone"}, "data.status"),
        ({"current_period_end": 17}, "data.current_period_end"),
        ({"id": None}, "data.id"),
        ({"cancel_at_period_end": "yes"}, "data.cancel_at_period_end"),
    ],
)
def test_a_malformed_subscription_names_the_field(change: dict[str, Any], path: str) -> None:
    payload = load_fixture("polar", "subscription.updated")
    payload["data"].update(change)
    with pytest.raises(WebhookRejected, match=path) as info:
        PROVIDER.parse(payload)
    assert info.value.reason == "malformed_payload"


def test_an_event_without_a_type_is_malformed() -> None:
    with pytest.raises(WebhookRejected, match="'type'"):
        PROVIDER.parse({"data": {}})


def test_every_status_the_polar_sdk_names_is_mapped() -> None:
    from typing import get_args

    from polar.v2026_10.literals import SubscriptionStatus as PolarStatus

    assert set(get_args(PolarStatus)) == set(STATUS_MAP)
