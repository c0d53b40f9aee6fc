"""Each provider's actions against its local fake: the request shape on the wire, the answer
read back, idempotency keys where the provider takes them, and clear errors."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from tierline import TierlineSettings
from tierline.billing.actions import (
    ACTIONS,
    REGISTRY,
    CheckoutRequest,
    LiveSubscription,
    PlanChange,
    UnsupportedActionError,
    actions_for,
)
from tierline.errors import ConfigurationError, ProviderAPIError

from ...fakes.lemonsqueezy_server import STORE_ID, FakeLemonSqueezy, fake_lemonsqueezy
from ...fakes.paddle_server import FakePaddle, fake_paddle
from ...fakes.polar_server import FakePolar, fake_polar
from ...fakes.stripe_server import FakeStripe, fake_stripe
from ...fakes.whop_server import FakeWhop, fake_whop

__all__ = ["fake_lemonsqueezy", "fake_paddle", "fake_polar", "fake_stripe", "fake_whop"]

REQUEST = CheckoutRequest(
    account_ref="acct-7",
    external_key="",
    success_url="https://app.example.com/billing/settings?checkout=success",
    cancel_url="https://app.example.com/billing/settings?checkout=canceled",
    email="ada@example.com",
)


def _request(key: str) -> CheckoutRequest:
    return CheckoutRequest(**{**REQUEST.__dict__, "external_key": key})


def _sub(
    provider: str, external_id: str, customer: str | None = None, **extra: Any
) -> LiveSubscription:
    values: dict[str, Any] = {
        "id": 1,
        "account_ref": "acct-7",
        "provider": provider,
        "external_id": external_id,
        "customer_id": customer,
        "tier_key": "pro",
        "status": "active",
        "cancel_at_period_end": False,
        "current_period_end": datetime(2030, 1, 1, tzinfo=UTC),
    }
    values.update(extra)
    return LiveSubscription(**values)


def _change(sub: LiveSubscription, key: str, *, prorate: bool = True) -> PlanChange:
    return PlanChange(sub, "team", key, prorate=prorate, idempotency_key="tierline-test-key-1")


def _settings(**values: str) -> TierlineSettings:
    return TierlineSettings(**values)


# -- Stripe ---------------------------------------------------------------------------------
def test_stripe_portal_cancel_resume(fake_stripe: FakeStripe) -> None:
    fake_stripe.seed_price("pro_monthly")
    sub_id = fake_stripe.seed_subscription("cus_42", lookup_key="pro_monthly")
    settings = _settings(**fake_stripe.settings())
    actions = actions_for("stripe")
    url = actions.portal_url(settings, _sub("stripe", sub_id, "cus_42"), "https://app/back")
    assert url.startswith("https://billing.stripe.com/p/session/")
    portal = fake_stripe.requests[-1]
    assert portal.path == "/v1/billing_portal/sessions"
    assert portal.form == {"customer": "cus_42", "return_url": "https://app/back"}

    actions.cancel_at_period_end(settings, _sub("stripe", sub_id), "key-cancel-1")
    assert fake_stripe.subscriptions[sub_id]["cancel_at_period_end"] is True
    assert fake_stripe.requests[-1].form == {"cancel_at_period_end": "true"}
    assert fake_stripe.requests[-1].header("idempotency-key") == "key-cancel-1"
    actions.resume(settings, _sub("stripe", sub_id), "key-resume-1")
    assert fake_stripe.subscriptions[sub_id]["cancel_at_period_end"] is False


def test_stripe_preview_and_change_send_the_item_and_proration(fake_stripe: FakeStripe) -> None:
    fake_stripe.seed_price("pro_monthly", unit_amount=1200)
    team_price = fake_stripe.seed_price("team_monthly", unit_amount=3000)
    sub_id = fake_stripe.seed_subscription(lookup_key="pro_monthly")
    item_id = fake_stripe.subscriptions[sub_id]["items"]["data"][0]["id"]
    settings = _settings(**fake_stripe.settings())
    actions = actions_for("stripe")
    change = _change(_sub("stripe", sub_id), "team_monthly")

    preview = actions.preview_change(settings, change)
    assert (preview.currency, preview.amount_due) == ("usd", 1800)
    assert [line.amount for line in preview.lines] == [-1200, 3000]
    sent = fake_stripe.requests[-1]
    assert sent.path == "/v1/invoices/create_preview"
    assert sent.form["subscription"] == sub_id
    assert sent.form["subscription_details"]["items"] == [{"id": item_id, "price": team_price}]

    actions.change_plan(settings, change)
    assert fake_stripe.subscriptions[sub_id]["items"]["data"][0]["price"]["id"] == team_price
    assert fake_stripe.requests[-1].form["proration_behavior"] == "always_invoice"
    assert fake_stripe.requests[-1].header("idempotency-key") == "tierline-test-key-1"
    # The same key again is replayed by Stripe, never applied twice.
    actions.change_plan(settings, change)
    assert fake_stripe.subscriptions[sub_id]["_prorations"] == ["always_invoice"]

    downgrade = PlanChange(change.subscription, "pro", "pro_monthly", False, "key-down-1")
    actions.change_plan(settings, downgrade)
    assert fake_stripe.requests[-1].form["proration_behavior"] == "none"


# -- Paddle ---------------------------------------------------------------------------------
def test_paddle_checkout_is_a_transaction_with_custom_data(fake_paddle: FakePaddle) -> None:
    fake_paddle.prices["pri_pro"] = 1200
    settings = _settings(**fake_paddle.settings())
    url = actions_for("paddle").checkout_url(settings, _request("pri_pro"))
    assert url.startswith("https://pay.example.com/checkout?_ptxn=txn_")
    sent = fake_paddle.last("POST", "/transactions")
    assert sent.body["items"] == [{"price_id": "pri_pro", "quantity": 1}]
    assert sent.body["custom_data"] == {"tierline_account": "acct-7"}
    assert sent.header("authorization") == f"Bearer {fake_paddle.token}"


def test_paddle_portal_cancel_resume_preview_change(fake_paddle: FakePaddle) -> None:
    fake_paddle.prices.update(pri_pro=1200, pri_team=3000)
    sub_id = fake_paddle.seed_subscription("pri_pro", customer_id="ctm_abc")
    settings = _settings(**fake_paddle.settings())
    actions = actions_for("paddle")
    sub = _sub("paddle", sub_id, "ctm_abc")

    url = actions.portal_url(settings, sub, "https://app/back")
    assert url.startswith("https://customer-portal.paddle.com/")
    assert fake_paddle.last("POST", "/customers/ctm_abc/portal-sessions").body == {
        "subscription_ids": [sub_id]
    }
    actions.cancel_at_period_end(settings, sub, "unused")
    assert fake_paddle.subscriptions[sub_id]["scheduled_change"]["action"] == "cancel"
    assert fake_paddle.last("POST", f"/subscriptions/{sub_id}/cancel").body == {
        "effective_from": "next_billing_period"
    }
    actions.resume(settings, sub, "unused")
    assert fake_paddle.subscriptions[sub_id]["scheduled_change"] is None
    assert fake_paddle.last("PATCH", f"/subscriptions/{sub_id}").body == {"scheduled_change": None}

    preview = actions.preview_change(settings, _change(sub, "pri_team"))
    assert (preview.currency, preview.amount_due) == ("usd", 1800)
    assert fake_paddle.last("PATCH", f"/subscriptions/{sub_id}/preview").body == {
        "items": [{"price_id": "pri_team", "quantity": 1}],
        "proration_billing_mode": "prorated_immediately",
    }
    actions.change_plan(settings, _change(sub, "pri_team", prorate=False))
    assert fake_paddle.subscriptions[sub_id]["items"][0]["price"]["id"] == "pri_team"
    assert (
        fake_paddle.last("PATCH", f"/subscriptions/{sub_id}").body["proration_billing_mode"]
        == "full_next_billing_period"
    )


def test_paddle_errors_name_the_action_and_paddles_detail(fake_paddle: FakePaddle) -> None:
    settings = _settings(**fake_paddle.settings())
    with pytest.raises(
        ProviderAPIError,
        match=r"Paddle creating a transaction failed \(HTTP 400\): price pri_nope not found",
    ):
        actions_for("paddle").checkout_url(settings, _request("pri_nope"))
    with pytest.raises(ConfigurationError, match="TIERLINE_PADDLE_API_KEY"):
        actions_for("paddle").checkout_url(_settings(), _request("pri_nope"))


# -- Polar ----------------------------------------------------------------------------------
def test_polar_checkout_portal_cancel_resume_change(fake_polar: FakePolar) -> None:
    fake_polar.catalog.update({"prod-pro", "prod-team"})
    settings = _settings(**fake_polar.settings())
    actions = actions_for("polar")
    url = actions.checkout_url(settings, _request("prod-pro"))
    assert url.startswith("https://buy.polar.sh/polar_c_")
    sent = fake_polar.last("POST", "/v1/checkouts/")
    assert sent.body["products"] == ["prod-pro"]
    assert sent.body["external_customer_id"] == "acct-7"
    assert sent.body["metadata"] == {"tierline_account": "acct-7"}
    assert sent.body["success_url"] == REQUEST.success_url

    sub_id = fake_polar.seed_subscription("prod-pro")
    sub = _sub("polar", sub_id, "cust-1")
    portal = actions.portal_url(settings, sub, "https://app/back")
    assert "customer_session_token=polar_cst_" in portal
    assert fake_polar.last("POST", "/v1/customer-sessions/").body == {
        "customer_id": "cust-1",
        "return_url": "https://app/back",
    }
    actions.cancel_at_period_end(settings, sub, "unused")
    assert fake_polar.subscriptions[sub_id]["cancel_at_period_end"] is True
    actions.resume(settings, sub, "unused")
    assert fake_polar.subscriptions[sub_id]["cancel_at_period_end"] is False
    actions.change_plan(settings, _change(sub, "prod-team"))
    assert fake_polar.last("PATCH", f"/v1/subscriptions/{sub_id}").body == {
        "product_id": "prod-team",
        "proration_behavior": "invoice",
    }
    assert not actions.supports("preview_change")
    with pytest.raises(UnsupportedActionError, match="polar does not support preview change"):
        actions.preview_change(settings, _change(sub, "prod-team"))


def test_polar_validation_error_is_one_clear_line(fake_polar: FakePolar) -> None:
    settings = _settings(**fake_polar.settings())
    with pytest.raises(ProviderAPIError, match=r"Polar creating a checkout failed \(HTTP 422\)"):
        actions_for("polar").checkout_url(settings, _request("prod-missing"))


# -- Whop -----------------------------------------------------------------------------------
def test_whop_checkout_configuration_hub_cancel_uncancel(fake_whop: FakeWhop) -> None:
    fake_whop.catalog.add("plan_pro")
    settings = _settings(**fake_whop.settings())
    actions = actions_for("whop")
    url = actions.checkout_url(settings, _request("plan_pro"))
    assert url.startswith("https://whop.com/checkout/plan_pro?session=ch_")
    assert fake_whop.last("POST", "/api/v1/checkout_configurations").body == {
        "plan_id": "plan_pro",
        "metadata": {"tierline_account": "acct-7"},
        "redirect_url": REQUEST.success_url,
    }
    mem_id = fake_whop.seed_membership("plan_pro")
    sub = _sub("whop", mem_id)
    assert actions.portal_url(settings, sub, "x") == settings.whop_hub_url
    actions.cancel_at_period_end(settings, sub, "unused")
    assert fake_whop.subscriptions[mem_id]["status"] == "active"
    assert fake_whop.subscriptions[mem_id]["cancel_at_period_end"] is True
    assert fake_whop.last("POST", rf"/api/v1/memberships/{mem_id}/cancel").body == {
        "cancel_at_period_end": True
    }
    actions.resume(settings, sub, "unused")
    assert fake_whop.subscriptions[mem_id]["cancel_at_period_end"] is False
    assert actions.supported() == ("checkout_url", "portal_url", "cancel_at_period_end", "resume")
    with pytest.raises(UnsupportedActionError, match="whop does not support change plan"):
        actions.change_plan(settings, _change(sub, "plan_team"))


# -- Lemon Squeezy --------------------------------------------------------------------------
def test_lemonsqueezy_checkout_is_json_api_with_custom_data(
    fake_lemonsqueezy: FakeLemonSqueezy,
) -> None:
    fake_lemonsqueezy.catalog.add("555")
    settings = _settings(**fake_lemonsqueezy.settings())
    url = actions_for("lemonsqueezy").checkout_url(settings, _request("555"))
    assert url.startswith("https://fake.lemonsqueezy.com/checkout/custom/")
    sent = fake_lemonsqueezy.last("POST", "/v1/checkouts")
    data = sent.body["data"]
    assert data["type"] == "checkouts"
    assert data["attributes"]["checkout_data"] == {
        "custom": {"tierline_account": "acct-7"},
        "email": "ada@example.com",
    }
    assert data["relationships"]["store"] == {"data": {"type": "stores", "id": STORE_ID}}
    assert data["relationships"]["variant"] == {"data": {"type": "variants", "id": "555"}}
    assert sent.header("content-type") == "application/vnd.api+json"


def test_lemonsqueezy_portal_cancel_resume_change(fake_lemonsqueezy: FakeLemonSqueezy) -> None:
    fake_lemonsqueezy.catalog.update({"555", "777"})
    sub_id = fake_lemonsqueezy.seed_subscription("555")
    settings = _settings(**fake_lemonsqueezy.settings())
    actions = actions_for("lemonsqueezy")
    sub = _sub("lemonsqueezy", sub_id)
    portal = actions.portal_url(settings, sub, "unused")
    assert portal == fake_lemonsqueezy.subscriptions[sub_id]["urls"]["customer_portal"]
    actions.cancel_at_period_end(settings, sub, "unused")
    assert fake_lemonsqueezy.last("DELETE", f"/v1/subscriptions/{sub_id}").body is None
    assert fake_lemonsqueezy.subscriptions[sub_id]["cancelled"] is True
    actions.resume(settings, sub, "unused")
    assert fake_lemonsqueezy.subscriptions[sub_id]["cancelled"] is False
    actions.change_plan(settings, _change(sub, "777", prorate=False))
    assert fake_lemonsqueezy.last("PATCH", f"/v1/subscriptions/{sub_id}").body["data"] == {
        "type": "subscriptions",
        "id": sub_id,
        "attributes": {"variant_id": 777, "disable_prorations": True},
    }


def test_an_unknown_subscription_is_the_providers_404(fake_lemonsqueezy: FakeLemonSqueezy) -> None:
    settings = _settings(**fake_lemonsqueezy.settings())
    with pytest.raises(
        ProviderAPIError, match=r"Lemon Squeezy reading the subscription failed \(HTTP 404\)"
    ):
        actions_for("lemonsqueezy").portal_url(settings, _sub("lemonsqueezy", "999"), "x")


def test_a_provider_without_actions_is_refused_by_name() -> None:
    from tierline.errors import ValidationError

    with pytest.raises(ValidationError, match="'fake' has no self-service actions"):
        actions_for("fake")


def test_an_unreachable_provider_is_one_clear_error() -> None:
    from ...examples.servers import bound_socket

    sock = bound_socket()  # bound, never listening: the connection is refused
    try:
        settings = _settings(
            polar_access_token="polar_oat_x",
            polar_api_base=f"http://127.0.0.1:{sock.getsockname()[1]}",
        )
        with pytest.raises(
            ProviderAPIError, match=r"Polar creating a checkout failed \(no response"
        ):
            actions_for("polar").checkout_url(settings, _request("prod-pro"))
    finally:
        sock.close()


def test_every_provider_declares_what_it_supports() -> None:
    supported = {name: actions_for(name).supported() for name in REGISTRY}
    assert supported["stripe"] == ACTIONS
    assert supported["paddle"] == ACTIONS
    assert "preview_change" not in supported["polar"] + supported["lemonsqueezy"]
    assert "change_plan" not in supported["whop"]
