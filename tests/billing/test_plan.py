"""The plan item of a snapshot, as a pure function of its items and the catalog's links."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tierline.access.tiers import TierData, TierSnapshot
from tierline.billing.models import SubscriptionStatus
from tierline.billing.plan import Plan, choose_plan, period_end
from tierline.billing.providers.base import SubscriptionItem, SubscriptionSnapshot

NOW = datetime(2026, 6, 1, tzinfo=UTC)
PRO = TierData(1, "pro", seats=1, sort_order=10, exempt=False, retired=False)
TEAM = TierData(2, "team", seats=5, sort_order=20, exempt=False, retired=False)
TWIN = TierData(3, "twin", seats=5, sort_order=20, exempt=False, retired=False)
TIERS = TierSnapshot(
    by_id={t.id: t for t in (PRO, TEAM, TWIN)},
    facts={t.id: t.facts for t in (PRO, TEAM, TWIN)},
    free=None,
    credit=None,
    links={("stripe", "pro"): 1, ("stripe", "team"): 2, ("stripe", "twin"): 3, ("paddle", "x"): 2},
)


def snapshot(*items: SubscriptionItem, period: datetime | None = None) -> SubscriptionSnapshot:
    return SubscriptionSnapshot(
        "sub_1", SubscriptionStatus.ACTIVE, items=items, current_period_end=period
    )


def item(*keys: str, quantity: int | None = 1, end_days: int | None = None) -> SubscriptionItem:
    end = None if end_days is None else NOW + timedelta(days=end_days)
    return SubscriptionItem(keys, quantity, end)


def test_no_item_maps() -> None:
    assert choose_plan(snapshot(item("addon")), "stripe", TIERS) == Plan(None, None)
    assert choose_plan(snapshot(), "stripe", TIERS) == Plan(None, None)
    assert Plan(None, None).quantity() is None


def test_links_are_per_provider() -> None:
    assert choose_plan(snapshot(item("x")), "stripe", TIERS).tier is None
    assert choose_plan(snapshot(item("x")), "paddle", TIERS).tier == TEAM


def test_an_item_maps_by_any_of_its_keys_in_order() -> None:
    plan = choose_plan(snapshot(item("lookup_gone", "pro", "team", quantity=3)), "stripe", TIERS)
    assert (plan.tier, plan.quantity(), plan.warning) == (PRO, 3, None)


def test_the_mapped_item_wins_over_an_earlier_addon() -> None:
    addon, plan_item = item("addon", quantity=None, end_days=10), item("team", quantity=4)
    plan = choose_plan(snapshot(addon, plan_item), "stripe", TIERS)
    assert (plan.tier, plan.item, plan.quantity()) == (TEAM, plan_item, 4)


def test_the_higher_tier_wins_with_a_warning_in_any_order() -> None:
    for items in ((item("pro"), item("team")), (item("team"), item("pro"))):
        plan = choose_plan(snapshot(*items), "stripe", TIERS)
        assert plan.tier == TEAM
        assert plan.warning is not None and "(team, pro)" in plan.warning


def test_equal_sort_orders_take_the_earlier_item() -> None:
    assert choose_plan(snapshot(item("twin"), item("team")), "stripe", TIERS).tier == TWIN
    assert choose_plan(snapshot(item("team"), item("twin")), "stripe", TIERS).tier == TEAM


def test_two_items_on_one_tier_are_no_conflict() -> None:
    plan = choose_plan(
        snapshot(item("team", quantity=2), item("team", quantity=9)), "stripe", TIERS
    )
    assert (plan.quantity(), plan.warning) == (2, None)


def test_a_missing_quantity_counts_as_one_and_zero_stays_zero() -> None:
    assert choose_plan(snapshot(item("pro", quantity=None)), "stripe", TIERS).quantity() == 1
    assert choose_plan(snapshot(item("pro", quantity=0)), "stripe", TIERS).quantity() == 0


def test_period_end_of_the_plan_item_else_the_subscription() -> None:
    sub_end = NOW + timedelta(days=3)
    plan_item = item("team", end_days=300)
    snap = snapshot(item("addon", end_days=10), plan_item, period=sub_end)
    assert period_end(snap, plan_item) == NOW + timedelta(days=300)
    assert period_end(snap, item("team")) == sub_end
    # No plan item: a single item stands in, several do not.
    assert period_end(snapshot(item("addon", end_days=7)), None) == NOW + timedelta(days=7)
    assert period_end(snap, None) == sub_end
    assert period_end(snapshot(item("a"), item("b")), None) is None
