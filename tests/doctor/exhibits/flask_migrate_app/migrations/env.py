"""Flask-Migrate's env.py: the engine and metadata come from the running Flask app."""
from alembic import context
from flask import current_app

config = context.config


def get_engine():
    return current_app.extensions["migrate"].db.engine


target_db = current_app.extensions["migrate"].db


def run_migrations_online():
    connectable = get_engine()
    with connectable.connect() as connection:
        context.configure(connection=connection, target_metadata=target_db.metadata)
        with context.begin_transaction():
            context.run_migrations()


run_migrations_online()
