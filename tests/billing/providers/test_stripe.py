"""Stripe webhooks: signatures cross-checked with the official SDK, documented event shapes."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from datetime import UTC, datetime
from typing import Any

import pytest
import stripe as stripe_sdk

from tierline.billing.models import SubscriptionStatus
from tierline.billing.providers import WebhookRejected
from tierline.billing.providers.stripe import STATUS_MAP, StripeProvider, sign

from ...fakes import fixture_names, load_fixture

SECRET = "whsec_test_4eC39HqLyjWDarjtT1zdp7dc"


def utc(ts: int) -> datetime:
    return datetime.fromtimestamp(ts, UTC)


def body_of(name: str) -> bytes:
    return json.dumps(load_fixture("stripe", name), indent=2).encode()


def parse(payload: dict[str, Any]) -> Any:
    return StripeProvider([SECRET]).parse(payload)


def test_our_signature_passes_the_official_sdk() -> None:
    body = body_of("customer.subscription.updated")
    header = sign(body, SECRET)["Stripe-Signature"]
    event = stripe_sdk.Webhook.construct_event(body, header, SECRET)
    assert event.id == "evt_1RLmA4Hx4Yq2ZpW3Mn5oP7qR"
    assert stripe_sdk.WebhookSignature.verify_header(body, header, SECRET, tolerance=300)
    with pytest.raises(stripe_sdk.SignatureVerificationError):
        stripe_sdk.WebhookSignature.verify_header(body, header, "whsec_other")
    stale = sign(body, SECRET, int(time.time()) - 301)["Stripe-Signature"]
    with pytest.raises(stripe_sdk.SignatureVerificationError, match="tolerance"):
        stripe_sdk.WebhookSignature.verify_header(body, stale, SECRET, tolerance=300)


def test_the_sdks_signature_passes_ours() -> None:
    body = body_of("invoice.paid")
    provider = StripeProvider([SECRET])
    header = stripe_sdk.WebhookSignature.generate_signature_header(body.decode(), SECRET)
    assert provider.verify({"stripe-signature": header}, body)["type"] == "invoice.paid"
    # The same signature computed as Stripe documents it, by hand.
    ts = int(time.time())
    digest = hmac.new(SECRET.encode(), f"{ts}.".encode() + body, hashlib.sha256).hexdigest()
    assert provider.verify({"Stripe-Signature": f"t={ts},v1={digest}"}, body)


def test_forged_stale_future_and_missing_signatures_fail_in_both() -> None:
    body = body_of("invoice.paid")
    provider = StripeProvider([SECRET])
    now = int(time.time())
    forged = sign(body, "whsec_attacker", now)
    stale = sign(body, SECRET, now - 400)
    future = sign(body, SECRET, now + 400)
    cases = [(forged, "bad_signature"), (stale, "stale_timestamp"), (future, "stale_timestamp")]
    for headers, expected in [*cases, ({}, "missing_signature")]:
        with pytest.raises(WebhookRejected) as info:
            provider.verify(headers, body)
        assert info.value.reason == expected
    for headers in (forged, stale):
        with pytest.raises(stripe_sdk.SignatureVerificationError):
            stripe_sdk.WebhookSignature.verify_header(
                body, headers["Stripe-Signature"], SECRET, 300
            )
    with pytest.raises(stripe_sdk.SignatureVerificationError):
        stripe_sdk.WebhookSignature.verify_header(body, None, SECRET, 300)


def test_rotation_several_v1_values_and_several_secrets_agree_with_the_sdk() -> None:
    body = body_of("checkout.session.completed")
    now = int(time.time())
    old = sign(body, "whsec_old", now)["Stripe-Signature"]
    new_sig = sign(body, "whsec_new", now)["Stripe-Signature"].split(",")[1]
    header = f"{old},{new_sig},v0={'0' * 64}"
    for secret in ("whsec_old", "whsec_new"):
        assert stripe_sdk.WebhookSignature.verify_header(body, header, secret, 300)
        assert StripeProvider([secret]).verify({"Stripe-Signature": header}, body)
    rotated = StripeProvider(["whsec_x", "whsec_old"]).verify({"Stripe-Signature": old}, body)
    assert rotated["type"] == "checkout.session.completed"
    with pytest.raises(WebhookRejected, match="2 tried"):
        StripeProvider(["whsec_x", "whsec_y"]).verify({"Stripe-Signature": header}, body)


def test_fixtures_cover_every_event_type_and_both_api_generations() -> None:
    types = {load_fixture("stripe", name)["type"] for name in fixture_names("stripe")}
    assert types == {
        "checkout.session.completed",
        "customer.subscription.created",
        "customer.subscription.updated",
        "customer.subscription.deleted",
        "customer.subscription.paused",
        "customer.subscription.resumed",
        "invoice.paid",
        "invoice.payment_failed",
    }
    versions = {load_fixture("stripe", name)["api_version"] for name in fixture_names("stripe")}
    assert versions == {"2025-03-31.basil", "2024-06-20"}
    for name in fixture_names("stripe"):
        event = stripe_sdk.Event.construct_from(load_fixture("stripe", name), "sk_test_x")
        assert event.object == "event"


def test_checkout_session_completed() -> None:
    payload = load_fixture("stripe", "checkout.session.completed")
    event = parse(payload)
    session = payload["data"]["object"]
    assert (event.provider, event.event_id, event.type) == (
        "stripe",
        payload["id"],
        "checkout.session.completed",
    )
    assert event.occurred_at == utc(payload["created"])
    assert event.subscription is None
    assert event.data == {
        "session_id": session["id"],
        "account_ref": "org_42",
        "customer_id": session["customer"],
        "subscription_id": session["subscription"],
        "mode": "subscription",
        "payment_status": "paid",
    }
    # Expanded ids (objects instead of strings) read the same.
    session["customer"] = {"id": "cus_expanded", "object": "customer"}
    assert parse(payload).data["customer_id"] == "cus_expanded"


def test_subscription_created_trialing_basil() -> None:
    payload = load_fixture("stripe", "customer.subscription.created")
    sub = payload["data"]["object"]
    snap = parse(payload).subscription
    assert snap is not None
    assert snap.external_id == sub["id"]
    assert snap.status is SubscriptionStatus.TRIALING
    assert snap.account_ref == "org_42"
    assert snap.customer_id == sub["customer"]
    price = sub["items"]["data"][0]["price"]
    assert snap.tier_keys == ("pro_monthly", price["id"], price["product"])
    assert "current_period_end" not in sub
    assert snap.items[0].current_period_end == utc(sub["items"]["data"][0]["current_period_end"])
    assert snap.trial_end == utc(sub["trial_end"])
    assert (snap.cancel_at_period_end, snap.items[0].quantity) == (False, 1)
    assert snap.updated_at == utc(payload["created"])


def test_subscription_updated_cancel_at_period_end_and_quantity() -> None:
    payload = load_fixture("stripe", "customer.subscription.updated")
    snap = parse(payload).subscription
    assert snap is not None
    assert snap.status is SubscriptionStatus.ACTIVE
    assert (snap.cancel_at_period_end, snap.items[0].quantity, snap.trial_end) == (True, 3, None)
    # Newer dashboards cancel "at period end" by setting cancel_at instead: a date, kept as one.
    sub = payload["data"]["object"]
    sub["cancel_at_period_end"] = False
    sub["cancel_at"] = sub["items"]["data"][0]["current_period_end"]
    snap = parse(payload).subscription
    assert snap is not None and not snap.cancel_at_period_end
    assert snap.cancel_at == datetime.fromtimestamp(sub["cancel_at"], UTC)
    sub["cancel_at"] = None
    snap = parse(payload).subscription
    assert snap is not None and not snap.cancel_at_period_end and snap.cancel_at is None


def test_pre_basil_period_end_is_read_from_the_subscription() -> None:
    payload = load_fixture("stripe", "customer.subscription.updated.pre_basil")
    sub = payload["data"]["object"]
    assert "current_period_end" not in sub["items"]["data"][0]
    snap = parse(payload).subscription
    assert snap is not None
    assert snap.status is SubscriptionStatus.PAST_DUE
    assert snap.current_period_end == utc(sub["current_period_end"])


@pytest.mark.parametrize(
    ("name", "status"),
    [
        ("customer.subscription.deleted", SubscriptionStatus.CANCELED),
        ("customer.subscription.paused", SubscriptionStatus.PAUSED),
        ("customer.subscription.resumed", SubscriptionStatus.ACTIVE),
    ],
)
def test_lifecycle_events_give_snapshots(name: str, status: SubscriptionStatus) -> None:
    payload = load_fixture("stripe", name)
    snap = parse(payload).subscription
    assert snap is not None
    assert snap.status is status
    assert snap.external_id == payload["data"]["object"]["id"]


def test_every_stripe_status_maps_and_unknown_ones_are_malformed() -> None:
    payload = load_fixture("stripe", "customer.subscription.updated")
    expected = {name: name for name in STATUS_MAP} | {"incomplete_expired": "expired"}
    for raw, normalized in expected.items():
        payload["data"]["object"]["status"] = raw
        snap = parse(payload).subscription
        assert snap is not None and snap.status.value == normalized
    payload["data"]["object"]["status"] = "zombie"
    with pytest.raises(WebhookRejected, match="'zombie'") as info:
        parse(payload)
    assert info.value.reason == "malformed_payload"


def test_tier_keys_fall_back_to_price_then_product_across_items() -> None:
    payload = load_fixture("stripe", "customer.subscription.updated")
    items = payload["data"]["object"]["items"]["data"]
    items[0]["price"]["lookup_key"] = None
    second = json.loads(json.dumps(items[0]))
    second["price"].update(id="price_seats", lookup_key="seats", product={"id": "prod_seats"})
    items.append(second)
    snap = parse(payload).subscription
    assert snap is not None
    assert snap.tier_keys == (
        items[0]["price"]["id"],
        items[0]["price"]["product"],
        "seats",
        "price_seats",
        "prod_seats",
    )


@pytest.mark.parametrize(
    "name", ["invoice.paid", "invoice.paid.pre_basil", "invoice.payment_failed"]
)
def test_invoices_name_their_subscription_in_either_api_generation(name: str) -> None:
    payload = load_fixture("stripe", name)
    invoice = payload["data"]["object"]
    event = parse(payload)
    assert event.subscription is None
    assert event.data == {
        "invoice_id": invoice["id"],
        "subscription_id": "sub_1RLm9bHx4Yq2ZpW3kT6vN8cD",
        "customer_id": invoice["customer"],
        "amount_paid": invoice["amount_paid"],
        "currency": "usd",
        "billing_reason": invoice["billing_reason"],
    }
    assert ("parent" in invoice) == (payload["api_version"] == "2025-03-31.basil")


def test_other_event_types_parse_without_a_snapshot() -> None:
    payload = load_fixture("stripe", "invoice.paid")
    payload["type"] = "invoice.finalized"
    event = parse(payload)
    assert (event.type, event.subscription, dict(event.data)) == ("invoice.finalized", None, {})


@pytest.mark.parametrize(
    ("mutation", "field"),
    [
        (lambda p: p.update(object="charge"), "object"),
        (lambda p: p.pop("id"), "id"),
        (lambda p: p.update(created="now"), "created"),
        (lambda p: p["data"].pop("object"), "data.object"),
        (lambda p: p["data"]["object"].update(metadata=[]), "data.object.metadata"),
        (lambda p: p["data"]["object"]["items"].update(data={}), "data.object.items.data"),
        (
            lambda p: p["data"]["object"]["items"]["data"][0].update(quantity="3"),
            "data.object.items.data[0].quantity",
        ),
        (lambda p: p["data"]["object"].update(trial_end=1.5), "data.object.trial_end"),
    ],
)
def test_malformed_events_name_the_field(mutation: Any, field: str) -> None:
    payload = load_fixture("stripe", "customer.subscription.updated")
    mutation(payload)
    with pytest.raises(WebhookRejected, match=f"'{field}'".replace("[", r"\[")) as info:
        parse(payload)
    assert info.value.reason == "malformed_payload"
