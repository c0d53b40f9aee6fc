import pytest
from sqlalchemy import create_engine

from app.db import Base


@pytest.fixture
def engine():
    engine = create_engine("sqlite://")
    Base.metadata.create_all(engine)  # expect: chain-not-run-from-empty
    return engine
