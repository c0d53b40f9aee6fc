"""A production-style app (no demo, default settings): no fake provider, quiet refusals."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator

import pytest
from sqlalchemy.engine import URL

from tierline import Tierline, TierlineSettings
from tierline.billing.providers import fake, sign_for
from tierline.catalog.spec import Catalog, TierSpec
from tierline.errors import ConfigurationError

from ..clock import FrozenClock
from .apps import WebClient

STRIPE_SECRET = "whsec_production_tests"
CATALOG = Catalog(
    tiers={
        "free": TierSpec(key="free", name="Free", exempt=True),
        "pro": TierSpec(key="pro", name="Pro", providers={"stripe": ("pro_monthly",)}),
    },
    free_tier="free",
)


@pytest.fixture
def production_tl(sqlite_url: URL, clock: FrozenClock) -> Iterator[Tierline]:
    """Default settings apart from the database, a Stripe secret and a secret key."""
    settings = TierlineSettings(
        database_url=str(sqlite_url),
        stripe_webhook_secret=[STRIPE_SECRET],
        secret_key="production-tests",
    )
    tl = Tierline(settings=settings, catalog=CATALOG, clock=clock)
    tl.sync_catalog()
    yield tl
    tl.close()


@pytest.fixture
def production(make_client: Callable[[Tierline], WebClient], production_tl: Tierline) -> WebClient:
    return make_client(production_tl)


def _fake_delivery(tl: Tierline, secret: str) -> tuple[bytes, dict[str, str]]:
    now = tl.ctx.clock()
    payload = fake.build_event(
        fake.CHECKOUT_COMPLETED, account_ref="mallory", tier_key="pro", now=now
    )
    body = json.dumps(payload).encode()
    return body, sign_for("fake", body, secret, int(now.timestamp()))


def test_the_fake_routes_are_not_mounted(production: WebClient, production_tl: Tierline) -> None:
    # Signed with the secret older versions used by default: still nothing but a 404.
    body, headers = _fake_delivery(production_tl, "fake-webhook-secret")
    assert production.post("/webhooks/fake", body=body, headers=headers).status == 404
    assert production.get("/billing/fake-checkout?tier=pro", account="mallory").status == 404
    paid = production.post("/billing/fake-checkout", account="mallory", data={"tier": "pro"})
    assert paid.status == 404
    assert production_tl.accounts.list() == []
    assert production_tl.inbox.list_events() == []
    assert production_tl.status("mallory").active is False


def test_the_real_providers_stay_mounted(production: WebClient) -> None:
    reply = production.post("/webhooks/stripe", body=b"{}", headers={"Stripe-Signature": "t=1"})
    assert reply.status == 400


@pytest.mark.parametrize(
    ("headers", "reason"),
    [
        ({}, "missing_signature"),
        ({"Stripe-Signature": "nonsense"}, "malformed_signature"),
        ({"Stripe-Signature": "t=1,v1=00"}, "bad_signature"),
    ],
)
def test_a_refusal_names_its_reason_code_only(
    production: WebClient, headers: dict[str, str], reason: str
) -> None:
    reply = production.post("/webhooks/stripe", body=b'{"id": "evt_1"}', headers=headers)
    assert reply.status == 400
    assert reply.json() == {
        "outcome": "rejected",
        "detail": reason,
        "event_id": None,
        "row_id": None,
        "reason": reason,
    }


def test_an_unconfigured_provider_answers_like_a_bad_signature(
    production: WebClient, production_tl: Tierline, caplog: pytest.LogCaptureFixture
) -> None:
    body = b'{"event_id": "evt_1"}'
    headers = sign_for("paddle", body, "pdl_guess", int(production_tl.ctx.clock().timestamp()))
    reply = production.post("/webhooks/paddle", body=body, headers=headers)
    assert reply.status == 400
    assert reply.json()["reason"] == "bad_signature"
    assert "PADDLE" not in reply.text and "secret" not in reply.text
    # The host's log says what is really wrong.
    assert "no_secret_configured" in caplog.text
    assert "TIERLINE_PADDLE_WEBHOOK_SECRET" in caplog.text


def test_checkout_of_a_fake_only_tier_is_refused_when_the_fake_provider_is_off(
    sqlite_url: URL, clock: FrozenClock
) -> None:
    catalog = Catalog(tiers={"pro": TierSpec(key="pro", name="Pro", providers={"fake": ("pro",)})})
    settings = TierlineSettings(database_url=str(sqlite_url), secret_key="k")
    with Tierline(settings=settings, catalog=catalog, clock=clock) as tl:
        tl.sync_catalog()
        with pytest.raises(ConfigurationError, match="fake provider, which is disabled"):
            tl.checkout_url("acct", "pro")
