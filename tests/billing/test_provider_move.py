"""Moving a subscriber from Stripe to Paddle through the webhooks both send, on every dialect.

The checkout on the second provider is warned first; once confirmed, and while both
subscriptions are live, the account keeps the better tier; when the old one ends (Stripe's
``customer.subscription.deleted``) access continues through the new one at its tier.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tierline import Tierline
from tierline.billing.checkout import ProviderSwitchError
from tierline.billing.result import IngestOutcome
from tierline.catalog.spec import Catalog, TierSpec

from ..fakes.paddle_server import FakePaddle, fake_paddle
from .inbox_helpers import SECRET_SETTINGS, deliver, fixture, subscriptions

__all__ = ["fake_paddle"]

ACCOUNT = "org_42"  # the account both providers' fixtures name
CATALOG = Catalog(
    tiers={
        # The Paddle fixtures name their tier in the product's custom_data ("team").
        "team": TierSpec(
            key="team", name="Team", sort_order=1, providers={"paddle": ("pri_team", "team")}
        ),
        "pro": TierSpec(
            key="pro", name="Pro", sort_order=2, providers={"stripe": ("pro_monthly",)}
        ),
    }
)


def access(tl: Tierline) -> tuple[bool, str | None]:
    tl.ctx.cache.invalidate(ACCOUNT)
    status = tl.status(ACCOUNT)
    return status.active, status.tier


@pytest.fixture
def tl(make_tierline: Callable[..., Tierline], fake_paddle: FakePaddle) -> Tierline:
    built = make_tierline(catalog=CATALOG, **SECRET_SETTINGS, **fake_paddle.settings())
    built.sync_catalog()
    fake_paddle.prices["pri_team"] = 1200
    return built


def test_a_subscriber_moved_to_another_provider_keeps_access_until_the_old_one_ends(
    tl: Tierline, fake_paddle: FakePaddle
) -> None:
    # Paying for pro through Stripe, set to end at the period end.
    paid = deliver(tl, "stripe", fixture("stripe", "customer.subscription.updated"))
    assert paid.outcome is IngestOutcome.PROCESSED
    assert access(tl) == (True, "pro")

    # A Paddle checkout is a second subscription: warned, nothing sent until confirmed.
    with pytest.raises(ProviderSwitchError, match="Access continues until the stripe"):
        tl.checkout_url(ACCOUNT, "team", provider="paddle")
    assert fake_paddle.requests == []
    url = tl.checkout_url(ACCOUNT, "team", provider="paddle", allow_provider_switch=True)
    assert fake_paddle.last("POST", "/transactions").body["custom_data"] == {
        "tierline_account": ACCOUNT
    }
    assert url

    # Paddle's subscription arrives: both are live, the better tier (pro) still applies.
    assert deliver(tl, "paddle", fixture("paddle", "subscription.updated")).outcome is (
        IngestOutcome.PROCESSED
    )
    assert {(row["provider"], row["status"]) for row in subscriptions(tl)} == {
        ("stripe", "active"),
        ("paddle", "active"),
    }
    assert access(tl) == (True, "pro")

    # Stripe's subscription ends: access continues through Paddle, at its tier.
    ended = deliver(tl, "stripe", fixture("stripe", "customer.subscription.deleted"))
    assert ended.outcome is IngestOutcome.PROCESSED
    assert access(tl) == (True, "team")
