"""The provider registry: names, construction from settings, signing by name."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from tierline.billing.providers import (
    PROVIDER_NAMES,
    Provider,
    WebhookRejected,
    enabled_providers,
    fake,
    get_provider,
    lemonsqueezy,
    paddle,
    polar,
    sign_for,
    stripe,
    whop,
)
from tierline.settings import TierlineSettings

from ...clock import FrozenClock

NOW = FrozenClock()
BODY = json.dumps(
    fake.build_event("subscription.created", account_ref="a", tier_key="pro")
).encode()


def test_every_registered_name_builds_a_provider_of_that_name() -> None:
    assert set(PROVIDER_NAMES) == {"stripe", "paddle", "polar", "whop", "lemonsqueezy", "fake"}
    settings = TierlineSettings(
        stripe_webhook_secret="whsec_1",
        paddle_webhook_secret="pdl_1",
        enable_fake_provider=True,
        fake_webhook_secret="f1",
    )
    assert enabled_providers(settings) == PROVIDER_NAMES
    for name in PROVIDER_NAMES:
        provider = get_provider(name, settings)
        assert isinstance(provider, Provider)
        assert provider.name == name


def test_unknown_provider_is_rejected_with_the_valid_names() -> None:
    enabled = TierlineSettings(enable_fake_provider=True, fake_webhook_secret="f1")
    for call in (
        lambda: get_provider("paypal", enabled),
        lambda: sign_for("paypal", BODY, "s"),
    ):
        with pytest.raises(
            WebhookRejected, match=r"'paypal'.*stripe, paddle, polar, whop, lemonsqueezy, fake$"
        ) as info:
            call()
        assert info.value.reason == "unknown_provider"


def test_an_unknown_provider_is_not_told_the_disabled_fake_is_valid() -> None:
    with pytest.raises(WebhookRejected) as info:
        get_provider("paypal", TierlineSettings())
    assert info.value.reason == "unknown_provider"
    assert str(info.value).endswith("valid providers: stripe, paddle, polar, whop, lemonsqueezy")
    assert "fake" not in str(info.value)


def test_the_fake_provider_is_off_by_default_and_has_no_default_secret() -> None:
    settings = TierlineSettings()
    assert settings.enable_fake_provider is False
    assert settings.fake_webhook_secret == []
    assert "fake" not in enabled_providers(settings)
    assert enabled_providers(settings) == tuple(name for name in PROVIDER_NAMES if name != "fake")
    with pytest.raises(WebhookRejected, match="TIERLINE_ENABLE_FAKE_PROVIDER") as info:
        get_provider("fake", TierlineSettings(fake_webhook_secret="s"))
    assert info.value.reason == "unknown_provider"


def test_settings_supply_secrets_tolerances_and_the_clock_may_be_a_datetime_clock() -> None:
    settings = TierlineSettings(
        stripe_webhook_secret="whsec_old, whsec_new",
        paddle_webhook_secret="pdl_a",
        enable_fake_provider=True,
        fake_webhook_secret="f1",
        polar_webhook_secret="polar_whs_a",
        whop_webhook_secret="ws_a",
        stripe_tolerance_seconds=10,
        paddle_tolerance_seconds=2,
        polar_tolerance_seconds=20,
        whop_tolerance_seconds=30,
    )
    ts = int(NOW().timestamp())
    for name, secret, tolerance in (
        ("stripe", "whsec_new", 10),
        ("paddle", "pdl_a", 2),
        ("fake", "f1", 300),
        ("polar", "polar_whs_a", 20),
        ("whop", "ws_a", 30),
    ):
        provider = get_provider(name, settings, clock=NOW)
        assert (
            provider.verify(sign_for(name, BODY, secret, ts), BODY)["type"]
            == "subscription.created"
        )
        assert provider.verify(sign_for(name, BODY, secret, ts - tolerance), BODY)
        with pytest.raises(WebhookRejected) as info:
            provider.verify(sign_for(name, BODY, secret, ts - tolerance - 1), BODY)
        assert info.value.reason == "stale_timestamp"


def test_a_provider_without_secret_rejects_everything_naming_the_setting() -> None:
    settings = TierlineSettings(enable_fake_provider=True, fake_webhook_secret="")
    for name, env in (
        ("stripe", "TIERLINE_STRIPE_WEBHOOK_SECRET"),
        ("paddle", "TIERLINE_PADDLE_WEBHOOK_SECRET"),
        ("fake", "TIERLINE_FAKE_WEBHOOK_SECRET"),
        ("polar", "TIERLINE_POLAR_WEBHOOK_SECRET"),
        ("whop", "TIERLINE_WHOP_WEBHOOK_SECRET"),
        ("lemonsqueezy", "TIERLINE_LEMONSQUEEZY_WEBHOOK_SECRET"),
    ):
        provider = get_provider(name, settings)
        with pytest.raises(WebhookRejected, match=env) as info:
            provider.verify(sign_for(name, BODY, "anything"), BODY)
        assert info.value.reason == "no_secret_configured"


def test_sign_for_dispatches_to_each_module() -> None:
    assert sign_for("stripe", BODY, "s", 7) == stripe.sign(BODY, "s", 7)
    assert sign_for("paddle", BODY, "s", 7) == paddle.sign(BODY, "s", 7)
    assert sign_for("fake", BODY, "s", 7) == fake.sign(BODY, "s", 7)
    assert list(sign_for("paddle", BODY, "s", 7)) == ["Paddle-Signature"]
    assert sign_for("fake", BODY, "s", 7)["Tierline-Signature"].startswith("t=7,v1=")
    assert sign_for("lemonsqueezy", BODY, "s") == lemonsqueezy.SCHEME.sign(BODY, "s")
    for module in (polar, whop):
        headers = sign_for(module.NAME, BODY, "s", 7)
        assert headers["webhook-timestamp"] == "7"
        assert headers["webhook-signature"].startswith("v1,")


def test_default_clock_is_the_real_time() -> None:
    settings = TierlineSettings(
        enable_fake_provider=True, fake_webhook_secret="fake-webhook-secret"
    )
    provider = get_provider("fake", settings)
    assert provider.verify(sign_for("fake", BODY, "fake-webhook-secret"), BODY)
    old = int(datetime(2020, 1, 1, tzinfo=UTC).timestamp())
    with pytest.raises(WebhookRejected) as info:
        provider.verify(sign_for("fake", BODY, "fake-webhook-secret", old), BODY)
    assert info.value.reason == "stale_timestamp"
