"""Self-service in Chromium for every provider, against its local fake API: the portal link,
cancel at period end (refused until confirmed), resume, and, where the provider changes plans,
a downgrade shown with its proration preview (Stripe, Paddle) or the provider's lack of one
(Polar, Lemon Squeezy) before it is confirmed, then scheduled for the period end; an upgrade's
preview shows what it charges now.

One browser for the session (``browser``), a context and a page per test.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, Route, expect
from sqlalchemy.engine import URL

from tierline import Tierline
from tierline.billing import selfservice
from tierline.billing.actions import actions_for
from tierline.catalog.spec import Catalog, TierSpec

from ..billing.test_selfservice import add_subscription
from ..clock import FrozenClock
from ..examples.servers import bound_socket, serve
from ..fakes.every_provider import *  # noqa: F403 - the fake APIs' fixtures
from ..fakes.every_provider import Fakes
from ..web.apps import build_fastapi_app, web_settings
from .conftest import Screenshots

pytestmark = pytest.mark.browser


@dataclass(frozen=True)
class Provider:
    """How one provider appears to the test: its tier links, portal host and fake's state."""

    pro: str
    team: str
    #: The hosted portal's address pattern (the browser is kept from leaving the machine).
    portal: str
    #: A pro subscription seeded at the fake: (subscription id, customer id).
    seed: Callable[[Fakes, str, str], tuple[str, str]]
    #: Whether the fake's subscription is set to end at the period end.
    canceled: Callable[[Fakes, str], bool]
    #: The price key the fake's subscription is on now.
    price: Callable[[Fakes, str], str] | None = None


def _seed_stripe(f: Fakes, pro: str, team: str) -> tuple[str, str]:
    f.stripe.seed_price(pro, unit_amount=3000)
    f.stripe.seed_price(team, unit_amount=1200)
    return f.stripe.seed_subscription("cus_zoe", lookup_key=pro), "cus_zoe"


def _seed_paddle(f: Fakes, pro: str, team: str) -> tuple[str, str]:
    f.paddle.prices.update({pro: 3000, team: 1200})
    return f.paddle.seed_subscription(pro, customer_id="ctm_zoe01"), "ctm_zoe01"


def _seed_polar(f: Fakes, pro: str, team: str) -> tuple[str, str]:
    f.polar.catalog.update({pro, team})
    return f.polar.seed_subscription(pro), "polar-cus-zoe"


def _seed_whop(f: Fakes, pro: str, team: str) -> tuple[str, str]:
    f.whop.catalog.update({pro, team})
    return f.whop.seed_membership(pro), "user_zoe"


def _seed_lemonsqueezy(f: Fakes, pro: str, team: str) -> tuple[str, str]:
    f.lemonsqueezy.catalog.update({pro, team})
    return f.lemonsqueezy.seed_subscription(pro), "ls-cus-zoe"


PROVIDERS: dict[str, Provider] = {
    "stripe": Provider(
        "pro_monthly",
        "team_monthly",
        "https://billing.stripe.com/**",
        _seed_stripe,
        lambda f, s: bool(f.stripe.subscriptions[s]["cancel_at_period_end"]),
        lambda f, s: str(f.stripe.subscriptions[s]["items"]["data"][0]["price"]["lookup_key"]),
    ),
    "paddle": Provider(
        "pri_pro",
        "pri_team",
        "https://customer-portal.paddle.com/**",
        _seed_paddle,
        lambda f, s: f.paddle.subscriptions[s]["scheduled_change"] is not None,
        lambda f, s: str(f.paddle.subscriptions[s]["items"][0]["price"]["id"]),
    ),
    "polar": Provider(
        "prod_pro",
        "prod_team",
        "https://polar.sh/**",
        _seed_polar,
        lambda f, s: bool(f.polar.subscriptions[s]["cancel_at_period_end"]),
        # next_period: the product stays until the renewal; the change waits as pending.
        lambda f, s: str(
            (f.polar.subscriptions[s].get("pending_update") or {}).get("product_id")
            or f.polar.subscriptions[s]["product_id"]
        ),
    ),
    "whop": Provider(
        "plan_pro",
        "plan_team",
        "https://whop.com/**",
        _seed_whop,
        lambda f, s: bool(f.whop.subscriptions[s]["cancel_at_period_end"]),
    ),
    "lemonsqueezy": Provider(
        "482117",
        "482118",
        "https://store.lemonsqueezy.com/**",
        _seed_lemonsqueezy,
        lambda f, s: bool(f.lemonsqueezy.subscriptions[s]["cancelled"]),
        lambda f, s: str(f.lemonsqueezy.subscriptions[s]["variant_id"]),
    ),
}


