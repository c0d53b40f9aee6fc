"""Paddle Billing webhooks: cross-checked with the official SDK's verifier and its test vector."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest
from paddle_billing.Entities.Event import Event as PaddleEvent
from paddle_billing.Notifications import PaddleSignature, Secret, Verifier

from tierline.billing.models import SubscriptionStatus
from tierline.billing.providers import WebhookRejected
from tierline.billing.providers.paddle import (
    LIFECYCLE,
    PAYMENT_EVENTS,
    STATUS_MAP,
    SUBSCRIPTION_EVENTS,
    PaddleProvider,
    sign,
)

from ...fakes import fixture_names, load_fixture

SECRET = "pdl_ntfset_01jx2y8c9d0e1f2g3h4j5k6m7n_Qm9XcT4zL1pR8vW2yB6nE0sK3uH5aD7f"

# Published in Paddle's own SDK tests (tests/Unit/Notification/test_Verifier.py).
VECTOR_HEADER = (
    "ts=1696195954;h1=dummy;h1=d96299976a6eb066f484d7fde011ac56fc32b38fc9940bc419d6e537fdc6ef02"
)
VECTOR_BODY = b"hello-world"
VECTOR_SECRETS = [
    "pdl_ntf_01hbpjmytsa32fhr36nqgc3kgb_TjIG2BXbm83HPXqNfziwe506sBEdqL/4",
    "pdl_ntf_01hbpjmytsa32fhr36nqgc3kgb_vB/yIOnTOCWIvpBadM5jzBZPHc7OmdSo",
    "pdl_ntf_01hbpjmytsa32fhr36nqgc3kgb_WvRO0eL4Bj9rgYYIBZY6wZhG4EHy9jzh",
]


@dataclass
class SdkRequest:
    """What the SDK's Verifier reads from a request: ``headers.get`` and ``body`` bytes."""

    body: bytes
    headers: dict[str, str] = field(default_factory=dict)


def sdk_accepts(headers: dict[str, str], body: bytes, secrets: list[str]) -> bool:
    try:
        return bool(Verifier().verify(SdkRequest(body, headers), [Secret(s) for s in secrets]))
    except ConnectionRefusedError:  # the SDK's way of saying no secret matched
        return False


def body_of(name: str) -> bytes:
    return json.dumps(load_fixture("paddle", name)).encode()


def test_paddles_published_vector_verifies_with_ours() -> None:
    provider = PaddleProvider(VECTOR_SECRETS, clock=lambda: 1696195954)
    # The signature and timestamp pass; only then is the (non-JSON) body looked at.
    with pytest.raises(WebhookRejected) as info:
        provider.verify({"paddle-signature": VECTOR_HEADER}, VECTOR_BODY)
    assert info.value.reason == "malformed_json"
    with pytest.raises(WebhookRejected) as info:
        PaddleProvider(VECTOR_SECRETS[:2], clock=lambda: 1696195954).verify(
            {"Paddle-Signature": VECTOR_HEADER}, VECTOR_BODY
        )
    assert info.value.reason == "bad_signature"
    assert sign(VECTOR_BODY, VECTOR_SECRETS[2], 1696195954)["Paddle-Signature"] == (
        "ts=1696195954;" + VECTOR_HEADER.rsplit(";", 1)[1]
    )


def test_our_signature_passes_the_official_verifier_and_theirs_passes_ours() -> None:
    body = body_of("subscription.updated")
    headers = sign(body, SECRET)
    assert sdk_accepts(headers, body, [SECRET])
    assert not sdk_accepts(headers, body, ["pdl_ntfset_other"])
    ts = int(time.time())
    theirs = PaddleSignature.calculate_hmac(SECRET, f"{ts}:".encode() + body).hexdigest()
    payload = PaddleProvider([SECRET]).verify({"Paddle-Signature": f"ts={ts};h1={theirs}"}, body)
    assert payload["event_type"] == "subscription.updated"


def test_forged_stale_future_and_missing_fail_in_both() -> None:
    body = body_of("subscription.activated")
    now = int(time.time())
    provider = PaddleProvider([SECRET])
    cases = [
        (sign(body, "pdl_ntfset_attacker", now), "bad_signature"),
        (sign(body, SECRET, now - 30), "stale_timestamp"),
        (sign(body, SECRET, now + 30), "stale_timestamp"),
        ({}, "missing_signature"),
    ]
    for headers, expected in cases:
        with pytest.raises(WebhookRejected) as info:
            provider.verify(headers, body)
        assert info.value.reason == expected
        assert not sdk_accepts(headers, body, [SECRET])


