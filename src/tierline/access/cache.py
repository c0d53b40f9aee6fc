"""An in-process TTL cache for access decisions, invalidated by writes made through Tierline.

Consistency bounds:

* a write made through *this process's* Tierline object invalidates the account at once
  (:mod:`tierline.access.changes`);
* on PostgreSQL (``cache_notify`` on, the default), a write made through Tierline in *another
  process* reaches this cache within milliseconds of its commit, through ``LISTEN``/``NOTIFY``
  (:mod:`tierline.access.listen`), so a long TTL is safe with many workers;
* on SQLite and MariaDB (or with ``cache_notify`` off), such a write is seen at most ``ttl``
  seconds later; so is, on every database, a change made outside Tierline (raw SQL).
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
        #: Called once, before the first value is stored (starts the invalidation listener).
        self.on_fill: Callable[[], None] | None = None

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
        if self.on_fill is not None:
            start, self.on_fill = self.on_fill, None
            start()
        with self._lock:
            self._entries[key] = (self._clock() + lifetime, value)

    def invalidate(self, key: str) -> None:
        with self._lock:
            self._entries.pop(key, None)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self.generation += 1
