"""The Stripe client end to end against the local fake Stripe API (Stripe's wire format)."""

from __future__ import annotations

import http.client
import json
from typing import Any
from urllib.parse import urlsplit

import pytest

from tierline.billing.stripe_api import (
    StripeAPIError,
    UnknownLookupKeyError,
    apply_coupon,
    create_checkout_session,
)
from tierline.errors import ConfigurationError, ProviderAPIError
from tierline.settings import TierlineSettings

from ..fakes.stripe_server import FakeStripe, decode_form, fake_stripe

__all__ = ["fake_stripe"]  # the fixture, imported so pytest finds it here


def settings(fake: FakeStripe, **overrides: str) -> TierlineSettings:
    return TierlineSettings(**{**fake.settings(), **overrides})


def checkout(fake: FakeStripe, **overrides: str | None) -> str:
    kwargs: dict[str, str | None] = {
        "account_ref": "org_42",
        "lookup_key": "pro_monthly",
        "success_url": "https://app.example.com/billing?checkout=success",
        "cancel_url": "https://app.example.com/billing?checkout=canceled",
        **overrides,
    }
    return create_checkout_session(settings(fake), **kwargs)  # type: ignore[arg-type]


def test_checkout_finds_the_price_by_lookup_key_and_sends_stripes_parameters(
    fake_stripe: FakeStripe,
) -> None:
    fake_stripe.seed_price("team_monthly")
    price_id = fake_stripe.seed_price("pro_monthly")
    url = checkout(fake_stripe, customer_email="owner@example.com")
    (session,) = fake_stripe.sessions.values()
    assert url == session["url"] == f"https://checkout.stripe.com/c/pay/{session['id']}"
    assert session["id"].startswith("cs_test_")
    listing, create = fake_stripe.requests
    assert (listing.method, listing.path) == ("GET", "/v1/prices")
    assert listing.form == {"lookup_keys": ["pro_monthly"], "active": "true"}
    assert (create.method, create.path, create.status) == ("POST", "/v1/checkout/sessions", 200)
    assert create.form == {
        "mode": "subscription",
        "line_items": [{"price": price_id, "quantity": "1"}],
        "client_reference_id": "org_42",
        "success_url": "https://app.example.com/billing?checkout=success",
        "cancel_url": "https://app.example.com/billing?checkout=canceled",
        "subscription_data": {"metadata": {"tierline_account": "org_42"}},
        "customer_email": "owner@example.com",
    }
    assert create.header("Authorization") == f"Bearer {fake_stripe.token}"
    assert create.header("Stripe-Version")  # the SDK pins its API version
    checkout(fake_stripe)
    assert "customer_email" not in fake_stripe.requests[-1].form


def test_unknown_or_inactive_lookup_key_names_the_key(fake_stripe: FakeStripe) -> None:
    fake_stripe.seed_price("legacy", active=False)
    for key in ("pro_yearly", "legacy"):
        with pytest.raises(UnknownLookupKeyError, match=f"'{key}'") as info:
            checkout(fake_stripe, lookup_key=key)
        assert isinstance(info.value, ConfigurationError)
    assert not fake_stripe.sessions
    assert [r.path for r in fake_stripe.requests] == ["/v1/prices", "/v1/prices"]


def test_apply_coupon_is_idempotent_by_key(fake_stripe: FakeStripe) -> None:
    sub_id = fake_stripe.seed_subscription()
    fake_stripe.seed_coupon("REFERRAL-1M")
    for _ in range(2):
        apply_coupon(
            settings(fake_stripe),
            subscription_id=sub_id,
            coupon="REFERRAL-1M",
            idempotency_key="tierline-referral-7",
        )
    first, second = fake_stripe.requests
    assert (first.method, first.path) == ("POST", f"/v1/subscriptions/{sub_id}")
    assert first.form == second.form == {"discounts": [{"coupon": "REFERRAL-1M"}]}
    assert first.header("Idempotency-Key") == second.header("Idempotency-Key")
    assert first.header("Idempotency-Key") == "tierline-referral-7"
    assert fake_stripe.applied_coupons(sub_id) == ["REFERRAL-1M"]
    apply_coupon(
        settings(fake_stripe),
        subscription_id=sub_id,
        coupon="REFERRAL-1M",
        idempotency_key="tierline-referral-8",
    )
    assert fake_stripe.applied_coupons(sub_id) == ["REFERRAL-1M", "REFERRAL-1M"]


