"""The outbox: written with the effect, delivered after the commit, retried, never twice."""

from __future__ import annotations

import logging
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import timedelta

import pytest
from sqlalchemy import event, select

from tierline import Tierline
from tierline.outbox import queue
from tierline.outbox.backoff import retry_delay
from tierline.outbox.deliverers import Delivery, register_deliverer
from tierline.outbox.models import OutboxItem, OutboxStatus
from tierline.outbox.service import OutboxService
from tierline.outbox.worker import run_worker

from ..clock import FrozenClock

MakeTierline = Callable[..., Tierline]
KIND = "test.record"


class Recorder:
    """A deliverer for tests: records each call; fails while ``failures`` is positive."""

    def __init__(self) -> None:
        self.calls: list[Delivery] = []
        self.failures = 0
        self.lock = threading.Lock()

    def __call__(self, delivery: Delivery) -> None:
        with self.lock:
            self.calls.append(delivery)
            if self.failures > 0:
                self.failures -= 1
                raise ConnectionError("provider unreachable")


@pytest.fixture
def recorder() -> Iterator[Recorder]:
    found = Recorder()
    register_deliverer(KIND, found)
    yield found


def write(tl: Tierline, key: str, **payload: object) -> int:
    """Write one item in a transaction of its own, as an effect's transaction would."""
    with tl.engine.begin() as conn:
        return queue.enqueue(conn, KIND, payload, idempotency_key=key, now=tl.ctx.clock())


def settings(**extra: object) -> dict[str, object]:
    return {
        "outbox_backoff_seconds": 60.0,
        "outbox_backoff_max_seconds": 600.0,
        "outbox_max_attempts": 3,
        **extra,
    }


def test_an_item_is_written_once_per_key_and_delivered_with_its_key(
    make_tierline: MakeTierline, recorder: Recorder
) -> None:
    tl = make_tierline(**settings())
    first = write(tl, "key-1", coupon="C", n=1)
    assert write(tl, "key-1", coupon="other") == first  # the same call, not a second one

    [outcome] = tl.outbox.deliver_now([first])

    assert (outcome.status, outcome.attempt, outcome.recorded) == (OutboxStatus.DELIVERED, 1, True)
    [call] = recorder.calls
    assert (call.idempotency_key, dict(call.payload), call.attempt) == (
        "key-1",
        {"coupon": "C", "n": 1},
        1,
    )
    [item] = tl.outbox.list()
    assert (item.status, item.attempts, item.delivered_at) == (
        OutboxStatus.DELIVERED,
        1,
        tl.ctx.clock(),
    )
    assert tl.outbox.deliver_due() == [] and tl.outbox.deliver_now([first]) == []
    assert len(recorder.calls) == 1


def test_a_failed_try_waits_for_its_backoff_then_succeeds(
    make_tierline: MakeTierline, recorder: Recorder, clock: FrozenClock
) -> None:
    tl = make_tierline(**settings())
    tl.outbox = OutboxService(tl.ctx, jitter=lambda: 0.5)
    item_id = write(tl, "key-2")
    recorder.failures = 2

    [first] = tl.outbox.deliver_due()
    assert (first.status, first.error) == (
        OutboxStatus.FAILED,
        "ConnectionError: provider unreachable",
    )
    stored = tl.outbox.get(item_id)
    # 60 s ceiling after one failure, half of it fixed plus half of it times the jitter 0.5.
    assert stored.next_attempt_at == clock.now + timedelta(seconds=45)
    assert stored.last_error == "ConnectionError: provider unreachable"

    clock.advance(seconds=44, microseconds=999_999)
    assert tl.outbox.deliver_due() == []  # not due yet, to the microsecond
    clock.advance(microseconds=1)
    [second] = tl.outbox.deliver_due()
    assert second.status is OutboxStatus.FAILED
    assert tl.outbox.get(item_id).next_attempt_at == clock.now + timedelta(seconds=90)

    clock.advance(seconds=90)
    [third] = tl.outbox.deliver_due()

    assert (third.status, third.attempt) == (OutboxStatus.DELIVERED, 3)
    assert [call.attempt for call in recorder.calls] == [1, 2, 3]
    assert tl.outbox.get(item_id).last_error is None


