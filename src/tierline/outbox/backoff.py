"""When a failed outbox item is tried again: exponential backoff with jitter."""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import timedelta


def retry_delay(
    attempts: int,
    *,
    base_seconds: float,
    max_seconds: float,
    jitter: Callable[[], float] = random.random,
) -> timedelta:
    """The wait before try ``attempts + 1``, after ``attempts`` (>= 1) failed tries.

    The ceiling doubles per failed try from ``base_seconds`` up to ``max_seconds``; the delay is
    drawn between half the ceiling and the ceiling ("equal jitter", so workers that failed
    together do not retry together yet never retry sooner than half the schedule). ``jitter``
    returns a number in [0, 1); tests pass a constant.
    """
    if attempts < 1:
        raise ValueError(f"attempts must be >= 1 after a failed try, not {attempts}")
    # 2**60 seconds is beyond any max: stop doubling before the float overflows.
    ceiling = min(base_seconds * 2 ** min(attempts - 1, 60), max_seconds)
    return timedelta(seconds=ceiling / 2 + ceiling / 2 * jitter())
