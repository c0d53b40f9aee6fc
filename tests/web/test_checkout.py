"""Checkout: choosing the provider, clear errors, and Stripe against the fake Stripe API."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from tierline import Tierline
from tierline.errors import ConfigurationError, NotFoundError, ValidationError

from ..fakes.stripe_server import FakeStripe, fake_stripe
from .apps import WebClient, element, form_token

__all__ = ["fake_stripe"]  # the fixture, imported for pytest


@pytest.fixture
def stripe_tl(sqlite_tl: Tierline, fake_stripe: FakeStripe) -> Iterator[Tierline]:
    """``sqlite_tl``'s database and catalog, with Stripe pointed at the fake server."""
    tl = Tierline(
        settings=sqlite_tl.settings.model_copy(update=fake_stripe.settings()),
        catalog=sqlite_tl.catalog_spec,
        clock=sqlite_tl.ctx.clock,
    )
    yield tl
    tl.close()


def test_stripe_checkout_redirects_to_a_session_for_the_first_lookup_key(
    make_client: Callable[[Tierline], WebClient], stripe_tl: Tierline, fake_stripe: FakeStripe
) -> None:
    monthly = fake_stripe.seed_price("pro_monthly")
    fake_stripe.seed_price("pro_yearly")
    stripe_tl.ensure_account("paula", "paula@example.com")
    client = make_client(stripe_tl)
    token = form_token(client.get("/billing/settings", account="paula").text)

    reply = client.post("/billing/checkout/pro", account="paula", data={"csrf_token": token})

    assert reply.status == 303, reply.text
    [session] = fake_stripe.sessions.values()
    assert reply.location == session["url"]
    assert session["client_reference_id"] == "paula"
    assert session["customer_email"] == "paula@example.com"
    assert session["success_url"] == "https://app.example.com/billing/settings?checkout=success"
    assert session["cancel_url"] == "https://app.example.com/billing/settings?checkout=canceled"
    [created] = [r for r in fake_stripe.requests if r.path == "/v1/checkout/sessions"]
    assert created.form["line_items"] == [{"price": monthly, "quantity": "1"}]
    assert created.form["subscription_data"]["metadata"]["tierline_account"] == "paula"
    [listed] = [r for r in fake_stripe.requests if r.path == "/v1/prices"]
    assert "pro_monthly" in str(listed.form["lookup_keys"])


def test_stripe_lookup_key_missing_at_stripe_is_a_clear_error(
    make_client: Callable[[Tierline], WebClient], stripe_tl: Tierline, fake_stripe: FakeStripe
) -> None:
    client = make_client(stripe_tl)
    token = form_token(client.get("/billing/settings", account="quinn").text)
    reply = client.post("/billing/checkout/pro", account="quinn", data={"csrf_token": token})
    assert reply.status == 500
    assert "pro_monthly" in element(reply.text, "error-message")[0]
    assert fake_stripe.sessions == {}


def test_checkout_url_picks_stripe_first_unless_told(
    stripe_tl: Tierline, fake_stripe: FakeStripe
) -> None:
    fake_stripe.seed_price("pro_monthly")
    url = stripe_tl.checkout_url("rosa", "pro", success_url="https://x.example/ok")
    assert url.startswith("https://checkout.stripe.com/")
    [session] = fake_stripe.sessions.values()
    assert session["success_url"] == "https://x.example/ok"
    assert stripe_tl.checkout_url("rosa", "pro", provider="fake") == (
        "/billing/fake-checkout?tier=pro"
    )
    assert stripe_tl.checkout_url("rosa", "team") == "/billing/fake-checkout?tier=team"
    assert len(fake_stripe.sessions) == 1


def test_checkout_url_errors_name_the_valid_choices(sqlite_tl: Tierline) -> None:
    with pytest.raises(NotFoundError, match=r"'gold'.*legacy, pro, team"):
        sqlite_tl.checkout_url("sam", "gold")
    with pytest.raises(ValidationError, match=r"'staff' is exempt.*legacy, pro, team"):
        sqlite_tl.checkout_url("sam", "staff")
    with pytest.raises(ValidationError, match=r"no stripe link; it links to: fake"):
        sqlite_tl.checkout_url("sam", "team", provider="stripe")
    with pytest.raises(ValidationError, match=r"unknown provider 'paypal'.*stripe, paddle"):
        sqlite_tl.checkout_url("sam", "pro", provider="paypal")
    with pytest.raises(ConfigurationError, match=r"TIERLINE_PADDLE_API_KEY"):
        sqlite_tl.checkout_url("sam", "legacy")
    with pytest.raises(ValidationError, match=r"account ref"):
        sqlite_tl.checkout_url(" ", "pro")


def test_stripe_checkout_without_an_api_key_says_which_setting(sqlite_tl: Tierline) -> None:
    with pytest.raises(ConfigurationError, match="TIERLINE_STRIPE_API_KEY"):
        sqlite_tl.checkout_url("tom", "pro")


def test_checkout_provider_setting_chooses_the_default_provider(
    sqlite_tl: Tierline, fake_stripe: FakeStripe
) -> None:
    tl = Tierline(
        settings=sqlite_tl.settings.model_copy(
            update={**fake_stripe.settings(), "checkout_provider": "fake"}
        ),
        catalog=sqlite_tl.catalog_spec,
        clock=sqlite_tl.ctx.clock,
    )
    try:
        # pro links Stripe first, but the setting sends checkouts to the fake provider...
        assert tl.checkout_url("rosa", "pro") == "/billing/fake-checkout?tier=pro"
        assert fake_stripe.sessions == {}
        # ...unless the caller names a provider.
        fake_stripe.seed_price("pro_monthly")
        assert tl.checkout_url("rosa", "pro", provider="stripe").startswith(
            "https://checkout.stripe.com/"
        )
    finally:
        tl.close()


@pytest.mark.parametrize("tier_key", ["pro%00", "p" * 65])
def test_a_tier_key_no_column_would_keep_is_a_400_page_on_every_dialect(
    make_client: Callable[[Tierline], WebClient], dialect_tl: Tierline, tier_key: str
) -> None:
    client = make_client(dialect_tl)
    token = form_token(client.get("/billing/settings", account="nina").text)

    posted = client.post(
        f"/billing/checkout/{tier_key}", account="nina", data={"csrf_token": token}
    )
    shown = client.get(f"/billing/fake-checkout?tier={tier_key}", account="nina")

    for reply in (posted, shown):
        assert reply.status == 400, reply.text
        assert "tier key" in reply.text