def test_default_tolerance_is_the_sdks_five_seconds() -> None:
    body = body_of("subscription.activated")
    provider = PaddleProvider([SECRET], clock=lambda: 1_780_315_200)
    assert provider.tolerance_seconds == Verifier().maximum_variance == 5
    assert provider.verify(sign(body, SECRET, 1_780_315_195), body)
    with pytest.raises(WebhookRejected, match="tolerance 5 s"):
        provider.verify(sign(body, SECRET, 1_780_315_194), body)


def test_rotation_several_h1_values_and_several_secrets() -> None:
    body = body_of("subscription.created")
    now = int(time.time())
    old = sign(body, "pdl_old", now)["Paddle-Signature"]
    new_h1 = sign(body, "pdl_new", now)["Paddle-Signature"].split(";")[1]
    both = {"Paddle-Signature": f"{old};{new_h1}"}
    for secrets in (["pdl_new"], ["pdl_old"], ["pdl_x", "pdl_new"]):
        assert PaddleProvider(secrets).verify(both, body)
        assert sdk_accepts(both, body, secrets)
    assert not sdk_accepts(both, body, ["pdl_x"])
    with pytest.raises(WebhookRejected, match="1 tried") as info:
        PaddleProvider(["pdl_x"]).verify(both, body)
    assert info.value.reason == "bad_signature"


def test_fixtures_cover_every_subscription_and_payment_event_and_the_sdk_reads_them() -> None:
    assert set(fixture_names("paddle")) == SUBSCRIPTION_EVENTS | PAYMENT_EVENTS
    for name in fixture_names("paddle"):
        payload = load_fixture("paddle", name)
        sdk_event = PaddleEvent.from_dict(payload)
        assert str(sdk_event.event_type) == payload["event_type"] == name
        assert sdk_event.data.id == payload["data"]["id"]


def parse(name: str) -> Any:
    return PaddleProvider([SECRET]).parse(load_fixture("paddle", name))


def iso(value: str) -> datetime:
    return datetime.fromisoformat(value)


@pytest.mark.parametrize(
    ("name", "status", "rank"),
    [
        ("subscription.created", SubscriptionStatus.TRIALING, 1),
        ("subscription.imported", SubscriptionStatus.ACTIVE, 2),
        ("subscription.trialing", SubscriptionStatus.TRIALING, 101),
        ("subscription.activated", SubscriptionStatus.ACTIVE, 102),
        ("subscription.updated", SubscriptionStatus.ACTIVE, 202),
        ("subscription.past_due", SubscriptionStatus.PAST_DUE, 202),
        ("subscription.paused", SubscriptionStatus.PAUSED, 202),
        ("subscription.resumed", SubscriptionStatus.ACTIVE, 202),
        ("subscription.canceled", SubscriptionStatus.CANCELED, 10_303),
    ],
)
def test_every_subscription_event_gives_a_ranked_snapshot(
    name: str, status: SubscriptionStatus, rank: int
) -> None:
    payload = load_fixture("paddle", name)
    data = payload["data"]
    event = parse(name)
    assert (event.provider, event.event_id, event.type) == ("paddle", payload["event_id"], name)
    assert event.occurred_at == iso(payload["occurred_at"])
    assert event.data["notification_id"] == payload["notification_id"]
    snap = event.subscription
    assert snap is not None
    assert (snap.status, snap.rank) == (status, rank)
    assert snap.external_id == data["id"]
    assert snap.customer_id == data["customer_id"]
    assert snap.account_ref == "org_42"
    assert snap.updated_at == iso(data["updated_at"])
    period = data["current_billing_period"]
    assert snap.current_period_end == (iso(period["ends_at"]) if period else None)


def test_created_carries_the_transaction_and_the_trial_end() -> None:
    payload = load_fixture("paddle", "subscription.created")
    event = parse("subscription.created")
    assert event.data["transaction_id"] == payload["data"]["transaction_id"]
    snap = event.subscription
    assert snap is not None
    item = payload["data"]["items"][0]
    assert snap.trial_end == iso(item["trial_dates"]["ends_at"])
    assert snap.tier_keys == ("pro", item["price"]["id"], item["price"]["product_id"])
    assert parse("subscription.activated").subscription.trial_end is None


