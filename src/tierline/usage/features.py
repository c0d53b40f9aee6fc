"""The feature keys the catalog declares, held in memory so a hot ``track()`` never asks.

Reloaded when a key is missing (at most every :data:`RELOAD_SECONDS`, so a flood of bad keys
cannot flood the database) and whenever the access cache is cleared, as a catalog sync through
this process does.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from sqlalchemy import Engine, select

from tierline.access.cache import TTLCache
from tierline.access.status import AccessStatus
from tierline.catalog.models import Feature
from tierline.errors import ValidationError

#: Longest a miss waits before the keys are read again (a catalog sync in another process).
RELOAD_SECONDS = 1.0


class FeatureKeys:
    """Every ``tierline_feature.key``; reloaded as the module docstring says."""

    def __init__(
        self,
        engine: Engine,
        access_cache: TTLCache[AccessStatus],
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._engine = engine
        self._access_cache = access_cache
        self._generation = -1
        self._clock = clock
        self._lock = threading.Lock()
        self._keys: frozenset[str] | None = None
        self._loaded_at = 0.0

    def require(self, key: str) -> str:
        """``key`` if the catalog declares it.

        Raises:
            ValidationError: naming the unknown key and the declared ones.
        """
        keys = self._keys
        fresh = self._generation == self._access_cache.generation
        if keys is not None and key in keys and fresh:
            return key
        if keys is None or not fresh or self._clock() - self._loaded_at >= RELOAD_SECONDS:
            keys = self._reload()
        if key in keys:
            return key
        shown = ", ".join(sorted(keys)[:20]) or "none (sync a catalog first)"
        raise ValidationError(f"feature {key!r} is not in the catalog; known features: {shown}")

    def _reload(self) -> frozenset[str]:
        with self._lock:
            self._generation = self._access_cache.generation
            with self._engine.connect() as conn:
                keys = frozenset(conn.scalars(select(Feature.key)).all())
            self._keys, self._loaded_at = keys, self._clock()
            return keys
