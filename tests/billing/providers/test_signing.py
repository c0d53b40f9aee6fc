"""The timestamped HMAC scheme every provider shares, exercised through each provider's spelling."""

from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, datetime

import pytest

from tierline.billing.providers import fake, paddle, stripe
from tierline.billing.providers.base import WebhookRejected
from tierline.billing.providers.signing import SignatureScheme, header_value, unix_now

NOW = 1_780_315_200
BODY = b'{"id":"evt_1","type":"x","data":{}}'
SCHEMES = [stripe.SCHEME, paddle.SCHEME, fake.SCHEME]


def reason(
    scheme: SignatureScheme,
    headers: dict[str, str],
    *,
    body: bytes = BODY,
    secrets: tuple[str, ...] = ("s1",),
) -> str:
    """The rejection reason for this delivery (it must be rejected)."""
    with pytest.raises(WebhookRejected) as info:
        scheme.verify(headers, body, secrets=secrets, tolerance=300, now=NOW)
    return info.value.reason


def header(scheme: SignatureScheme, *parts: str) -> dict[str, str]:
    return {scheme.header: scheme.separator.join(parts)}


@pytest.mark.parametrize("scheme", SCHEMES, ids=lambda s: s.provider)
def test_signature_is_documented_hmac_of_timestamp_joiner_body(scheme: SignatureScheme) -> None:
    signed = scheme.sign(BODY, "s1", NOW)
    expected = hmac.new(b"s1", f"{NOW}{scheme.joiner}".encode() + BODY, hashlib.sha256).hexdigest()
    assert signed == {
        scheme.header: f"{scheme.timestamp_key}={NOW}{scheme.separator}{scheme.hash_key}={expected}"
    }
    assert scheme.verify(signed, BODY, secrets=["s1"], tolerance=300, now=NOW) == {
        "id": "evt_1",
        "type": "x",
        "data": {},
    }


@pytest.mark.parametrize("scheme", SCHEMES, ids=lambda s: s.provider)
def test_header_name_is_matched_case_insensitively(scheme: SignatureScheme) -> None:
    value = scheme.sign(BODY, "s1", NOW)[scheme.header]
    for name in (scheme.header.lower(), scheme.header.upper()):
        assert scheme.verify({name: value}, BODY, secrets=["s1"], tolerance=300, now=NOW)


@pytest.mark.parametrize("scheme", SCHEMES, ids=lambda s: s.provider)
def test_rejections_name_their_reason(scheme: SignatureScheme) -> None:
    good = scheme.sign(BODY, "s1", NOW)[scheme.header]
    ts, sig = good.split(scheme.separator)
    digest = sig.partition("=")[2]
    tk, hk = scheme.timestamp_key, scheme.hash_key
    assert reason(scheme, {}) == "missing_signature"
    assert reason(scheme, {scheme.header: "  "}) == "missing_signature"
    assert reason(scheme, {scheme.header: good}, secrets=()) == "no_secret_configured"
    assert reason(scheme, header(scheme, sig)) == "malformed_signature"  # no timestamp
    assert reason(scheme, header(scheme, ts)) == "malformed_signature"  # no signature
    assert reason(scheme, header(scheme, ts, ts, sig)) == "malformed_signature"
    assert reason(scheme, header(scheme, f"{tk}=soon", sig)) == "malformed_signature"
    assert reason(scheme, header(scheme, f"{tk}=-5", sig)) == "malformed_signature"
    assert reason(scheme, header(scheme, ts, "garbage")) == "malformed_signature"
    assert reason(scheme, header(scheme, ts, f"{hk}={'0' * 64}")) == "bad_signature"
    assert reason(scheme, header(scheme, ts, f"{hk}=ünïcode")) == "bad_signature"
    assert reason(scheme, {scheme.header: good}, secrets=("other",)) == "bad_signature"
    assert reason(scheme, {scheme.header: good}, body=BODY + b" ") == "bad_signature"
    # The signature covers the timestamp: moving it breaks the signature, not the tolerance.
    assert reason(scheme, header(scheme, f"{tk}={NOW + 1}", f"{hk}={digest}")) == "bad_signature"


