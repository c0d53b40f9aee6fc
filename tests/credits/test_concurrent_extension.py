"""Concurrent grants without a key each extend the credit: none overlaps another, on every
dialect (SQLite runs a pysqlite SELECT outside the transaction; MariaDB's REPEATABLE READ reads
the snapshot taken before the account lock)."""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable
from datetime import timedelta

import pytest

from tierline import Tierline
from tierline.errors import TierlineError, ValidationError

from ..clock import FrozenClock

MakeTierline = Callable[..., Tierline]
THREADS = 8


def test_concurrent_grants_chain_one_after_another(
    make_tierline: MakeTierline, clock: FrozenClock
) -> None:
    tl = make_tierline()
    tl.ensure_account("a")
    barrier = threading.Barrier(THREADS)
    errors: list[BaseException] = []

    def worker() -> None:
        barrier.wait()
        try:
            tl.grant_credit("a", days=7)
        except Exception as exc:  # collected: the assertion below shows it
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    grants = sorted(tl.credits.history("a"), key=lambda g: g.starts_at)
    assert len(grants) == THREADS
    # Each grant starts where the previous one ends: 8 x 7 days in all, no overlap.
    for before, after in itertools.pairwise(grants):
        assert after.starts_at == before.expires_at
    assert grants[-1].expires_at == clock() + timedelta(days=7 * THREADS)


@pytest.mark.parametrize("field", ["reason", "by", "idempotency_key"], ids=["reason", "by", "key"])
@pytest.mark.parametrize("bad", ["x\x00y", "x\ud800"], ids=["nul", "surrogate"])
def test_text_with_nul_or_a_lone_surrogate_is_refused_on_every_dialect(
    make_tierline: MakeTierline, field: str, bad: str
) -> None:
    tl = make_tierline()
    tl.ensure_account("a")
    with pytest.raises(ValidationError):
        tl.grant_credit("a", days=1, **{field: bad})
    assert tl.credits.history("a") == []


@pytest.mark.parametrize("ref", ["a\x00", "a\ud800", "a" * 300])
def test_a_ref_no_account_can_have_is_not_found_on_every_dialect(
    make_tierline: MakeTierline, ref: str
) -> None:
    tl = make_tierline()
    for call in (
        lambda: tl.grant_credit(ref, days=1),
        lambda: tl.credits.history(ref),
        lambda: tl.revoke_credit(ref),
        lambda: tl.referral_code(ref),
        lambda: tl.referral_stats(ref),
        lambda: tl.seats.list(ref),
        lambda: tl.seats.assign(ref, "m"),
    ):
        with pytest.raises(TierlineError):
            call()
