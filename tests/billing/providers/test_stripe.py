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
from tierline.billing.providers.stripe import (
    CHECKOUT_EVENTS,
    INVOICE_EVENTS,
    LIFECYCLE,
    STATUS_MAP,
    SUBSCRIPTION_EVENTS,
    StripeProvider,
    expected_livemode,
    sign,
)

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
    payloads = [load_fixture("stripe", name) for name in fixture_names("stripe")]
    assert {payload["type"] for payload in payloads} == {
        *CHECKOUT_EVENTS,
        *SUBSCRIPTION_EVENTS,
        *INVOICE_EVENTS,
        "v1.billing.meter.error_report_triggered",  # a v2 thin event
    }
    snapshots = [p for p in payloads if p["object"] == "event"]
    assert {p["api_version"] for p in snapshots} == {"2025-03-31.basil", "2024-06-20"}
    for payload in snapshots:
        event = stripe_sdk.Event.construct_from(payload, "sk_test_x")
        assert event.object == "event"
        # The type is the file's name: one fixture per documented type.
        assert payload["type"] in fixture_names("stripe")


def test_a_thin_event_verifies_with_the_sdks_thin_parser_and_ours() -> None:
    body = body_of("v1.billing.meter.error_report_triggered")
    header = sign(body, SECRET)["Stripe-Signature"]
    client = stripe_sdk.StripeClient("sk_test_x")
    notification = client.parse_event_notification(body, header, SECRET)
    assert notification.id == "evt_test_65RNjHxLzRz2bZ1I316RNs1dDEqSQ6S7SSwMLGU5ZhF"
    provider = StripeProvider([SECRET])
    event = provider.parse(provider.verify({"Stripe-Signature": header}, body))
    assert (event.event_id, event.type, event.subscription) == (
        notification.id,
        "v1.billing.meter.error_report_triggered",
        None,
    )
    assert event.occurred_at == datetime(2026, 6, 1, 12, 3, tzinfo=UTC)
    assert event.livemode is False
    assert event.data == {
        "related_object_id": "mtr_test_61RNjGUxM0xWf3AO941HxLzRz2bZ1A3E",
        "related_object_type": "billing.meter",
    }
    # The SDK's snapshot-event parser refuses it: it is a different object, not a bad one.
    with pytest.raises(ValueError, match="thin event"):
        client.construct_event(body, header, SECRET)


def test_a_thin_event_without_related_object_still_parses() -> None:
    payload = load_fixture("stripe", "v1.billing.meter.error_report_triggered")
    del payload["related_object"]
    event = parse(payload)
    assert event.data == {"related_object_id": None, "related_object_type": None}
    payload["created"] = 1780315200
    with pytest.raises(WebhookRejected, match="'created'") as info:
        parse(payload)
    assert info.value.reason == "malformed_payload"


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
    assert snap.cancel_at is None


def test_cancel_at_is_a_date_not_the_period_end_flag() -> None:
    payload = load_fixture("stripe", "customer.subscription.updated")
    sub = payload["data"]["object"]
    period_end = sub["items"]["data"][0]["current_period_end"]
    sub["cancel_at_period_end"] = False
    sub["cancel_at"] = period_end - 86_400 * 10  # a date inside the period
    snap = parse(payload).subscription
    assert snap is not None
    assert (snap.cancel_at, snap.cancel_at_period_end) == (utc(period_end - 864_000), False)
    # Newer API versions set cancel_at to the period end along with the flag: both are kept.
    sub["cancel_at_period_end"] = True
    sub["cancel_at"] = period_end
    snap = parse(payload).subscription
    assert snap is not None
    assert (snap.cancel_at, snap.cancel_at_period_end) == (utc(period_end), True)
    sub["cancel_at"] = None
    sub["cancel_at_period_end"] = False
    snap = parse(payload).subscription
    assert snap is not None and (snap.cancel_at, snap.cancel_at_period_end) == (None, False)


