"""Referral conversion from webhooks: exactly once, with the Stripe coupon through a fake API."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import select

from tierline import Tierline
from tierline.access.status import AccessSource
from tierline.billing.apply import EffectApplier
from tierline.billing.result import IngestOutcome
from tierline.outbox.models import OutboxStatus
from tierline.referrals.models import Referral

from ..fakes.stripe_server import FakeStripe, fake_stripe  # noqa: F401 - the fixture
from .inbox_helpers import (
    SECRET_SETTINGS,
    add_tier,
    conversions,
    deliver,
    events,
    fixture,
    refer,
    referral_catalog,
)

MakeTierline = Callable[..., Tierline]
COUPON = "REFERRAL_MONTH"
REFERRED = "org_42"  # the account the Stripe fixtures name


def _tierline(make_tierline: MakeTierline, stripe: FakeStripe | None = None) -> Tierline:
    api = stripe.settings() if stripe is not None else {}
    coupon = COUPON if stripe is not None else None
    tl = make_tierline(catalog=referral_catalog(days=7, coupon=coupon), **SECRET_SETTINGS, **api)
    add_tier(tl, "pro", {"stripe": ("pro_monthly",)})
    refer(tl, "org_src", REFERRED)
    return tl


def _subscription_event(name: str, subscription_id: str) -> dict[str, Any]:
    payload = fixture("stripe", name)
    payload["data"]["object"]["id"] = subscription_id
    return payload


def _referral_id(tl: Tierline) -> int:
    with tl.ctx.sessions() as session:
        return int(session.scalars(select(Referral.id)).one())


@pytest.fixture
def seeded(fake_stripe: FakeStripe) -> tuple[FakeStripe, str]:  # noqa: F811 - the fixture
    fake_stripe.seed_coupon(COUPON)
    return fake_stripe, fake_stripe.seed_subscription("cus_SGhT4xVb2KqM8n")


def test_the_first_active_subscription_converts_once_and_applies_the_coupon_once(
    make_tierline: MakeTierline, seeded: tuple[FakeStripe, str]
) -> None:
    stripe, sub_id = seeded
    tl = _tierline(make_tierline, stripe)

    trial = deliver(tl, "stripe", _subscription_event("customer.subscription.created", sub_id))
    assert trial.outcome is IngestOutcome.PROCESSED and conversions(tl) == (0, 0)
    assert stripe.requests == []  # a trial is not a payment

    active = deliver(tl, "stripe", _subscription_event("customer.subscription.updated", sub_id))

    assert active.outcome is IngestOutcome.PROCESSED and "converted" in active.detail
    assert conversions(tl) == (1, 2)
    assert stripe.applied_coupons(sub_id) == [COUPON]
    [request] = stripe.requests
    assert request.path == f"/v1/subscriptions/{sub_id}"
    assert request.header("Idempotency-Key") == f"tierline-referral-{_referral_id(tl)}"
    status = tl.status(REFERRED)
    assert (status.active, status.source, status.tier) == (True, AccessSource.SUBSCRIPTION, "pro")

    # Later payments and redeliveries convert nothing more and call Stripe no more.
    resumed = _subscription_event("customer.subscription.resumed", sub_id)
    for payload in (fixture("stripe", "invoice.paid.pre_basil"), resumed, resumed):
        assert deliver(tl, "stripe", payload).outcome in (
            IngestOutcome.PROCESSED,
            IngestOutcome.DUPLICATE,
        )
    assert conversions(tl) == (1, 2)
    assert len(stripe.requests) == 1 and stripe.applied_coupons(sub_id) == [COUPON]


def test_a_rolled_back_conversion_leaves_no_coupon_call_and_its_retry_makes_one(
    make_tierline: MakeTierline, seeded: tuple[FakeStripe, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    stripe, sub_id = seeded
    tl = _tierline(make_tierline, stripe)
    payload = _subscription_event("customer.subscription.updated", sub_id)
    original = EffectApplier.apply

    def apply_then_lose_the_commit(self: EffectApplier, *args: Any) -> Any:
        original(self, *args)  # the coupon call is written to the outbox...
        raise ConnectionError("connection lost before COMMIT")  # ...and rolled back with it

    with monkeypatch.context() as patch:
        patch.setattr(EffectApplier, "apply", apply_then_lose_the_commit)
        lost = deliver(tl, "stripe", payload)

    assert lost.outcome is IngestOutcome.FAILED and conversions(tl) == (0, 0)
    assert events(tl)[0].last_error == "ConnectionError: connection lost before COMMIT"
    assert stripe.requests == [] and tl.outbox.list() == []

    retried = deliver(tl, "stripe", payload)

    assert retried.outcome is IngestOutcome.PROCESSED and conversions(tl) == (1, 2)
    [request] = stripe.requests
    assert request.header("Idempotency-Key") == f"tierline-referral-{_referral_id(tl)}"
    assert stripe.applied_coupons(sub_id) == [COUPON]


def test_a_refused_stripe_call_never_fails_the_webhook_and_a_later_try_applies_the_coupon(
    make_tierline: MakeTierline, seeded: tuple[FakeStripe, str]
) -> None:
    stripe, sub_id = seeded
    payload = _subscription_event("customer.subscription.updated", sub_id)
    misconfigured = make_tierline(
        catalog=referral_catalog(days=7, coupon=COUPON),
        **SECRET_SETTINGS,
        **{**stripe.settings(), "stripe_api_key": "sk_test_revoked_key"},
    )
    add_tier(misconfigured, "pro", {"stripe": ("pro_monthly",)})
    refer(misconfigured, "org_src", REFERRED)

    answered = deliver(misconfigured, "stripe", payload)

    assert (answered.outcome, answered.status_code) == (IngestOutcome.PROCESSED, 200)
    assert conversions(misconfigured) == (1, 2) and misconfigured.status(REFERRED).active
    [item] = misconfigured.outbox.list()
    assert (item.status, item.attempts) == (OutboxStatus.FAILED, 1)
    assert item.last_error is not None and "Invalid API Key" in item.last_error
    assert stripe.applied_coupons(sub_id) == []

    fixed = make_tierline(
        catalog=referral_catalog(days=7, coupon=COUPON), **SECRET_SETTINGS, **stripe.settings()
    )
    fixed.ctx.clock.advance(hours=1)  # type: ignore[attr-defined]  # past the backoff
    [outcome] = fixed.outbox.deliver_due()

    assert outcome.status is OutboxStatus.DELIVERED and outcome.attempt == 2
    assert stripe.applied_coupons(sub_id) == [COUPON] and conversions(fixed) == (1, 2)
    assert events(fixed)[0].attempts == 1  # the webhook itself was applied once


def test_a_paid_invoice_converts_a_trialing_subscription_once(
    make_tierline: MakeTierline,
) -> None:
    tl = _tierline(make_tierline)
    deliver(tl, "stripe", fixture("stripe", "customer.subscription.created"))
    assert conversions(tl) == (0, 0)

    paid = deliver(tl, "stripe", fixture("stripe", "invoice.paid"))
    unpaid = deliver(tl, "stripe", fixture("stripe", "invoice.payment_failed"))

    assert paid.outcome is IngestOutcome.PROCESSED and "converted" in paid.detail
    assert unpaid.outcome is IngestOutcome.IGNORED
    assert conversions(tl) == (1, 2)
    assert tl.referral_stats("org_src").converted == 1