def _links(tier: str) -> dict[str, tuple[str, ...]]:
    return {name: (getattr(p, tier),) for name, p in PROVIDERS.items()}


CATALOG = Catalog(
    tiers={
        "free": TierSpec(key="free", name="Free", exempt=True),
        "team": TierSpec(key="team", name="Team", sort_order=1, providers=_links("team")),
        "pro": TierSpec(key="pro", name="Pro", sort_order=2, providers=_links("pro")),
    },
    free_tier="free",
)


@dataclass
class Served:
    """The FastAPI test host for ``zoe`` (paying through ``provider``) and a page on it."""

    base: str
    tl: Tierline
    sub_id: str
    fakes: Fakes
    provider: str
    page: Page

    @property
    def spec(self) -> Provider:
        return PROVIDERS[self.provider]


@contextmanager
def _serve(
    sqlite_url: URL,
    clock: FrozenClock,
    fakes: Fakes,
    new_page: Callable[[], Page],
    provider: str,
    tier: str,
) -> Iterator[Served]:
    spec = PROVIDERS[provider]
    sub_id, customer = spec.seed(fakes, spec.pro, spec.team)
    if tier == "team":  # the fake's subscription on team (Stripe and Paddle price previews)
        key = spec.team
        if provider == "stripe":
            sub_id = fakes.stripe.seed_subscription("cus_zoe", lookup_key=key)
        else:
            sub_id = fakes.paddle.seed_subscription(key, customer_id=customer)
    sock = bound_socket()
    base = f"http://127.0.0.1:{sock.getsockname()[1]}"
    tl = Tierline(
        settings=web_settings(str(sqlite_url), public_url=base, **fakes.settings()),
        catalog=CATALOG,
        clock=clock,
    )
    tl.sync_catalog()
    add_subscription(tl, "zoe", provider, sub_id, tier, customer_id=customer)
    with serve(build_fastapi_app(tl), sock):
        yield Served(base, tl, sub_id, fakes, provider, new_page())
    tl.close()


@pytest.fixture
def page_for(browser: Browser) -> Iterator[Callable[[], Page]]:
    """A new page (in its own context, as account ``zoe``) per test; errors must stay none."""
    opened: list[Any] = []
    errors: list[str] = []

    def make() -> Page:
        context = browser.new_context(viewport={"width": 1000, "height": 900})
        context.set_extra_http_headers({"X-Account": "zoe"})
        opened.append(context)
        page = context.new_page()
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        return page

    yield make
    for context in opened:
        context.close()
    assert errors == []


Open = Callable[[str, str], AbstractContextManager[Served]]


@pytest.fixture
def open_app(
    sqlite_url: URL, clock: FrozenClock, fakes: Fakes, page_for: Callable[[], Page]
) -> Open:
    """``open_app(provider, tier)``: serve the host with ``zoe`` on ``tier``, and a page."""
    return functools.partial(_serve, sqlite_url, clock, fakes, page_for)


def _hosted_page(route: Route) -> None:
    route.fulfill(status=200, content_type="text/html", body="<h1 id=portal>Provider portal</h1>")