def test_updated_scheduled_cancel_product_tier_and_quantity() -> None:
    item = load_fixture("paddle", "subscription.updated")["data"]["items"][0]
    snap = parse("subscription.updated").subscription
    assert snap is not None
    assert snap.cancel_at_period_end is True
    assert snap.cancel_at == snap.current_period_end == iso("2026-07-01T11:00:00+00:00")
    assert snap.items[0].quantity == 5
    # No price custom_data here: the product's tier comes first, then the ids.
    assert snap.tier_keys == ("team", item["price"]["id"], item["price"]["product_id"])
    past_due = parse("subscription.past_due").subscription
    assert past_due is not None and past_due.cancel_at_period_end is False
    assert "product" not in load_fixture("paddle", "subscription.past_due")["data"]["items"][0]
    assert past_due.tier_keys[0] == "pro"


def test_a_scheduled_cancel_before_the_period_end_is_a_date_not_the_flag() -> None:
    payload = load_fixture("paddle", "subscription.updated")
    change = payload["data"]["scheduled_change"]
    change["effective_at"] = "2026-06-20T08:30:00.000000Z"
    snap = PaddleProvider([SECRET]).parse(payload).subscription
    assert snap is not None
    assert (snap.cancel_at, snap.cancel_at_period_end) == (iso("2026-06-20T08:30:00+00:00"), False)
    change["effective_at"] = None  # unsaid: Paddle cancels at the period end
    snap = PaddleProvider([SECRET]).parse(payload).subscription
    assert snap is not None and (snap.cancel_at, snap.cancel_at_period_end) == (None, True)
    change.update(action="pause", effective_at="2026-07-01T11:00:00.000000Z")
    snap = PaddleProvider([SECRET]).parse(payload).subscription
    assert snap is not None and (snap.cancel_at, snap.cancel_at_period_end) == (None, False)


def test_imported_is_an_active_subscription_with_every_item() -> None:
    payload = load_fixture("paddle", "subscription.imported")
    payload["data"]["items"].append(json.loads(json.dumps(payload["data"]["items"][0])))
    payload["data"]["items"][1]["quantity"] = 4
    payload["data"]["items"][1]["price"].update(id="pri_addon", custom_data=None)
    del payload["data"]["items"][1]["product"]
    event = PaddleProvider([SECRET]).parse(payload)
    snap = event.subscription
    assert snap is not None
    assert (snap.status, snap.account_ref, snap.external_id) == (
        SubscriptionStatus.ACTIVE,
        "org_42",
        payload["data"]["id"],
    )
    assert [(item.keys[0], item.quantity) for item in snap.items] == [("pro", 1), ("pri_addon", 4)]
    assert "transaction_id" not in event.data


@pytest.mark.parametrize("name", sorted(PAYMENT_EVENTS))
def test_transactions_give_the_payment_facts_an_invoice_gives(name: str) -> None:
    payload = load_fixture("paddle", name)
    txn = payload["data"]
    event = parse(name)
    assert event.subscription is None
    assert event.data == {
        "notification_id": payload["notification_id"],
        "transaction_id": txn["id"],
        "subscription_id": "sub_01jx3k8v2m9q4r7t5w6y8z0a1b",
        "customer_id": "ctm_01jx3k7h5n2p8q4r6s9t1v3w5x",
        "account_ref": "org_42",
        "amount_paid": 3157,
        "currency": "USD",
        "origin": "subscription_recurring",
    }


def test_a_first_checkout_transaction_has_no_subscription_yet() -> None:
    payload = load_fixture("paddle", "transaction.paid")
    payload["data"].update(subscription_id=None, custom_data=None, origin="web")
    payload["data"]["details"]["totals"]["grand_total"] = "0"  # a trial's zero transaction
    data = PaddleProvider([SECRET]).parse(payload).data
    assert (data["subscription_id"], data["account_ref"], data["amount_paid"]) == (None, None, 0)
    payload["data"]["details"]["totals"]["grand_total"] = ""
    assert PaddleProvider([SECRET]).parse(payload).data["amount_paid"] is None
    del payload["data"]["details"]
    assert PaddleProvider([SECRET]).parse(payload).data["amount_paid"] is None


