"""Live and test mode: which Stripe events an app applies, by setting or API key."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from tierline.billing.livemode import mode_mismatch
from tierline.billing.providers.base import ProviderEvent
from tierline.settings import TierlineSettings


def event(provider: str, livemode: bool | None) -> ProviderEvent:
    return ProviderEvent(provider, "evt_1", "invoice.paid", None, livemode=livemode)


@pytest.mark.parametrize(
    ("settings", "livemode", "ignored"),
    [
        ({"stripe_mode": "live"}, False, "test-mode stripe event ignored"),
        ({"stripe_mode": "live"}, True, None),
        ({"stripe_mode": "test"}, True, "live-mode stripe event ignored"),
        ({"stripe_mode": "test"}, False, None),
        ({"stripe_api_key": "sk_live_51Hx"}, False, "accepts live-mode events only"),
        ({"stripe_api_key": "rk_test_51Hx"}, True, "accepts test-mode events only"),
        ({"stripe_api_key": "sk_test_51Hx", "stripe_mode": "live"}, False, "test-mode"),
        ({}, True, None),  # neither: both modes are accepted
        ({}, False, None),
        ({"stripe_mode": "live"}, None, None),  # an event that does not say applies
    ],
)
def test_mode_mismatch(
    settings: dict[str, Any], livemode: bool | None, ignored: str | None
) -> None:
    why = mode_mismatch(event("stripe", livemode), TierlineSettings(**settings))
    if ignored is None:
        assert why is None
    else:
        assert why is not None and ignored in why


def test_providers_without_a_mode_always_apply() -> None:
    settings = TierlineSettings(stripe_mode="live")
    assert mode_mismatch(event("paddle", False), settings) is None
    assert mode_mismatch(event("fake", False), settings) is None


def test_the_mode_setting_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TIERLINE_STRIPE_MODE", "test")
    assert TierlineSettings().stripe_mode == "test"
    monkeypatch.setenv("TIERLINE_STRIPE_MODE", "")
    assert TierlineSettings().stripe_mode is None
    monkeypatch.setenv("TIERLINE_STRIPE_MODE", "sandbox")
    with pytest.raises(ValidationError, match="'live' or 'test'"):
        TierlineSettings()
