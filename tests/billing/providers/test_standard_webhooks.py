"""Standard Webhooks (Polar, Whop): our signatures against standardwebhooks and the official SDKs.

Both SDKs are cross-checked both ways: what Tierline signs, they accept; what they (or the
``standardwebhooks`` package, keyed the way they key it) sign, Tierline accepts. The SDKs read
the real clock, so these deliveries are signed "now".
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable
from datetime import UTC, datetime
from types import ModuleType

import pytest
import standardwebhooks
from polar.v2026_10.webhooks import PolarWebhookVerificationError
from polar.v2026_10.webhooks import validate_event as polar_validate_event
from whop_sdk.lib.verify_webhook import WebhookVerificationError as WhopVerificationError
from whop_sdk.lib.verify_webhook import unwrap as whop_unwrap

from tierline.billing.providers import WebhookRejected, polar, sign_for, whop
from tierline.billing.providers.standard_webhooks import (
    WEBHOOK_ID_KEY,
    KeyDerivation,
    StandardWebhooksScheme,
)

from ...fakes import fixture_names, load_fixture

#: A secret that is also valid base64 after ``whsec_`` (the specification's example shape), so
#: the two key derivations give two different, both computable, keys.
SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
OTHER = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD"
MODULES: dict[str, ModuleType] = {"polar": polar, "whop": whop}


def polar_accepts(headers: dict[str, str], body: bytes, secret: str) -> bool:
    try:
        polar_validate_event(body, headers, secret)
    except PolarWebhookVerificationError:
        return False
    return True


def whop_accepts(headers: dict[str, str], body: bytes, secret: str) -> bool:
    try:
        whop_unwrap(body, headers=headers, key=secret)
    except WhopVerificationError:
        return False
    return True


SDK_ACCEPTS: dict[str, Callable[[dict[str, str], bytes, str], bool]] = {
    "polar": polar_accepts,
    "whop": whop_accepts,
}


def raw_keyed(secret: str) -> standardwebhooks.Webhook:
    """The standardwebhooks verifier keyed with the secret's raw bytes, as both SDKs key it."""
    return standardwebhooks.Webhook(base64.b64encode(secret.encode()).decode())


def provider(name: str, secrets: list[str], now: float | None = None) -> polar.PolarProvider:
    cls = polar.PolarProvider if name == "polar" else whop.WhopProvider
    clock = time.time if now is None else (lambda: now)
    return cls(secrets, clock=clock)


def body_of(name: str, fixture: str) -> bytes:
    return json.dumps(load_fixture(name, fixture)).encode()


@pytest.mark.parametrize("name", sorted(MODULES))
def test_every_fixture_signed_by_us_is_accepted_by_the_sdk_and_standardwebhooks(
    name: str,
) -> None:
    names = fixture_names(name)
    assert len(names) >= 7
    for fixture in names:
        body = body_of(name, fixture)
        headers = sign_for(name, body, SECRET)
        assert SDK_ACCEPTS[name](headers, body, SECRET), fixture
        assert not SDK_ACCEPTS[name](headers, body, OTHER), fixture
        assert raw_keyed(SECRET).verify(body, headers) is not None
        event = provider(name, [SECRET]).parse(provider(name, [SECRET]).verify(headers, body))
        assert event.event_id == headers["webhook-id"]


@pytest.mark.parametrize("name", sorted(MODULES))
def test_a_signature_made_by_standardwebhooks_with_the_raw_key_is_accepted(name: str) -> None:
    body = body_of(name, fixture_names(name)[0])
    now = datetime.now(UTC)
    signature = raw_keyed(SECRET).sign("msg_2Lh9KRb0pzN4hDDSCoTbdlqxYBv", now, body.decode())
    headers = {
        "webhook-id": "msg_2Lh9KRb0pzN4hDDSCoTbdlqxYBv",
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": signature,
    }
    payload = provider(name, [SECRET]).verify(headers, body)
    assert payload[WEBHOOK_ID_KEY] == "msg_2Lh9KRb0pzN4hDDSCoTbdlqxYBv"
    assert SDK_ACCEPTS[name](headers, body, SECRET)


@pytest.mark.parametrize("name", sorted(MODULES))
def test_the_specifications_base64_key_derivation_is_rejected(name: str) -> None:
    body = body_of(name, fixture_names(name)[0])
    now = datetime.now(UTC)
    # standardwebhooks keyed with the secret itself base64-decodes it: the generic trap.
    signature = standardwebhooks.Webhook(SECRET).sign("msg_1", now, body.decode())
    headers = {
        "webhook-id": "msg_1",
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": signature,
    }
    with pytest.raises(WebhookRejected, match="raw utf8") as info:
        provider(name, [SECRET]).verify(headers, body)
    assert info.value.reason == "bad_signature"
    # The same scheme declared with the specification's derivation accepts it: the
    # derivation is the parameter that decides.
    spec = StandardWebhooksScheme(name, "X", KeyDerivation.SPEC_BASE64)
    assert spec.verify(headers, body, secrets=[SECRET], tolerance=300, now=now.timestamp())


