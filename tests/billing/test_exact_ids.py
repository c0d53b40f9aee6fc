"""Provider ids are compared exactly on every dialect.

Stripe's ids are case-sensitive: ``evt_1AbC`` and ``evt_1abc`` are two events, ``sub_X`` and
``sub_x`` two subscriptions. MariaDB's default collation would take each pair for one (a lost
event, or one account's subscription overwriting another's); revision 0007 gives these columns
a binary collation there.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tierline import Tierline
from tierline.billing.result import IngestOutcome

from .inbox_helpers import SECRET_SETTINGS, add_tier, deliver, events, fake_event, subscriptions

MakeTierline = Callable[..., Tierline]


@pytest.fixture
def tl(make_tierline: MakeTierline) -> Tierline:
    tl = make_tierline(**SECRET_SETTINGS)
    add_tier(tl, "pro", {"fake": ("pro",)})
    add_tier(tl, "team", {"fake": ("team",)})
    return tl


def test_event_ids_differing_only_in_case_are_two_events(tl: Tierline) -> None:
    now = tl.ctx.clock()
    lower = fake_event("subscription.created", "org_1", now)
    lower["id"] = "evt_1abc"
    upper = fake_event("subscription.created", "org_2", now)
    upper["id"] = "evt_1ABC"

    results = [deliver(tl, "fake", lower), deliver(tl, "fake", upper)]

    assert [r.outcome for r in results] == [IngestOutcome.PROCESSED, IngestOutcome.PROCESSED]
    assert [row.external_id for row in events(tl)] == ["evt_1abc", "evt_1ABC"]
    assert sorted(s["account"] for s in subscriptions(tl)) == ["org_1", "org_2"]
    # Each is still deduplicated against itself.
    assert deliver(tl, "fake", upper).outcome is IngestOutcome.DUPLICATE
    assert len(events(tl)) == 2


def test_subscription_ids_differing_only_in_case_are_two_subscriptions(tl: Tierline) -> None:
    now = tl.ctx.clock()
    deliver(tl, "fake", fake_event("subscription.created", "org_1", now, subscription_id="sub_x"))
    deliver(
        tl,
        "fake",
        fake_event("subscription.created", "org_2", now, tier_key="team", subscription_id="sub_X"),
    )

    found = {(s["external_id"], s["account"], s["tier"]) for s in subscriptions(tl)}
    assert found == {("sub_x", "org_1", "pro"), ("sub_X", "org_2", "team")}
    assert (tl.status("org_1").tier, tl.status("org_2").tier) == ("pro", "team")


def test_refs_differing_only_in_case_get_their_own_subscriptions(tl: Tierline) -> None:
    now = tl.ctx.clock()
    deliver(tl, "fake", fake_event("subscription.created", "org_a", now))

    assert tl.status("org_a").tier == "pro"
    assert tl.status("ORG_A").tier != "pro"
    assert [s["account"] for s in subscriptions(tl)] == ["org_a"]
