"""An in-process TTL cache for access decisions, invalidated by writes made through Tierline.

Consistency bound: a write made through *this process's* Tierline object invalidates the
account at once; a write made elsewhere (another process, another server, raw SQL) is seen at
most ``ttl`` seconds later.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Generic, TypeVar

V = TypeVar("V")


class TTLCache(Generic[V]):
    """A thread-safe mapping from account ref to value whose entries expire after ``ttl`` s."""

    def __init__(self, ttl: float, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl = ttl
        self._clock = clock
        self._entries: dict[str, tuple[float, V]] = {}
        self._lock = threading.Lock()
        #: Bumped by :meth:`clear`; caches derived from the catalog (tier features) compare it
        #: to know a catalog sync happened without a hook of their own.
        self.generation = 0

    @property
    def enabled(self) -> bool:
        return self.ttl > 0

    def get(self, key: str) -> V | None:
        """The cached value, or ``None`` if absent or expired (lock-free on the read path)."""
        entry = self._entries.get(key)
        if entry is None or entry[0] < self._clock():
            return None
        return entry[1]

    def put(self, key: str, value: V, ttl: float | None = None) -> None:
        """Cache ``value`` for ``ttl`` seconds (at most the cache's own ttl)."""
        if self.ttl <= 0:
            return
        lifetime = self.ttl if ttl is None else min(ttl, self.ttl)
        if lifetime <= 0:
            return
        with self._lock:
            self._entries[key] = (self._clock() + lifetime, value)

    def invalidate(self, key: str) -> None:
        with self._lock:
            self._entries.pop(key, None)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self.generation += 1
