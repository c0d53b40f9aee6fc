"""The referral coupon through the outbox, against the local fake Stripe API."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from tierline import Tierline
from tierline.access.status import AccessSource
from tierline.billing.result import IngestOutcome
from tierline.outbox.models import OutboxStatus

from ..billing.inbox_helpers import (
    SECRET_SETTINGS,
    add_tier,
    conversions,
    deliver,
    fixture,
    refer,
    referral_catalog,
)
from ..clock import FrozenClock
from ..fakes.stripe_server import FakeStripe, fake_stripe  # noqa: F401 - the fixture

MakeTierline = Callable[..., Tierline]
COUPON = "REFERRAL_MONTH"
REFERRED = "org_42"  # the account the Stripe fixtures name


def _tierline(make_tierline: MakeTierline, **api: Any) -> Tierline:
    tl = make_tierline(
        catalog=referral_catalog(days=7, coupon=COUPON),
        **SECRET_SETTINGS,
        outbox_backoff_seconds=60.0,
        **api,
    )
    add_tier(tl, "pro", {"stripe": ("pro_monthly",)})
    refer(tl, "org_src", REFERRED)
    return tl


def _active_event(subscription_id: str) -> dict[str, Any]:
    payload = fixture("stripe", "customer.subscription.updated")
    payload["data"]["object"]["id"] = subscription_id
    return payload


@pytest.fixture
def seeded(fake_stripe: FakeStripe) -> tuple[FakeStripe, str]:  # noqa: F811 - the fixture
    fake_stripe.seed_coupon(COUPON)
    return fake_stripe, fake_stripe.seed_subscription("cus_SGhT4xVb2KqM8n")


def test_a_coupon_call_that_fails_is_applied_once_on_a_later_try(
    make_tierline: MakeTierline, seeded: tuple[FakeStripe, str], clock: FrozenClock
) -> None:
    stripe, sub_id = seeded
    tl = _tierline(make_tierline, **stripe.settings())
    stripe.fail_next(500, "An unknown error occurred", kind="api_error")

    answered = deliver(tl, "stripe", _active_event(sub_id))

    assert (answered.outcome, answered.status_code) == (IngestOutcome.PROCESSED, 200)
    assert "coupon 'REFERRAL_MONTH' queued" in answered.detail
    status = tl.status(REFERRED)
    assert (status.active, status.source) == (True, AccessSource.SUBSCRIPTION)
    [item] = tl.outbox.list()
    assert (item.status, item.attempts) == (OutboxStatus.FAILED, 1)
    assert item.last_error is not None and "HTTP 500" in item.last_error
    assert stripe.applied_coupons(sub_id) == []

    clock.advance(minutes=5)
    [retried] = tl.outbox.deliver_due()

    assert (retried.status, retried.attempt) == (OutboxStatus.DELIVERED, 2)
    assert stripe.applied_coupons(sub_id) == [COUPON]
    first, second = stripe.requests
    key = f"tierline-referral-{json.loads(item.payload)['referral_id']}"
    # Stripe replays a saved error to the same key: the retry after its 500 uses a new one.
    assert first.header("Idempotency-Key") == key
    assert second.header("Idempotency-Key") == f"{key}:try-2"
    assert second.form == {"discounts": [{"coupon": COUPON}]}

    clock.advance(days=1)
    assert tl.outbox.deliver_due() == [] and len(stripe.requests) == 2
    assert conversions(tl) == (1, 2)


def test_without_an_api_key_the_webhook_grants_access_and_the_call_waits_visibly(
    make_tierline: MakeTierline, seeded: tuple[FakeStripe, str], clock: FrozenClock
) -> None:
    stripe, sub_id = seeded
    keyless = _tierline(make_tierline)  # no TIERLINE_STRIPE_API_KEY

    answered = deliver(keyless, "stripe", _active_event(sub_id))

    assert (answered.outcome, answered.status_code) == (IngestOutcome.PROCESSED, 200)
    assert keyless.status(REFERRED).active and conversions(keyless) == (1, 2)
    [item] = keyless.outbox.list(OutboxStatus.FAILED)
    assert item.last_error is not None and "no Stripe API key is configured" in item.last_error
    assert stripe.requests == []

    configured = make_tierline(**SECRET_SETTINGS, **stripe.settings())
    clock.advance(hours=1)
    [outcome] = configured.outbox.deliver_due()

    assert outcome.status is OutboxStatus.DELIVERED
    assert stripe.applied_coupons(sub_id) == [COUPON]


def test_with_inline_delivery_off_the_item_stays_pending_for_the_worker(
    make_tierline: MakeTierline, seeded: tuple[FakeStripe, str]
) -> None:
    stripe, sub_id = seeded
    tl = _tierline(make_tierline, **stripe.settings(), outbox_inline=False)

    assert deliver(tl, "stripe", _active_event(sub_id)).status_code == 200
    [item] = tl.outbox.list()
    assert (item.status, item.attempts) == (OutboxStatus.PENDING, 0)
    assert stripe.requests == []

    [outcome] = tl.outbox.deliver_due()
    assert outcome.status is OutboxStatus.DELIVERED
    assert stripe.applied_coupons(sub_id) == [COUPON]
    assert stripe.requests[0].header("Idempotency-Key") == item.idempotency_key
