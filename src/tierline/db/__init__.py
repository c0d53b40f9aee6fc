"""Tierline's schema: the declarative base, engines, and the migration chain's API.

The migration API (``upgrade``, ``downgrade``, ``check``...) loads Alembic, which is slow to
import; it is imported on first use, so ``import tierline`` stays fast.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tierline.db.base import NAMING_CONVENTION, TABLE_PREFIX, Base
from tierline.db.engine import DEFAULT_DATABASE_URL, make_engine, parse_url, session_factory
from tierline.db.schema import VERSION_TABLE, include_object

if TYPE_CHECKING:
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

_MIGRATE_NAMES = frozenset(
    {
        "NO_SCHEMA",
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
        "require_database_file",
        "require_schema",
        "upgrade",
    }
)


def __getattr__(name: str) -> Any:
    if name in _MIGRATE_NAMES:
        from tierline.db import migrate

        return getattr(migrate, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


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