def test_each_item_keeps_its_own_keys_quantity_and_period_end() -> None:
    payload = load_fixture("stripe", "customer.subscription.updated")
    items = payload["data"]["object"]["items"]["data"]
    addon = json.loads(json.dumps(items[0]))
    addon["price"].update(id="price_storage", lookup_key="storage_yearly", product="prod_storage")
    addon.update(quantity=None, current_period_end=items[0]["current_period_end"] + 86_400 * 300)
    items.insert(0, addon)  # an add-on listed first, on a yearly interval
    snap = parse(payload).subscription
    assert snap is not None
    assert [(item.keys[0], item.quantity, item.current_period_end) for item in snap.items] == [
        ("storage_yearly", None, utc(addon["current_period_end"])),
        ("pro_monthly", 3, utc(items[1]["current_period_end"])),
    ]
    assert snap.current_period_end is None  # basil: the subscription has no period of its own


def test_livemode_is_passed_through_on_the_event_and_the_snapshot() -> None:
    payload = load_fixture("stripe", "customer.subscription.updated")
    event = parse(payload)
    assert event.livemode is False and event.subscription is not None
    assert event.subscription.livemode is False
    payload["livemode"] = True
    payload["data"]["object"]["livemode"] = True
    event = parse(payload)
    assert event.livemode is True and event.subscription.livemode is True
    del payload["livemode"], payload["data"]["object"]["livemode"]
    event = parse(payload)
    assert event.livemode is None and event.subscription.livemode is None
    payload["livemode"] = "yes"
    with pytest.raises(WebhookRejected, match="'livemode'"):
        parse(payload)


@pytest.mark.parametrize(
    ("mode", "api_key", "expected"),
    [
        ("live", None, True),
        ("test", "sk_live_x", False),  # the setting wins over the key
        (None, "sk_live_51Hx", True),
        (None, "rk_live_51Hx", True),
        (None, "sk_test_51Hx", False),
        (None, "rk_test_51Hx", False),
        ("", "sk_test_51Hx", False),
        (None, None, None),
        (None, "pk_live_51Hx", None),  # a publishable key says nothing here
    ],
)
def test_expected_livemode(mode: str | None, api_key: str | None, expected: bool | None) -> None:
    assert expected_livemode(mode, api_key) is expected


def test_expected_livemode_refuses_an_unknown_mode() -> None:
    with pytest.raises(ValueError, match=r"'sandbox'.*live, test"):
        expected_livemode("sandbox", None)


def test_pre_basil_period_end_is_read_from_the_subscription() -> None:
    payload = load_fixture("stripe", "customer.subscription.updated.pre_basil")
    sub = payload["data"]["object"]
    assert "current_period_end" not in sub["items"]["data"][0]
    snap = parse(payload).subscription
    assert snap is not None
    assert snap.status is SubscriptionStatus.PAST_DUE
    assert snap.current_period_end == utc(sub["current_period_end"])


@pytest.mark.parametrize(
    ("name", "status", "rank"),
    [
        ("customer.subscription.created", SubscriptionStatus.TRIALING, 1),
        ("customer.subscription.trial_will_end", SubscriptionStatus.TRIALING, 101),
        ("customer.subscription.updated", SubscriptionStatus.ACTIVE, 102),
        ("customer.subscription.pending_update_applied", SubscriptionStatus.ACTIVE, 102),
        ("customer.subscription.pending_update_expired", SubscriptionStatus.ACTIVE, 102),
        ("customer.subscription.paused", SubscriptionStatus.PAUSED, 102),
        ("customer.subscription.resumed", SubscriptionStatus.ACTIVE, 102),
        ("customer.subscription.deleted", SubscriptionStatus.CANCELED, 10_203),
    ],
)
def test_lifecycle_events_give_ranked_snapshots(
    name: str, status: SubscriptionStatus, rank: int
) -> None:
    payload = load_fixture("stripe", name)
    snap = parse(payload).subscription
    assert snap is not None
    assert (snap.status, snap.rank) == (status, rank)
    assert snap.external_id == payload["data"]["object"]["id"]
    assert snap.updated_at == utc(payload["created"])


