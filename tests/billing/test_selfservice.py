"""Self-service use cases on every dialect: the provider is called, Tierline's row changes at
once, the provider's webhook confirms it; checkout refusals; moving between providers."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from tierline import Tierline
from tierline.billing.checkout import ProviderSwitchError
from tierline.billing.models import Subscription
from tierline.billing.providers import sign_for
from tierline.catalog.models import Tier
from tierline.catalog.spec import Catalog, TierSpec
from tierline.errors import NotFoundError, ValidationError

from ..clock import FrozenClock
from ..fakes.paddle_server import FakePaddle, fake_paddle
from ..fakes.stripe_server import FakeStripe, fake_stripe

__all__ = ["fake_paddle", "fake_stripe"]

FIXTURES = Path(__file__).parent.parent / "fixtures"
STRIPE_SECRET = "whsec_selfservice"
CATALOG = Catalog(
    tiers={
        "free": TierSpec(key="free", name="Free", exempt=True),
        "team": TierSpec(
            key="team",
            name="Team",
            sort_order=1,
            features=("reports",),
            providers={"stripe": ("team_monthly",), "paddle": ("pri_team",)},
        ),
        "pro": TierSpec(
            key="pro",
            name="Pro",
            sort_order=2,
            features=("reports", "export"),
            providers={"stripe": ("pro_monthly",), "paddle": ("pri_pro",)},
        ),
    },
    features={"reports": None, "export": None},
    free_tier="free",
)


@pytest.fixture
def tl(
    make_tierline: Callable[..., Tierline], fake_stripe: FakeStripe, fake_paddle: FakePaddle
) -> Tierline:
    built = make_tierline(
        catalog=CATALOG,
        stripe_webhook_secret=[STRIPE_SECRET],
        **fake_stripe.settings(),
        **fake_paddle.settings(),
    )
    built.sync_catalog()
    return built


def add_subscription(
    tl: Tierline, account: str, provider: str, external_id: str, tier: str, **values: object
) -> None:
    """A live subscription row, as a webhook would have stored it."""
    info = tl.ensure_account(account)
    with tl.ctx.sessions.begin() as session:
        tier_id = session.scalar(select(Tier.id).where(Tier.key == tier))
        now = tl.ctx.clock()
        session.add(
            Subscription(
                account_id=info.id,
                tier_id=tier_id,
                provider=provider,
                external_id=external_id,
                customer_id=values.pop("customer_id", "cus_SGhT4xVb2KqM8n"),
                status=values.pop("status", "active"),
                current_period_end=values.pop("current_period_end", now + timedelta(days=20)),
                provider_updated_at=values.pop("provider_updated_at", now - timedelta(hours=1)),
                created_at=now,
                updated_at=now,
                **values,
            )
        )


def row(tl: Tierline, external_id: str) -> Subscription:
    with tl.ctx.sessions() as session:
        found = session.scalars(
            select(Subscription).where(Subscription.external_id == external_id)
        ).one()
        session.expunge(found)
        return found


def stripe_update(tl: Tierline, sub_id: str, *, cancel: bool, account: str, at: int) -> None:
    """Deliver a signed ``customer.subscription.updated`` for ``sub_id`` created at ``at``."""
    event = json.loads((FIXTURES / "stripe" / "customer.subscription.updated.json").read_text())
    event["id"] = f"evt_selfservice_{at}_{cancel}"
    event["created"] = at
    obj = event["data"]["object"]
    obj.update(id=sub_id, cancel_at_period_end=cancel, metadata={"tierline_account": account})
    body = json.dumps(event).encode()
    headers = sign_for("stripe", body, STRIPE_SECRET, int(tl.ctx.clock().timestamp()))
    result = tl.ingest("stripe", headers, body)
    assert result.status_code == 200, result.detail


def test_cancel_is_reflected_at_once_and_confirmed_by_the_webhook(
    tl: Tierline, fake_stripe: FakeStripe, clock: FrozenClock
) -> None:
    fake_stripe.seed_price("pro_monthly")
    sub_id = fake_stripe.seed_subscription(lookup_key="pro_monthly")
    add_subscription(tl, "org_42", "stripe", sub_id, "pro")

    tl.cancel_at_period_end("org_42")
    assert fake_stripe.subscriptions[sub_id]["cancel_at_period_end"] is True
    assert row(tl, sub_id).cancel_at_period_end is True
    assert tl.status("org_42").active  # access lasts until the period ends
    with pytest.raises(ValidationError, match="already set to end"):
        tl.cancel_at_period_end("org_42")

    # Stripe's confirming webhook is newer than the stored snapshot: it applies and agrees.
    stripe_update(tl, sub_id, cancel=True, account="org_42", at=int(clock().timestamp()))
    assert row(tl, sub_id).cancel_at_period_end is True

    clock.advance(minutes=5)
    tl.resume("org_42")
    assert fake_stripe.subscriptions[sub_id]["cancel_at_period_end"] is False
    assert row(tl, sub_id).cancel_at_period_end is False
    # The local write never blocks the provider: a later snapshot saying otherwise wins.
    stripe_update(tl, sub_id, cancel=True, account="org_42", at=int(clock().timestamp()) + 1)
    assert row(tl, sub_id).cancel_at_period_end is True


def test_each_action_sends_a_new_idempotency_key_per_intent(
    tl: Tierline, fake_stripe: FakeStripe, clock: FrozenClock
) -> None:
    fake_stripe.seed_price("pro_monthly")
    sub_id = fake_stripe.seed_subscription(lookup_key="pro_monthly")
    add_subscription(tl, "ann", "stripe", sub_id, "pro")
    tl.cancel_at_period_end("ann")
    clock.advance(seconds=1)
    tl.resume("ann")
    clock.advance(seconds=1)
    tl.cancel_at_period_end("ann")
    keys = [r.header("idempotency-key") for r in fake_stripe.requests if r.method == "POST"]
    assert len(keys) == 3 and len(set(keys)) == 3
    assert fake_stripe.subscriptions[sub_id]["cancel_at_period_end"] is True


def seed_bea_on_pro(tl: Tierline, fake_stripe: FakeStripe) -> str:
    """Account bea on a Stripe pro subscription (prices for pro and team); its id."""
    fake_stripe.seed_price("pro_monthly", unit_amount=3000)
    fake_stripe.seed_price("team_monthly", unit_amount=1200)
    sub_id = fake_stripe.seed_subscription(lookup_key="pro_monthly")
    add_subscription(tl, "bea", "stripe", sub_id, "pro")
    return sub_id


def test_plan_change_preview_then_change_and_downgrade_bills_next_period(
    tl: Tierline, fake_stripe: FakeStripe
) -> None:
    seed_bea_on_pro(tl, fake_stripe)

    # pro -> team is a downgrade: no proration by default.
    preview = tl.preview_change("bea", "team")
    assert preview is not None and preview.amount_due == 0 and preview.lines == ()
    tl.change_plan("bea", "team")
    assert fake_stripe.requests[-1].form["proration_behavior"] == "none"
    # Paid for pro until the period ends (tests/billing/test_downgrade_at_period_end.py).
    assert tl.status("bea").tier == "pro"
    # Back to pro before then: the downgrade is undone, with nothing charged.
    tl.change_plan("bea", "pro")
    assert fake_stripe.requests[-1].form["proration_behavior"] == "none"
    assert tl.status("bea").tier == "pro"
    with pytest.raises(ValidationError, match="already pays for tier 'pro'"):
        tl.change_plan("bea", "pro")

    team_sub = fake_stripe.seed_subscription(lookup_key="team_monthly")
    add_subscription(tl, "ben", "stripe", team_sub, "team")
    upgrade = tl.preview_change("ben", "pro")
    assert upgrade is not None and upgrade.amount_due == 1800
    tl.change_plan("ben", "pro")
    assert fake_stripe.requests[-1].form["proration_behavior"] == "always_invoice"
    assert tl.status("ben").tier == "pro"


def test_downgrades_can_be_prorated_at_once(
    make_tierline: Callable[..., Tierline], fake_stripe: FakeStripe
) -> None:
    tl = make_tierline(catalog=CATALOG, downgrade_at_period_end=False, **fake_stripe.settings())
    tl.sync_catalog()
    fake_stripe.seed_price("pro_monthly", unit_amount=3000)
    fake_stripe.seed_price("team_monthly", unit_amount=1200)
    sub_id = fake_stripe.seed_subscription(lookup_key="pro_monthly")
    add_subscription(tl, "cat", "stripe", sub_id, "pro")
    tl.change_plan("cat", "team")
    assert fake_stripe.requests[-1].form["proration_behavior"] == "always_invoice"
    assert tl.status("cat").tier == "team"  # at once


def test_without_a_live_subscription_the_actions_say_so(tl: Tierline) -> None:
    tl.ensure_account("dan")
    for action in (tl.portal_url, tl.cancel_at_period_end, tl.resume):
        with pytest.raises(NotFoundError, match="'dan' has no active subscription"):
            action("dan")
    with pytest.raises(NotFoundError, match="no active subscription"):
        tl.change_plan("dan", "team")


def test_checkout_for_the_plan_already_paid_is_refused(tl: Tierline) -> None:
    add_subscription(tl, "eve", "stripe", "sub_eve", "pro")
    with pytest.raises(ValidationError, match="already pays for tier 'pro' through stripe"):
        tl.checkout_url("eve", "pro")
    with pytest.raises(ValidationError, match="already pays for tier 'pro'"):
        tl.checkout_url("eve", "pro", provider="paddle", allow_provider_switch=True)
    with pytest.raises(ValidationError, match="change the plan of that subscription"):
        tl.checkout_url("eve", "team", provider="stripe")


def test_a_checkout_on_another_provider_is_warned_then_allowed(
    tl: Tierline, fake_paddle: FakePaddle
) -> None:
    fake_paddle.prices["pri_team"] = 1200
    add_subscription(tl, "fay", "stripe", "sub_fay", "pro")
    with pytest.raises(ProviderSwitchError, match="already pays through stripe"):
        tl.checkout_url("fay", "team", provider="paddle")
    assert fake_paddle.requests == []
    url = tl.checkout_url("fay", "team", provider="paddle", allow_provider_switch=True)
    assert url.startswith("https://pay.example.com/checkout")
    assert fake_paddle.last("POST", "/transactions").body["custom_data"] == {
        "tierline_account": "fay"
    }


def test_moving_between_providers_keeps_access_until_the_old_subscription_ends(
    tl: Tierline, clock: FrozenClock
) -> None:
    now = clock()
    add_subscription(
        tl,
        "gus",
        "stripe",
        "sub_old",
        "pro",
        cancel_at_period_end=True,
        current_period_end=now + timedelta(days=3),
    )
    add_subscription(tl, "gus", "paddle", "sub_new", "team", customer_id="ctm_gus")
    status = tl.status("gus")
    assert status.active and status.tier == "pro"  # the higher of the two, until it ends
    assert tl.has_feature("gus", "export")

    # The old subscription ends: access continues through the new one, at its tier.
    with tl.ctx.sessions.begin() as session:
        old = session.scalars(
            select(Subscription).where(Subscription.external_id == "sub_old")
        ).one()
        old.status = "canceled"
    tl.ctx.cache.clear()
    status = tl.status("gus")
    assert status.active and status.tier == "team"
    assert not tl.has_feature("gus", "export")


def test_a_plan_change_calls_the_access_hook_after_its_commit(
    make_tierline: Callable[..., Tierline], fake_stripe: FakeStripe
) -> None:
    # A downgrade applied at once (with the default, it waits for the period end: no change).
    tl = make_tierline(catalog=CATALOG, downgrade_at_period_end=False, **fake_stripe.settings())
    tl.sync_catalog()
    seed_bea_on_pro(tl, fake_stripe)
    seen: list[tuple[str, str | None, str | None]] = []
    tl.on_access_change(lambda ref, old, new: seen.append((ref, old.tier, new.tier)))
    tl.change_plan("bea", "team")
    assert seen == [("bea", "pro", "team")]
    tl.cancel_at_period_end("bea")  # access lasts until the period ends: no change yet
    assert seen == [("bea", "pro", "team")]
