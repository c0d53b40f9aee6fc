"""Concurrent duplicate deliveries: every effect once, every event processed once."""

from __future__ import annotations

import random
import threading
from collections import Counter
from collections.abc import Callable
from datetime import timedelta

from tierline import Tierline
from tierline.billing.result import IngestOutcome, IngestResult

from .inbox_helpers import (
    SECRET_SETTINGS,
    add_tier,
    conversions,
    events,
    fake_event,
    refer,
    referral_catalog,
    signed,
    subscriptions,
)

MakeTierline = Callable[..., Tierline]
THREADS = 8
ACCOUNTS = 10
REFERRED = 5  # the first accounts were referred: their first payment converts once


def test_eight_workers_racing_over_the_same_twenty_events(make_tierline: MakeTierline) -> None:
    workers = [make_tierline(catalog=referral_catalog(), **SECRET_SETTINGS) for _ in range(THREADS)]
    setup = workers[0]
    add_tier(setup, "pro", {"fake": ("pro",)})
    for index in range(REFERRED):
        refer(setup, "org_src", f"org_{index}")
    now = setup.ctx.clock()
    deliveries = []
    for index in range(ACCOUNTS):
        ref = f"org_{index}"
        created = fake_event("subscription.created", ref, now, status="trialing")
        updated = fake_event("subscription.updated", ref, now + timedelta(minutes=1))
        deliveries += [(created["id"], *signed("fake", p, now)) for p in (created, updated)]

    answers: list[tuple[str, IngestResult]] = []
    lock = threading.Lock()
    barrier = threading.Barrier(THREADS)
    errors: list[BaseException] = []

    def work(tl: Tierline, seed: int) -> None:
        order = deliveries[:]
        random.Random(seed).shuffle(order)
        barrier.wait()
        try:
            for event_id, headers, body in order:
                result = tl.ingest("fake", headers, body)
                with lock:
                    answers.append((result.event_id or event_id, result))
        except BaseException as exc:  # surfaced below: a thread's exception is otherwise lost
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(tl, seed)) for seed, tl in enumerate(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert errors == []

    assert len(answers) == THREADS * len(deliveries)
    allowed = {IngestOutcome.PROCESSED, IngestOutcome.DUPLICATE, IngestOutcome.IN_FLIGHT}
    assert {result.outcome for _, result in answers} <= allowed, [
        result for _, result in answers if result.outcome not in allowed
    ]
    processed = Counter(eid for eid, r in answers if r.outcome is IngestOutcome.PROCESSED)
    assert len(processed) == len(deliveries) and set(processed.values()) == {1}
    rows = events(setup)
    assert len(rows) == len(deliveries)
    assert {(row.status, row.attempts) for row in rows} == {("processed", 1)}

    subs = subscriptions(setup)
    assert sorted(sub["account"] for sub in subs) == sorted(f"org_{i}" for i in range(ACCOUNTS))
    # Whatever order the workers applied them in, the newer snapshot is the one that stands.
    assert {sub["status"] for sub in subs} == {"active"}
    assert conversions(setup) == (REFERRED, 2 * REFERRED)

    # The provider retries what was answered 409: every retry is now a duplicate.
    retried = {setup.ingest("fake", h, b).outcome for _, h, b in deliveries}
    assert retried == {IngestOutcome.DUPLICATE}
