"""Self-service in Chromium against the fake Stripe API on SQLite: the portal link, cancel
with its confirmation, resume, and a plan change with its proration preview."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, Route, expect
from sqlalchemy.engine import URL

from tierline import Tierline

from ..billing.test_selfservice import add_subscription
from ..clock import FrozenClock
from ..examples.servers import bound_socket, serve
from ..fakes.stripe_server import FakeStripe, fake_stripe
from ..web.apps import build_fastapi_app, web_settings
from ..web.test_selfservice_pages import CATALOG
from .conftest import Screenshots

__all__ = ["fake_stripe"]

pytestmark = pytest.mark.browser

PORTAL = "https://billing.stripe.com/**"


@pytest.fixture
def served(
    sqlite_url: URL, clock: FrozenClock, fake_stripe: FakeStripe
) -> Iterator[tuple[str, Tierline, str]]:
    """The FastAPI test host on a free port; ``zoe`` pays for Pro through (fake) Stripe."""
    fake_stripe.seed_price("pro_monthly", unit_amount=3000)
    fake_stripe.seed_price("team_monthly", unit_amount=1200)
    sub_id = fake_stripe.seed_subscription("cus_zoe", lookup_key="pro_monthly")
    sock = bound_socket()
    base_url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    settings = web_settings(
        str(sqlite_url),
        public_url=base_url,
        app_url=f"{base_url}/reports",
        **fake_stripe.settings(),
    )
    tl = Tierline(settings=settings, catalog=CATALOG, clock=clock)
    tl.sync_catalog()
    add_subscription(tl, "zoe", "stripe", sub_id, "pro", customer_id="cus_zoe")
    with serve(build_fastapi_app(tl), sock):
        yield base_url, tl, sub_id
    tl.close()


def fake_portal(route: Route) -> None:
    """Stand in for Stripe's hosted portal: the browser never leaves the machine."""
    route.fulfill(status=200, content_type="text/html", body="<h1 id=portal>Stripe portal</h1>")


def test_portal_cancel_resume_and_plan_change(
    browser: Browser,
    served: tuple[str, Tierline, str],
    fake_stripe: FakeStripe,
    screenshots: Screenshots,
) -> None:
    base, tl, sub_id = served
    context = browser.new_context(viewport={"width": 1000, "height": 900})
    context.set_extra_http_headers({"X-Account": "zoe"})
    page: Page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.route(PORTAL, fake_portal)

    page.goto(f"{base}/billing/settings")
    expect(page.locator("#tier-badge")).to_have_attribute("data-tier", "pro")
    expect(page.locator("#back-to-app")).to_have_attribute("href", f"{base}/reports")
    expect(page.locator("#renewal-line")).to_contain_text("renews")
    screenshots.take(page, "settings-paying")

    page.click("#manage-portal")
    expect(page.locator("#portal")).to_have_text("Stripe portal")
    assert page.url.startswith("https://billing.stripe.com/p/session/")
    page.goto(f"{base}/billing/settings")

    # Cancel: the browser refuses the form until the box is ticked.
    page.click("#cancel-subscription")
    expect(page).to_have_url(f"{base}/billing/settings")
    assert fake_stripe.subscriptions[sub_id]["cancel_at_period_end"] is False
    page.check("#cancel-confirm")
    page.click("#cancel-subscription")
    expect(page.locator("#checkout-notice")).to_contain_text("will end")
    expect(page.locator("#renewal-line")).to_contain_text("ends on")
    assert fake_stripe.subscriptions[sub_id]["cancel_at_period_end"] is True
    screenshots.take(page, "canceled")

    page.click("#resume-subscription")
    expect(page.locator("#checkout-notice")).to_contain_text("renews again")
    expect(page.locator("#renewal-line")).to_contain_text("renews")
    assert fake_stripe.subscriptions[sub_id]["cancel_at_period_end"] is False

    # The plan change shown with its preview: pro -> team is a downgrade billed next period.
    page.click("#change-team")
    expect(page.locator("#preview-total")).to_contain_text("0.00 USD")
    expect(page.locator("#downgrade-note")).to_be_visible()
    screenshots.take(page, "change-preview")
    page.check("#change-confirm")
    page.click("#change-submit")
    # Billed from the renewal, effective then: pro is paid for until the period ends.
    expect(page.locator("#checkout-notice")).to_contain_text("changes at the end")
    expect(page.locator("#scheduled-change")).to_contain_text("Changes to Team on")
    expect(page.locator("#tier-badge")).to_have_attribute("data-tier", "pro")
    assert tl.status("zoe").tier == "pro"
    items = fake_stripe.subscriptions[sub_id]["items"]["data"]
    assert items[0]["price"]["lookup_key"] == "team_monthly"

    # Back to pro before the period ends undoes the downgrade, with nothing to pay.
    page.click("#keep-plan")
    expect(page.locator("#preview-total")).to_contain_text("0.00 USD")
    screenshots.take(page, "undo-preview")
    page.check("#change-confirm")
    page.click("#change-submit")
    expect(page.locator("#checkout-notice")).to_contain_text("plan was changed")
    expect(page.locator("#scheduled-change")).to_have_count(0)
    items = fake_stripe.subscriptions[sub_id]["items"]["data"]
    assert items[0]["price"]["lookup_key"] == "pro_monthly"
    assert errors == []
    context.close()
