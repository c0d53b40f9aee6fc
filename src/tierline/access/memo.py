"""What ``status()`` derived from an account's rows, remembered by the rows themselves.

``status()`` reads the database on every call (unless the TTL cache of
:mod:`tierline.access.cache` is on); turning the rows into an :class:`AccessStatus` (dates
parsed, the precedence rules applied, the tier's features and limits attached) costs more than
the query itself on SQLite. That work is a pure function of the rows, the tier snapshot and
the instant ``now``, so it is remembered here under the rows as read:

* a changed row is a different key, so nothing here can be stale: a write is seen by the very
  next read, as without the memo;
* an entry holds the tier snapshot it was built with and is used only with that same snapshot
  (a catalog change builds anew);
* an entry holds the interval of ``now`` over which the result holds: between two of the
  instants the rules compare ``now`` with (:func:`tierline.access.rules.turning_points`) and
  the instants at which ``days_remaining`` changes. Outside it (time moved on, or an injected
  clock moved back) the status is built anew.

Per-account overrides are applied after the memo, on every call. At most :data:`MEMO_SIZE`
entries are kept; the oldest goes first. :class:`Memo` is the store; the service checks an
entry's snapshot and interval (:func:`interval`).
"""

from __future__ import annotations

import sys
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterable
from datetime import UTC, datetime
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")

#: Most entries kept (each an account's rows and status: about a kilobyte).
MEMO_SIZE = 4096

_EARLIEST = datetime.min.replace(tzinfo=UTC)
_LATEST = datetime.max.replace(tzinfo=UTC)
#: The interval of every ``now``: for what holds at every instant.
ALWAYS = (_EARLIEST, _LATEST)
#: A free-threaded Python (3.13t, without the GIL): each operation takes a lock.
_LOCKED = not getattr(sys, "_is_gil_enabled", lambda: True)()


class Memo(Generic[K, V]):
    """A bounded map (at most ``size`` entries, the oldest dropped first) for values derived
    by pure functions, read and written without a lock.

    Each operation is one call into an ``OrderedDict`` (C code, which runs no Python code for
    the keys used here: atomic under the GIL), and the oldest entry goes by ``popitem``, never
    by iterating, so stores on other threads cannot break it. Stores racing each other may hold
    an entry too many each for a moment; each then drops one. (A lock taken by every store
    cost more than the store itself.) This leans on the GIL: a free-threaded build of Python
    (3.13t) takes the locked path instead (``_LOCKED``).
    """

    def __init__(self, size: int = MEMO_SIZE, *, locked: bool = _LOCKED) -> None:
        self._size = size
        self._entries: OrderedDict[K, V] = OrderedDict()
        #: The value remembered under a key, else ``None`` (the dict's own look-up: a memo
        #: is read on hot paths, where a method of ours around it would cost a call more).
        self.get: Callable[[K], V | None] = self._entries.get
        if locked:
            lock = threading.Lock()
            unlocked_put, unlocked_clear = self.put, self.clear

            def get(key: K) -> V | None:
                with lock:
                    return self._entries.get(key)

            def put(key: K, value: V) -> None:
                with lock:
                    unlocked_put(key, value)

            def clear() -> None:
                with lock:
                    unlocked_clear()

            self.get = get
            self.put = put  # type: ignore[method-assign]
            self.clear = clear  # type: ignore[method-assign]

    def put(self, key: K, value: V) -> None:
        """Remember ``value`` under ``key``."""
        entries = self._entries
        entries[key] = value
        while len(entries) > self._size:
            try:
                entries.popitem(last=False)
            except KeyError:  # emptied meanwhile by clear() on another thread
                break

    def clear(self) -> None:
        """Forget everything (the same dict, so :attr:`get` stays bound to it)."""
        self._entries.clear()


def interval(now: datetime, instants: Iterable[datetime]) -> tuple[datetime, datetime]:
    """The interval around ``now`` that none of ``instants`` falls inside: from the latest
    instant at or before ``now`` (else the earliest moment) to the first after it (else the
    latest)."""
    start, end = _EARLIEST, _LATEST
    for moment in instants:
        if moment <= now:
            if moment > start:
                start = moment
        elif moment < end:
            end = moment
    return start, end
