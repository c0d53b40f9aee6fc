"""Which database objects belong to Tierline, for its own migrations and for the host's."""

from __future__ import annotations

from typing import Any

from tierline.db.base import TABLE_PREFIX

VERSION_TABLE = "tierline_alembic_version"


def _table_name(obj: Any, name: str | None, type_: str) -> str | None:
    if type_ == "table":
        return name
    table = getattr(obj, "table", None)
    return getattr(table, "name", None)


def is_tierline_object(obj: Any, name: str | None, type_: str) -> bool:
    """True for Tierline's tables (and their columns, indexes and constraints)."""
    table = _table_name(obj, name, type_)
    return table is not None and table.startswith(TABLE_PREFIX)


def include_object(
    obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any
) -> bool:
    """Alembic ``include_object`` hook for a *host* app: leave Tierline's tables alone.

    Pass it to ``context.configure(include_object=...)`` in the host's ``env.py`` so that the
    host's ``alembic revision --autogenerate`` never proposes to drop or alter Tierline's tables,
    which Tierline's own migration chain manages. To combine it with a hook of your own::

        def include(obj, name, type_, reflected, compare_to):
            return tierline_include(obj, name, type_, reflected, compare_to) and mine(...)
    """
    return not is_tierline_object(obj, name, type_)


def include_own_object(
    obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any
) -> bool:
    """Alembic ``include_object`` hook for Tierline's own chain: only Tierline's tables."""
    if type_ == "table" and name == VERSION_TABLE:
        return False
    return is_tierline_object(obj, name, type_)
