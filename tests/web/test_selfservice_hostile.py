"""Hostile requests to the self-service routes of both adapters: bad tier keys, methods,
tokens and confirmations get a clear 4xx page, never a 500, and change nothing."""

from __future__ import annotations

from urllib.parse import quote

import pytest

from tierline import Tierline

from ..fakes.stripe_server import FakeStripe
from .apps import WebClient, form_token
from .test_selfservice_pages import fake_paddle, fake_stripe, make_tl, paying

__all__ = ["fake_paddle", "fake_stripe", "make_tl", "paying"]

BAD_TIER_KEYS = ["nope", "a\x00b", "x" * 10_000, "pr\u00f6", "\U0001f600", "%ff", "..", "pro "]


@pytest.mark.parametrize("tier_key", BAD_TIER_KEYS)
def test_a_bad_tier_key_is_a_clear_4xx_on_every_route(
    paying: tuple[Tierline, WebClient, str], fake_stripe: FakeStripe, tier_key: str
) -> None:
    _tl, client, sub_id = paying
    token = form_token(client.get("/billing/settings", account="ivy").text)
    before = dict(fake_stripe.subscriptions[sub_id])
    path = quote(tier_key, safe="")
    for reply in (
        client.get(f"/billing/change/{path}", account="ivy"),
        client.post(
            f"/billing/change/{path}", account="ivy", data={"csrf_token": token, "confirm": "yes"}
        ),
        client.post(f"/billing/checkout/{path}", account="ivy", data={"csrf_token": token}),
        client.post(
            f"/billing/checkout/{path}",
            account="ivy",
            data={"csrf_token": token, "confirm": "yes"},
        ),
    ):
        assert 400 <= reply.status < 500, (reply.status, reply.text[:300])
    assert fake_stripe.subscriptions[sub_id] == before


def test_hostile_forms_and_methods_are_4xx(
    paying: tuple[Tierline, WebClient, str], fake_stripe: FakeStripe
) -> None:
    _tl, client, sub_id = paying
    token = form_token(client.get("/billing/settings", account="ivy").text)
    before = dict(fake_stripe.subscriptions[sub_id])
    replies = [
        client.get("/billing/cancel", account="ivy"),
        client.get("/billing/resume", account="ivy"),
        client.get("/billing/portal", account="ivy"),
        client.post("/billing/cancel", account="ivy", data={"csrf_token": "x" * 10_000}),
        client.post(
            "/billing/cancel", account="ivy", data={"csrf_token": "\x00", "confirm": "yes"}
        ),
        client.post("/billing/cancel", account="ivy", data={"csrf_token": token, "confirm": "no"}),
        client.post(
            "/billing/cancel",
            account="ivy",
            body=b"\xff\xfe\x00",
            headers={"content-type": "application/x-www-form-urlencoded"},
        ),
        client.post(
            "/billing/cancel",
            account="ivy",
            body=b"csrf_token=" + token.encode() + b"&confirm=%ff",
            headers={"content-type": "application/x-www-form-urlencoded"},
        ),
        client.post(
            "/billing/cancel",
            account="ivy",
            body=b"{}",
            headers={"content-type": "application/json"},
        ),
        client.post(
            "/billing/cancel", account="mallory", data={"csrf_token": token, "confirm": "yes"}
        ),
        client.post(
            "/billing/cancel", account="ivy\x00", data={"csrf_token": token, "confirm": "yes"}
        ),
        client.post("/billing/cancel", data={"csrf_token": token, "confirm": "yes"}),
        client.post("/billing/resume", account="mallory", data={"csrf_token": token}),
        client.post("/billing/portal", account="mallory", data={"csrf_token": token}),
        client.post(
            "/billing/change/team", account="mallory", data={"csrf_token": token, "confirm": "yes"}
        ),
    ]
    for reply in replies:
        assert 400 <= reply.status < 500 or reply.status == 405, (reply.status, reply.text[:300])
    assert fake_stripe.subscriptions[sub_id] == before


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        ("multipart/form-data", b"--x\r\n"),
        ("multipart/form-data; boundary=x", b"--x\r\nContent-Disposition: form-data\r\n\r\n"),
        ("multipart/form-data; boundary=x", b"garbage"),
        ("application/x-www-form-urlencoded", b"&".join([b"a=1"] * 5000)),
        ("application/x-www-form-urlencoded; charset=utf-16", b"\xff\xfeA\x00"),
    ],
)
def test_a_malformed_form_body_is_a_4xx(
    paying: tuple[Tierline, WebClient, str], content_type: str, body: bytes
) -> None:
    _tl, client, _sub = paying
    for path in ("/billing/cancel", "/billing/portal", "/billing/change/team"):
        reply = client.post(path, account="ivy", body=body, headers={"content-type": content_type})
        assert 400 <= reply.status < 500, (path, reply.status, reply.text[:300])
