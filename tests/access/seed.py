"""Test data for access, credits and referrals: tiers and subscriptions made with the models.

The catalog (TOML, sync) is another domain's; these tests write tier rows directly.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import URL

from tierline import Tierline, TierlineSettings
from tierline.accounts.service import get_account
from tierline.billing.models import Subscription
from tierline.catalog.models import Feature, Tier, TierFeature
from tierline.catalog.spec import Catalog

from ..clock import FrozenClock

#: free (exempt, the fallback) < legacy (retired) < pro < team; staff is exempt.
TIERS: dict[str, dict[str, Any]] = {
    "free": {"exempt": True, "sort_order": 0, "features": {"basic": None}},
    "legacy": {"retired": True, "sort_order": 5, "features": {"basic": None, "reports": None}},
    "pro": {"sort_order": 10, "features": {"basic": None, "export": None, "api": (1000, "month")}},
    "team": {
        "sort_order": 20,
        "seats": 5,
        "features": {"basic": None, "export": None, "api": (10000, "month"), "sso": None},
    },
    "staff": {"exempt": True, "sort_order": 100, "features": {"basic": None, "admin": None}},
}
FEATURES = {key: frozenset(spec["features"]) for key, spec in TIERS.items()}
CATALOG = Catalog(free_tier="free", credit_tier="pro")


def add_tiers(tl: Tierline) -> dict[str, int]:
    """Write :data:`TIERS`; returns tier ids by key."""
    ids: dict[str, int] = {}
    with tl.ctx.sessions.begin() as session:
        features: dict[str, Feature] = {}
        for key, spec in TIERS.items():
            tier = Tier(
                key=key,
                name=key.title(),
                exempt=spec.get("exempt", False),
                retired=spec.get("retired", False),
                sort_order=spec["sort_order"],
                seats=spec.get("seats", 1),
            )
            session.add(tier)
            session.flush()
            ids[key] = tier.id
            for fkey, limit in spec["features"].items():
                if fkey not in features:
                    features[fkey] = Feature(key=fkey)
                    session.add(features[fkey])
                    session.flush()
                session.add(
                    TierFeature(
                        tier_id=tier.id,
                        feature_id=features[fkey].id,
                        limit_value=limit[0] if limit else None,
                        period=limit[1] if limit else "none",
                    )
                )
    tl.ctx.cache.clear()
    return ids


def add_subscription(
    tl: Tierline,
    ref: str,
    tier: str | None,
    status: str,
    *,
    period_end: datetime | None = None,
    trial_end: datetime | None = None,
    cancel: bool = False,
    provider: str = "stripe",
    external_id: str | None = None,
    provider_updated_at: datetime | None = None,
    quantity: int = 1,
    past_due_since: datetime | None = None,
    cancel_at: datetime | None = None,
) -> None:
    """Create the account if needed and give it one subscription row."""
    tl.ensure_account(ref)
    now = tl.ctx.clock()
    with tl.ctx.sessions.begin() as session:
        account = get_account(session, ref)
        tier_id = None
        if tier is not None:
            tier_id = session.scalars(select(Tier.id).where(Tier.key == tier)).one()
        session.add(
            Subscription(
                account_id=account.id,
                tier_id=tier_id,
                provider=provider,
                external_id=external_id or f"sub_{ref}_{status}_{tier}",
                status=status,
                current_period_end=period_end,
                trial_end=trial_end,
                cancel_at_period_end=cancel,
                provider_updated_at=provider_updated_at,
                quantity=quantity,
                past_due_since=past_due_since,
                cancel_at=cancel_at,
                created_at=now,
                updated_at=now,
            )
        )
    tl.ctx.cache.invalidate(ref)


def tierline_on(
    url: URL, clock: FrozenClock, catalog: Catalog = CATALOG, **settings: Any
) -> Tierline:
    """A Tierline on ``url`` with the test clock (close it after use)."""
    base = TierlineSettings(database_url=url.render_as_string(hide_password=False))
    return Tierline(settings=base.model_copy(update=settings), catalog=catalog, clock=clock)
