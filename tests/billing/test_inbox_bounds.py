"""Malformed but correctly signed deliveries: 400 with a reason, nothing stored, every dialect.

Each case is a reproduction from the hardening issue: timestamps out of range, deep nesting, a
lone surrogate or NUL in an id or type, numbers and ids too large for their columns, a BOM.
"""

from __future__ import annotations

import copy
import json
import logging
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import func, select

from tierline import Tierline
from tierline.accounts.models import Account
from tierline.billing.result import IngestOutcome
from tierline.errors import ConfigurationError

from .inbox_helpers import (
    SECRET_SETTINGS,
    SECRETS,
    add_tier,
    deliver,
    events,
    fake_event,
    fixture,
    signed,
    subscriptions,
)

MakeTierline = Callable[..., Tierline]
Mutation = Callable[[dict[str, Any]], None]


@pytest.fixture
def tl(make_tierline: MakeTierline) -> Tierline:
    tl = make_tierline(**SECRET_SETTINGS)
    add_tier(
        tl,
        "pro",
        {
            "stripe": ("pro_monthly",),
            "fake": ("pro",),
            "paddle": ("pro",),
            "whop": ("plan_9XcRt5YhJk3mNa",),
            "polar": ("pro",),
        },
    )
    return tl


def account_count(tl: Tierline) -> int:
    with tl.ctx.sessions() as session:
        return int(session.scalar(select(func.count(Account.id))) or 0)


def assert_refused(tl: Tierline, result: Any, reason: str) -> None:
    assert (result.outcome, result.status_code, result.reason) == (
        IngestOutcome.REJECTED,
        400,
        reason,
    ), result.detail
    assert events(tl) == [] and subscriptions(tl) == [] and account_count(tl) == 0


def _stripe_sub(payload: dict[str, Any]) -> dict[str, Any]:
    obj: dict[str, Any] = payload["data"]["object"]
    return obj


