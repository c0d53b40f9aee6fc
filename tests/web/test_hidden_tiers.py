"""A tier that is not customer-facing (``customer_facing = false``: a grandfathered or
sales-only price) is never sold by the self-service pages of either adapter, nor named by them;
the host app can still sell it (``Tierline.checkout_url``), and a customer on it can undo a
downgrade back to it."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from sqlalchemy.engine import URL

from tierline import Tierline
from tierline.billing import selfservice
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
        "team": TierSpec(key="team", name="Team", sort_order=1, providers={"stripe": ("team_m",)}),
        "pro": TierSpec(key="pro", name="Pro", sort_order=2, providers={"stripe": ("pro_m",)}),
        "legacy": TierSpec(
            key="legacy",
            name="Legacy",
            sort_order=3,
            customer_facing=False,
            providers={"stripe": ("legacy_m",), "fake": ("legacy",)},
        ),
    },
    free_tier="free",
)
OFFERED = "tiers you can check out: pro, team"


@pytest.fixture
def tl(
    sqlite_url: URL, clock: FrozenClock, fake_stripe: FakeStripe, fake_paddle: FakePaddle
) -> Iterator[Tierline]:
    for key, amount in (("team_m", 1200), ("pro_m", 3000), ("legacy_m", 2000)):
        fake_stripe.seed_price(key, unit_amount=amount)
    settings = web_settings(str(sqlite_url), **fake_stripe.settings(), **fake_paddle.settings())
    tierline = Tierline(settings=settings, catalog=CATALOG, clock=clock)
    tierline.sync_catalog()
    yield tierline
    tierline.close()


def test_the_pages_neither_sell_nor_name_a_hidden_tier(
    tl: Tierline, make_client: Callable[[Tierline], WebClient], fake_stripe: FakeStripe
) -> None:
    sub_id = fake_stripe.seed_subscription("cus_ivy", lookup_key="pro_m")
    add_subscription(tl, "ivy", "stripe", sub_id, "pro", customer_id="cus_ivy")
    client = make_client(tl)
    settings = client.get("/billing/settings", account="ivy").text
    assert "Legacy" not in settings
    token = form_token(settings)
    before = dict(fake_stripe.subscriptions[sub_id])
    replies = [
        client.get("/billing/change/legacy", account="ivy"),
        client.post(
            "/billing/change/legacy", account="ivy", data={"csrf_token": token, "confirm": "yes"}
        ),
        client.post("/billing/checkout/legacy", account="ivy", data={"csrf_token": token}),
        client.post(
            "/billing/checkout/legacy",
            account="ivy",
            data={"csrf_token": token, "confirm": "yes"},
        ),
    ]
    for reply in replies:
        assert reply.status == 404, (reply.status, reply.text[:300])
        message = element(reply.text, "error-message")[0]
        assert "'legacy' is not offered" in message and OFFERED in message
    # A tier that does not exist lists the same offered tiers.
    unknown = client.get("/billing/change/platinum", account="ivy")
    assert unknown.status == 404 and OFFERED in element(unknown.text, "error-message")[0]
    assert fake_stripe.subscriptions[sub_id] == before
    assert tl.status("ivy").tier == "pro"
    assert tl.outbox.list() == []


def test_the_fake_checkout_does_not_sell_a_hidden_tier(
    tl: Tierline, make_client: Callable[[Tierline], WebClient]
) -> None:
    client = make_client(tl)
    token = form_token(client.get("/billing/settings", account="zed").text)
    shown = client.get("/billing/fake-checkout?tier=legacy", account="zed")
    paid = client.post(
        "/billing/fake-checkout", account="zed", data={"csrf_token": token, "tier": "legacy"}
    )
    for reply in (shown, paid):
        assert reply.status == 404, (reply.status, reply.text[:300])
    assert not tl.status("zed").active


def test_the_host_app_can_still_sell_a_hidden_tier(tl: Tierline, fake_stripe: FakeStripe) -> None:
    url = tl.checkout_url("zed", "legacy")
    (session,) = fake_stripe.sessions.values()
    assert url == session["url"] and session["client_reference_id"] == "zed"


def test_a_customer_on_a_hidden_tier_can_undo_a_downgrade_from_it(
    tl: Tierline, make_client: Callable[[Tierline], WebClient], fake_stripe: FakeStripe
) -> None:
    sub_id = fake_stripe.seed_subscription("cus_lee", lookup_key="legacy_m")
    add_subscription(tl, "lee", "stripe", sub_id, "legacy", customer_id="cus_lee")
    client = make_client(tl)
    page = client.get("/billing/change/pro", account="lee")
    assert page.status == 200
    done = client.post(
        "/billing/change/pro",
        account="lee",
        data={"csrf_token": form_token(page.text), "confirm": "yes"},
    )
    assert done.status == 303 and done.headers["location"].endswith("plan_scheduled")
    assert tl.status("lee").tier == "legacy"  # paid for until the period ends
    back = client.get("/billing/change/legacy", account="lee")
    assert back.status == 200, back.text[:300]
    undone = client.post(
        "/billing/change/legacy",
        account="lee",
        data={"csrf_token": form_token(back.text), "confirm": "yes"},
    )
    assert undone.status == 303 and undone.headers["location"].endswith("plan_changed")
    sub = selfservice.live_subscription(tl.ctx, "lee")
    assert sub is not None and selfservice.scheduled_downgrade(tl.ctx, sub) is None
    assert tl.status("lee").tier == "legacy"
