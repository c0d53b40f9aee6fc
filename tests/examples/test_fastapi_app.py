"""The example FastAPI app, driven through its test client like a person would."""

from __future__ import annotations

import html as html_lib
import re
from collections.abc import Iterator
from importlib import import_module
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update
from sqlalchemy.engine import URL

from tierline import Tierline, TierlineSettings
from tierline import db as tierline_db
from tierline.cli.demo import load_example
from tierline.testing import settings_for_tests, stripe_event

from .chains import assert_chains_are_independent
from .kit import with_stripe_links

example = load_example("fastapi_app")
example_db = import_module(f"{example.__name__}.db")
example_auth = import_module(f"{example.__name__}.auth")

# The demo's app pays through the fake provider, which the test helpers turn on (as the demo).
SETTINGS = TierlineSettings(
    secret_key="fastapi-example-tests",
    public_url="http://testserver",
    enable_fake_provider=True,
    fake_webhook_secret="fastapi-example-fake-secret",
)


def page_value(html: str, element_id: str) -> str:
    match = re.search(rf'id="{element_id}"[^>]*>([^<]*)<', html)
    assert match is not None, f"no #{element_id} in the page"
    return html_lib.unescape(match.group(1)).strip()


def attribute(html: str, element_id: str, name: str) -> str:
    match = re.search(rf'<[^>]*id="{element_id}"[^>]*>', html)
    assert match is not None, f"no #{element_id} in the page"
    value = re.search(rf'{name}="([^"]*)"', match.group(0))
    assert value is not None
    return value.group(1)


