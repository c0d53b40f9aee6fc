"""The framework-free pieces: bearer parsing, the 402 body, form tokens, the referral cookie."""

from __future__ import annotations

from http.cookies import SimpleCookie

import pytest

from tierline import DenialReason, TierlineSettings
from tierline.errors import ConfigurationError
from tierline.web import common, pages, referral_cookie

SETTINGS = TierlineSettings(secret_key="k1", upgrade_url="/pricing")


def test_bearer_token_reads_only_the_bearer_scheme() -> None:
    assert common.bearer_token("Bearer abc") == "abc"
    assert common.bearer_token("bearer  abc ") == "abc"
    assert common.bearer_token("Basic abc") is None
    assert common.bearer_token("Bearer ") is None
    assert common.bearer_token(None) is None


def test_payment_required_body_names_reason_tier_and_upgrade_url() -> None:
    denial = common.payment_required(SETTINGS, DenialReason.PAST_DUE, "pro")
    assert denial.status_code == 402
    assert denial.body == {
        "error": "payment_required",
        "reason": "past_due",
        "tier": "pro",
        "upgrade_url": "/pricing",
    }
    with_feature = common.payment_required(
        SETTINGS, DenialReason.FEATURE_NOT_IN_TIER, "team", "export"
    )
    assert with_feature.body["feature"] == "export"
    assert with_feature.body["reason"] == "feature_not_in_tier"


def test_form_token_is_bound_to_the_account_and_the_key() -> None:
    token = common.csrf_token(SETTINGS, "acct-1")
    assert common.csrf_valid(SETTINGS, token, "acct-1")
    assert not common.csrf_valid(SETTINGS, token, "acct-2")
    assert not common.csrf_valid(SETTINGS, token + "x", "acct-1")
    assert not common.csrf_valid(SETTINGS, None, "acct-1")
    other_key = SETTINGS.model_copy(update={"secret_key": "k2"})
    assert not common.csrf_valid(other_key, token, "acct-1")


def test_referral_cookie_round_trips_and_rejects_forgeries() -> None:
    spec = referral_cookie.cookie_for(SETTINGS, "FRIEND42")
    assert spec.value != "FRIEND42"  # signed, not plain
    assert referral_cookie.read_cookie(SETTINGS, spec.value) == "FRIEND42"
    # Change a character inside the signature: its last base64 character holds padding bits,
    # so changing that one may decode to the same bytes.
    swapped = "A" if spec.value[-5] != "A" else "B"
    forged = spec.value[:-5] + swapped + spec.value[-4:]
    assert referral_cookie.read_cookie(SETTINGS, forged) is None
    assert referral_cookie.read_cookie(SETTINGS, "FRIEND42") is None
    assert referral_cookie.read_cookie(SETTINGS, None) is None
    other_key = SETTINGS.model_copy(update={"secret_key": "k2"})
    assert referral_cookie.read_cookie(other_key, spec.value) is None


@pytest.mark.parametrize("key", [None, "", "   "])
def test_without_secret_key_nothing_is_signed(key: str | None) -> None:
    unset = TierlineSettings(secret_key=key)
    with pytest.raises(ConfigurationError, match="TIERLINE_SECRET_KEY is not set") as caught:
        referral_cookie.cookie_for(unset, "CODE")
    assert "secrets.token_urlsafe(32)" in str(caught.value)
    with pytest.raises(ConfigurationError, match="TIERLINE_SECRET_KEY is not set"):
        common.csrf_token(unset, "kim")


def test_set_cookie_header_is_httponly_lax_thirty_days() -> None:
    https = SETTINGS.model_copy(update={"public_url": "https://app.example.com"})
    header = referral_cookie.set_cookie_header(referral_cookie.cookie_for(https, "C0DE"))
    parsed = SimpleCookie()
    parsed.load(header)
    morsel = parsed[referral_cookie.COOKIE_NAME]
    assert morsel["max-age"] == str(30 * 24 * 3600)
    assert morsel["httponly"] is True
    assert morsel["samesite"] == "Lax"
    assert morsel["secure"] is True
    assert morsel["path"] == "/"
    assert referral_cookie.read_cookie(https, morsel.value) == "C0DE"


def test_capture_keeps_any_code_but_not_empty_or_huge_values() -> None:
    assert referral_cookie.captured_code(" anything-goes ") == "anything-goes"
    assert referral_cookie.captured_code("") is None
    assert referral_cookie.captured_code(None) is None
    assert referral_cookie.captured_code("x" * 129) is None


def test_invite_link_adds_the_code_to_any_signup_url() -> None:
    assert pages.invite_link("https://app.example.com/", "AB12") == (
        "https://app.example.com/?ref=AB12"
    )
    assert pages.invite_link("https://app.example.com/join?plan=pro", "A B") == (
        "https://app.example.com/join?plan=pro&ref=A+B"
    )
