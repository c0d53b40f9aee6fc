"""Catalog look-ups other domains run inside their own transactions."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from tierline.catalog.models import Tier


def find_tier(session: Session, key: str) -> Tier | None:
    """The tier with this key, or ``None``.

    A key with spaces around it names no tier (none is stored so): answered without the
    database, since MariaDB's ``utf8mb4_bin`` ignores trailing spaces when it compares and
    would find ``"pro"`` for ``"pro "`` where SQLite and PostgreSQL find nothing.
    """
    if not isinstance(key, str) or key != key.strip():
        return None
    return session.scalars(select(Tier).where(Tier.key == key)).one_or_none()