@pytest.mark.parametrize("amount", ["12.50", "-100", "1e3", " 5", "\uff11\uff12"])
def test_an_amount_that_is_not_minor_units_is_malformed(amount: str) -> None:
    payload = load_fixture("paddle", "transaction.completed")
    payload["data"]["details"]["totals"]["grand_total"] = amount
    with pytest.raises(WebhookRejected, match=r"'data\.details\.totals\.grand_total'") as info:
        PaddleProvider([SECRET]).parse(payload)
    assert info.value.reason == "malformed_payload"


def test_the_table_ranks_every_subscription_event_and_status() -> None:
    assert set(LIFECYCLE.events) == SUBSCRIPTION_EVENTS
    assert set(STATUS_MAP.values()) <= set(LIFECYCLE.statuses)  # every status it sends
    assert LIFECYCLE.terminal == {SubscriptionStatus.CANCELED}
    # Paddle sends subscription.updated beside every specific event: the specific one of the
    # same millisecond never loses to a created snapshot, and canceled outranks them all.
    created = LIFECYCLE.rank("subscription.created", SubscriptionStatus.ACTIVE)
    updated = LIFECYCLE.rank("subscription.updated", SubscriptionStatus.TRIALING)
    canceled = LIFECYCLE.rank("subscription.updated", SubscriptionStatus.CANCELED)
    assert created < updated < canceled


def test_price_tier_then_product_tier_across_items() -> None:
    payload = load_fixture("paddle", "subscription.activated")
    items = payload["data"]["items"]
    extra = json.loads(json.dumps(items[0]))
    extra["price"].update(id="pri_seats", product_id="pro_seats", custom_data=None)
    extra["product"].update(id="pro_seats", custom_data={"tierline_tier": "seats"})
    items.append(extra)
    items[0]["product"]["custom_data"] = {"tierline_tier": "pro-product"}
    snap = PaddleProvider([SECRET]).parse(payload).subscription
    assert snap is not None
    assert snap.tier_keys == (
        "pro",
        "pro-product",
        items[0]["price"]["id"],
        items[0]["price"]["product_id"],
        "seats",
        "pri_seats",
        "pro_seats",
    )


def test_other_event_types_parse_without_a_snapshot() -> None:
    payload = {
        "event_id": "evt_01jx3p0a1b2c3d4e5f6g7h8j9k",
        "event_type": "transaction.ready",
        "occurred_at": "2024-10-12T07:20:50.52Z",  # Paddle's documented example precision
        "notification_id": "ntf_01jx3p0a2c4e6g8j0l2n4q6s8u",
        "data": {"id": "txn_01jx3k8r4s6t8v0w2x4y6z8a0b", "status": "completed"},
    }
    event = PaddleProvider([SECRET]).parse(payload)
    assert (event.type, event.subscription) == ("transaction.ready", None)
    assert dict(event.data) == {"notification_id": payload["notification_id"]}
    assert event.occurred_at == datetime(2024, 10, 12, 7, 20, 50, 520000, tzinfo=UTC)


@pytest.mark.parametrize(
    ("mutation", "field"),
    [
        (lambda p: p.pop("event_id"), "event_id"),
        (lambda p: p.update(occurred_at="yesterday"), "occurred_at"),
        (lambda p: p.update(occurred_at="2026-06-01T12:00:00"), "occurred_at"),
        (lambda p: p.update(data=None), "data"),
        (lambda p: p["data"].update(status="inactive"), "data.status"),
        (lambda p: p["data"].update(custom_data="org_42"), "data.custom_data"),
        (lambda p: p["data"]["items"][0].pop("price"), "data.items[0].price"),
        (lambda p: p["data"].update(scheduled_change=[]), "data.scheduled_change"),
        (
            lambda p: p["data"]["current_billing_period"].update(ends_at=1780315200),
            "data.current_billing_period.ends_at",
        ),
    ],
)
def test_malformed_notifications_name_the_field(mutation: Any, field: str) -> None:
    payload = load_fixture("paddle", "subscription.activated")
    mutation(payload)
    with pytest.raises(WebhookRejected, match=f"'{field}'".replace("[", r"\[")) as info:
        PaddleProvider([SECRET]).parse(payload)
    assert info.value.reason == "malformed_payload"


@pytest.mark.parametrize("name", fixture_names("paddle"))
def test_every_fixture_signed_by_us_is_accepted_by_the_sdk_and_parses(name: str) -> None:
    body = body_of(name)
    headers = sign(body, SECRET)
    assert sdk_accepts(headers, body, [SECRET])
    provider = PaddleProvider([SECRET])
    assert provider.parse(provider.verify(headers, body)).type == name
