"""Credits: extension, idempotency (also under concurrency), revoke, history, bad input."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import URL

from tierline import Tierline
from tierline.credits.models import CreditGrant
from tierline.errors import NotFoundError, TierlineError, ValidationError

from ..access.seed import tierline_on
from ..clock import FrozenClock

MakeTierline = Callable[..., Tierline]


def grant_count(tl: Tierline) -> int:
    with tl.ctx.sessions() as session:
        return int(session.scalar(select(func.count(CreditGrant.id))) or 0)


def test_grants_extend_from_the_current_expiry(
    make_tierline: MakeTierline, clock: FrozenClock
) -> None:
    tl = make_tierline()
    tl.ensure_account("a")
    now = clock()
    first = tl.grant_credit("a", days=10, reason="support", by="ops")
    assert (first.starts_at, first.expires_at) == (now, now + timedelta(days=10))
    assert (first.reason, first.granted_by, first.account_ref) == ("support", "ops", "a")
    clock.advance(days=4)
    second = tl.grant_credit("a", days=3)
    assert (second.starts_at, second.expires_at) == (first.expires_at, now + timedelta(days=13))
    third = tl.grant_credit("a", until=now + timedelta(days=20))
    assert (third.starts_at, third.expires_at) == (second.expires_at, now + timedelta(days=20))
    # After everything ran out, a new grant starts now again.
    clock.advance(days=30)
    fourth = tl.grant_credit("a", days=1)
    assert fourth.starts_at == clock()
    assert [g.id for g in tl.credits.history("a")] == [fourth.id, third.id, second.id, first.id]


def test_idempotency_key_grants_once(make_tierline: MakeTierline, clock: FrozenClock) -> None:
    tl = make_tierline()
    tl.ensure_account("a")
    tl.ensure_account("b")
    first = tl.grant_credit("a", days=7, idempotency_key="promo-1")
    again = tl.grant_credit("a", days=30, idempotency_key="promo-1")
    assert again == first
    assert grant_count(tl) == 1
    with pytest.raises(ValidationError, match="'promo-1' was already used for another account"):
        tl.grant_credit("b", days=7, idempotency_key="promo-1")
    assert grant_count(tl) == 1


def test_concurrent_grants_with_one_key_make_one_grant(make_tierline: MakeTierline) -> None:
    tl = make_tierline()
    tl.ensure_account("a")
    barrier = threading.Barrier(4)
    results: list[Any] = []

    def worker() -> None:
        barrier.wait()
        try:
            results.append(tl.grant_credit("a", days=5, idempotency_key="race"))
        except Exception as exc:  # collected: the assertion below shows it
            results.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert all(not isinstance(r, Exception) for r in results), results
    assert len({r.id for r in results}) == 1
    assert grant_count(tl) == 1


def test_revoke_ends_running_and_future_grants_only(
    make_tierline: MakeTierline, clock: FrozenClock
) -> None:
    tl = make_tierline()
    tl.ensure_account("a")
    old = tl.grant_credit("a", days=1)
    clock.advance(days=2)
    tl.grant_credit("a", days=5)
    tl.grant_credit("a", days=5)  # future: starts when the previous one ends
    assert tl.revoke_credit("a") == 2
    assert tl.revoke_credit("a") == 0
    history = tl.credits.history("a")
    assert [g.revoked_at for g in history] == [clock(), clock(), None]
    assert history[-1].id == old.id
    assert not any(g.active_at(clock()) for g in history)
    assert tl.status("a").active is False
    # Granting after a revoke starts now: revoked time is not extended from.
    assert tl.grant_credit("a", days=1).starts_at == clock()


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"days": 0}, ValidationError, "days 0 is not valid"),
        ({"days": -3}, ValidationError, "days -3 is not valid"),
        ({"days": 2.5}, ValidationError, "days 2.5 is not valid"),
        ({"days": True}, ValidationError, "days True is not valid"),
        ({"days": 10**6}, ValidationError, "from 1 to 36500"),
        ({}, ValidationError, "exactly one of days or until"),
        ({"days": 1, "until": datetime(2027, 1, 1, tzinfo=UTC)}, ValidationError, "exactly one"),
        ({"until": datetime(2027, 1, 1)}, ValidationError, "not an aware datetime"),
        ({"until": datetime(2026, 5, 1, tzinfo=UTC)}, ValidationError, "not in the future"),
        # The account's credit already runs until 2026-06-11: an earlier `until` would erode it.
        ({"until": datetime(2026, 6, 5, tzinfo=UTC)}, ValidationError, "not after the account"),
        ({"days": 1, "reason": "x" * 300}, ValidationError, "reason"),
        ({"days": 1, "idempotency_key": ""}, ValidationError, "idempotency key"),
        ({"days": 1, "ref": "ghost"}, NotFoundError, "'ghost'"),
    ],
)
def test_bad_input_changes_nothing(
    sqlite_url: URL,
    clock: FrozenClock,
    kwargs: dict[str, Any],
    error: type[TierlineError],
    message: str,
) -> None:
    tl = tierline_on(sqlite_url, clock)
    try:
        tl.ensure_account("a")
        tl.grant_credit("a", days=10)
        before = tl.credits.history("a")
        ref = kwargs.pop("ref", "a")
        with pytest.raises(error, match=message):
            tl.grant_credit(ref, **kwargs)
        assert tl.credits.history("a") == before
        assert grant_count(tl) == 1
    finally:
        tl.close()


def test_revoke_and_history_of_an_unknown_account(sqlite_url: URL, clock: FrozenClock) -> None:
    tl = tierline_on(sqlite_url, clock)
    try:
        with pytest.raises(NotFoundError):
            tl.revoke_credit("ghost")
        with pytest.raises(NotFoundError):
            tl.credits.history("ghost")
    finally:
        tl.close()
