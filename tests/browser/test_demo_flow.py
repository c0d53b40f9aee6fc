"""The demo as a person uses it, in Chromium: invite, sign in, 402, upgrade, 200, referral."""

from __future__ import annotations

import json

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect

from .conftest import LiveApp, Screenshots

pytestmark = pytest.mark.browser


def sign_in(page: Page, base_url: str, email: str, shots: Screenshots, path: str) -> None:
    page.goto(f"{base_url}{path}")
    shots.take(page, "login")
    page.fill("#email", email)
    page.click("#send-code")
    code = page.locator("#login-code").inner_text().strip()
    assert code.isdigit() and len(code) == 6
    shots.take(page, "code")
    page.fill("#code", code)
    page.click("#verify")
    expect(page.locator("h1")).to_have_text(f"Hello, {email}")


def new_context(browser: Browser, base_url: str) -> BrowserContext:
    context = browser.new_context(viewport={"width": 1000, "height": 800})
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=base_url)
    return context


def test_invited_user_upgrades_and_the_referrer_sees_the_conversion(
    browser: Browser, live_app: LiveApp, screenshots: Screenshots
) -> None:
    base = live_app.base_url
    errors: list[str] = []

    referrer_context = new_context(browser, base)
    referrer = referrer_context.new_page()
    referrer.on("pageerror", lambda exc: errors.append(str(exc)))
    sign_in(referrer, base, "referrer@example.com", screenshots, "/login")
    referrer.click("#open-settings")
    referral_code = referrer.locator("#referral-code").inner_text().strip()
    expect(referrer.locator("#stat-converted")).to_have_text("0")

    context = new_context(browser, base)
    page = context.new_page()
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    sign_in(page, base, "invited@example.com", screenshots, f"/login?ref={referral_code}")
    expect(page.locator("#notice")).to_contain_text("invite was recorded")
    screenshots.take(page, "home")

    accounts = {account.email: account.ref for account in live_app.tl.accounts.list()}
    invited_ref, referrer_ref = accounts["invited@example.com"], accounts["referrer@example.com"]
    page.click("#open-settings")
    own_code = page.locator("#referral-code").inner_text().strip()
    assert own_code and own_code != referral_code
    invite = page.locator("#invite-link").input_value()
    assert invite == f"{base}/login?ref={own_code}"
    expect(page.locator("#tier-badge")).to_have_attribute("data-tier", "free")
    page.click("#copy-invite")
    expect(page.locator("#copy-status")).to_have_text("Invite link copied")
    assert page.evaluate("navigator.clipboard.readText()") == invite
    screenshots.take(page, "settings-free")

    expect(page.locator("#seat-count")).to_have_text("Seats: 1 of 1 assigned")
    # The free tier's quota: 3 calls a day, then 402 with the counter and the reset time.
    for _ in range(3):
        answered = page.goto(f"{base}/api/analyze")
        assert answered is not None and answered.status == 200
    denied = page.goto(f"{base}/api/analyze")
    assert denied is not None and denied.status == 402
    body = json.loads(denied.text())
    assert (body["reason"], body["limit"], body["used"]) == ("quota_exceeded", 3, 3)
    assert body["resets_at"]
    screenshots.take(page, "analyze-402")

    page.goto(f"{base}/settings")
    expect(page.locator("#usage-bar-analyze")).to_have_attribute("value", "3")
    page.click("[data-testid=upgrade-pro]")
    expect(page.locator("#fake-account")).to_have_text(invited_ref)
    screenshots.take(page, "fake-checkout")
    page.click("#fake-pay")
    expect(page.locator("#checkout-notice")).to_be_visible()
    expect(page.locator("#tier-badge")).to_have_attribute("data-tier", "pro")
    expect(page.locator("#tier-badge")).to_have_text("Pro")
    screenshots.take(page, "settings-pro")

    expect(page.locator("#seat-count")).to_have_text("Seats: 1 of 3 assigned")

    allowed = page.goto(f"{base}/api/analyze")
    assert allowed is not None and allowed.status == 200
    assert json.loads(allowed.text())["account"] == invited_ref

    referrer.reload()
    expect(referrer.locator("#stat-converted")).to_have_text("1")
    expect(referrer.locator("#stat-credits")).to_have_text("1")
    screenshots.take(referrer, "referrer-converted")
    assert live_app.tl.referral_stats(referrer_ref).converted == 1
    assert errors == []
    context.close()
    referrer_context.close()