def test_the_whop_sdk_also_rejects_the_base64_derivation() -> None:
    body = body_of("whop", "membership.activated")
    now = datetime.now(UTC)
    headers = {
        "webhook-id": "msg_1",
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": standardwebhooks.Webhook(SECRET).sign("msg_1", now, body.decode()),
    }
    assert not whop_accepts(headers, body, SECRET)


@pytest.mark.parametrize("name", sorted(MODULES))
def test_rotation_several_signatures_and_several_secrets(name: str) -> None:
    body = body_of(name, fixture_names(name)[0])
    ts = int(time.time())
    old = MODULES[name].SCHEME.signature(OTHER, "msg_9", ts, body)
    new = MODULES[name].SCHEME.signature(SECRET, "msg_9", ts, body)
    both = {
        "webhook-id": "msg_9",
        "webhook-timestamp": str(ts),
        "webhook-signature": f"v1a,ignoredasymmetric v1,{old} v1,{new}",
    }
    assert provider(name, [SECRET]).verify(both, body)
    assert provider(name, [OTHER]).verify(both, body)
    assert SDK_ACCEPTS[name](both, body, SECRET)
    only_old = {**both, "webhook-signature": f"v1,{old}"}
    assert provider(name, ["whsec_unrelated", OTHER]).verify(only_old, body)
    with pytest.raises(WebhookRejected) as info:
        provider(name, [SECRET]).verify(only_old, body)
    assert info.value.reason == "bad_signature"


@pytest.mark.parametrize("name", sorted(MODULES))
def test_stale_and_future_timestamps_are_refused_only_when_authentic(name: str) -> None:
    body = body_of(name, fixture_names(name)[0])
    now = 1_780_000_000
    verifier = provider(name, [SECRET], now=now)
    assert verifier.verify(sign_for(name, body, SECRET, now - 300), body)
    assert verifier.verify(sign_for(name, body, SECRET, now + 300), body)
    for ts, when in ((now - 301, "301 s old"), (now + 301, "301 s in the future")):
        with pytest.raises(WebhookRejected, match=when) as info:
            verifier.verify(sign_for(name, body, SECRET, ts), body)
        assert info.value.reason == "stale_timestamp"
    with pytest.raises(WebhookRejected) as forged:
        verifier.verify(sign_for(name, body, OTHER, now - 301), body)
    assert forged.value.reason == "bad_signature"


@pytest.mark.parametrize("name", sorted(MODULES))
def test_missing_or_malformed_headers_and_tampered_bodies(name: str) -> None:
    body = body_of(name, fixture_names(name)[0])
    now = 1_780_000_000
    verifier = provider(name, [SECRET], now=now)
    good = sign_for(name, body, SECRET, now)
    for header in ("webhook-id", "webhook-timestamp", "webhook-signature"):
        without = {k: v for k, v in good.items() if k != header}
        with pytest.raises(WebhookRejected, match=header) as info:
            verifier.verify(without, body)
        assert info.value.reason == "missing_signature"
    # Not digits, and digits no genuine timestamp has (int() of 5,000 digits raises).
    for stamp in ("soon", "1" * 5000, "١٧٨٠٠٠٠٠٠٠"):
        with pytest.raises(WebhookRejected) as malformed:
            verifier.verify({**good, "webhook-timestamp": stamp}, body)
        assert malformed.value.reason == "malformed_signature"
    # A message id no UTF-8 encoder takes (a host handing ingest() decoded headers) is
    # refused, not a UnicodeEncodeError answered 500.
    for message_id in ("msg_\ud800", "\udc80"):
        with pytest.raises(WebhookRejected) as malformed:
            verifier.verify({**good, "webhook-id": message_id}, body)
        assert malformed.value.reason == "malformed_signature"
    for headers, sent in (
        (good, body + b" "),
        ({**good, "webhook-id": "msg_other"}, body),
        ({**good, "webhook-signature": "v1,not-base64!"}, body),
    ):
        with pytest.raises(WebhookRejected) as info:
            verifier.verify(headers, sent)
        assert info.value.reason == "bad_signature"
    # Upper-case header names work (HTTP headers are case-insensitive).
    assert verifier.verify({k.upper(): v for k, v in good.items()}, body)


@pytest.mark.parametrize("name", sorted(MODULES))
def test_no_secret_verifies_nothing(name: str) -> None:
    body = body_of(name, fixture_names(name)[0])
    with pytest.raises(WebhookRejected, match=f"TIERLINE_{name.upper()}_WEBHOOK_SECRET") as info:
        provider(name, []).verify(sign_for(name, body, ""), body)
    assert info.value.reason == "no_secret_configured"
