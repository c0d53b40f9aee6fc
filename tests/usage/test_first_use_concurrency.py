"""Sixteen threads making a period's first tracks (with one idempotency key, or for a new
account) are answered, never a deadlock error, on every dialect (MariaDB: the counter row was
opened inside the counting transaction, whose gap locks deadlock under contention)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from tierline import Tierline

from .seed import CATALOG, add_tiers

MakeTierline = Callable[..., Tierline]
THREADS = 16
ROUNDS = 3


def _race(call: Callable[[int], object]) -> list[object]:
    barrier = threading.Barrier(THREADS)

    def worker(index: int) -> object:
        barrier.wait()
        try:
            return call(index)
        except Exception as exc:  # collected: the assertion shows it
            return exc

    with ThreadPoolExecutor(THREADS) as pool:
        return list(pool.map(worker, range(THREADS)))


def test_first_tracks_with_one_key_count_once_without_errors(make_tierline: MakeTierline) -> None:
    tl = make_tierline(CATALOG)
    add_tiers(tl)
    for round_ in range(ROUNDS):
        ref = f"keyed-{round_}"
        tl.ensure_account(ref)
        results = _race(lambda _, ref=ref: tl.usage.track(ref, "quotes", idempotency_key="same"))
        assert [r for r in results if isinstance(r, Exception)] == []
        assert tl.usage.check(ref, "quotes").used == 1


def test_first_tracks_of_a_new_account_without_errors(make_tierline: MakeTierline) -> None:
    tl = make_tierline(CATALOG)
    add_tiers(tl)
    for round_ in range(ROUNDS):
        ref = f"new-{round_}"
        results = _race(lambda _, ref=ref: tl.usage.track(ref, "quotes"))
        assert [r for r in results if isinstance(r, Exception)] == []
        allowed = sum(1 for r in results if getattr(r, "allowed", False))
        assert tl.usage.check(ref, "quotes").used == allowed
