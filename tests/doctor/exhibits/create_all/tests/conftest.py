import pytest
from alembic import command
from alembic.config import Config
from sqlalchemy import create_engine

from app.models import Base


@pytest.fixture
def engine(tmp_path):
    engine = create_engine(f"sqlite:///{tmp_path}/test.db")
    Base.metadata.create_all(engine)  # expect: chain-not-run-from-empty
    command.stamp(Config("alembic.ini"), "head")
    return engine
