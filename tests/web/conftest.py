"""Fixtures of the web tests: a synced Tierline, and a client per adapter."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from sqlalchemy.engine import URL

from tierline import Tierline

from ..clock import FrozenClock
from .apps import CATALOG, CLIENTS, WebClient, web_settings


@pytest.fixture
def sqlite_tl(sqlite_url: URL, clock: FrozenClock) -> Iterator[Tierline]:
    """A Tierline on a fresh migrated SQLite database with the test catalog synced."""
    tl = Tierline(settings=web_settings(str(sqlite_url)), catalog=CATALOG, clock=clock)
    tl.sync_catalog()
    yield tl
    tl.close()


@pytest.fixture
def dialect_tl(make_tierline: Callable[..., Tierline], db_url: URL) -> Tierline:
    """The same, on every dialect."""
    settings = web_settings(db_url.render_as_string(hide_password=False))
    tl = make_tierline(catalog=CATALOG, **settings.model_dump(exclude={"database_url", "catalog"}))
    tl.sync_catalog()
    return tl


@pytest.fixture(params=sorted(CLIENTS))
def make_client(request: pytest.FixtureRequest) -> Callable[[Tierline], WebClient]:
    """Build a client for the adapter under test (each test runs once per adapter)."""
    return CLIENTS[str(request.param)]


@pytest.fixture
def client(make_client: Callable[[Tierline], WebClient], sqlite_tl: Tierline) -> WebClient:
    """A client of the adapter under test, on SQLite."""
    return make_client(sqlite_tl)