@pytest.mark.parametrize("provider", sorted(PROVIDERS))
def test_portal_cancel_and_resume(provider: str, open_app: Open, screenshots: Screenshots) -> None:
    with open_app(provider, "pro") as served:
        base, spec = served.base, served.spec
        page = served.page
        page.route(spec.portal, _hosted_page)
        page.goto(f"{base}/billing/settings")
        expect(page.locator("#tier-badge")).to_have_attribute("data-tier", "pro")
        expect(page.locator("#manage-billing")).to_have_attribute("data-provider", provider)

        page.click("#manage-portal")
        expect(page.locator("#portal")).to_have_text("Provider portal")
        page.goto(f"{base}/billing/settings")

        # The browser refuses the form until the box is ticked: nothing reaches the provider.
        page.click("#cancel-subscription")
        expect(page).to_have_url(f"{base}/billing/settings")
        assert spec.canceled(served.fakes, served.sub_id) is False
        page.check("#cancel-confirm")
        page.click("#cancel-subscription")
        expect(page.locator("#checkout-notice")).to_contain_text("will end")
        expect(page.locator("#renewal-line")).to_contain_text("ends on")
        assert spec.canceled(served.fakes, served.sub_id) is True
        screenshots.take(page, f"{provider}-canceled")

        page.click("#resume-subscription")
        expect(page.locator("#checkout-notice")).to_contain_text("renews again")
        expect(page.locator("#renewal-line")).to_contain_text("renews")
        assert spec.canceled(served.fakes, served.sub_id) is False


CHANGERS = sorted(p for p in PROVIDERS if actions_for(p).supports("change_plan"))


def test_every_provider_but_whop_changes_plans() -> None:
    # Whop's API has no plan change of a membership: its page offers a checkout instead.
    assert CHANGERS == ["lemonsqueezy", "paddle", "polar", "stripe"]


@pytest.mark.parametrize("provider", CHANGERS)
def test_a_downgrade_is_previewed_confirmed_and_scheduled_for_the_period_end(
    provider: str, open_app: Open, screenshots: Screenshots
) -> None:
    with open_app(provider, "pro") as served:
        base, spec, tl = served.base, served.spec, served.tl
        page = served.page
        page.goto(f"{base}/billing/settings")
        page.click("#change-team")
        if actions_for(provider).supports("preview_change"):
            expect(page.locator("#preview-total")).to_contain_text("0.00 USD")
        else:
            expect(page.locator("#preview-none")).to_be_visible()
        sub = selfservice.live_subscription(tl.ctx, "zoe")
        assert sub is not None and sub.current_period_end is not None
        day = sub.current_period_end.date().isoformat()
        expect(page.locator("#downgrade-note")).to_contain_text(f"you keep Pro until {day}")
        screenshots.take(page, f"{provider}-downgrade-preview")
        assert spec.price is not None and spec.price(served.fakes, served.sub_id) == spec.pro

        page.click("#change-submit")  # not confirmed: the browser keeps the form
        assert spec.price(served.fakes, served.sub_id) == spec.pro
        page.check("#change-confirm")
        page.click("#change-submit")
        expect(page.locator("#checkout-notice")).to_contain_text("changes at the end")
        expect(page.locator("#scheduled-change")).to_have_text(f"Changes to Team on {day}.")
        expect(page.locator("#keep-plan")).to_have_attribute("href", "/billing/change/pro")
        expect(page.locator("#tier-badge")).to_have_attribute("data-tier", "pro")
        assert tl.status("zoe").tier == "pro"
        assert spec.price(served.fakes, served.sub_id) == spec.team
        screenshots.take(page, f"{provider}-downgrade-scheduled")


@pytest.mark.parametrize("provider", ["paddle", "stripe"])
def test_an_upgrade_shows_what_it_charges_now_before_it_is_confirmed(
    provider: str, open_app: Open, screenshots: Screenshots
) -> None:
    with open_app(provider, "team") as served:
        page = served.page
        page.goto(f"{served.base}/billing/settings")
        page.click("#change-pro")
        expect(page.locator("#preview-total")).to_contain_text("18.00 USD")
        expect(page.locator("#downgrade-note")).to_have_count(0)
        screenshots.take(page, f"{provider}-upgrade-preview")
        page.check("#change-confirm")
        page.click("#change-submit")
        expect(page.locator("#checkout-notice")).to_contain_text("plan was changed")
        expect(page.locator("#tier-badge")).to_have_attribute("data-tier", "pro")
        assert served.spec.price is not None
        assert served.spec.price(served.fakes, served.sub_id) == served.spec.pro