def csrf(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match is not None
    return match.group(1)


def sign_in(client: TestClient, email: str, ref: str | None = None) -> httpx.Response:
    login = client.get("/login", params={"ref": ref} if ref else None)
    assert login.status_code == 200
    sent = client.post("/login", data={"email": email})
    assert sent.status_code == 200
    code = page_value(sent.text, "login-code")
    return client.post("/verify", data={"email": email, "code": code})


@pytest.fixture
def client(tmp_path: Path) -> Iterator[tuple[TestClient, Tierline]]:
    app = example.create_app(f"sqlite:///{tmp_path / 'app.db'}", settings=SETTINGS)
    with TestClient(app) as http:
        yield http, app.state.tierline


def test_invited_sign_up_upgrade_and_gate_on_every_dialect(empty_db_url: URL) -> None:
    url = empty_db_url.render_as_string(hide_password=False)
    app = example.create_app(url, settings=SETTINGS)
    with TestClient(app) as client:
        tl: Tierline = app.state.tierline
        tl.ensure_account("referrer")
        code = tl.referral_code("referrer")

        invited = client.get("/login", params={"ref": code})
        assert 'id="invited"' in invited.text
        assert f'<code class="tl-chip">{code}</code>' in invited.text
        home = sign_in(client, "new@example.com", ref=code)
        assert home.status_code == 200
        assert "invite was recorded" in page_value(home.text, "notice")
        assert attribute(home.text, "home-tier", "data-tier") == "free"
        user_ref = "1"
        assert tl.accounts.get(user_ref).email == "new@example.com"
        assert tl.referral_stats("referrer").pending == 1

        # The metered API: 3 a day on the free tier, then 402 with the counter.
        for _ in range(3):
            assert client.get("/api/analyze").status_code == 200
        quota = client.get("/api/analyze")
        assert quota.status_code == 402
        body = quota.json()
        assert (body["reason"], body["used"], body["limit"]) == ("quota_exceeded", 3, 3)
        assert body["resets_at"].endswith("T00:00:00+00:00")  # the next midnight UTC

        settings = client.get("/settings")
        assert attribute(settings.text, "usage-bar-analyze", "value") == "3"
        # The user holds a seat of their own account (the tier's one seat).
        assert page_value(settings.text, "seat-count") == "Seats: 1 of 1 assigned"
        assert settings.url.path == "/billing/settings"
        assert attribute(settings.text, "tier-badge", "data-tier") == "free"
        assert f"/login?ref={tl.referral_code(user_ref)}" in attribute(
            settings.text, "invite-link", "value"
        )
        token = csrf(settings.text)
        checkout = client.post("/billing/checkout/pro", data={"csrf_token": token})
        assert checkout.url.path == "/billing/fake-checkout"
        paid = client.post("/billing/fake-checkout", data={"csrf_token": token, "tier": "pro"})
        assert paid.status_code == 200
        assert attribute(paid.text, "tier-badge", "data-tier") == "pro"

        for _ in range(2):  # Pro: no limit
            allowed = client.get("/api/analyze")
            assert allowed.status_code == 200
        assert allowed.json()["account"] == user_ref
        assert page_value(client.get("/settings").text, "seat-count") == "Seats: 1 of 3 assigned"
        stats = tl.referral_stats("referrer")
        assert (stats.pending, stats.converted) == (0, 1)
    assert_chains_are_independent(url, example_db, {"users", "login_codes"})


def test_a_bad_invite_code_is_explained_and_does_not_block_sign_up(
    client: tuple[TestClient, Tierline],
) -> None:
    http, tl = client
    home = sign_in(http, "solo@example.com", ref="NOSUCHCODE")
    assert home.status_code == 200
    assert "not applied" in page_value(home.text, "notice")
    assert "NOSUCHCODE" in page_value(home.text, "notice")
    assert tl.accounts.get("1").email == "solo@example.com"


def test_wrong_codes_are_refused_then_the_code_is_locked(
    client: tuple[TestClient, Tierline],
) -> None:
    http, _tl = client
    sent = http.post("/login", data={"email": "Guess@Example.com "})
    code = page_value(sent.text, "login-code")
    wrong = f"{(int(code) + 1) % 10**6:06d}"
    for _ in range(example_auth.MAX_ATTEMPTS):
        refused = http.post("/verify", data={"email": "guess@example.com", "code": wrong})
        assert refused.status_code == 400
        assert "not right" in page_value(refused.text, "error")
    locked = http.post("/verify", data={"email": "guess@example.com", "code": code})
    assert locked.status_code == 400
    assert "expired or was already used" in page_value(locked.text, "error")
    assert http.get("/api/analyze").status_code == 401


def test_a_code_works_once_and_not_after_it_expires(
    client: tuple[TestClient, Tierline],
) -> None:
    http, tl = client
    sent = http.post("/login", data={"email": "once@example.com"})
    code = page_value(sent.text, "login-code")
    assert http.post("/verify", data={"email": "once@example.com", "code": code}).status_code == 200
    http.post("/logout")
    again = http.post("/verify", data={"email": "once@example.com", "code": code})
    assert again.status_code == 400

    late = http.post("/login", data={"email": "once@example.com"})
    late_code = page_value(late.text, "login-code")
    with tl.ctx.sessions.begin() as session:
        session.execute(update(example_db.LoginCode).values(expires_at=tierline_db.types.utcnow()))
    expired = http.post("/verify", data={"email": "once@example.com", "code": late_code})
    assert expired.status_code == 400
    assert "expired" in page_value(expired.text, "error")


def test_signed_out_visitors_get_401_and_bad_emails_a_message(
    client: tuple[TestClient, Tierline],
) -> None:
    http, _tl = client
    assert http.get("/api/analyze").json() == {"error": "unauthenticated"}
    assert http.get("/billing/settings").status_code == 401
    home = http.get("/")
    assert 'id="start"' in home.text
    bad = http.post("/login", data={"email": "not-an-email"})
    assert bad.status_code == 400
    assert "'not-an-email' is not an email address" in page_value(bad.text, "error")


def test_signing_in_again_keeps_the_account_and_logout_ends_the_session(
    client: tuple[TestClient, Tierline],
) -> None:
    http, tl = client
    sign_in(http, "back@example.com")
    http.post("/logout")
    assert http.get("/api/analyze").status_code == 401
    home = sign_in(http, "back@example.com")
    assert "Hello, back@example.com" in home.text
    assert [account.ref for account in tl.accounts.list()] == ["1"]


def test_a_session_from_a_reset_database_is_signed_out(
    client: tuple[TestClient, Tierline], tmp_path: Path
) -> None:
    http, _tl = client
    sign_in(http, "gone@example.com")
    # The same session secret over a new, empty database: the user id no longer exists.
    fresh = example.create_app(f"sqlite:///{tmp_path / 'fresh.db'}", settings=SETTINGS)
    with TestClient(fresh, cookies=http.cookies) as other:
        home = other.get("/")
        assert home.status_code == 200
        assert 'id="start"' in home.text
        assert other.get("/api/analyze").status_code == 401


def test_a_stripe_subscription_opens_the_gate_and_its_cancellation_closes_it(
    tmp_path: Path,
) -> None:
    catalog = with_stripe_links(Path(example.CATALOG_PATH), tmp_path, {"pro": "pro_monthly"})
    settings = settings_for_tests(f"sqlite:///{tmp_path / 'app.db'}")
    app = example.create_app(catalog_path=catalog, settings=settings)
    with TestClient(app) as client:
        tl: Tierline = app.state.tierline
        sign_in(client, "payer@example.com")
        assert [client.get("/api/analyze").status_code for _ in range(4)] == [200] * 3 + [402]

        paid = stripe_event("customer.subscription.created", account="1", tier="pro", catalog=tl)
        answer = client.post("/webhooks/stripe", content=paid.body, headers=paid.headers)
        assert answer.status_code == 200, answer.text
        assert client.get("/api/analyze").status_code == 200

        ended = stripe_event("customer.subscription.deleted", account="1", tier="pro", catalog=tl)
        client.post("/webhooks/stripe", content=ended.body, headers=ended.headers)
        assert tl.status("1").reason == "canceled"
        # Back on Free, whose 3 a day were used before paying.
        assert client.get("/api/analyze").json()["reason"] == "quota_exceeded"
