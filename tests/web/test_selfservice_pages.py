"""The self-service forms through both adapters: portal, cancel with confirmation, resume,
plan change with its preview, the provider-switch warning, the link back to the app and the
host's layout. Every refusal is a clear page, never a 500."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy.engine import URL

from tierline import Tierline
from tierline.catalog.spec import Catalog, TierSpec

from ..billing.test_selfservice import add_subscription
from ..clock import FrozenClock
from ..fakes.paddle_server import FakePaddle, fake_paddle
from ..fakes.stripe_server import FakeStripe, fake_stripe
from .apps import WebClient, element, form_token, web_settings

__all__ = ["fake_paddle", "fake_stripe"]

CATALOG = Catalog(
    tiers={
        "free": TierSpec(key="free", name="Free", exempt=True),
        "team": TierSpec(
            key="team",
            name="Team",
            sort_order=1,
            providers={"stripe": ("team_monthly",), "paddle": ("pri_team",)},
        ),
        "pro": TierSpec(
            key="pro",
            name="Pro",
            sort_order=2,
            providers={"stripe": ("pro_monthly",), "paddle": ("pri_pro",)},
        ),
    },
    free_tier="free",
)


@pytest.fixture
def make_tl(
    sqlite_url: URL, clock: FrozenClock, fake_stripe: FakeStripe, fake_paddle: FakePaddle
) -> Iterator[Callable[..., Tierline]]:
    built: list[Tierline] = []

    def build(**overrides: object) -> Tierline:
        settings = web_settings(
            str(sqlite_url), **fake_stripe.settings(), **fake_paddle.settings(), **overrides
        )
        tl = Tierline(settings=settings, catalog=CATALOG, clock=clock)
        tl.sync_catalog()
        built.append(tl)
        return tl

    yield build
    for tl in built:
        tl.close()


@pytest.fixture
def paying(
    make_tl: Callable[..., Tierline],
    make_client: Callable[[Tierline], WebClient],
    fake_stripe: FakeStripe,
) -> tuple[Tierline, WebClient, str]:
    """An account ``ivy`` paying for Pro through (fake) Stripe, and a client."""
    fake_stripe.seed_price("pro_monthly", unit_amount=3000)
    fake_stripe.seed_price("team_monthly", unit_amount=1200)
    sub_id = fake_stripe.seed_subscription("cus_ivy", lookup_key="pro_monthly")
    tl = make_tl(app_url="https://app.example.com/dashboard")
    add_subscription(tl, "ivy", "stripe", sub_id, "pro", customer_id="cus_ivy")
    return tl, make_client(tl), sub_id


def test_settings_page_shows_the_manage_card_and_the_way_back(
    paying: tuple[Tierline, WebClient, str],
) -> None:
    _tl, client, _sub = paying
    page = client.get("/billing/settings", account="ivy").text
    assert element(page, "back-to-app")[1]["href"] == "https://app.example.com/dashboard"
    assert element(page, "manage-billing")[1]["data-provider"] == "stripe"
    assert "renews" in element(page, "renewal-line")[0]
    assert element(page, "manage-portal")[0].startswith("Manage billing")
    assert element(page, "cancel-confirm")[1]["required"] is None  # present, required
    assert element(page, "change-team")[1]["href"] == "/billing/change/team"


def test_portal_redirects_to_the_providers_portal_and_needs_the_form_token(
    paying: tuple[Tierline, WebClient, str], fake_stripe: FakeStripe
) -> None:
    _tl, client, _sub = paying
    assert client.post("/billing/portal", account="ivy", data={}).status == 403
    token = form_token(client.get("/billing/settings", account="ivy").text)
    reply = client.post("/billing/portal", account="ivy", data={"csrf_token": token})
    assert reply.status == 303
    assert reply.headers["location"].startswith("https://billing.stripe.com/p/session/")
    assert fake_stripe.requests[-1].form["customer"] == "cus_ivy"
    assert fake_stripe.requests[-1].form["return_url"] == "https://app.example.com/billing/settings"


def test_cancel_needs_confirmation_then_resume(
    paying: tuple[Tierline, WebClient, str], fake_stripe: FakeStripe
) -> None:
    _tl, client, sub_id = paying
    token = form_token(client.get("/billing/settings", account="ivy").text)
    unconfirmed = client.post("/billing/cancel", account="ivy", data={"csrf_token": token})
    assert unconfirmed.status == 400
    assert "Tick the confirmation box" in element(unconfirmed.text, "error-message")[0]
    assert fake_stripe.subscriptions[sub_id]["cancel_at_period_end"] is False
    forged = client.post("/billing/cancel", account="ivy", data={"confirm": "yes"})
    assert forged.status == 403

    done = client.post(
        "/billing/cancel", account="ivy", data={"csrf_token": token, "confirm": "yes"}
    )
    assert done.status == 303
    assert done.headers["location"] == "/billing/settings?checkout=renewal_canceled"
    assert fake_stripe.subscriptions[sub_id]["cancel_at_period_end"] is True
    page = client.get(done.headers["location"], account="ivy").text
    assert "end at the end of the current period" in element(page, "checkout-notice")[0]
    assert "ends on" in element(page, "renewal-line")[0]
    again = client.post(
        "/billing/cancel", account="ivy", data={"csrf_token": token, "confirm": "yes"}
    )
    assert again.status == 400
    assert "resume it instead" in element(again.text, "error-message")[0]

    resumed = client.post("/billing/resume", account="ivy", data={"csrf_token": token})
    assert resumed.status == 303
    assert fake_stripe.subscriptions[sub_id]["cancel_at_period_end"] is False


def test_plan_change_shows_the_preview_before_the_confirmed_change(
    paying: tuple[Tierline, WebClient, str], fake_stripe: FakeStripe
) -> None:
    tl, client, _sub = paying
    page = client.get("/billing/change/team", account="ivy")
    assert page.status == 200
    assert "0.00 USD" in element(page.text, "preview-total")[0]
    assert element(page.text, "downgrade-note")[0]
    token = form_token(page.text)
    assert (
        client.post("/billing/change/team", account="ivy", data={"csrf_token": token}).status == 400
    )
    assert tl.status("ivy").tier == "pro"
    done = client.post(
        "/billing/change/team", account="ivy", data={"csrf_token": token, "confirm": "yes"}
    )
    # A downgrade waits for the period end: pro is paid for until then.
    assert done.status == 303 and done.headers["location"].endswith("plan_scheduled")
    assert tl.status("ivy").tier == "pro"
    settings = client.get(done.headers["location"], account="ivy")
    assert "changes at the end of the current period" in settings.text
    line, _ = element(settings.text, "scheduled-change")
    assert line.startswith("Changes to Team on ")
    # Going back to pro undoes it: no charge, no downgrade note.
    back = client.get("/billing/change/pro", account="ivy")
    assert back.status == 200 and "0.00 USD" in element(back.text, "preview-total")[0]
    assert 'id="downgrade-note"' not in back.text
    unknown = client.get("/billing/change/platinum", account="ivy")
    assert unknown.status == 404 and "'platinum'" in element(unknown.text, "error-message")[0]


def test_provider_errors_are_a_clear_page(
    paying: tuple[Tierline, WebClient, str], fake_stripe: FakeStripe
) -> None:
    _tl, client, _sub = paying
    token = form_token(client.get("/billing/settings", account="ivy").text)
    fake_stripe.fail_next(
        400, "This customer has no portal configuration", kind="invalid_request_error"
    )
    reply = client.post("/billing/portal", account="ivy", data={"csrf_token": token})
    assert reply.status == 502
    assert "Stripe opening the billing portal" in element(reply.text, "error-message")[0]


def test_checkout_for_the_plan_already_paid_is_refused(
    paying: tuple[Tierline, WebClient, str], fake_stripe: FakeStripe
) -> None:
    _tl, client, _sub = paying
    token = form_token(client.get("/billing/settings", account="ivy").text)
    calls = len(fake_stripe.requests)
    same = client.post("/billing/checkout/pro", account="ivy", data={"csrf_token": token})
    assert same.status == 400
    assert "already pays for tier 'pro'" in element(same.text, "error-message")[0]
    assert len(fake_stripe.requests) == calls


def test_checkout_on_another_provider_is_confirmed_first(
    make_tl: Callable[..., Tierline],
    make_client: Callable[[Tierline], WebClient],
    fake_paddle: FakePaddle,
) -> None:
    fake_paddle.prices["pri_team"] = 1200
    tl = make_tl(checkout_provider="paddle")
    add_subscription(tl, "jon", "stripe", "sub_jon", "pro")
    client = make_client(tl)
    token = form_token(client.get("/billing/settings", account="jon").text)
    warned = client.post("/billing/checkout/team", account="jon", data={"csrf_token": token})
    assert warned.status == 409
    assert "already pays through stripe" in element(warned.text, "switch-warning")[0]
    assert fake_paddle.requests == []
    confirmed = client.post(
        "/billing/checkout/team",
        account="jon",
        data={"csrf_token": form_token(warned.text), "confirm": "yes"},
    )
    assert confirmed.status == 303
    assert confirmed.headers["location"].startswith("https://pay.example.com/checkout")


def test_a_host_layout_wraps_the_pages(
    make_tl: Callable[..., Tierline], make_client: Callable[[Tierline], WebClient], tmp_path: Path
) -> None:
    layout = tmp_path / "tierline" / "base.html"
    layout.parent.mkdir()
    layout.write_text(
        "<html><body><nav id='host-nav'>Acme</nav>{% block content %}{% endblock %}"
        "{% block scripts %}{% endblock %}</body></html>"
    )
    client = make_client(make_tl(templates_dir=str(tmp_path)))
    page = client.get("/billing/settings", account="kay").text
    assert element(page, "host-nav")[0] == "Acme"
    assert element(page, "status-line")[0]
    error = client.get("/billing/change/pro", account="kay").text
    assert element(error, "host-nav")[0] == "Acme"
    assert "no active subscription" in element(error, "error-message")[0]
