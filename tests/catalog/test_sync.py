"""Syncing a catalog to the database, on every dialect."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import pytest
from sqlalchemy import func, select

from tierline import Tierline
from tierline.accounts.models import Account
from tierline.billing.models import Subscription
from tierline.catalog.config import CatalogError, parse_catalog
from tierline.catalog.models import Feature, LimitPeriod, Tier, TierFeature, TierProviderLink
from tierline.catalog.service import TierInfo
from tierline.catalog.spec import LimitSpec
from tierline.errors import NotFoundError

MakeTierline = Callable[..., Tierline]

V1 = """
[features]
dashboard = "Dashboard"
analyze = "AI analysis"
batches = "Batches"

[tiers.free]
name = "Free"
exempt = true
features = ["dashboard"]

[tiers.pro]
name = "Pro"
fallback_price = "$19/mo"
features = ["dashboard", "analyze"]
limits = { batches = { limit = 100, period = "month" } }
providers = { stripe = ["pro_monthly", "pro_yearly"], paddle = "pro" }
"""

LEGACY = """
[tiers.legacy]
name = "Legacy"
features = ["dashboard"]
providers = { stripe = "legacy_monthly" }
"""


def row_counts(tl: Tierline) -> dict[str, int]:
    with tl.ctx.sessions() as session:
        return {
            model.__tablename__: session.scalar(select(func.count()).select_from(model)) or 0
            for model in (Tier, Feature, TierFeature, TierProviderLink)
        }


def subscribe(tl: Tierline, tier_key: str, *refs: str) -> None:
    """Insert one subscription per account on ``tier_key``, through the ORM models."""
    with tl.ctx.sessions.begin() as session:
        tier = session.scalars(select(Tier).where(Tier.key == tier_key)).one()
        for ref in refs:
            account = Account(ref=ref)
            session.add(account)
            session.flush()
            session.add(
                Subscription(
                    account_id=account.id,
                    tier_id=tier.id,
                    provider="stripe",
                    external_id=f"sub_{ref}",
                    status="active",
                )
            )


def test_first_sync_creates_everything_and_second_changes_nothing(
    make_tierline: MakeTierline,
) -> None:
    tl = make_tierline()

    report = tl.sync_catalog(parse_catalog(V1))

    assert report.changed and not report.dry_run
    assert report.changes == [
        "+ feature dashboard",
        "+ feature analyze",
        "+ feature batches",
        "+ tier free",
        "+ grant free: dashboard",
        "+ tier pro",
        "+ grant pro: dashboard",
        "+ grant pro: analyze",
        "+ grant pro: batches 100/month",
        "+ link stripe:pro_monthly -> pro",
        "+ link stripe:pro_yearly -> pro",
        "+ link paddle:pro -> pro",
    ]
    assert tl.catalog.tiers() == [
        TierInfo(
            key="free",
            name="Free",
            description=None,
            seats=1,
            customer_facing=True,
            exempt=True,
            fallback_price=None,
            sort_order=0,
            retired=False,
            features=("dashboard",),
            limits={},
            providers={},
        ),
        TierInfo(
            key="pro",
            name="Pro",
            description=None,
            seats=1,
            customer_facing=True,
            exempt=False,
            fallback_price="$19/mo",
            sort_order=1,
            retired=False,
            features=("analyze", "batches", "dashboard"),
            limits={"batches": LimitSpec(100, LimitPeriod.MONTH)},
            providers={"paddle": ("pro",), "stripe": ("pro_monthly", "pro_yearly")},
        ),
    ]
    counts = row_counts(tl)

    again = tl.sync_catalog(parse_catalog(V1))

    assert again.changes == [] and not again.changed
    assert row_counts(tl) == counts


def test_changes_are_reported_field_by_field(make_tierline: MakeTierline) -> None:
    tl = make_tierline()
    tl.sync_catalog(parse_catalog(V1))
    v2 = (
        V1.replace('name = "Pro"', 'name = "Pro"\nseats = 5')
        .replace('analyze = "AI analysis"', 'analyze = "Analysis"')
        .replace('features = ["dashboard", "analyze"]', 'features = ["dashboard"]')
        .replace('limit = 100, period = "month"', 'limit = 20, period = "day"')
        .replace('["pro_monthly", "pro_yearly"]', '["pro_yearly", "pro_2027"]')
    )

    report = tl.sync_catalog(parse_catalog(v2))

    assert report.changes == [
        "~ feature analyze: name 'AI analysis' -> 'Analysis'",
        "~ tier pro: seats 1 -> 5",
        "- grant pro: analyze",
        "~ grant pro: batches 100/month -> batches 20/day",
        "- link stripe:pro_monthly -> pro",
        "+ link stripe:pro_2027 -> pro",
    ]
    pro = tl.catalog.tier("pro")
    assert pro.seats == 5
    assert pro.features == ("batches", "dashboard")
    assert pro.limits == {"batches": LimitSpec(20, LimitPeriod.DAY)}
    assert pro.providers["stripe"] == ("pro_2027", "pro_yearly")
    assert tl.sync_catalog(parse_catalog(v2)).changes == []


def test_a_link_whose_case_changes_is_replaced(make_tierline: MakeTierline) -> None:
    # MariaDB's unique index ignores case: the old row must go before the new one comes.
    tl = make_tierline()
    tl.sync_catalog(parse_catalog(V1))

    report = tl.sync_catalog(parse_catalog(V1.replace('"pro_yearly"', '"Pro_Yearly"')))

    assert report.changes == ["- link stripe:pro_yearly -> pro", "+ link stripe:Pro_Yearly -> pro"]
    assert tl.catalog.tier("pro").providers["stripe"] == ("Pro_Yearly", "pro_monthly")


def test_a_link_moves_between_tiers(make_tierline: MakeTierline) -> None:
    tl = make_tierline()
    tl.sync_catalog(parse_catalog(V1 + LEGACY))
    # legacy leaves the file and pro takes over its price key; nothing references legacy.
    moved = V1.replace('paddle = "pro"', 'paddle = "pro", fake = "x"').replace(
        '["pro_monthly", "pro_yearly"]', '["pro_monthly", "pro_yearly", "legacy_monthly"]'
    )

    report = tl.sync_catalog(parse_catalog(moved))

    assert report.changes == [
        "~ link stripe:legacy_monthly: legacy -> pro",
        "+ link fake:x -> pro",
        "- tier legacy",
    ]
    # The inbox resolves the moved key to its new tier.
    tier = tl.access.tiers.get().tier_for_link("stripe", ["legacy_monthly"])
    assert tier is not None and tier.key == "pro"


def test_a_referenced_tier_is_retired_not_deleted_and_comes_back(
    make_tierline: MakeTierline,
) -> None:
    tl = make_tierline()
    tl.sync_catalog(parse_catalog(V1 + LEGACY))
    subscribe(tl, "legacy", "acme", "globex", "initech")

    report = tl.sync_catalog(parse_catalog(V1))

    assert report.changes == ["retire tier legacy (3 subscriptions)"]
    assert [t.key for t in tl.catalog.tiers()] == ["free", "pro"]
    legacy = tl.catalog.tier("legacy")
    assert legacy.retired
    # It keeps its grants and links: late webhooks for its old price still resolve.
    assert legacy.features == ("dashboard",)
    tier = tl.access.tiers.get().tier_for_link("stripe", ["legacy_monthly"])
    assert tier is not None and tier.key == "legacy"
    with tl.ctx.sessions() as session:
        assert session.scalar(select(func.count()).select_from(Subscription)) == 3
    assert [t.key for t in tl.catalog.tiers(include_retired=True)] == ["free", "pro", "legacy"]
    assert tl.sync_catalog(parse_catalog(V1)).changes == []

    back = tl.sync_catalog(parse_catalog(V1 + LEGACY.replace('"Legacy"', '"Legacy plan"')))

    assert back.changes == [
        "unretire tier legacy",
        "~ tier legacy: name 'Legacy' -> 'Legacy plan'",
    ]
    assert [t.key for t in tl.catalog.tiers()] == ["free", "pro", "legacy"]


def test_an_unreferenced_tier_is_deleted_with_the_feature_only_it_used(
    make_tierline: MakeTierline,
) -> None:
    # No [features] table: features are whatever the tiers name.
    base = '[tiers.free]\nname = "Free"\nexempt = true\nfeatures = ["dashboard"]\n'
    old = '[tiers.old]\nname = "Old"\nexempt = true\nfeatures = ["dashboard", "fax"]\n'
    tl = make_tierline()
    tl.sync_catalog(parse_catalog(base + old))

    report = tl.sync_catalog(parse_catalog(base))

    assert report.changes == ["- tier old", "- feature fax"]
    assert row_counts(tl) == {
        "tierline_tier": 1,
        "tierline_feature": 1,
        "tierline_tier_feature": 1,
        "tierline_tier_provider_link": 0,
    }
    with pytest.raises(NotFoundError, match="no tier 'old'; tiers: free"):
        tl.catalog.tier("old")


def test_a_dry_run_reports_the_same_changes_and_writes_nothing(
    make_tierline: MakeTierline,
) -> None:
    tl = make_tierline(cache_ttl_seconds=60)
    generation = tl.ctx.cache.generation

    dry = tl.sync_catalog(parse_catalog(V1), dry_run=True)

    assert dry.dry_run and dry.changed
    assert row_counts(tl) == dict.fromkeys(row_counts(tl), 0)
    assert tl.ctx.cache.generation == generation
    real = tl.sync_catalog(parse_catalog(V1))
    assert real.changes == dry.changes
    # A real sync that changed something drops every cached status; a no-op one does not.
    assert tl.ctx.cache.generation == generation + 1
    tl.sync_catalog(parse_catalog(V1))
    assert tl.ctx.cache.generation == generation + 1

    retire = tl.sync_catalog(parse_catalog(V1.split("[tiers.pro]")[0]), dry_run=True)
    assert retire.changes[-1] == "- tier pro"
    assert [t.key for t in tl.catalog.tiers()] == ["free", "pro"]


def test_an_invalid_catalog_raises_and_changes_nothing(make_tierline: MakeTierline) -> None:
    tl = make_tierline()
    tl.sync_catalog(parse_catalog(V1))
    before = tl.catalog.tiers()
    valid = parse_catalog(V1)
    pro = valid.tiers["pro"]
    broken = replace(
        valid,
        tiers={**valid.tiers, "pro": replace(pro, seats=0, name="Renamed", providers={})},
    )

    with pytest.raises(CatalogError) as caught:
        tl.sync_catalog(broken)

    assert [p.path for p in caught.value.problems] == ["tiers.pro.seats", "tiers.pro.providers"]
    assert tl.catalog.tiers() == before
