"""Whop: every fixture parses to the documented snapshot or facts; statuses; ordering."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from tierline.billing.models import SubscriptionStatus
from tierline.billing.providers import WebhookRejected
from tierline.billing.providers.standard_webhooks import WEBHOOK_ID_KEY
from tierline.billing.providers.whop import LIFECYCLE, STATUS_MAP, WhopProvider

from ...fakes import fixture_names, load_fixture

PROVIDER = WhopProvider(["ws_x"])
SNAPSHOTS = {
    "membership.activated": (SubscriptionStatus.TRIALING, False),
    "membership.trial_ending_soon": (SubscriptionStatus.TRIALING, False),
    "membership.updated": (SubscriptionStatus.ACTIVE, False),
    "membership.cancel_at_period_end_changed": (SubscriptionStatus.ACTIVE, True),
    "membership.deactivated": (SubscriptionStatus.EXPIRED, True),
}


def test_the_fixtures_cover_every_documented_membership_and_payment_event() -> None:
    assert set(SNAPSHOTS) | {"payment.succeeded", "payment.failed"} == set(fixture_names("whop"))


@pytest.mark.parametrize("name", sorted(SNAPSHOTS))
def test_membership_events_give_a_snapshot(name: str) -> None:
    payload = load_fixture("whop", name)
    event = PROVIDER.parse(payload)
    status, at_period_end = SNAPSHOTS[name]
    snap = event.subscription
    # The envelope id is the webhook-id: a stored event re-parses with the same id.
    assert event.event_id == payload["id"]
    assert PROVIDER.parse({**payload, WEBHOOK_ID_KEY: "msg_header"}).event_id == "msg_header"
    assert snap is not None
    assert (snap.external_id, snap.status, snap.account_ref, snap.customer_id) == (
        "mem_7KkTm2bXqP9sWz",
        status,
        "org_42",
        "user_4fLp8QwZrT2nVb",
    )
    assert snap.tier_keys == ("plan_9XcRt5YhJk3mNa", "prod_2HgFd7SaPq1wEr")
    assert snap.current_period_end == datetime(2026, 7, 1, 10, 2, tzinfo=UTC)
    assert snap.cancel_at_period_end is at_period_end
    assert snap.updated_at == datetime.fromisoformat(payload["data"]["updated_at"])
    assert snap.rank == LIFECYCLE.rank(name, status)


def test_every_documented_status_maps() -> None:
    assert set(STATUS_MAP) == {
        "trialing",
        "active",
        "past_due",
        "completed",
        "canceled",
        "expired",
        "unresolved",
        "drafted",
        "canceling",
    }
    assert [s for s, v in STATUS_MAP.items() if v in LIFECYCLE.terminal] == [
        "canceled",
        "expired",
    ]
    assert STATUS_MAP["canceling"] is SubscriptionStatus.ACTIVE


def test_payment_succeeded_gives_minor_units() -> None:
    facts = PROVIDER.parse(load_fixture("whop", "payment.succeeded")).data
    assert facts["amount_paid"] == 1000
    assert (facts["payment_id"], facts["currency"]) == ("pay_3NbVc6XzLk8jHg", "usd")
    assert (facts["subscription_id"], facts["customer_id"], facts["account_ref"]) == (
        "mem_7KkTm2bXqP9sWz",
        "user_4fLp8QwZrT2nVb",
        "org_42",
    )


@pytest.mark.parametrize(
    ("total", "currency", "minor"), [(6.9, "usd", 690), (500, "jpy", 500), ("12.34", "eur", 1234)]
)
def test_amounts_in_major_units_convert_by_currency(
    total: object, currency: str, minor: int
) -> None:
    payload = load_fixture("whop", "payment.succeeded")
    payload["data"].update(total=total, currency=currency)
    assert PROVIDER.parse(payload).data["amount_paid"] == minor


def test_a_non_numeric_amount_is_malformed() -> None:
    payload = load_fixture("whop", "payment.succeeded")
    payload["data"]["total"] = [1]
    with pytest.raises(WebhookRejected, match=r"data\.total"):
        PROVIDER.parse(payload)


@pytest.mark.parametrize(
    ("change", "path"),
    [({"status": "frozen"}, "data.status"), ({"plan": "plan_x"}, "data.plan")],
)
def test_a_malformed_membership_names_the_field(change: dict[str, Any], path: str) -> None:
    payload = load_fixture("whop", "membership.updated")
    payload["data"].update(change)
    with pytest.raises(WebhookRejected, match=path) as info:
        PROVIDER.parse(payload)
    assert info.value.reason == "malformed_payload"
