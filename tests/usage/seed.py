"""Tiers with limits for the metering tests, written with the models (the catalog is another
domain's)."""

from __future__ import annotations

from typing import Any

from tierline import Tierline
from tierline.catalog.models import Feature, Tier, TierFeature
from tierline.catalog.spec import Catalog

#: free: 3 quotes a day; pro: 100 quotes a month, unlimited api, 5 exports for life; team: 5
#: seats (times the quantity).
TIERS: dict[str, dict[str, Any]] = {
    "free": {"exempt": True, "sort_order": 0, "features": {"basic": None, "quotes": (3, "day")}},
    "pro": {
        "sort_order": 10,
        "features": {
            "basic": None,
            "quotes": (100, "month"),
            "api": None,
            "exports": (5, "none"),
        },
    },
    "team": {
        "sort_order": 20,
        "seats": 5,
        "features": {"basic": None, "quotes": (1000, "month"), "api": None},
    },
}
#: Declared but granted by no tier (overrides grant it).
EXTRA_FEATURES = ("beta",)
CATALOG = Catalog(free_tier="free", credit_tier="pro")


def add_tiers(tl: Tierline, tiers: dict[str, dict[str, Any]] = TIERS) -> dict[str, int]:
    """Write ``tiers`` (and :data:`EXTRA_FEATURES`); returns tier ids by key."""
    ids: dict[str, int] = {}
    with tl.ctx.sessions.begin() as session:
        features: dict[str, Feature] = {}

        def feature(key: str) -> Feature:
            if key not in features:
                features[key] = Feature(key=key)
                session.add(features[key])
                session.flush()
            return features[key]

        for key in EXTRA_FEATURES:
            feature(key)
        for key, spec in tiers.items():
            tier = Tier(
                key=key,
                name=key.title(),
                exempt=spec.get("exempt", False),
                sort_order=spec["sort_order"],
                seats=spec.get("seats", 1),
            )
            session.add(tier)
            session.flush()
            ids[key] = tier.id
            for fkey, limit in spec["features"].items():
                session.add(
                    TierFeature(
                        tier_id=tier.id,
                        feature_id=feature(fkey).id,
                        limit_value=limit[0] if limit else None,
                        period=limit[1] if limit else "none",
                    )
                )
    tl.ctx.cache.clear()
    return ids