@pytest.mark.parametrize("scheme", SCHEMES, ids=lambda s: s.provider)
def test_timestamp_tolerance_applies_both_ways_and_is_inclusive(scheme: SignatureScheme) -> None:
    for skew in (-300, 0, 300):
        headers = scheme.sign(BODY, "s1", NOW + skew)
        assert scheme.verify(headers, BODY, secrets=["s1"], tolerance=300, now=NOW)
    for skew in (-301, 301, -86_400):
        assert reason(scheme, scheme.sign(BODY, "s1", NOW + skew)) == "stale_timestamp"
    with pytest.raises(WebhookRejected, match="in the future"):
        scheme.verify(
            scheme.sign(BODY, "s1", NOW + 400), BODY, secrets=["s1"], tolerance=300, now=NOW
        )
    with pytest.raises(WebhookRejected, match="s old"):
        scheme.verify(
            scheme.sign(BODY, "s1", NOW - 400), BODY, secrets=["s1"], tolerance=300, now=NOW
        )


@pytest.mark.parametrize("scheme", SCHEMES, ids=lambda s: s.provider)
def test_any_signature_matching_any_secret_passes(scheme: SignatureScheme) -> None:
    old = scheme.sign(BODY, "old-secret", NOW)[scheme.header]
    new = scheme.sign(BODY, "new-secret", NOW)[scheme.header]
    old_sig = old.split(scheme.separator)[1]
    new_sig = new.split(scheme.separator)[1]
    ts = f"{scheme.timestamp_key}={NOW}"
    both = header(scheme, ts, f"{scheme.hash_key}={'f' * 64}", old_sig, new_sig)
    for secrets in (["new-secret"], ["old-secret"], ["unrelated", "new-secret"]):
        assert scheme.verify(both, BODY, secrets=secrets, tolerance=300, now=NOW)
    # The receiver rotating: the sender still signs with the old secret, both are configured.
    assert scheme.verify(
        {scheme.header: old}, BODY, secrets=["new-secret", "old-secret"], tolerance=300, now=NOW
    )
    assert reason(scheme, both, secrets=("third",)) == "bad_signature"


def test_unknown_keys_and_spaces_in_the_header_are_tolerated() -> None:
    value = stripe.sign(BODY, "s1", NOW)["Stripe-Signature"]
    ts, sig = value.split(",")
    noisy = f" {ts} , v0={'a' * 64}, {sig} ,scheme2=xyz"
    assert stripe.SCHEME.verify(
        {"stripe-signature": noisy}, BODY, secrets=["s1"], tolerance=300, now=NOW
    )


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b"{not json", "malformed_json"),
        (b"\xff\xfe", "malformed_json"),
        (b"[1, 2]", "malformed_payload"),
    ],
)
def test_verified_body_must_be_a_json_object(body: bytes, expected: str) -> None:
    headers = fake.sign(body, "s1", NOW)
    with pytest.raises(WebhookRejected) as info:
        fake.SCHEME.verify(headers, body, secrets=["s1"], tolerance=300, now=NOW)
    assert info.value.reason == expected


def test_no_secret_message_names_the_setting() -> None:
    for scheme, setting in [
        (stripe.SCHEME, "TIERLINE_STRIPE_WEBHOOK_SECRET"),
        (paddle.SCHEME, "TIERLINE_PADDLE_WEBHOOK_SECRET"),
        (fake.SCHEME, "TIERLINE_FAKE_WEBHOOK_SECRET"),
    ]:
        with pytest.raises(WebhookRejected, match=setting):
            scheme.verify({}, BODY, secrets=[], tolerance=300, now=NOW)


def test_helpers() -> None:
    assert header_value({"X-A": "1", "content-type": "j"}, "Content-Type") == "j"
    assert header_value({"X-A": "1"}, "X-B") is None
    assert unix_now(lambda: 12.5) == 12.5
    assert unix_now(lambda: datetime(2026, 6, 1, 12, 0, tzinfo=UTC)) == NOW


@pytest.mark.parametrize("scheme", SCHEMES, ids=lambda s: s.provider)
def test_a_huge_malformed_header_is_not_echoed_whole(scheme: SignatureScheme) -> None:
    sig = scheme.sign(BODY, "s1", NOW)[scheme.header].split(scheme.separator)[1]
    huge = header(scheme, f"{scheme.timestamp_key}={'9' * 5000}", sig)
    with pytest.raises(WebhookRejected) as info:
        scheme.verify(huge, BODY, secrets=("s1",), tolerance=300, now=NOW)
    assert info.value.reason == "malformed_signature"
    assert "is not unix seconds" in str(info.value)
    assert len(str(info.value)) < 400  # the sender's text is cut, not echoed at any size
