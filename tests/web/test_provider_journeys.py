"""Every provider takes an account from free to paid to cancelled, on every dialect, through
``tierline events ingest`` and through the Flask and FastAPI webhook endpoints.

The deliveries are the provider's payload fixtures signed by its official SDK (``stripe``,
``paddle-python-sdk``) or by ``standardwebhooks`` keyed the way Polar's and Whop's SDKs key it
(the secret's raw bytes); Lemon Squeezy publishes no SDK, so its hex HMAC is computed as its
docs state it. After each step the access status (tier, paid, reason) is asserted, and the same
delivery sent again is a duplicate that changes nothing.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import standardwebhooks
import stripe as stripe_sdk
from paddle_billing.Notifications import PaddleSignature
from sqlalchemy.engine import URL
from typer.testing import CliRunner

from tierline import Tierline
from tierline.cli.app import app

from ..billing.inbox_helpers import SECRET_SETTINGS, SECRETS, add_tier, fixture
from ..clock import FrozenClock
from .apps import CLIENTS, web_settings

ACCOUNT = "org_42"
#: Whether access is granted, the tier, the denial reason.
Access = tuple[bool, str | None, str | None]
FREE: Access = (False, None, "no_subscription")
PAID: Access = (True, "pro", None)
#: provider -> (the pro tier's links, [(fixture, access after it)]): the documented path from
#: a first paid snapshot to the end of the subscription.
JOURNEYS: dict[str, tuple[tuple[str, ...], list[tuple[str, Access]]]] = {
    "stripe": (
        ("pro_monthly",),
        [
            ("customer.subscription.updated", PAID),
            ("customer.subscription.deleted", (False, None, "canceled")),
        ],
    ),
    "paddle": (
        ("pro", "pri_01jx2z4b6c8d0f2g4h6k8m0n2p"),
        [
            ("subscription.updated", PAID),
            ("subscription.canceled", (False, None, "canceled")),
        ],
    ),
    "polar": (
        ("pro",),
        [
            ("checkout.updated", FREE),  # links the customer; no subscription yet
            ("subscription.active", PAID),
            ("subscription.revoked", (False, None, "canceled")),
        ],
    ),
    "whop": (
        ("plan_9XcRt5YhJk3mNa",),
        [
            ("membership.updated", PAID),
            ("membership.deactivated", (False, None, "canceled")),
        ],
    ),
    "lemonsqueezy": (
        ("482117",),
        [
            ("subscription_created", PAID),
            ("subscription_expired", (False, None, "canceled")),
        ],
    ),
}


def _standard_webhooks(body: bytes, secret: str, now: int) -> dict[str, str]:
    # Polar's and Whop's SDKs key the HMAC with the secret's raw UTF-8 bytes, which is
    # standardwebhooks keyed with the base64 of those bytes.
    signer = standardwebhooks.Webhook(base64.b64encode(secret.encode()).decode())
    msg_id = f"msg_{uuid.uuid4().hex}"
    signature = signer.sign(msg_id, datetime.fromtimestamp(now, UTC), body.decode())
    return {"webhook-id": msg_id, "webhook-timestamp": str(now), "webhook-signature": signature}


def _stripe(body: bytes, secret: str, now: int) -> dict[str, str]:
    header = stripe_sdk.WebhookSignature.generate_signature_header(body.decode(), secret, now)
    return {"Stripe-Signature": header}


def _paddle(body: bytes, secret: str, now: int) -> dict[str, str]:
    digest = PaddleSignature.calculate_hmac(secret, f"{now}:".encode() + body).hexdigest()
    return {"Paddle-Signature": f"ts={now};h1={digest}"}


def _lemonsqueezy(body: bytes, secret: str, now: int) -> dict[str, str]:
    # "X-Signature: the HMAC-SHA256 hex digest of the raw body" (no timestamp, no SDK).
    return {"X-Signature": hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()}


SIGNERS: dict[str, Callable[[bytes, str, int], dict[str, str]]] = {
    "stripe": _stripe,
    "paddle": _paddle,
    "polar": _standard_webhooks,
    "whop": _standard_webhooks,
    "lemonsqueezy": _lemonsqueezy,
}


def sdk_signed(provider: str, name: str, now: int) -> tuple[dict[str, str], bytes]:
    body = json.dumps(fixture(provider, name)).encode()
    signature = SIGNERS[provider](body, SECRETS[provider], now)
    return {"Content-Type": "application/json", **signature}, body


def access_of(tl: Tierline) -> Access:
    tl.ctx.cache.invalidate(ACCOUNT)
    status = tl.status(ACCOUNT)
    return status.active, status.tier, status.reason.value if status.reason else None


# -- channels: each sends one signed delivery and returns the outcome it answered ----------------
Send = Callable[[dict[str, str], bytes], str]


def _cli(provider: str, url: str, folder: Path) -> Send:
    runner = CliRunner()

    def send(headers: dict[str, str], body: bytes) -> str:
        path = folder / f"{uuid.uuid4().hex}.json"
        path.write_bytes(body)
        options = [item for name, value in headers.items() for item in ("-H", f"{name}: {value}")]
        result = runner.invoke(
            app,
            ["events", "ingest", provider, "--body", str(path), *options, "--database-url", url],
        )
        assert result.exit_code == 0, result.output
        return result.output.split(" ", 1)[0]

    return send


def _http(adapter: str, provider: str, tl: Tierline) -> Send:
    client = CLIENTS[adapter](tl)

    def send(headers: dict[str, str], body: bytes) -> str:
        reply = client.post(f"/webhooks/{provider}", body=body, headers=headers)
        assert reply.status == 200, reply.text
        return str(reply.json()["outcome"])

    return send


@pytest.mark.parametrize("channel", ["cli", "fastapi", "flask"])
@pytest.mark.parametrize("provider", sorted(JOURNEYS))
def test_free_to_paid_to_cancelled_and_replays_are_duplicates(
    make_tierline: Callable[..., Tierline],
    db_url: URL,
    clock: FrozenClock,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    provider: str,
    channel: str,
) -> None:
    url = db_url.render_as_string(hide_password=False)
    monkeypatch.chdir(tmp_path)  # no stray tierline.toml for the CLI
    monkeypatch.delenv("TIERLINE_DATABASE_URL", raising=False)
    monkeypatch.setenv(f"TIERLINE_{provider.upper()}_WEBHOOK_SECRET", SECRETS[provider])
    # The fixtures are dated; the CLI reads the real clock. The age bound is a setting.
    age = str(10 * 365 * 86400)
    monkeypatch.setenv("TIERLINE_LEMONSQUEEZY_MAX_EVENT_AGE_SECONDS", age)
    settings: dict[str, Any] = web_settings(url, **SECRET_SETTINGS).model_dump(
        exclude={"database_url", "catalog"}
    )
    settings["lemonsqueezy_max_event_age_seconds"] = int(age)
    tl = make_tierline(**settings)
    links, steps = JOURNEYS[provider]
    add_tier(tl, "pro", {provider: links})
    tl.ensure_account(ACCOUNT)

    if channel == "cli":
        send = _cli(provider, url, tmp_path)

        def now() -> int:
            return int(time.time())  # the CLI verifies against the real clock
    else:
        send = _http(channel, provider, tl)

        def now() -> int:
            return int(clock().timestamp())

    assert access_of(tl) == FREE
    for name, expected in steps:
        headers, body = sdk_signed(provider, name, now())
        assert send(headers, body) == "processed", name
        assert access_of(tl) == expected, name
        # The provider retries the same delivery: answered as a duplicate, nothing changes.
        assert send(headers, body) == "duplicate", name
        assert access_of(tl) == expected, name
