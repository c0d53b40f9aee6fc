"""Catalog look-ups other domains run inside their own transactions."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from tierline.catalog.models import Tier


def find_tier(session: Session, key: str) -> Tier | None:
    """The tier with this key, or ``None``."""
    return session.scalars(select(Tier).where(Tier.key == key)).one_or_none()
