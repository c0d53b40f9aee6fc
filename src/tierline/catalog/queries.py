"""Catalog look-ups other domains run inside their own transactions."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from tierline.catalog.models import Tier, TierProviderLink


def find_tier(session: Session, key: str) -> Tier | None:
    """The tier with this key, or ``None``."""
    return session.scalars(select(Tier).where(Tier.key == key)).one_or_none()


def find_tier_by_link(session: Session, provider: str, keys: Sequence[str]) -> Tier | None:
    """The tier linked to the first of ``keys`` that a tier-provider link knows, or ``None``.

    ``keys`` are a provider's external keys in order of preference (e.g. a Stripe price's
    ``lookup_key`` before its product id).
    """
    if not keys:
        return None
    rows = session.execute(
        select(TierProviderLink.external_key, Tier)
        .join(Tier, Tier.id == TierProviderLink.tier_id)
        .where(TierProviderLink.provider == provider, TierProviderLink.external_key.in_(keys))
    ).all()
    by_key = {external_key: tier for external_key, tier in rows}
    for key in keys:
        if key in by_key:
            return by_key[key]
    return None
