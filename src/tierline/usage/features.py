"""The feature keys the catalog declares, held in memory so a hot ``track()`` never asks."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from sqlalchemy import Engine, select

from tierline.catalog.models import Feature
from tierline.errors import ValidationError

#: Longest a miss waits before the keys are read again (a catalog sync in another process).
RELOAD_SECONDS = 1.0


class FeatureKeys:
    """Every ``tierline_feature.key``; reloaded when asked about a key it does not hold."""

    def __init__(self, engine: Engine, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._engine = engine
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
        if keys is not None and key in keys:
            return key
        if keys is None or self._clock() - self._loaded_at >= RELOAD_SECONDS:
            keys = self._reload()
        if key in keys:
            return key
        shown = ", ".join(sorted(keys)[:20]) or "none (sync a catalog first)"
        raise ValidationError(f"feature {key!r} is not in the catalog; known features: {shown}")

    def _reload(self) -> frozenset[str]:
        with self._lock:
            with self._engine.connect() as conn:
                keys = frozenset(conn.scalars(select(Feature.key)).all())
            self._keys, self._loaded_at = keys, self._clock()
            return keys
