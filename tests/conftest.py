"""Test databases for every dialect, each built by running Tierline's migration chain.

Each pytest run makes its own databases (unique names) on the PostgreSQL and MariaDB servers
named by ``TIERLINE_TEST_POSTGRES_URL`` / ``TIERLINE_TEST_MARIADB_URL`` and drops them at the
end, so parallel runs never share state. Within a run, the ``db_url`` fixture hands each test a
database migrated to head and empties every Tierline table after the test.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, delete, text
from sqlalchemy.engine import URL, make_url

from tierline import Tierline, TierlineSettings, db
from tierline.catalog.spec import Catalog
from tierline.db.models import Base

from .clock import FrozenClock

# The testing kit host apps use; the example apps' tests use its fixtures too.
pytest_plugins = ["tierline.testing.pytest_plugin"]

DIALECTS = ("sqlite", "postgresql", "mariadb")
#: The test helpers turn the fake provider on with this secret (it is off by default).
FAKE_SECRET = "fake-webhook-secret"
FAKE_SETTINGS: dict[str, Any] = {"enable_fake_provider": True, "fake_webhook_secret": [FAKE_SECRET]}
SERVER_URL_ENV = {
    "postgresql": "TIERLINE_TEST_POSTGRES_URL",
    "mariadb": "TIERLINE_TEST_MARIADB_URL",
}


def pytest_configure(config: pytest.Config) -> None:
    if os.environ.get("CI"):
        missing = [name for name in SERVER_URL_ENV.values() if not os.environ.get(name)]
        if missing:
            raise pytest.UsageError(
                f"CI is set but {', '.join(missing)} is not: the PostgreSQL and MariaDB "
                "tests must run in CI, not skip"
            )


def server_url(dialect: str) -> URL:
    """The admin URL of the test server for ``dialect``, or skip when it is not configured."""
    env = SERVER_URL_ENV[dialect]
    raw = os.environ.get(env)
    if not raw:
        pytest.skip(f"{env} is not set; see DEVELOPERS.md to run the {dialect} tests")
    return db.parse_url(raw)


class DatabaseFactory:
    """Creates uniquely named empty databases for one dialect and drops them at the end."""

    def __init__(self, dialect: str, tmp_dir: Path) -> None:
        self.dialect = dialect
        self.tmp_dir = tmp_dir
        self.created: list[URL] = []
        self._admin: Engine | None = None
        if dialect != "sqlite":
            self._admin = db.make_engine(server_url(dialect), isolation_level="AUTOCOMMIT")

    def create(self) -> URL:
        name = f"tl_test_{os.getpid()}_{secrets.token_hex(4)}"
        if self._admin is None:
            url = make_url(f"sqlite:///{self.tmp_dir / (name + '.db')}")
        else:
            with self._admin.connect() as conn:
                conn.execute(text(f"CREATE DATABASE {name}"))
            url = self._admin.url.set(database=name)
        self.created.append(url)
        return url

    def drop_all(self) -> None:
        if self._admin is None:
            return
        with self._admin.connect() as conn:
            for url in self.created:
                if self.dialect == "postgresql":
                    conn.execute(text(f"DROP DATABASE IF EXISTS {url.database} WITH (FORCE)"))
                else:
                    conn.execute(text(f"DROP DATABASE IF EXISTS {url.database}"))
        self._admin.dispose()


@pytest.fixture(scope="session")
def database_factories(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, object]]:
    factories: dict[str, object] = {}
    yield factories
    for factory in factories.values():
        assert isinstance(factory, DatabaseFactory)
        factory.drop_all()


def _factory(
    dialect: str, factories: dict[str, object], tmp_path_factory: pytest.TempPathFactory
) -> DatabaseFactory:
    if dialect not in factories:
        factories[dialect] = DatabaseFactory(dialect, tmp_path_factory.mktemp(dialect))
    factory = factories[dialect]
    assert isinstance(factory, DatabaseFactory)
    return factory


@pytest.fixture(params=DIALECTS)
def dialect(request: pytest.FixtureRequest) -> str:
    """Each test that uses it runs once per dialect."""
    return str(request.param)


@pytest.fixture
def empty_db_url(
    dialect: str,
    database_factories: dict[str, object],
    tmp_path_factory: pytest.TempPathFactory,
) -> URL:
    """A new, empty database of ``dialect``, for tests that run the chain themselves."""
    return _factory(dialect, database_factories, tmp_path_factory).create()


_MIGRATED: dict[str, URL] = {}


@pytest.fixture
def db_url(
    dialect: str,
    database_factories: dict[str, object],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[URL]:
    """A database of ``dialect`` migrated to head by the chain, emptied after each test."""
    if dialect not in _MIGRATED:
        url = _factory(dialect, database_factories, tmp_path_factory).create()
        db.upgrade(url)
        _MIGRATED[dialect] = url
    url = _MIGRATED[dialect]
    yield url
    empty_tables(url)


@pytest.fixture
def sqlite_url(
    database_factories: dict[str, object], tmp_path_factory: pytest.TempPathFactory
) -> URL:
    """A SQLite database migrated to head, for tests that need no other dialect."""
    url = _factory("sqlite", database_factories, tmp_path_factory).create()
    db.upgrade(url)
    return url


def empty_tables(url: URL) -> None:
    """Delete every row of every Tierline table (children first)."""
    engine = db.make_engine(url)
    try:
        with engine.begin() as conn:
            if engine.dialect.name == "sqlite":
                conn.execute(text("PRAGMA foreign_keys=OFF"))
            for table in reversed(Base.metadata.sorted_tables):
                conn.execute(delete(table))
    finally:
        engine.dispose()


@pytest.fixture
def clock() -> FrozenClock:
    """A movable clock starting at 2026-06-01 12:00 UTC."""
    return FrozenClock()


@pytest.fixture
def make_tierline(db_url: URL, clock: FrozenClock) -> Iterator[Callable[..., Tierline]]:
    """Build :class:`Tierline` objects on ``db_url`` (every dialect) with the test clock.

    Keyword arguments go to :class:`TierlineSettings` (``catalog=`` goes to Tierline itself);
    the fake provider is on (:data:`FAKE_SETTINGS`) unless they say otherwise. Every object
    built is closed after the test.
    """
    built: list[Tierline] = []

    def build(catalog: Catalog | str | Path | None = None, **settings: Any) -> Tierline:
        base = TierlineSettings(
            database_url=db_url.render_as_string(hide_password=False), **FAKE_SETTINGS
        )
        tl = Tierline(
            settings=base.model_copy(update=settings),
            catalog=catalog if catalog is not None else Catalog(),
            clock=clock,
        )
        built.append(tl)
        return tl

    yield build
    for tl in built:
        tl.close()


@pytest.fixture(autouse=True, scope="session")
def no_delivery_thread_left() -> Iterator[None]:
    """Every Tierline a test built and used for the access webhook was closed: no background
    delivery thread outlives the suite."""
    yield
    import threading

    left = [t.name for t in threading.enumerate() if t.name == "tierline-outbox-delivery"]
    assert not left, f"{len(left)} background delivery thread(s) left running: close the Tierline"