def _set(path: str, value: object) -> Mutation:
    def mutate(payload: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        node: Any = payload
        for part in parents:
            node = node[int(part)] if isinstance(node, list) else node[part]
        node[int(last) if isinstance(node, list) else last] = value

    return mutate


STRIPE = "customer.subscription.updated"
PADDLE = "subscription.updated"
CASES: list[tuple[str, str, Mutation, str]] = [
    ("stripe", STRIPE, _set("created", 10**20), "malformed_payload"),
    ("stripe", STRIPE, _set("created", -1), "malformed_payload"),
    (
        "stripe",
        STRIPE,
        _set("data.object.items.data.0.current_period_end", 10**12),
        "malformed_payload",
    ),
    ("stripe", STRIPE, _set("data.object.current_period_end", 253402300800), "malformed_payload"),
    ("stripe", STRIPE, _set("data.object.cancel_at", 10**20), "malformed_payload"),
    ("stripe", STRIPE, _set("data.object.items.data.0.quantity", 2**31), "malformed_payload"),
    ("stripe", STRIPE, _set("data.object.id", "sub_" + "x" * 996), "malformed_payload"),
    ("stripe", STRIPE, _set("id", "evt_\ud800"), "malformed_payload"),
    ("stripe", STRIPE, _set("type", "customer.subscription.updated\x00"), "malformed_payload"),
    ("stripe", STRIPE, _set("id", "evt_\x00"), "malformed_payload"),
    ("stripe", STRIPE, _set("data.object.customer", "cus_\ud800"), "malformed_payload"),
    ("stripe", STRIPE, _set("data.object.id", "sub_é"), "malformed_payload"),
    ("stripe", STRIPE, _set("data.object.id", "sub 1"), "malformed_payload"),
    (
        "stripe",
        STRIPE,
        _set("data.object.metadata", {"tierline_account": "a\x00"}),
        "malformed_payload",
    ),
    ("whop", "payment.succeeded", _set("data.total", "1e9999"), "malformed_payload"),
    ("whop", "payment.succeeded", _set("data.total", 1e300), "malformed_payload"),
    ("polar", "order.paid", _set("data.total_amount", 2**70), "malformed_payload"),
    ("paddle", PADDLE, _set("occurred_at", "0001-01-01T00:00:00+01:00"), "malformed_payload"),
    ("paddle", PADDLE, _set("occurred_at", "0001-01-01T00:00:00Z"), "malformed_payload"),
    ("paddle", PADDLE, _set("data.updated_at", "9999-12-31T23:59:59Z"), "malformed_payload"),
    (
        "paddle",
        PADDLE,
        _set("data.current_billing_period.ends_at", "9999-12-31T23:59:59.999999-01:00"),
        "malformed_payload",
    ),
    ("paddle", PADDLE, _set("event_type", "subscription.\ud800"), "malformed_payload"),
    ("paddle", PADDLE, _set("data.items.0.quantity", 2**31), "malformed_payload"),
    ("paddle", PADDLE, _set("data.id", "sub_" + "y" * 996), "malformed_payload"),
    ("fake", "subscription.created", _set("created", 10**20), "malformed_payload"),
    (
        "fake",
        "subscription.created",
        _set("data.subscription.quantity", 2**31),
        "malformed_payload",
    ),
    (
        "fake",
        "subscription.created",
        _set("data.subscription.account_ref", " a"),
        "malformed_payload",
    ),
]


def _payload(tl: Tierline, provider: str, name: str) -> dict[str, Any]:
    if provider == "fake":
        return fake_event(name, "org_42", tl.ctx.clock())
    return copy.deepcopy(fixture(provider, name))


@pytest.mark.parametrize(
    ("provider", "name", "mutate", "reason"),
    CASES,
    ids=[f"{case[0]}-{index}" for index, case in enumerate(CASES)],
)
def test_out_of_bounds_values_are_refused_and_store_nothing(
    tl: Tierline, provider: str, name: str, mutate: Mutation, reason: str
) -> None:
    original = _payload(tl, provider, name)
    payload = copy.deepcopy(original)
    mutate(payload)

    assert_refused(tl, deliver(tl, provider, payload), reason)
    # Only the mutation was wrong: the original delivery goes through.
    accepted = deliver(tl, provider, original)
    assert accepted.status_code == 200, accepted.detail
    assert len(events(tl)) == 1


def test_the_edges_of_the_window_are_accepted(tl: Tierline) -> None:
    payload = copy.deepcopy(fixture("stripe", STRIPE))
    _stripe_sub(payload)["items"]["data"][0]["current_period_end"] = 7258118399  # 2199-12-31
    _stripe_sub(payload)["items"]["data"][0]["quantity"] = 2**31 - 1
    result = deliver(tl, "stripe", payload)
    assert result.status_code == 200, result.detail
    [sub] = subscriptions(tl)
    assert sub["quantity"] == 2**31 - 1


@pytest.mark.parametrize("depth", [65, 100_000])
def test_deep_nesting_is_refused_without_recursion(tl: Tierline, depth: int) -> None:
    payload = _payload(tl, "stripe", STRIPE)
    text = json.dumps(payload)
    nested = "[" * depth + "]" * depth
    body = text[:-1] + f', "extra": {nested}}}'
    result = deliver(tl, "stripe", body.encode())
    assert_refused(tl, result, "malformed_json")
    assert "levels deep" in result.detail


def test_brackets_inside_strings_do_not_count_as_nesting(tl: Tierline) -> None:
    payload = _payload(tl, "stripe", STRIPE)
    payload["data"]["object"]["description"] = "[{" * 100 + '\\"' + "}]" * 100
    assert deliver(tl, "stripe", payload).status_code == 200


def test_a_body_with_a_byte_order_mark_is_refused_on_arrival(tl: Tierline) -> None:
    payload = _payload(tl, "stripe", STRIPE)
    body = b"\xef\xbb\xbf" + json.dumps(payload).encode()
    result = deliver(tl, "stripe", body)
    assert_refused(tl, result, "malformed_json")
    assert "byte order mark" in result.detail
    # Without the BOM, the same event is accepted, stored, and replays from what was stored.
    stored = deliver(tl, "stripe", body[3:])
    assert stored.status_code == 200
    assert tl.inbox.replay(stored.row_id).outcome is IngestOutcome.DUPLICATE


def test_utf16_json_is_refused(tl: Tierline) -> None:
    body = json.dumps(_payload(tl, "stripe", STRIPE)).encode("utf-16")
    assert_refused(tl, deliver(tl, "stripe", body), "malformed_json")


def test_an_overlong_signature_timestamp_is_a_malformed_signature(tl: Tierline) -> None:
    body = json.dumps(_payload(tl, "stripe", STRIPE)).encode()
    headers = {"Stripe-Signature": "t=" + "9" * 5000 + ",v1=abc"}
    assert_refused(tl, tl.ingest("stripe", headers, body), "malformed_signature")


@pytest.mark.parametrize(
    ("provider", "headers", "body"),
    [
        (5, {}, b"{}"),
        ("stripe", None, b"{}"),
        ("stripe", {"Stripe-Signature": 7}, b"{}"),
        ("stripe", {}, "not bytes"),
        ("x" * 10_000, {}, b"{}"),
        ("fake\x00", {}, b"{}"),
    ],
    ids=["int-provider", "no-headers", "int-header", "str-body", "long-provider", "nul-provider"],
)
def test_ingest_never_raises_on_a_malformed_call(
    tl: Tierline, provider: Any, headers: Any, body: Any
) -> None:
    result = tl.ingest(provider, headers, body)
    assert result.status_code == 400
    assert events(tl) == [] and account_count(tl) == 0


def test_a_bug_in_our_own_code_is_a_500_that_does_not_escape_ingest(
    tl: Tierline, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(*args: object, **kwargs: object) -> object:
        raise RuntimeError("boom")

    monkeypatch.setattr(tl.inbox, "_insert_and_apply", broken)
    headers, body = signed(
        "fake", fake_event("subscription.created", "org_1", tl.ctx.clock()), tl.ctx.clock()
    )
    with caplog.at_level(logging.ERROR, logger="tierline.webhooks"):
        result = tl.ingest("fake", headers, body)
    assert (result.outcome, result.status_code, result.reason) == (
        IngestOutcome.FAILED,
        500,
        "internal_error",
    )
    assert "boom" in caplog.text
    assert result.response_body() == {
        "outcome": "failed",
        "detail": "internal_error",
        "event_id": None,
        "row_id": None,
        "reason": "internal_error",
    }


def test_the_fake_provider_is_refused_when_off_without_touching_the_database(
    make_tierline: MakeTierline, caplog: pytest.LogCaptureFixture
) -> None:
    tl = make_tierline(enable_fake_provider=False, fake_webhook_secret=[SECRETS["fake"]])
    add_tier(tl, "pro", {"fake": ("pro",)})
    headers, body = signed(
        "fake", fake_event("checkout.completed", "org_1", tl.ctx.clock()), tl.ctx.clock()
    )
    with caplog.at_level(logging.WARNING, logger="tierline.webhooks"):
        result = tl.ingest("fake", headers, body)
    assert_refused(tl, result, "unknown_provider")
    assert "TIERLINE_ENABLE_FAKE_PROVIDER" in caplog.text
    assert tl.status("org_1").active is False


def test_enabling_the_fake_provider_without_a_secret_fails_at_start_up(
    make_tierline: MakeTierline,
) -> None:
    with pytest.raises(ConfigurationError, match="TIERLINE_FAKE_WEBHOOK_SECRET"):
        make_tierline(enable_fake_provider=True, fake_webhook_secret=[])


def test_a_missing_secret_looks_like_a_bad_signature_from_outside(
    make_tierline: MakeTierline,
) -> None:
    tl = make_tierline()  # no Stripe secret configured
    headers, body = signed("stripe", fixture("stripe", STRIPE), tl.ctx.clock())
    result = tl.ingest("stripe", headers, body)
    assert result.reason == "no_secret_configured"
    assert "TIERLINE_STRIPE_WEBHOOK_SECRET" in result.detail  # for the host and its log...
    answer = result.response_body()  # ...but the caller learns nothing about the settings
    assert answer["reason"] == answer["detail"] == "bad_signature"
    assert "TIERLINE" not in json.dumps(answer)
