"""Tierline's schema: the declarative base, engines, and the migration chain's API."""

from __future__ import annotations

from tierline.db.base import NAMING_CONVENTION, TABLE_PREFIX, Base
from tierline.db.engine import DEFAULT_DATABASE_URL, make_engine, parse_url, session_factory
from tierline.db.migrate import (
    NO_SCHEMA,
    RevisionInfo,
    SchemaMissingError,
    TableLoss,
    alembic_config,
    check,
    current,
    downgrade,
    downgrade_losses,
    heads,
    history,
    require_database_file,
    require_schema,
    upgrade,
)
from tierline.db.schema import VERSION_TABLE, include_object

__all__ = [
    "DEFAULT_DATABASE_URL",
    "NAMING_CONVENTION",
    "NO_SCHEMA",
    "TABLE_PREFIX",
    "VERSION_TABLE",
    "Base",
    "RevisionInfo",
    "SchemaMissingError",
    "TableLoss",
    "alembic_config",
    "check",
    "current",
    "downgrade",
    "downgrade_losses",
    "heads",
    "history",
    "include_object",
    "make_engine",
    "parse_url",
    "require_database_file",
    "require_schema",
    "session_factory",
    "upgrade",
]
