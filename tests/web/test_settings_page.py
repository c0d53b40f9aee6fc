"""The settings page and the fake checkout loop, through both adapters."""

from __future__ import annotations

import re
from collections.abc import Callable

from tierline import Tierline
from tierline.access.describe import describe_status

from .apps import WebClient, element, form_token, upgrade_tiers


def test_settings_page_needs_an_account(client: WebClient) -> None:
    reply = client.get("/billing/settings")
    assert reply.status == 401
    assert "Sign in" in reply.text


def test_settings_page_shows_plan_code_invite_stats_and_upgrades(
    client: WebClient, sqlite_tl: Tierline
) -> None:
    sqlite_tl.ensure_account("kim", "kim@example.com")
    code = sqlite_tl.referral_code("kim")
    sqlite_tl.ensure_account("friend")
    sqlite_tl.attribute_referral("friend", code)

    reply = client.get("/billing/settings", account="kim")
    assert reply.status == 200
    assert reply.headers["content-type"].startswith("text/html")
    page = reply.text
    assert element(page, "account-email")[0] == "kim@example.com"
    badge, badge_attrs = element(page, "tier-badge")
    assert badge == "Free"
    assert badge_attrs["data-tier"] == "free"
    status_line = element(page, "status-line")[0]
    assert status_line == describe_status(sqlite_tl.status("kim"))
    assert "no paid access" in status_line
    assert element(page, "upgrade-hint")[0]
    assert element(page, "referral-code")[0] == code
    assert element(page, "invite-link")[1]["value"] == f"https://app.example.com/?ref={code}"
    copy_text, copy_attrs = element(page, "copy-invite")
    assert copy_text == "Copy"
    assert copy_attrs["type"] == "button"
    assert copy_attrs["data-copy-target"] == "invite-link"
    assert element(page, "stat-pending")[0] == "1"
    assert element(page, "stat-converted")[0] == "0"
    assert element(page, "stat-credits")[0] == "0"
    # One button per customer-facing tier that is paid for, in catalog order.
    assert upgrade_tiers(page) == ["team", "pro"]
    assert 'for="invite-link"' in page
    assert client.get("/billing/static/tierline.js").text.count("navigator.clipboard") == 1
    assert client.get("/billing/static/tierline.css").status == 200
    assert client.get("/billing/static/secrets.txt").status == 404


def test_status_line_shows_days_remaining_of_a_credit(
    client: WebClient, sqlite_tl: Tierline
) -> None:
    sqlite_tl.ensure_account("liam")
    sqlite_tl.grant_credit("liam", days=12)
    page = client.get("/billing/settings", account="liam").text
    assert "12 day(s) remaining" in element(page, "status-line")[0]
    assert "upgrade-hint" not in page
    # A credit grants the credit tier's features; the account's own tier stays the one shown.
    badge, attrs = element(page, "tier-badge")
    assert badge == "Free"
    assert "tl-badge--active" in str(attrs["class"])
    assert element(page, "stat-credits")[0] == "1"


def _fake_checkout(client: WebClient, account: str, tier: str) -> None:
    settings = client.get("/billing/settings", account=account)
    start = client.post(
        f"/billing/checkout/{tier}", account=account, data={"csrf_token": form_token(settings.text)}
    )
    assert start.status == 303, start.text
    assert start.location == f"/billing/fake-checkout?tier={tier}"
    checkout = client.get(start.location, account=account)
    assert checkout.status == 200
    assert element(checkout.text, "fake-pay")[1]["type"] == "submit"
    paid = client.post(
        "/billing/fake-checkout",
        account=account,
        data={"tier": tier, "csrf_token": form_token(checkout.text)},
    )
    assert paid.status == 303, paid.text
    assert paid.location == "/billing/settings?checkout=success"


def test_fake_checkout_turns_a_402_into_200_and_changes_the_badge(
    make_client: Callable[[Tierline], WebClient], dialect_tl: Tierline
) -> None:
    client = make_client(dialect_tl)
    assert client.get("/reports", account="mia").status == 402

    _fake_checkout(client, "mia", "team")

    assert client.get("/reports", account="mia").status == 200
    assert client.get("/export", account="mia").json()["reason"] == "feature_not_in_tier"
    page = client.get("/billing/settings?checkout=success", account="mia").text
    assert element(page, "tier-badge")[0] == "Team"
    assert element(page, "checkout-notice")[0]
    assert element(page, "status-line")[0].startswith("team · subscription")
    # The plan the account is on is shown, not offered.
    assert re.search(r'<button[^>]*data-tier="team"[^>]*disabled>Current plan</button>', page)
    assert re.search(r'<button[^>]*data-tier="pro"[^>]*>Choose Pro</button>', page)


def test_posts_without_a_valid_form_token_are_refused(
    client: WebClient, sqlite_tl: Tierline
) -> None:
    other = client.get("/billing/settings", account="someone-else")
    for path, data in (
        ("/billing/checkout/team", {}),
        ("/billing/checkout/team", {"csrf_token": form_token(other.text)}),
        ("/billing/fake-checkout", {"tier": "team", "csrf_token": "forged"}),
    ):
        reply = client.post(path, account="nora", data=data)
        assert reply.status == 403, path
    assert client.post("/billing/checkout/team", data={}).status == 401
    assert sqlite_tl.status("nora").active is False


def test_checkout_errors_are_shown_with_the_valid_choices(client: WebClient) -> None:
    token = form_token(client.get("/billing/settings", account="olga").text)
    unknown = client.post("/billing/checkout/platinum", account="olga", data={"csrf_token": token})
    assert unknown.status == 404
    message = element(unknown.text, "error-message")[0]
    assert "'platinum'" in message
    assert message.endswith("tiers you can check out: pro, team")  # no hidden tier named
    exempt = client.post("/billing/checkout/free", account="olga", data={"csrf_token": token})
    assert exempt.status == 400
    assert "exempt" in element(exempt.text, "error-message")[0]
    # Tiers that are not customer-facing (paid or exempt) are not offered by the pages at all
    # (the host app sells them: tests/web/test_checkout.py, tests/web/test_hidden_tiers.py).
    for hidden in ("legacy", "staff"):
        refused = client.post(
            f"/billing/checkout/{hidden}", account="olga", data={"csrf_token": token}
        )
        assert refused.status == 404
        assert f"'{hidden}' is not offered" in element(refused.text, "error-message")[0]
        no_fake = client.get(f"/billing/fake-checkout?tier={hidden}", account="olga")
        assert no_fake.status == 404
