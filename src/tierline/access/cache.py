"""An in-process TTL cache for access decisions, invalidated by writes made through Tierline.

Consistency bounds:

* a write made through *this process's* Tierline object invalidates the account at once
  (:mod:`tierline.access.changes`);
* on PostgreSQL (``cache_notify`` on, the default), a write made through Tierline in *another
  process* reaches this cache within milliseconds of its commit, through ``LISTEN``/``NOTIFY``
  (:mod:`tierline.access.listen`), so a long TTL is safe with many workers;
* on SQLite and MariaDB (or with ``cache_notify`` off), such a write is seen at most ``ttl``
  seconds later; so is, on every database, a change made outside Tierline (raw SQL).

A read that misses fetches from the database, then stores what it fetched. An invalidation
that arrives between the two (a write committed meanwhile, here or in another process) would
be undone by that store, and the stale value served for the whole TTL. So a reader takes a
:meth:`TTLCache.token` before it fetches and passes it to :meth:`TTLCache.put`, which stores
nothing when any invalidation (of any key: one epoch for the whole cache, conservative) or
:meth:`TTLCache.clear` happened since: that read is answered, just not cached.
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
        #: Bumped (under the lock) by every :meth:`invalidate` and :meth:`clear`.
        self._epoch = 0

    @property
    def enabled(self) -> bool:
        return self.ttl > 0

    def get(self, key: str) -> V | None:
        """The cached value, or ``None`` if absent or expired (lock-free on the read path)."""
        entry = self._entries.get(key)
        if entry is None or entry[0] < self._clock():
            return None
        return entry[1]

    def token(self) -> int:
        """The invalidation epoch now: take it before fetching what :meth:`put` will store."""
        return self._epoch

    def put(self, key: str, value: V, ttl: float | None = None, token: int | None = None) -> bool:
        """Cache ``value`` for ``ttl`` seconds (at most the cache's own ttl); returns whether
        it was stored.

        ``token``: the :meth:`token` taken before ``value`` was read; when an invalidation
        happened since, ``value`` may predate it and nothing is stored (module docstring).
        ``None`` stores unconditionally (a value known to be current).
        """
        if self.ttl <= 0:
            return False
        lifetime = self.ttl if ttl is None else min(ttl, self.ttl)
        if lifetime <= 0:
            return False
        if self.on_fill is not None:
            start, self.on_fill = self.on_fill, None
            start()
        with self._lock:
            if token is not None and token != self._epoch:
                return False
            self._entries[key] = (self._clock() + lifetime, value)
            return True

    def invalidate(self, key: str) -> None:
        """Drop ``key``'s entry, and refuse every store whose token predates this call."""
        with self._lock:
            self._epoch += 1
            self._entries.pop(key, None)

    def clear(self) -> None:
        """Drop every entry, and refuse every store whose token predates this call."""
        with self._lock:
            self._epoch += 1
            self._entries.clear()
            self.generation += 1
