"""Deliver outbox items on a background thread instead of the writer's.

A writer that calls a receiver over the network right after its commit (the access webhook)
waits for that receiver: one that is slow or never answers would hold ``tl.ingest`` or
``tl.grant_credit`` for the whole timeout. Items of :data:`BACKGROUND_KINDS` are therefore
handed, by id, to the one daemon thread of their Tierline object (started with the first item),
which delivers them in order through the same outbox path as a worker: claims, retries, backoff
and ``dead`` are unchanged, and an item the thread never got to (the process ended) stays
pending for ``tierline outbox run`` / ``tl.outbox.deliver_due()``.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Sequence

logger = logging.getLogger("tierline.outbox")

#: Outbox kinds never delivered on the writer's thread (a receiver over the network).
BACKGROUND_KINDS = ("access.webhook",)
#: Seconds :meth:`BackgroundDelivery.close` waits, by default, for the items already handed
#: over (the access webhook's deadline: one try in flight can finish).
CLOSE_SECONDS = 10.0


class BackgroundDelivery:
    """The delivery thread of one Tierline object (module docstring).

    ``deliver(ids)`` is called on the thread with each batch handed to :meth:`submit`; it must
    claim the items itself (they may be held by a worker meanwhile) and should not raise.
    """

    def __init__(self, deliver: Callable[[Sequence[int]], object]) -> None:
        self._deliver = deliver
        self._queue: queue.SimpleQueue[tuple[int, ...] | None] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._closed = False
        #: After :meth:`close`, batches not started by this :func:`time.monotonic` instant are
        #: left to the worker.
        self._give_up_at = float("inf")
        self._pending = 0
        self._idle = threading.Condition(self._lock)

    def submit(self, ids: Sequence[int]) -> bool:
        """Hand ``ids`` to the thread (starting it); False, and nothing done, once closed."""
        if not ids:
            return False
        with self._lock:
            if self._closed:
                return False
            if self._thread is None or not self._thread.is_alive():
                # (Not alive: started before a fork, in the parent only.)
                self._thread = threading.Thread(
                    target=self._run, name="tierline-outbox-delivery", daemon=True
                )
                self._thread.start()
            self._pending += 1
            self._queue.put(tuple(ids))
        return True

    def wait_idle(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds until every batch handed over was tried; whether it
        was (for scripts and tests that must see the outcome)."""
        with self._idle:
            return self._idle.wait_for(lambda: self._pending == 0, timeout)

    def close(self, timeout: float = CLOSE_SECONDS) -> None:
        """Stop the thread: the batches already handed over are still tried if they start
        within ``timeout`` seconds (a try in flight runs to its own deadline); the others stay
        pending in the outbox for the worker. Idempotent."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._give_up_at = time.monotonic() + timeout
            thread = self._thread
        if thread is not None:
            self._queue.put(None)
            thread.join()

    def _run(self) -> None:
        while True:
            ids = self._queue.get()
            if ids is None:
                return
            try:
                if time.monotonic() < self._give_up_at:
                    self._deliver(ids)
            except Exception:  # pragma: no cover - deliver_now never raises
                logger.exception("outbox: background delivery of items %s failed", ids)
            finally:
                with self._idle:
                    self._pending -= 1
                    self._idle.notify_all()
