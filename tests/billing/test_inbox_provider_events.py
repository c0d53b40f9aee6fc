"""Every documented subscription and payment event through the inbox, on every dialect.

Kind 11 of the webhook-truth issue: a genuine event is never refused (a type Tierline does not
act on is stored as ``ignored`` and answered 200), and each subscription or payment event a
provider documents has its effect. Kind 9: live and test mode do not mix.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tierline import Tierline
from tierline.access.status import AccessSource
from tierline.billing.result import IngestOutcome

from .inbox_helpers import (
    SECRET_SETTINGS,
    add_tier,
    conversions,
    deliver,
    events,
    fixture,
    refer,
    referral_catalog,
    subscriptions,
)

MakeTierline = Callable[..., Tierline]
ACCOUNT = "org_42"  # the account every fixture names
LINKS = {"stripe": ("pro_monthly",), "paddle": ("pro",)}


@pytest.fixture
def tl(make_tierline: MakeTierline) -> Tierline:
    tl = make_tierline(catalog=referral_catalog(days=7), **SECRET_SETTINGS)
    add_tier(tl, "pro", dict(LINKS))
    return tl


def referred(tl: Tierline) -> Tierline:
    refer(tl, "org_src", ACCOUNT)
    return tl


def test_paddle_subscription_imported_grants_access(tl: Tierline) -> None:
    result = deliver(tl, "paddle", fixture("paddle", "subscription.imported"))

    assert result.outcome is IngestOutcome.PROCESSED, result
    access = tl.status(ACCOUNT)
    assert (access.active, access.source, access.tier) == (True, AccessSource.SUBSCRIPTION, "pro")
    [sub] = subscriptions(tl)
    assert (sub["external_id"], sub["status"]) == ("sub_01jxk9q8m2n4p6r8t0v2x4z6b8", "active")


def test_invoice_payment_succeeded_converts_a_referral_like_invoice_paid(tl: Tierline) -> None:
    referred(tl)
    deliver(tl, "stripe", fixture("stripe", "checkout.session.completed"))
    assert conversions(tl) == (0, 0)

    result = deliver(tl, "stripe", fixture("stripe", "invoice.payment_succeeded"))

    assert result.outcome is IngestOutcome.PROCESSED, result
    assert "payment of 2900" in result.detail and "converted" in result.detail
    assert conversions(tl) == (1, 2)
    # Stripe sends invoice.paid for the same payment: it converts nothing twice.
    assert deliver(tl, "stripe", fixture("stripe", "invoice.paid")).outcome is (
        IngestOutcome.PROCESSED
    )
    assert conversions(tl) == (1, 2)


def test_invoice_payment_succeeded_before_its_checkout_converts_once_linked(tl: Tierline) -> None:
    referred(tl)
    early = deliver(tl, "stripe", fixture("stripe", "invoice.payment_succeeded"))
    assert early.outcome is IngestOutcome.UNMAPPED and conversions(tl) == (0, 0)

    checkout = deliver(tl, "stripe", fixture("stripe", "checkout.session.async_payment_succeeded"))

    assert checkout.outcome is IngestOutcome.PROCESSED
    assert "replayed 1 unmapped event(s)" in checkout.detail
    assert conversions(tl) == (1, 2)
    assert [row.status for row in events(tl)] == ["processed", "processed"]


def test_a_paddle_transaction_converts_a_referral_before_any_subscription_event(
    tl: Tierline,
) -> None:
    referred(tl)
    completed = deliver(tl, "paddle", fixture("paddle", "transaction.completed"))

    assert completed.outcome is IngestOutcome.PROCESSED, completed
    assert "payment of 3157" in completed.detail
    assert conversions(tl) == (1, 2)
    paid = deliver(tl, "paddle", fixture("paddle", "transaction.paid"))
    assert paid.outcome is IngestOutcome.PROCESSED
    assert conversions(tl) == (1, 2)
    # The transaction linked the subscription to the account: its snapshot finds it.
    deliver(tl, "paddle", fixture("paddle", "subscription.activated"))
    [sub] = subscriptions(tl)
    assert (sub["account"], sub["status"], sub["tier"]) == (ACCOUNT, "active", "pro")


def test_a_zero_paddle_transaction_converts_nothing(tl: Tierline) -> None:
    referred(tl)
    payload = fixture("paddle", "transaction.completed")
    payload["data"]["details"]["totals"]["grand_total"] = "0"

    result = deliver(tl, "paddle", payload)

    assert result.outcome is IngestOutcome.PROCESSED and "nothing paid" in result.detail
    assert conversions(tl) == (0, 0)


@pytest.mark.parametrize(
    "name",
    [
        "customer.subscription.trial_will_end",
        "customer.subscription.pending_update_applied",
        "customer.subscription.pending_update_expired",
    ],
)
def test_every_stripe_subscription_event_applies_its_snapshot(tl: Tierline, name: str) -> None:
    payload = fixture("stripe", name)

    result = deliver(tl, "stripe", payload)

    assert result.outcome is IngestOutcome.PROCESSED, result
    [sub] = subscriptions(tl)
    assert (sub["account"], sub["status"]) == (ACCOUNT, payload["data"]["object"]["status"])


def test_a_stripe_v2_thin_event_is_stored_as_ignored_with_200(tl: Tierline) -> None:
    result = deliver(tl, "stripe", fixture("stripe", "v1.billing.meter.error_report_triggered"))

    assert (result.outcome, result.status_code) == (IngestOutcome.IGNORED, 200)
    [row] = events(tl)
    assert (row.status, row.type) == ("ignored", "v1.billing.meter.error_report_triggered")
    assert subscriptions(tl) == []


@pytest.mark.parametrize(
    ("provider", "name", "event_type"),
    [
        ("stripe", "invoice.paid", "invoice.finalized"),
        ("stripe", "invoice.paid", "invoice.upcoming"),
        ("stripe", "checkout.session.completed", "checkout.session.expired"),
        ("paddle", "transaction.completed", "transaction.created"),
        ("paddle", "subscription.updated", "subscription.future_event"),
    ],
)
def test_genuine_events_of_other_types_are_ignored_never_refused(
    tl: Tierline, provider: str, name: str, event_type: str
) -> None:
    payload = fixture(provider, name)
    payload["event_type" if provider == "paddle" else "type"] = event_type

    result = deliver(tl, provider, payload)

    assert (result.outcome, result.status_code) == (IngestOutcome.IGNORED, 200), result
    assert subscriptions(tl) == []


def _in_mode(name: str, live: bool) -> dict[str, Any]:
    payload = fixture("stripe", name)
    payload["livemode"] = payload["data"]["object"]["livemode"] = live
    payload["id"] += "_live" if live else "_test"
    return payload


@pytest.mark.parametrize("settings", [{"stripe_mode": "live"}, {"stripe_api_key": "sk_live_x"}])
def test_a_live_app_ignores_test_mode_events(
    make_tierline: MakeTierline, settings: dict[str, str]
) -> None:
    tl = make_tierline(**SECRET_SETTINGS, **settings)
    add_tier(tl, "pro", dict(LINKS))

    test_event = deliver(tl, "stripe", _in_mode("customer.subscription.updated", live=False))

    assert (test_event.outcome, test_event.status_code) == (IngestOutcome.IGNORED, 200)
    assert "test-mode stripe event ignored" in test_event.detail
    assert subscriptions(tl) == [] and not tl.status(ACCOUNT).active
    live_event = deliver(tl, "stripe", _in_mode("customer.subscription.updated", live=True))
    assert live_event.outcome is IngestOutcome.PROCESSED
    assert tl.status(ACCOUNT).active
    assert [row.status for row in events(tl)] == ["ignored", "processed"]


def test_a_test_app_ignores_live_events(make_tierline: MakeTierline) -> None:
    tl = make_tierline(**SECRET_SETTINGS, stripe_api_key="rk_test_x")
    add_tier(tl, "pro", dict(LINKS))

    live = deliver(tl, "stripe", _in_mode("customer.subscription.updated", live=True))

    assert live.outcome is IngestOutcome.IGNORED and "live-mode" in live.detail
    assert subscriptions(tl) == []
    test = deliver(tl, "stripe", _in_mode("customer.subscription.updated", live=False))
    assert test.outcome is IngestOutcome.PROCESSED


def test_with_no_mode_and_no_key_both_modes_apply(tl: Tierline) -> None:
    outcomes = [
        deliver(tl, "stripe", _in_mode("customer.subscription.updated", live=flag)).outcome
        for flag in (False, True)
    ]
    assert outcomes == [IngestOutcome.PROCESSED, IngestOutcome.PROCESSED]
    assert tl.status(ACCOUNT).active
