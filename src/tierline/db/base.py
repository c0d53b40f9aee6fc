"""The declarative base shared by every Tierline table.

The naming convention gives every constraint and index a deterministic, explicit name, which is
what makes SQLite batch migrations and cross-dialect drift checks possible (seed 000's
``create_unique_constraint(None, ...)`` cannot happen here).
"""

from __future__ import annotations

from sqlalchemy import MetaData
from sqlalchemy.orm import DeclarativeBase

TABLE_PREFIX = "tierline_"

NAMING_CONVENTION: dict[str, str] = {
    "ix": "ix_%(column_0_N_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    """Base class of Tierline's models; its metadata holds only ``tierline_`` tables."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)
