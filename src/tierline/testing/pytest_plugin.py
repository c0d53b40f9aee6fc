"""Pytest fixtures for testing a host app's billing flows offline.

Enable with ``pytest_plugins = ["tierline.testing.pytest_plugin"]`` in your top-level
``conftest.py``. Fixtures (override any of them in your own ``conftest.py``):

- ``tierline_clock``: a :class:`~tierline.testing.FrozenClock` at 2026-06-01 12:00 UTC;
  ``tierline_clock.advance(days=15)`` moves time for trials, grace and credit expiry.
- ``tierline_database_url``: a SQLite file in ``tmp_path`` built by the migration chain (one per
  test). Override it to use your own database (run ``tierline.db.upgrade(url)`` on it).
- ``tierline_catalog``: the catalog the ``tierline`` fixture uses; default ``None``: the
  ``TIERLINE_CATALOG`` file (``tierline.toml``) when it exists, else an empty catalog.
- ``tierline_settings``: :func:`~tierline.testing.settings_for_tests` on that database, so events
  from :func:`~tierline.testing.stripe_event` and friends verify.
- ``tierline``: a :class:`~tierline.Tierline` wired to all of the above, its catalog synced,
  closed after the test.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tierline.testing.clock import FrozenClock

if TYPE_CHECKING:
    from tierline.catalog.spec import Catalog
    from tierline.facade import Tierline
    from tierline.settings import TierlineSettings


@pytest.fixture
def tierline_clock() -> FrozenClock:
    """A movable clock starting at 2026-06-01 12:00 UTC."""
    return FrozenClock()


@pytest.fixture
def tierline_database_url(tmp_path: Path) -> str:
    """A SQLite database in ``tmp_path``, migrated to head by Tierline's chain."""
    from tierline.testing.setup import migrated_sqlite_url

    return migrated_sqlite_url(tmp_path)


@pytest.fixture
def tierline_catalog() -> Catalog | str | Path | None:
    """The catalog for the ``tierline`` fixture (override it with your own)."""
    return None


@pytest.fixture
def tierline_settings(tierline_database_url: str) -> TierlineSettings:
    """Test settings on ``tierline_database_url`` with the kit's webhook secrets."""
    from tierline.testing.setup import settings_for_tests

    return settings_for_tests(tierline_database_url)


@pytest.fixture
def tierline(
    tierline_settings: TierlineSettings,
    tierline_catalog: Catalog | str | Path | None,
    tierline_clock: FrozenClock,
) -> Iterator[Tierline]:
    """A :class:`~tierline.Tierline` on the test database and clock, its catalog synced."""
    from tierline.facade import Tierline

    tl = Tierline(settings=tierline_settings, catalog=tierline_catalog, clock=tierline_clock)
    try:
        tl.sync_catalog()
        yield tl
    finally:
        tl.close()
