"""Access-change hooks on every dialect: called once after the commit of each write that
changes access, with the old and new status; never for a write that changes nothing or rolls
back; a hook that raises is retried through the outbox and never undoes the write."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from tierline import Tierline
from tierline.access.changes import ACCESS_HOOK, status_from_dict
from tierline.access.query import AccessQuery
from tierline.access.status import AccessSource, AccessStatus
from tierline.credits.service import CreditService
from tierline.outbox.models import OutboxItem, OutboxStatus

from ..billing.inbox_helpers import deliver, fake_event, link_tier, refer, referral_catalog
from ..clock import FrozenClock
from ..usage.seed import CATALOG, add_tiers
from .seed import add_subscription

MakeTierline = Callable[..., Tierline]
END = datetime(2026, 7, 1, tzinfo=UTC)


@dataclass
class Calls:
    """A hook recording its calls, checking each sees the change committed."""

    tl: Tierline
    seen: list[tuple[str, AccessStatus, AccessStatus]] = field(default_factory=list)
    committed: list[bool] = field(default_factory=list)
    failures: int = 0

    def __call__(self, ref: str, old: AccessStatus, new: AccessStatus) -> None:
        # Read on another connection: only a committed change is visible there.
        self.committed.append(self.tl.access.status_in(None, ref, self.tl.ctx.clock()) == new)
        self.seen.append((ref, old, new))
        if self.failures > 0:
            self.failures -= 1
            raise RuntimeError("the host's mail server is down")

    def summary(self) -> list[tuple[str, str | None, bool, str | None, bool]]:
        return [(ref, old.tier, old.active, new.tier, new.active) for ref, old, new in self.seen]


def with_tiers(tl: Tierline) -> Tierline:
    add_tiers(tl)
    for key in ("pro", "team"):
        link_tier(tl, key, "fake", key)
    return tl


@pytest.fixture
def tl(make_tierline: MakeTierline) -> Tierline:
    return with_tiers(
        make_tierline(
            CATALOG, cache_ttl_seconds=300, outbox_backoff_seconds=60, outbox_max_attempts=2
        )
    )


@pytest.fixture
def calls(tl: Tierline) -> Calls:
    found = Calls(tl)
    tl.on_access_change(found)
    return found


def outbox(tl: Tierline) -> list[tuple[str, str, int]]:
    with tl.ctx.sessions() as session:
        rows = session.execute(
            select(OutboxItem.kind, OutboxItem.status, OutboxItem.attempts).order_by(OutboxItem.id)
        ).all()
    return [tuple(row) for row in rows]  # type: ignore[misc]


def test_a_credit_grant_and_revoke_call_the_hook_once_after_the_commit(
    tl: Tierline, calls: Calls
) -> None:
    tl.ensure_account("ann")
    assert not tl.status("ann").active  # cached: the hook's commit must invalidate it
    tl.grant_credit("ann", days=10)
    assert calls.summary() == [("ann", "free", False, "free", True)]
    _ref, old, new = calls.seen[0]
    assert (old.source, new.source) == (AccessSource.FREE, AccessSource.CREDIT)
    assert "api" in new.features and "api" not in old.features
    assert calls.committed == [True]
    assert tl.status("ann").active
    assert outbox(tl) == [(ACCESS_HOOK, OutboxStatus.DELIVERED.value, 1)]

    tl.revoke_credit("ann")
    assert calls.summary()[1:] == [("ann", "free", True, "free", False)]
    assert calls.committed == [True, True]


def test_a_write_that_changes_no_access_calls_nothing(tl: Tierline, calls: Calls) -> None:
    tl.ensure_account("ann")
    tl.grant_credit("ann", days=10)
    tl.grant_credit("ann", days=5)  # extends the end only: same access
    tl.revoke_credit("ann")
    tl.revoke_credit("ann")  # nothing left to revoke
    assert [new.active for _, _, new in calls.seen] == [True, False]
    assert len(outbox(tl)) == 2


def test_a_rolled_back_write_calls_nothing_and_leaves_no_item(
    tl: Tierline, calls: Calls, monkeypatch: pytest.MonkeyPatch
) -> None:
    tl.ensure_account("ann")
    original = CreditService._grant

    def grant_then_fail(self: CreditService, *args: object) -> object:
        original(self, *args)  # type: ignore[arg-type]
        raise RuntimeError("disk full")

    monkeypatch.setattr(CreditService, "_grant", grant_then_fail)
    with pytest.raises(RuntimeError, match="disk full"):
        tl.grant_credit("ann", days=10)
    assert calls.seen == []
    assert outbox(tl) == []
    assert not tl.status("ann").active


def test_a_raising_hook_keeps_the_change_and_is_retried_then_dead(
    tl: Tierline, calls: Calls, clock: FrozenClock, caplog: pytest.LogCaptureFixture
) -> None:
    tl.ensure_account("ann")
    calls.failures = 1
    tl.grant_credit("ann", days=10)  # does not raise
    assert tl.status("ann").active
    assert outbox(tl) == [(ACCESS_HOOK, OutboxStatus.FAILED.value, 1)]
    assert "the host's mail server is down" in caplog.text
    [item] = tl.outbox.list()
    assert item.last_error is not None and "mail server" in item.last_error

    assert tl.outbox.deliver_due() == []  # backoff not over
    clock.advance(minutes=5)
    [outcome] = tl.outbox.deliver_due()
    assert outcome.status is OutboxStatus.DELIVERED
    assert len(calls.seen) == 2 and calls.seen[0] == calls.seen[1]

    calls.failures = 5
    tl.revoke_credit("ann")
    clock.advance(minutes=5)
    [outcome] = tl.outbox.deliver_due()
    assert outcome.status is OutboxStatus.DEAD  # outbox_max_attempts = 2
    assert not tl.status("ann").active
    assert tl.outbox.counts()[OutboxStatus.DEAD] == 1


def test_a_process_without_hooks_leaves_hook_items_to_the_process_with_them(
    tl: Tierline, calls: Calls, make_tierline: MakeTierline, clock: FrozenClock
) -> None:
    tl.ensure_account("ann")
    calls.failures = 1
    tl.grant_credit("ann", days=10)
    clock.advance(minutes=5)
    worker = make_tierline(CATALOG)  # `tierline outbox run`, say: no hooks there
    assert worker.outbox.deliver_due() == []
    assert [o.status for o in tl.outbox.deliver_due()] == [OutboxStatus.DELIVERED]


def test_webhooks_call_the_hook_once_and_a_duplicate_does_not(tl: Tierline, calls: Calls) -> None:
    tl.ensure_account("bea")
    created = fake_event("subscription.created", "bea", tl.ctx.clock(), tier_key="pro")
    assert deliver(tl, "fake", created).status_code == 200
    assert deliver(tl, "fake", created).status_code == 200  # the same delivery again
    assert calls.summary() == [("bea", "free", False, "pro", True)]
    assert calls.committed == [True]

    renewed = fake_event(
        "subscription.updated", "bea", tl.ctx.clock() + timedelta(seconds=1), period_days=60
    )
    deliver(tl, "fake", renewed)  # a later end only: no change of access
    assert len(calls.seen) == 1

    canceled = fake_event("subscription.canceled", "bea", tl.ctx.clock() + timedelta(seconds=2))
    deliver(tl, "fake", canceled)
    assert calls.summary()[1:] == [("bea", "pro", True, "free", False)]


def test_a_quantity_drop_reports_the_new_seat_limit_and_seat_moves_report_nothing(
    tl: Tierline, calls: Calls
) -> None:
    tl.ensure_account("org")
    now = tl.ctx.clock()
    deliver(tl, "fake", fake_event("subscription.created", "org", now, "team", quantity=2))
    for n in range(7):
        tl.seats.assign("org", f"user-{n}")
    tl.seats.unassign("org", "user-6")
    assert [(old.seats, new.seats) for _, old, new in calls.seen] == [(1, 10)]
    later = now + timedelta(seconds=1)
    deliver(tl, "fake", fake_event("subscription.updated", "org", later, "team", quantity=1))
    assert [(old.seats, new.seats) for _, old, new in calls.seen] == [(1, 10), (10, 5)]
    assert tl.seats.list("org").over


def test_overrides_set_and_clear_call_the_hook(tl: Tierline, calls: Calls) -> None:
    tl.ensure_account("ann")
    tl.overrides.set("ann", "beta", reason="design partner")
    tl.overrides.set("ann", "beta", reason="design partner, still")  # same access
    tl.overrides.clear("ann", "beta")
    assert [("beta" in old.features, "beta" in new.features) for _, old, new in calls.seen] == [
        (False, True),
        (True, False),
    ]
    assert calls.seen[0][2].feature_sources["beta"] == "override"
    assert calls.committed == [True, True]


def test_referral_rewards_call_the_hook_for_both_accounts(make_tierline: MakeTierline) -> None:
    tl = with_tiers(make_tierline(referral_catalog(days=7)))
    calls = Calls(tl)
    tl.on_access_change(calls)
    refer(tl, "alice", "bob")
    deliver(tl, "fake", fake_event("subscription.created", "bob", tl.ctx.clock(), "pro"))
    assert sorted((ref, new.source.value) for ref, _, new in calls.seen) == [
        ("alice", "credit"),
        ("bob", "subscription"),
    ]
    assert all(calls.committed)


def test_exempt_assignment_calls_the_hook(tl: Tierline, calls: Calls) -> None:
    add_subscription(tl, "zed", None, "canceled")  # an account, no paid access
    tl.assign_exempt("zed", "free")
    assert [(old.source, new.source) for _, old, new in calls.seen] == [
        (AccessSource.FREE, AccessSource.EXEMPT)
    ]


def test_nothing_listening_costs_no_query(tl: Tierline, monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object) -> None:
        raise AssertionError("read access in the transaction with nothing listening")

    monkeypatch.setattr(AccessQuery, "fetch_in", refuse)
    tl.ensure_account("ann")
    tl.grant_credit("ann", days=3)
    deliver(tl, "fake", fake_event("subscription.created", "ann", tl.ctx.clock(), "pro"))
    tl.overrides.set("ann", "beta", reason="partner")
    with tl.ctx.sessions() as session:
        assert session.scalar(select(func.count()).select_from(OutboxItem)) == 0


def test_hooks_of_concurrent_writes_each_run_once(tl: Tierline, calls: Calls) -> None:
    refs = [f"acct-{n}" for n in range(6)]
    for ref in refs:
        tl.ensure_account(ref)
    threads = [
        threading.Thread(target=tl.grant_credit, args=(ref,), kwargs={"days": 3}) for ref in refs
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(ref for ref, _, _ in calls.seen) == refs
    assert all(new.active and not old.active for _, old, new in calls.seen)


def test_a_hook_must_be_callable(tl: Tierline) -> None:
    with pytest.raises(TypeError, match="callable"):
        tl.on_access_change("send_mail")  # type: ignore[arg-type]


def test_status_round_trips_through_the_outbox_payload(tl: Tierline) -> None:
    tl.ensure_account("ann")
    tl.grant_credit("ann", days=3)
    tl.overrides.set("ann", "quotes", limit=9, reason="trial")
    status = tl.status("ann")
    assert status_from_dict(status.to_dict()) == status
