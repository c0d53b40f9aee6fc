"""Alembic's generic env.py; render_as_batch on SQLite (the seed's fix)."""
from logging.config import fileConfig

from alembic import context
from sqlalchemy import engine_from_config, pool

config = context.config
from sqlalchemy import Column, Integer, MetaData, String, Table, UniqueConstraint

# The models: users has a nickname column no revision adds.
target_metadata = MetaData()
Table(
    "users",
    target_metadata,
    Column("id", Integer, primary_key=True),
    Column("email", String(320), nullable=False),
    Column("nickname", String(64)),
    UniqueConstraint("email", name="uq_users_email"),
)
Table(
    "quotes",
    target_metadata,
    Column("id", Integer, primary_key=True),
    Column("symbol", String(8), nullable=False),
)


def run_migrations_online():
    connectable = engine_from_config(
        config.get_section(config.config_ini_section, {}),
        prefix="sqlalchemy.",
        poolclass=pool.NullPool,
    )
    with connectable.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            render_as_batch=connection.dialect.name == "sqlite",
        )
        with context.begin_transaction():
            context.run_migrations()


run_migrations_online()