@pytest.mark.parametrize(
    ("seed_coupon", "sub", "expected"),
    [
        (True, "sub_missing", r"HTTP 404, code resource_missing\): No such subscription: 'sub_"),
        (False, None, r"HTTP 400, code resource_missing\): No such coupon: 'GONE'"),
    ],
)
def test_api_refusals_become_one_line_errors(
    fake_stripe: FakeStripe, seed_coupon: bool, sub: str | None, expected: str
) -> None:
    if seed_coupon:
        fake_stripe.seed_coupon("GONE")
    sub_id = sub or fake_stripe.seed_subscription()
    with pytest.raises(StripeAPIError, match=expected) as info:
        apply_coupon(
            settings(fake_stripe), subscription_id=sub_id, coupon="GONE", idempotency_key="k"
        )
    assert isinstance(info.value, ProviderAPIError)
    assert "\n" not in str(info.value)
    assert info.value.code == "resource_missing"
    if sub is None:
        assert fake_stripe.applied_coupons(sub_id) == []


def test_auth_server_errors_and_reused_keys_are_mapped(fake_stripe: FakeStripe) -> None:
    fake_stripe.seed_price("pro_monthly")
    with pytest.raises(StripeAPIError, match=r"HTTP 401.*Invalid API Key") as info:
        create_checkout_session(
            settings(fake_stripe, stripe_api_key="sk_test_wrong"),
            account_ref="a",
            lookup_key="pro_monthly",
            success_url="https://x/s",
            cancel_url="https://x/c",
        )
    assert info.value.status == 401
    fake_stripe.fail_next(500, "An unknown error occurred")
    with pytest.raises(StripeAPIError, match=r"HTTP 500\): An unknown error occurred"):
        checkout(fake_stripe)
    sub_id = fake_stripe.seed_subscription()
    fake_stripe.seed_coupon("A")
    fake_stripe.seed_coupon("B")
    apply_coupon(settings(fake_stripe), subscription_id=sub_id, coupon="A", idempotency_key="k1")
    with pytest.raises(StripeAPIError, match=r"HTTP 400.*same parameters"):
        apply_coupon(
            settings(fake_stripe), subscription_id=sub_id, coupon="B", idempotency_key="k1"
        )
    assert fake_stripe.applied_coupons(sub_id) == ["A"]


def test_missing_api_key_names_the_setting(fake_stripe: FakeStripe) -> None:
    with pytest.raises(ConfigurationError, match="TIERLINE_STRIPE_API_KEY"):
        create_checkout_session(
            TierlineSettings(stripe_api_base=fake_stripe.url),
            account_ref="a",
            lookup_key="k",
            success_url="https://x/s",
            cancel_url="https://x/c",
        )
    with pytest.raises(ConfigurationError, match="TIERLINE_STRIPE_API_KEY"):
        apply_coupon(TierlineSettings(), subscription_id="sub_1", coupon="c", idempotency_key="k")
    assert fake_stripe.requests == []


def raw(fake: FakeStripe, method: str, path: str, body: str = "", **headers: str) -> Any:
    """Status and JSON of a hand-made request (no SDK), as Stripe's wire format has it."""
    host, port = urlsplit(fake.url).netloc.split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=5)
    try:
        conn.request(method, path, body=body or None, headers=headers)
        response = conn.getresponse()
        return response.status, json.loads(response.read())
    finally:
        conn.close()


def test_the_fake_speaks_stripes_wire_format(fake_stripe: FakeStripe) -> None:
    price_id = fake_stripe.seed_price("pro_monthly")
    fake_stripe.seed_price("team_monthly")
    auth = {"Authorization": f"Bearer {fake_stripe.token}"}
    status, listing = raw(fake_stripe, "GET", "/v1/prices?lookup_keys[]=pro_monthly", **auth)
    assert status == 200
    assert listing["object"] == "list"
    assert [p["id"] for p in listing["data"]] == [price_id]
    form = (
        "mode=subscription&success_url=https%3A%2F%2Fx%2Fs&line_items[0][price]=price_nope"
        "&line_items[0][quantity]=1"
    )
    status, error = raw(fake_stripe, "POST", "/v1/checkout/sessions", form, **auth)
    assert status == 400
    assert error["error"] == {
        "type": "invalid_request_error",
        "message": "No such price: 'price_nope'",
        "code": "resource_missing",
        "param": "line_items[0][price]",
    }
    assert raw(fake_stripe, "GET", "/v1/prices")[0] == 401
    assert raw(fake_stripe, "GET", "/v1/prices", Authorization="Bearer sk_live_x")[0] == 401
    assert raw(fake_stripe, "GET", "/v1/customers", **auth)[0] == 404
    assert [r.status for r in fake_stripe.requests] == [200, 400, 401, 401, 404]


def test_form_decoding_builds_stripes_nested_parameters() -> None:
    pairs = [
        ("a[0][b]", "1"),
        ("a[0][c]", "2"),
        ("a[1][b]", "3"),
        ("keys[]", "x"),
        ("keys[]", "y"),
        ("m[n][o]", "p"),
        ("plain", ""),
    ]
    assert decode_form(pairs) == {
        "a": [{"b": "1", "c": "2"}, {"b": "3"}],
        "keys": ["x", "y"],
        "m": {"n": {"o": "p"}},
        "plain": "",
    }
