"""Alembic environment of the example app's own chain.

Two things make it live beside Tierline's chain on one database:

* ``include_object=tierline.db.include_object``: autogenerate ignores every ``tierline_``
  table, so a revision of this chain never proposes to drop or alter Tierline's tables;
* the default version table, ``alembic_version``: Tierline keeps its own revision in
  ``tierline_alembic_version``, so neither chain sees the other's revision.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import Engine

from tierline.db import include_object, make_engine

config = context.config
# Set by db.alembic_config(): the app's engine and its models' metadata.
target_metadata = config.attributes["target_metadata"]


def run_online() -> None:
    engine: Engine | None = config.attributes.get("engine")
    owned = engine is None
    if engine is None:
        engine = make_engine(config.get_main_option("sqlalchemy.url") or "")
    try:
        with engine.begin() as connection:
            context.configure(
                connection=connection,
                target_metadata=target_metadata,
                include_object=include_object,
                # SQLite cannot ALTER most things: batch mode copies the table instead.
                render_as_batch=connection.dialect.name == "sqlite",
                compare_type=True,
            )
            with context.begin_transaction():
                context.run_migrations()
    finally:
        if owned:
            engine.dispose()


run_online()
