"""Alembic environment for Tierline's own migration chain.

Tierline keeps its revision in ``tierline_alembic_version`` so it never collides with the host
app's ``alembic_version``, only ever looks at ``tierline_`` tables, and renders batch operations
on SQLite so every ALTER goes through the copy-and-move path SQLite needs.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy.engine import Connection

from tierline.db.engine import make_engine
from tierline.db.models import Base
from tierline.db.schema import VERSION_TABLE, include_own_object

config = context.config


def _configure(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        version_table=VERSION_TABLE,
        include_object=include_own_object,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )


def run_offline() -> None:
    context.configure(
        url=config.get_main_option("sqlalchemy.url"),
        target_metadata=Base.metadata,
        version_table=VERSION_TABLE,
        include_object=include_own_object,
        literal_binds=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _configure(connection)
        with context.begin_transaction():
            context.run_migrations()
        return
    engine = make_engine(config.get_main_option("sqlalchemy.url") or "")
    try:
        with engine.connect() as conn:
            _configure(conn)
            with context.begin_transaction():
                context.run_migrations()
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_offline()
else:
    run_online()
