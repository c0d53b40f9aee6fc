"""PostgreSQL: apply every process's access invalidations to this process's cache.

Writers publish ``pg_notify('tierline_access', ref)`` inside their transaction
(:mod:`tierline.access.changes`), which the server delivers at commit, and ``*`` when every
cached status is stale (a catalog sync, an override). Each process that caches ``status()``
runs one :class:`CacheListener`: a daemon thread holding one autocommit psycopg connection
that ``LISTEN``\\ s on the channel and invalidates (or clears) its cache entry by entry, within
milliseconds of the commit (PostgreSQL ``LISTEN``/``NOTIFY``:
https://www.postgresql.org/docs/current/sql-notify.html).

Notifications sent while the listener is not connected are lost, so it clears the whole cache
each time it (re)connects, and reconnects with backoff (up to :data:`MAX_BACKOFF_SECONDS`)
when the connection drops. It starts lazily, with the first status the cache stores.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from sqlalchemy.engine import URL

from tierline.access.cache import TTLCache
from tierline.access.changes import EVERYTHING, NOTIFY_CHANNEL
from tierline.db.engine import first_line

logger = logging.getLogger("tierline.access")

#: The longest wait between two reconnection attempts, in seconds.
MAX_BACKOFF_SECONDS = 5.0
#: How often the thread wakes up to see whether it must stop, in seconds.
POLL_SECONDS = 0.5


class CacheListener:
    """The LISTEN thread of one cache (module docstring); :meth:`start` is idempotent."""

    def __init__(self, url: URL, cache: TTLCache[Any]) -> None:
        self._conninfo = _conninfo(url)
        self._cache = cache
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._conn: Any = None
        #: Set each time the listener is connected and listening (tests wait on it).
        self.listening = threading.Event()
        #: How many times it connected (a reconnection clears the cache).
        self.connections = 0

    def start(self) -> None:
        with self._lock:
            if self._thread is not None or self._stop.is_set():
                return
            self._thread = threading.Thread(
                target=self._run, name="tierline-cache-listener", daemon=True
            )
            self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the thread and close its connection."""
        self._stop.set()
        self.drop_connection()
        thread = self._thread
        if thread is not None:
            thread.join(timeout)

    def drop_connection(self) -> None:
        """Close the current connection as a server restart would (the thread reconnects)."""
        conn = self._conn
        if conn is not None:
            conn.close()

    def _run(self) -> None:
        backoff = 0.1
        while not self._stop.is_set():
            try:
                self._listen()
                backoff = 0.1
            except Exception as exc:
                self.listening.clear()
                if self._stop.is_set():
                    break
                logger.warning(
                    "access cache listener lost its connection (%s); reconnecting in %.1f s",
                    first_line(exc),
                    backoff,
                )
                self._stop.wait(backoff)
                backoff = min(backoff * 2, MAX_BACKOFF_SECONDS)

    def _listen(self) -> None:
        import psycopg

        with psycopg.connect(self._conninfo, autocommit=True) as conn:
            self._conn = conn
            conn.execute(f"LISTEN {NOTIFY_CHANNEL}")
            # Whatever was sent while no one listened is lost: start from nothing.
            self._cache.clear()
            self.connections += 1
            self.listening.set()
            while not self._stop.is_set():
                for note in conn.notifies(timeout=POLL_SECONDS):
                    if note.payload == EVERYTHING:
                        self._cache.clear()
                    else:
                        self._cache.invalidate(note.payload)
                if conn.closed:
                    raise ConnectionError("the connection was closed")


def _conninfo(url: URL) -> str:
    """A libpq connection string for a SQLAlchemy PostgreSQL URL."""
    plain = url.set(drivername="postgresql")
    return plain.render_as_string(hide_password=False)
