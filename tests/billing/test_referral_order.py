"""Referral rewards do not depend on delivery order: the first paid subscription of a referred
account converts its referral exactly once, whatever order its events arrive in."""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from tierline import Tierline
from tierline.catalog.models import Tier, TierProviderLink
from tierline.referrals.models import Referral

from ..clock import FrozenClock
from .drivers import ACCOUNT, DRIVERS, link_tiers
from .inbox_helpers import SECRET_SETTINGS, conversions, deliver, fixture, refer, referral_catalog

MakeTierline = Callable[..., Tierline]


@pytest.fixture
def tl(make_tierline: MakeTierline) -> Tierline:
    tl = make_tierline(catalog=referral_catalog(days=7), **SECRET_SETTINGS)
    link_tiers(tl)
    return tl


@pytest.mark.parametrize("provider", sorted(DRIVERS))
def test_an_active_snapshot_delivered_after_the_cancellation_still_converts_once(
    tl: Tierline, clock: FrozenClock, provider: str
) -> None:
    refer(tl, "org_src", ACCOUNT)
    driver, now = DRIVERS[provider], clock()
    active = driver.event("created", "active", now)
    canceled = driver.event("canceled", "canceled", now + timedelta(days=2))

    deliver(tl, provider, canceled)
    late = deliver(tl, provider, active)

    assert "stale snapshot ignored" in late.detail and "converted" in late.detail
    for payload in (active, canceled, active):
        deliver(tl, provider, payload)
    assert conversions(tl) == (1, 2)


@pytest.mark.parametrize("provider", sorted(DRIVERS))
def test_an_account_attributed_after_it_paid_converts_at_attribution(
    tl: Tierline, clock: FrozenClock, provider: str
) -> None:
    deliver(tl, provider, DRIVERS[provider].event("created", "active", clock()))
    assert conversions(tl) == (0, 0)

    tl.ensure_account("org_src")
    info = tl.attribute_referral(ACCOUNT, tl.referral_code("org_src"))

    assert info.converted_at == clock() and info.credited_at == clock()
    assert conversions(tl) == (1, 2)
    assert tl.status("org_src").active  # the referrer's reward is visible at once
    deliver(tl, provider, DRIVERS[provider].event("updated", "active", clock() + timedelta(1)))
    assert conversions(tl) == (1, 2)


def test_an_account_attributed_before_paying_is_not_converted_by_attribution(
    tl: Tierline, clock: FrozenClock
) -> None:
    deliver(tl, "fake", DRIVERS["fake"].event("created", "incomplete", clock()))
    refer(tl, "org_src", ACCOUNT)
    assert conversions(tl) == (0, 0)


STRIPE_STEPS = (
    "checkout.session.completed",
    "invoice.paid",
    "customer.subscription.created",  # trialing
    "customer.subscription.updated",  # active
)


def _stripe_step(name: str, index: int) -> dict[str, Any]:
    """A Stripe fixture renamed for referral ``index`` (its own account, customer, ids)."""
    payload = fixture("stripe", name)
    if name.startswith("customer.subscription."):
        payload["data"]["object"]["metadata"] = {}  # only the checkout names the account
    text = json.dumps(payload)
    for old, new in (
        ("sub_1RLm9bHx4Yq2ZpW3kT6vN8cD", f"sub_order{index}"),
        ("cus_SGhT4xVb2KqM8n", f"cus_order{index}"),
        ("org_42", f"org_{index}"),
    ):
        text = text.replace(old, new)
    renamed: dict[str, Any] = json.loads(text)
    renamed["id"] = f"{renamed['id']}_{index}"
    return renamed


def test_every_delivery_order_of_a_stripe_checkout_converts_exactly_once(
    make_tierline: MakeTierline,
) -> None:
    tl = make_tierline(catalog=referral_catalog(days=7), **SECRET_SETTINGS)
    link_tiers(tl)
    with tl.ctx.sessions.begin() as session:
        pro = session.scalars(select(Tier).where(Tier.key == "pro")).one()
        session.add(TierProviderLink(tier_id=pro.id, provider="stripe", external_key="pro_monthly"))
    orders = list(itertools.permutations(range(len(STRIPE_STEPS))))
    for index, order in enumerate(orders):
        refer(tl, "org_src", f"org_{index}")
        steps = [_stripe_step(STRIPE_STEPS[step], index) for step in order]
        for payload in steps + steps[:2]:  # and two duplicates
            deliver(tl, "stripe", payload)

    assert conversions(tl) == (len(orders), 2 * len(orders))
    with tl.ctx.sessions() as session:
        assert session.scalars(select(Referral).where(Referral.converted_at.is_(None))).all() == []


def test_a_checkout_linking_an_already_active_subscription_converts(tl: Tierline) -> None:
    with tl.ctx.sessions.begin() as session:
        pro = session.scalars(select(Tier).where(Tier.key == "pro")).one()
        session.add(TierProviderLink(tier_id=pro.id, provider="stripe", external_key="pro_monthly"))
    active = fixture("stripe", "customer.subscription.updated")
    active["data"]["object"]["metadata"] = {"tierline_account": "org_placeholder"}
    deliver(tl, "stripe", active)  # stored (active) under another account
    refer(tl, "org_src", "org_42")
    assert conversions(tl) == (0, 0)

    linked = deliver(tl, "stripe", fixture("stripe", "checkout.session.completed"))

    assert "converted" in linked.detail
    assert conversions(tl) == (1, 2)