def test_the_last_failed_try_makes_the_item_dead_visible_and_logged_until_retried(
    make_tierline: MakeTierline,
    recorder: Recorder,
    clock: FrozenClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    tl = make_tierline(**settings(outbox_max_attempts=2))
    item_id = write(tl, "key-3")
    recorder.failures = 5

    tl.outbox.deliver_due()
    clock.advance(hours=1)
    with caplog.at_level(logging.ERROR, logger="tierline.outbox"):
        [last] = tl.outbox.deliver_due()

    assert last.status is OutboxStatus.DEAD
    assert [item.id for item in tl.outbox.list(OutboxStatus.DEAD)] == [item_id]
    assert tl.outbox.counts()[OutboxStatus.DEAD] == 1
    [record] = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert f"outbox item {item_id} (test.record) is dead after 2 tries" in record.getMessage()
    clock.advance(days=30)
    assert tl.outbox.deliver_due() == []  # dead items are never tried by themselves

    recorder.failures = 0
    revived = tl.outbox.retry(item_id)
    assert (revived.status, revived.attempts) == (OutboxStatus.PENDING, 0)
    [delivered] = tl.outbox.deliver_due()
    assert delivered.status is OutboxStatus.DELIVERED


def test_retry_refuses_items_that_are_not_failed_and_names_unknown_ids(
    make_tierline: MakeTierline, recorder: Recorder
) -> None:
    from tierline.errors import NotFoundError, ValidationError

    tl = make_tierline(**settings())
    item_id = write(tl, "key-4")
    with pytest.raises(ValidationError, match=f"outbox item {item_id} is pending"):
        tl.outbox.retry(item_id)
    with pytest.raises(NotFoundError, match="no outbox item with id 999"):
        tl.outbox.retry(999)
    with pytest.raises(ValidationError, match="unknown outbox status 'stuck'; valid: pending"):
        tl.outbox.list("stuck")
    assert recorder.calls == []


def test_an_unknown_kind_fails_visibly_instead_of_vanishing(make_tierline: MakeTierline) -> None:
    tl = make_tierline(**settings())
    with tl.engine.begin() as conn:
        item_id = queue.enqueue(conn, "nobody.handles", {}, idempotency_key="k", now=tl.ctx.clock())
    [outcome] = tl.outbox.deliver_due()
    assert outcome.status is OutboxStatus.FAILED
    assert tl.outbox.get(item_id).last_error == (
        "no deliverer is registered for outbox kind 'nobody.handles'"
    )


def test_a_held_item_is_not_taken_until_its_lease_runs_out_and_the_late_holder_records_nothing(
    make_tierline: MakeTierline, recorder: Recorder, clock: FrozenClock
) -> None:
    tl = make_tierline(**settings(outbox_lease_seconds=120))
    item_id = write(tl, "key-5")
    with tl.engine.begin() as conn:  # a worker claims it, then dies before recording
        [held] = queue.claim(conn, now=clock.now, lease=tl.outbox.lease, limit=5)

    clock.advance(seconds=119)
    assert tl.outbox.deliver_due() == []
    clock.advance(seconds=1)
    [taken_over] = tl.outbox.deliver_due()
    assert (taken_over.status, taken_over.attempt) == (OutboxStatus.DELIVERED, 2)

    with tl.engine.begin() as conn:  # the first worker wakes up and tries to record
        assert not queue.mark_delivered(conn, held, now=clock.now)
        assert not queue.mark_failed(conn, held, error="late", next_attempt_at=clock.now, dead=True)
    assert tl.outbox.get(item_id).status is OutboxStatus.DELIVERED


def test_inline_delivery_never_raises_and_can_be_turned_off(
    make_tierline: MakeTierline, recorder: Recorder, monkeypatch: pytest.MonkeyPatch
) -> None:
    off = make_tierline(**settings(outbox_inline=False))
    item_id = write(off, "key-6")
    assert off.outbox.deliver_now([item_id]) == [] and recorder.calls == []

    on = make_tierline(**settings())

    def broken_claim(*args: object, **kwargs: object) -> object:
        raise RuntimeError("database went away")

    monkeypatch.setattr(queue, "claim", broken_claim)
    assert on.outbox.deliver_now([item_id]) == []


def test_workers_in_threads_never_deliver_one_item_twice(
    make_tierline: MakeTierline, recorder: Recorder
) -> None:
    first = make_tierline(**settings())
    ids = [write(first, f"key-race-{n}", n=n) for n in range(40)]
    # Each worker has its own Tierline: its own engine and connections.
    services = [make_tierline(**settings()).outbox for _ in range(4)]
    start = threading.Barrier(len(services))
    reports: list[int] = []

    def work(service: OutboxService) -> None:
        start.wait()
        report = run_worker(service, threading.Event(), once=True, batch=3)
        reports.append(len(report.outcomes))

    threads = [threading.Thread(target=work, args=(service,)) for service in services]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    delivered = Counter(call.item_id for call in recorder.calls)
    assert sorted(delivered) == ids and set(delivered.values()) == {1}
    assert sum(reports) == len(ids)
    assert first.outbox.counts()[OutboxStatus.DELIVERED] == len(ids)


# SQLite has no row locks (one writer at a time): there is nothing to skip over there.
@pytest.mark.parametrize("dialect", ["postgresql", "mariadb"], indirect=True)
def test_a_row_locked_by_one_worker_is_skipped_by_another_not_waited_for(
    make_tierline: MakeTierline, recorder: Recorder
) -> None:
    tl = make_tierline(**settings())
    first_id = write(tl, "key-a")
    second_id = write(tl, "key-b")
    other = make_tierline(**settings())
    # Were the lock waited for, this fails after 5 s instead of hanging.
    timeout = (
        "SET lock_timeout = '5s'"
        if other.engine.dialect.name == "postgresql"
        else "SET SESSION innodb_lock_wait_timeout = 5"
    )
    event.listen(
        other.engine, "connect", lambda dbapi_conn, _: dbapi_conn.cursor().execute(timeout)
    )
    with tl.engine.connect() as holder:
        # A worker in the middle of its claim transaction holds the first row's lock.
        with holder.begin():
            locked = holder.execute(
                select(OutboxItem.id).where(OutboxItem.id == first_id).with_for_update()
            ).scalar()
            assert locked == first_id
            outcomes = other.outbox.deliver_due(limit=2)
        assert [outcome.id for outcome in outcomes] == [second_id]
    assert [call.item_id for call in recorder.calls] == [second_id]


def test_the_worker_is_bounded_by_max_items_and_stops_when_asked(
    make_tierline: MakeTierline, recorder: Recorder
) -> None:
    tl = make_tierline(**settings())
    for n in range(5):
        write(tl, f"key-bound-{n}")

    bounded = run_worker(tl.outbox, threading.Event(), max_items=2, batch=10)
    assert len(bounded.outcomes) == 2 and len(recorder.calls) == 2

    stop = threading.Event()
    stop.set()
    assert run_worker(tl.outbox, stop).outcomes == []  # would otherwise poll forever

    rest = run_worker(tl.outbox, threading.Event(), once=True)
    assert rest.count(OutboxStatus.DELIVERED) == 3


def test_backoff_doubles_up_to_the_max_with_jitter_between_half_and_all() -> None:
    def delay(attempts: int, jitter: float) -> float:
        return retry_delay(
            attempts, base_seconds=10, max_seconds=300, jitter=lambda: jitter
        ).total_seconds()

    assert [delay(n, 0.0) for n in (1, 2, 3, 4, 5, 6)] == [5, 10, 20, 40, 80, 150]
    assert [delay(n, 0.999) for n in (1, 6, 60, 10_000)] == pytest.approx(
        [9.995, 299.85, 299.85, 299.85]
    )
    with pytest.raises(ValueError, match="attempts must be >= 1"):
        retry_delay(0, base_seconds=1, max_seconds=2)
