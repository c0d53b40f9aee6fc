"""Crash safety: an event survives an apply error, a dead claim holder and a killed process.

"Applied once" is observed through a referral conversion: a referred account's first active
subscription converts its referral and grants two credits, so a double apply would show as
four grants.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy.engine import URL

from tierline import Tierline, TierlineSettings
from tierline.billing import claims
from tierline.billing.apply import EffectApplier
from tierline.billing.models import EventStatus
from tierline.billing.providers import ProviderEvent
from tierline.billing.result import IngestOutcome

from ..clock import FrozenClock
from .inbox_helpers import (
    SECRET_SETTINGS,
    SECRETS,
    add_tier,
    conversions,
    deliver,
    events,
    fake_event,
    refer,
    referral_catalog,
    signed,
    subscriptions,
)

MakeTierline = Callable[..., Tierline]


@pytest.fixture
def tl(make_tierline: MakeTierline) -> Tierline:
    tl = make_tierline(catalog=referral_catalog(), **SECRET_SETTINGS)
    add_tier(tl, "pro", {"fake": ("pro",)})
    refer(tl, "org_src", "org_1")
    return tl


def test_an_apply_error_is_recorded_and_the_retry_applies_once(
    tl: Tierline, monkeypatch: pytest.MonkeyPatch
) -> None:
    payload = fake_event("subscription.created", "org_1", tl.ctx.clock())

    def boom(self: EffectApplier, *args: Any) -> None:
        raise RuntimeError("provider API down\nsecond line")

    with monkeypatch.context() as patch:
        patch.setattr(EffectApplier, "apply", boom)
        failed = deliver(tl, "fake", payload)

    assert (failed.outcome, failed.status_code) == (IngestOutcome.FAILED, 500)
    [row] = events(tl)
    assert (row.status, row.attempts, row.locked_until) == ("failed", 1, None)
    assert row.last_error == "RuntimeError: provider API down"
    assert subscriptions(tl) == [] and conversions(tl) == (0, 0)

    retried = deliver(tl, "fake", payload)

    assert retried.outcome is IngestOutcome.PROCESSED
    [row] = events(tl)
    assert (row.status, row.attempts, row.last_error) == ("processed", 2, None)
    assert conversions(tl) == (1, 2)
    assert deliver(tl, "fake", payload).outcome is IngestOutcome.DUPLICATE
    assert conversions(tl) == (1, 2)


def test_replay_failed_reruns_a_failed_event(tl: Tierline, monkeypatch: pytest.MonkeyPatch) -> None:
    with monkeypatch.context() as patch:
        patch.setattr(EffectApplier, "apply", lambda *args: 1 / 0)
        deliver(tl, "fake", fake_event("subscription.created", "org_1", tl.ctx.clock()))

    [result] = tl.inbox.replay_all(EventStatus.FAILED)

    assert result.outcome is IngestOutcome.PROCESSED
    assert conversions(tl) == (1, 2)


def _claim_and_die(tl: Tierline, payload: dict[str, Any]) -> claims.Claim:
    """What a process that claimed the event and then died leaves behind."""
    with tl.ctx.engine.begin() as conn:
        claim = claims.insert_claim(
            conn,
            provider="fake",
            external_id=payload["id"],
            event_type=payload["type"],
            occurred_at=None,
            payload=json.dumps(payload),
            now=tl.ctx.clock(),
            lease=tl.inbox.lease,
        )
    assert claim is not None
    return claim


def test_a_live_claim_is_in_flight_and_taken_over_once_its_lease_ran_out(
    tl: Tierline, clock: FrozenClock
) -> None:
    payload = fake_event("subscription.created", "org_1", clock())
    _claim_and_die(tl, payload)

    busy = deliver(tl, "fake", payload)

    assert (busy.outcome, busy.status_code) == (IngestOutcome.IN_FLIGHT, 409)
    assert events(tl)[0].attempts == 1 and subscriptions(tl) == []
    assert tl.inbox.replay(events(tl)[0].id).outcome is IngestOutcome.IN_FLIGHT

    clock.advance(seconds=tl.inbox.lease.total_seconds() + 1)
    retried = deliver(tl, "fake", payload)

    assert retried.outcome is IngestOutcome.PROCESSED
    [row] = events(tl)
    assert (row.status, row.attempts, row.locked_until) == ("processed", 2, None)
    assert conversions(tl) == (1, 2)


def test_a_holder_that_lost_its_claim_applies_nothing(tl: Tierline, clock: FrozenClock) -> None:
    payload = fake_event("subscription.created", "org_1", clock())
    stale_claim = _claim_and_die(tl, payload)
    clock.advance(seconds=tl.inbox.lease.total_seconds() + 1)
    assert deliver(tl, "fake", payload).outcome is IngestOutcome.PROCESSED

    # The first holder wakes up and tries to apply its (different) view of the event.
    parsed = tl.inbox._provider("fake").parse(fake_event("subscription.created", "org_9", clock()))
    woken = ProviderEvent(
        "fake", payload["id"], parsed.type, parsed.occurred_at, parsed.subscription
    )
    result = tl.inbox._run(stale_claim, woken, follow_links=False)

    assert result.outcome is IngestOutcome.IN_FLIGHT
    assert [sub["account"] for sub in subscriptions(tl)] == ["org_1"]
    [row] = events(tl)
    assert (row.status, row.attempts) == ("processed", 2)


_KILLED_WORKER = """
import json, sys, time
from datetime import datetime
from tierline import Tierline, TierlineSettings
from tierline.billing.apply import EffectApplier
from tierline.catalog.spec import Catalog

