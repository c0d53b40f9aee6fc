"""A testing kit for host apps: a movable clock, signed provider events and pytest fixtures.

    from tierline.testing import FrozenClock, stripe_event, settings_for_tests

- :class:`FrozenClock`: pass as ``Tierline(clock=...)``; ``advance(days=...)`` moves time.
- :func:`stripe_event`, :func:`paddle_event`, :func:`fake_event`, :func:`provider_event`:
  a :class:`SignedEvent` (``.body`` bytes, ``.headers``) shaped like the provider's payload and
  signed with :data:`TEST_WEBHOOK_SECRET`.
- :func:`settings_for_tests`: settings that verify those events.
- :mod:`tierline.testing.pytest_plugin`: fixtures ``tierline``, ``tierline_clock``,
  ``tierline_database_url``, ``tierline_settings``, ``tierline_catalog``.

Names load on first use, so the pytest plugin costs nothing until a fixture runs.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from tierline.testing.clock import FrozenClock

if TYPE_CHECKING:
    from tierline.testing.events import (
        TEST_WEBHOOK_SECRET,
        SignedEvent,
        fake_event,
        paddle_event,
        provider_event,
        stripe_event,
    )
    from tierline.testing.setup import TEST_SECRET_KEY, migrated_sqlite_url, settings_for_tests

_LAZY: dict[str, str] = {
    "TEST_WEBHOOK_SECRET": "tierline.testing.events",
    "SignedEvent": "tierline.testing.events",
    "fake_event": "tierline.testing.events",
    "paddle_event": "tierline.testing.events",
    "provider_event": "tierline.testing.events",
    "stripe_event": "tierline.testing.events",
    "TEST_SECRET_KEY": "tierline.testing.setup",
    "migrated_sqlite_url": "tierline.testing.setup",
    "settings_for_tests": "tierline.testing.setup",
}

__all__ = [
    "TEST_SECRET_KEY",
    "TEST_WEBHOOK_SECRET",
    "FrozenClock",
    "SignedEvent",
    "fake_event",
    "migrated_sqlite_url",
    "paddle_event",
    "provider_event",
    "settings_for_tests",
    "stripe_event",
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'tierline.testing' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