def test_ranks_order_same_second_snapshots_along_the_lifecycle() -> None:
    payload = load_fixture("stripe", "customer.subscription.created")
    payload["data"]["object"]["status"] = "incomplete"
    created_incomplete = parse(payload).subscription
    payload["data"]["object"]["status"] = "active"
    created_active = parse(payload).subscription
    payload["type"] = "customer.subscription.updated"
    updated_active = parse(payload).subscription
    payload["data"]["object"]["status"] = "trialing"
    updated_trialing = parse(payload).subscription
    payload["data"]["object"]["status"] = "incomplete_expired"
    updated_expired = parse(payload).subscription
    payload["type"] = "customer.subscription.deleted"
    payload["data"]["object"]["status"] = "canceled"
    deleted = parse(payload).subscription
    ranks = [
        s.rank  # type: ignore[union-attr]
        for s in (
            created_incomplete,
            created_active,
            updated_trialing,
            updated_active,
            updated_expired,
            deleted,
        )
    ]
    assert ranks == sorted(ranks) and len(set(ranks)) == len(ranks)


def test_the_table_ranks_every_subscription_event_and_status() -> None:
    assert set(LIFECYCLE.events) == SUBSCRIPTION_EVENTS
    assert set(LIFECYCLE.statuses) == set(STATUS_MAP.values())


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
    "name",
    [
        "invoice.paid",
        "invoice.payment_succeeded",
        "invoice.paid.pre_basil",
        "invoice.payment_failed",
    ],
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


def test_payment_succeeded_gives_exactly_the_facts_of_invoice_paid() -> None:
    paid = parse(load_fixture("stripe", "invoice.paid"))
    succeeded = parse(load_fixture("stripe", "invoice.payment_succeeded"))
    assert succeeded.type == "invoice.payment_succeeded"
    assert succeeded.data == paid.data and succeeded.data["amount_paid"] == 2900


def test_async_payment_succeeded_gives_the_checkout_facts() -> None:
    done = parse(load_fixture("stripe", "checkout.session.completed"))
    late = parse(load_fixture("stripe", "checkout.session.async_payment_succeeded"))
    assert late.type == "checkout.session.async_payment_succeeded"
    assert late.data == done.data and late.data["account_ref"] == "org_42"


def test_other_event_types_parse_without_a_snapshot() -> None:
    payload = load_fixture("stripe", "invoice.paid")
    payload["type"] = "invoice.finalized"
    event = parse(payload)
    assert (event.type, event.subscription, dict(event.data)) == ("invoice.finalized", None, {})


@pytest.mark.parametrize(
    ("mutation", "field"),
    [
        (lambda p: p.update(object="charge"), "object"),
        (lambda p: p["data"]["object"].update(livemode="live"), "data.object.livemode"),
        (lambda p: p["data"]["object"].update(cancel_at="soon"), "data.object.cancel_at"),
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


@pytest.mark.parametrize("name", fixture_names("stripe"))
def test_every_fixture_signed_by_us_is_accepted_by_the_sdk_and_parses(name: str) -> None:
    body = body_of(name)
    header = sign(body, SECRET)["Stripe-Signature"]
    client = stripe_sdk.StripeClient("sk_test_x")
    if load_fixture("stripe", name)["object"] == "v2.core.event":
        assert client.parse_event_notification(body, header, SECRET).id
    else:
        assert client.construct_event(body, header, SECRET).id
    provider = StripeProvider([SECRET])
    event = provider.parse(provider.verify({"Stripe-Signature": header}, body))
    assert event.type == load_fixture("stripe", name)["type"]