url, body_path, headers, now, secret = sys.argv[1:]
def hang(self, session, event, at):
    print("applying", flush=True)
    time.sleep(120)
EffectApplier.apply = hang
moment = datetime.fromisoformat(now)
settings = TierlineSettings(
    database_url=url, enable_fake_provider=True, fake_webhook_secret=[secret]
)
tl = Tierline(settings=settings, catalog=Catalog(), clock=lambda: moment)
tl.ingest("fake", json.loads(headers), open(body_path, "rb").read())
print("finished", flush=True)
"""


def test_a_process_killed_mid_apply_leaves_the_event_for_a_retry_to_apply_once(
    db_url: URL, tmp_path: Any
) -> None:
    url = db_url.render_as_string(hide_password=False)
    start = datetime.now(UTC).replace(microsecond=0)
    settings = TierlineSettings(database_url=url, **SECRET_SETTINGS)
    later = start + timedelta(seconds=61)
    with Tierline(settings=settings, catalog=referral_catalog(), clock=lambda: later) as tl:
        add_tier(tl, "pro", {"fake": ("pro",)})
        refer(tl, "org_src", "org_1")
        payload = fake_event("subscription.created", "org_1", start)
        headers, body = signed("fake", payload, start)
        (tmp_path / "body.json").write_bytes(body)
        worker = subprocess.Popen(
            [
                sys.executable,
                "-c",
                _KILLED_WORKER,
                url,
                str(tmp_path / "body.json"),
                json.dumps(headers),
                start.isoformat(),
                SECRETS["fake"],
            ],
            stdout=subprocess.PIPE,
            text=True,
            env={k: v for k, v in os.environ.items() if not k.startswith("TIERLINE_")},
        )
        try:
            assert worker.stdout is not None
            assert worker.stdout.readline().strip() == "applying"
            # The new event's row is inserted in the worker's (uncommitted) apply transaction.
            assert events(tl) == []
        finally:
            worker.send_signal(signal.SIGKILL)
            worker.wait(timeout=30)
        assert worker.returncode == -signal.SIGKILL

        assert subscriptions(tl) == [] and conversions(tl) == (0, 0)
        retried = deliver(tl, "fake", payload)  # the provider's retry

        assert retried.outcome is IngestOutcome.PROCESSED, retried
        [row] = events(tl)
        assert (row.status, row.attempts) == ("processed", 1)
        assert [sub["account"] for sub in subscriptions(tl)] == ["org_1"]
        assert conversions(tl) == (1, 2)
        assert deliver(tl, "fake", payload).outcome is IngestOutcome.DUPLICATE
