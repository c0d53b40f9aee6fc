"""The example Flask app: tiers with permissions, a seat limit, `flask tierline`."""

from __future__ import annotations

import html
import json
import re
import time
from collections.abc import Iterator
from importlib import import_module
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.engine import URL

from tierline import Tierline, TierlineSettings
from tierline.cli.demo import load_example
from tierline.testing import settings_for_tests, stripe_event

from .chains import assert_chains_are_independent

example = load_example("flask_app")
example_db = import_module(f"{example.__name__}.db")

# The tests pay through the fake checkout: the test helpers turn the fake provider on and link
# the example's tiers to it (the example itself links them to Stripe).
SETTINGS = TierlineSettings(
    secret_key="flask-example-tests",
    public_url="http://localhost",
    enable_fake_provider=True,
    fake_webhook_secret="flask-example-fake-secret",
)


def fake_linked_catalog(directory: Path) -> Path:
    """The example's catalog with every Stripe link turned into a fake-provider link."""
    text = Path(example.CATALOG_PATH).read_text()
    assert "stripe = " in text and "fake" not in text
    path = directory / "tierline.toml"
    path.write_text(text.replace("stripe = ", "fake = "))
    return path


def tierline_of(app: Flask) -> Tierline:
    tl = app.extensions["tierline"].tl
    assert isinstance(tl, Tierline)
    return tl


def text_of(page: str, element_id: str) -> str:
    match = re.search(rf'id="{element_id}"[^>]*>([^<]*)<', page)
    assert match is not None, f"no #{element_id} in the page"
    return html.unescape(match.group(1)).strip()


def upgrade(client: FlaskClient, tier: str) -> None:
    page = client.get("/settings", follow_redirects=True).get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert token is not None
    done = client.post("/billing/fake-checkout", data={"csrf_token": token.group(1), "tier": tier})
    assert done.status_code == 303


@pytest.fixture
def app(tmp_path: Path) -> Iterator[Flask]:
    flask_app = example.create_app(
        f"sqlite:///{tmp_path / 'app.db'}",
        settings=SETTINGS,
        catalog_path=fake_linked_catalog(tmp_path),
    )
    yield flask_app
    tierline_of(flask_app).engine.dispose()


def test_seats_features_and_upgrade_on_every_dialect(empty_db_url: URL, tmp_path: Path) -> None:
    url = empty_db_url.render_as_string(hide_password=False)
    app = example.create_app(url, settings=SETTINGS, catalog_path=fake_linked_catalog(tmp_path))
    client = app.test_client()
    tl = tierline_of(app)
    try:
        assert client.post("/teams", data={"name": "Acme", "email": "o@acme.io"}).status_code == 303
        assert text_of(client.get("/").get_data(as_text=True), "seats") == "1 of 2"
        assert client.post("/members", data={"email": "b@acme.io"}).status_code == 303

        refused = client.post("/members", data={"email": "c@acme.io"})
        assert refused.status_code == 409
        message = text_of(refused.get_data(as_text=True), "error")
        assert message.startswith("Your Free plan has 2 seats and 2 are taken: upgrade")
        assert "c@acme.io" in message

        assert client.get("/api/projects").status_code == 200
        reports = client.get("/api/reports")
        assert reports.status_code == 402
        assert reports.get_json()["feature"] == "reports"
        assert reports.get_json()["reason"] == "no_subscription"
        assert client.get("/api/usage").status_code == 402

        upgrade(client, "pro")
        assert tl.status("team-1").tier == "pro"
        assert client.get("/api/reports").status_code == 200
        assert client.get("/api/usage").get_json()["account"] == "team-1"
        audit = client.get("/api/audit-log")
        assert audit.status_code == 402
        assert audit.get_json()["reason"] == "feature_not_in_tier"
        assert client.post("/members", data={"email": "c@acme.io"}).status_code == 303
        assert text_of(client.get("/").get_data(as_text=True), "seats") == "3 of 5"
    finally:
        tl.engine.dispose()
    assert_chains_are_independent(url, example_db, {"teams", "members"})


def test_removing_a_member_frees_a_seat(app: Flask) -> None:
    client = app.test_client()
    client.post("/teams", data={"name": "Duo", "email": "a@duo.io"})
    client.post("/members", data={"email": "b@duo.io"})
    assert client.post("/members", data={"email": "c@duo.io"}).status_code == 409
    page = client.get("/").get_data(as_text=True)
    member_ids = re.findall(r'action="/members/(\d+)/remove"', page)
    assert client.post(f"/members/{member_ids[-1]}/remove").status_code == 303
    assert client.post("/members", data={"email": "c@duo.io"}).status_code == 303
    assert "c@duo.io" in client.get("/").get_data(as_text=True)


def test_bad_team_input_is_explained(app: Flask) -> None:
    client = app.test_client()
    bad_email = client.post("/teams", data={"name": "X", "email": "nope"})
    assert bad_email.status_code == 400
    assert "'nope' is not an email address" in text_of(bad_email.get_data(as_text=True), "error")
    client.post("/teams", data={"name": "Solo", "email": "s@solo.io"})
    twice = client.post("/members", data={"email": "S@solo.io"})
    assert twice.status_code == 400
    assert "s@solo.io is already on the team" in text_of(twice.get_data(as_text=True), "error")


def test_a_team_created_from_an_invite_is_credited_to_the_referrer(app: Flask) -> None:
    tl = tierline_of(app)
    tl.ensure_account("team-referrer")
    code = tl.referral_code("team-referrer")
    client = app.test_client()
    client.get("/", query_string={"ref": code})
    client.post("/teams", data={"name": "Invited", "email": "i@inv.io"})
    assert "invite was recorded" in text_of(client.get("/").get_data(as_text=True), "notice")
    assert tl.referral_stats("team-referrer").pending == 1
    upgrade(client, "business")
    stats = tl.referral_stats("team-referrer")
    assert (stats.converted, stats.active_credits) == (1, 1)


def test_flask_tierline_runs_the_cli_on_the_apps_database(app: Flask) -> None:
    client = app.test_client()
    client.post("/teams", data={"name": "Cli", "email": "c@cli.io"})
    result = app.test_cli_runner().invoke(args=["tierline", "accounts", "list", "--json"])
    assert result.exit_code == 0, result.output
    assert [account["ref"] for account in json.loads(result.output)] == ["team-1"]


def test_a_stripe_past_due_keeps_reports_open_through_grace(tmp_path: Path) -> None:
    # The example's catalog links its tiers to Stripe lookup keys itself.
    settings = settings_for_tests(f"sqlite:///{tmp_path / 'app.db'}")
    app = example.create_app(catalog_path=Path(example.CATALOG_PATH), settings=settings)
    tl = tierline_of(app)
    client = app.test_client()
    try:
        client.post("/teams", data={"name": "Acme", "email": "o@acme.io"})
        assert client.get("/api/reports").status_code == 402
        start = time.time()
        for second, status in enumerate(("active", "past_due")):
            event = stripe_event(
                "customer.subscription.updated",
                account="team-1",
                tier="pro",
                status=status,
                catalog=tl,
                now=start + second,  # Stripe's `created` has whole seconds: one apart
            )
            answer = client.post("/webhooks/stripe", data=event.body, headers=event.headers)
            assert answer.status_code == 200, answer.get_data(as_text=True)
        status_now = tl.status("team-1")
        assert (status_now.active, status_now.tier) == (True, "pro")  # in the grace period
        assert client.get("/api/reports").status_code == 200
    finally:
        tl.engine.dispose()
