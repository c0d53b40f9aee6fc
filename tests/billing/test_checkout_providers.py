"""``checkout_url`` through the catalog for every provider: the tier's link is what reaches the
provider's fake, with the account ref the first webhook links."""

from __future__ import annotations

from collections.abc import Callable

from tierline import Tierline
from tierline.catalog.spec import Catalog, TierSpec

from ..fakes.lemonsqueezy_server import FakeLemonSqueezy, fake_lemonsqueezy
from ..fakes.polar_server import FakePolar, fake_polar
from ..fakes.whop_server import FakeWhop, fake_whop

__all__ = ["fake_lemonsqueezy", "fake_polar", "fake_whop"]

CATALOG = Catalog(
    tiers={
        "pro": TierSpec(
            key="pro",
            name="Pro",
            providers={
                "polar": ("prod-pro",),
                "whop": ("plan_pro",),
                "lemonsqueezy": ("555",),
            },
        )
    }
)


def test_checkout_through_each_provider_carries_the_account(
    make_tierline: Callable[..., Tierline],
    fake_polar: FakePolar,
    fake_whop: FakeWhop,
    fake_lemonsqueezy: FakeLemonSqueezy,
) -> None:
    fake_polar.catalog.add("prod-pro")
    fake_whop.catalog.add("plan_pro")
    fake_lemonsqueezy.catalog.add("555")
    tl = make_tierline(
        catalog=CATALOG,
        public_url="https://app.example.com",
        **fake_polar.settings(),
        **fake_whop.settings(),
        **fake_lemonsqueezy.settings(),
    )
    tl.sync_catalog()
    tl.ensure_account("acct-9", "ada@example.com")

    assert tl.checkout_url("acct-9", "pro").startswith("https://buy.polar.sh/")  # first link
    polar = fake_polar.last("POST", "/v1/checkouts/").body
    assert (polar["products"], polar["metadata"]) == (["prod-pro"], {"tierline_account": "acct-9"})
    assert polar["success_url"] == "https://app.example.com/billing/settings?checkout=success"
    assert polar["customer_email"] == "ada@example.com"

    assert tl.checkout_url("acct-9", "pro", provider="whop").startswith("https://whop.com/")
    whop = fake_whop.last("POST", "/api/v1/checkout_configurations").body
    assert (whop["plan_id"], whop["metadata"]) == ("plan_pro", {"tierline_account": "acct-9"})

    url = tl.checkout_url("acct-9", "pro", provider="lemonsqueezy")
    assert url.startswith("https://fake.lemonsqueezy.com/checkout/custom/")
    data = fake_lemonsqueezy.last("POST", "/v1/checkouts").body["data"]
    assert data["attributes"]["checkout_data"]["custom"] == {"tierline_account": "acct-9"}
    assert data["relationships"]["variant"]["data"]["id"] == "555"
