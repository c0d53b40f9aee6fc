"""Tierline's schema: the declarative base, engines, and the migration chain's API."""

from __future__ import annotations

from tierline.db.base import NAMING_CONVENTION, TABLE_PREFIX, Base
from tierline.db.engine import DEFAULT_DATABASE_URL, make_engine, parse_url, session_factory
from tierline.db.migrate import (
    RevisionInfo,
    alembic_config,
    check,
    current,
    downgrade,
    heads,
    history,
    upgrade,
)
from tierline.db.schema import VERSION_TABLE, include_object

__all__ = [
    "DEFAULT_DATABASE_URL",
    "NAMING_CONVENTION",
    "TABLE_PREFIX",
    "VERSION_TABLE",
    "Base",
    "RevisionInfo",
    "alembic_config",
    "check",
    "current",
    "downgrade",
    "heads",
    "history",
    "include_object",
    "make_engine",
    "parse_url",
    "session_factory",
    "upgrade",
]
