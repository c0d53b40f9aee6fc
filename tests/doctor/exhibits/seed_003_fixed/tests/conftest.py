import pytest
from alembic import command
from alembic.config import Config


@pytest.fixture
def database(tmp_path):
    config = Config("alembic.ini")
    config.set_main_option("sqlalchemy.url", f"sqlite:///{tmp_path}/test.db")
    command.upgrade(config, "head")
    return config
