"""The lifecycle states a provider reports inside its subscription events, not as events of
their own (trial, past due, unpaid), from payloads shaped like each provider's, on every dialect.

Stripe, Polar, Whop and Lemon Squeezy send a trial, a failed renewal and exhausted retries as
a status of ``created``/``updated`` (Stripe ``unpaid``; Polar ``trialing``/``unpaid``; Whop
``past_due``/``unresolved``; Lemon Squeezy ``on_trial``/``past_due``/``unpaid``). The variants
live in ``tests/fixtures/<provider>/states/``: each is the provider's event fixture with only
the status (and the fields that go with it) changed. Paddle has an event per state
(``subscription.trialing``, ``subscription.past_due``), already in its event fixtures.
"""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest

from tierline import Tierline
from tierline.billing.result import IngestOutcome

from .inbox_helpers import FIXTURES, SECRET_SETTINGS, add_tier, deliver, subscriptions

ACCOUNT = "org_42"
LINKS = {
    "stripe": ("pro_monthly",),
    "polar": ("pro",),
    "whop": ("plan_9XcRt5YhJk3mNa",),
    "lemonsqueezy": ("482117",),
}
#: (provider, state fixture) -> (stored status, paid access, denial reason)
STATES = {
    ("stripe", "customer.subscription.updated.unpaid"): ("unpaid", False, "past_due"),
    ("polar", "subscription.created.trialing"): ("trialing", True, None),
    ("polar", "subscription.updated.unpaid"): ("unpaid", False, "past_due"),
    ("whop", "membership.updated.past_due"): ("past_due", True, None),
    ("whop", "membership.updated.unresolved"): ("unpaid", False, "past_due"),
    ("lemonsqueezy", "subscription_created.on_trial"): ("trialing", True, None),
    ("lemonsqueezy", "subscription_updated.past_due"): ("past_due", True, None),
    ("lemonsqueezy", "subscription_updated.unpaid"): ("unpaid", False, "past_due"),
}


def test_every_state_fixture_is_listed() -> None:
    on_disk = {
        (provider, path.stem)
        for provider in LINKS
        for path in (FIXTURES / provider / "states").glob("*.json")
    }
    assert on_disk == set(STATES)


@pytest.mark.parametrize(("provider", "name"), sorted(STATES))
def test_a_reported_state_is_stored_and_decides_access(
    make_tierline: Callable[..., Tierline], provider: str, name: str
) -> None:
    tl = make_tierline(**SECRET_SETTINGS)
    add_tier(tl, "pro", {provider: LINKS[provider]})
    payload = json.loads((FIXTURES / provider / "states" / f"{name}.json").read_text())
    assert deliver(tl, provider, payload).outcome is IngestOutcome.PROCESSED
    status, active, reason = STATES[(provider, name)]
    [row] = subscriptions(tl)
    assert (row["account"], row["tier"], row["status"]) == (ACCOUNT, "pro", status)
    access = tl.status(ACCOUNT)
    assert (access.active, access.reason.value if access.reason else None) == (active, reason)
    if active:
        assert access.tier == "pro"
