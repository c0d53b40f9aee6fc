"""The inbox on the fake provider: apply once, duplicates, bad input, ordering, unmapped."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from datetime import timedelta

import pytest

from tierline import Tierline
from tierline.billing.models import EventStatus
from tierline.billing.providers import fake, sign_for
from tierline.billing.result import IngestOutcome
from tierline.errors import NotFoundError, ValidationError

from .inbox_helpers import (
    SECRET_SETTINGS,
    SECRETS,
    add_tier,
    deliver,
    events,
    fake_event,
    link_tier,
    signed,
    subscriptions,
)

MakeTierline = Callable[..., Tierline]


@pytest.fixture
def tl(make_tierline: MakeTierline) -> Tierline:
    tl = make_tierline(**SECRET_SETTINGS)
    add_tier(tl, "pro", {"fake": ("pro",)})
    return tl


def test_an_event_is_applied_once_and_a_redelivery_is_a_duplicate(tl: Tierline) -> None:
    now = tl.ctx.clock()
    headers, body = signed("fake", fake_event("subscription.created", "org_1", now), now)

    first = tl.ingest("fake", headers, body)
    again = tl.ingest("fake", headers, body)

    assert (first.outcome, first.status_code) == (IngestOutcome.PROCESSED, 200)
    assert (again.outcome, again.status_code) == (IngestOutcome.DUPLICATE, 200)
    assert again.row_id == first.row_id
    [row] = events(tl)
    assert (row.status, row.attempts, row.locked_until) == ("processed", 1, None)
    assert row.processed_at == now and row.received_at == now
    assert row.type == "subscription.created" and json.loads(row.payload) == json.loads(body)
    [sub] = subscriptions(tl)
    assert (sub["account"], sub["tier"], sub["status"]) == ("org_1", "pro", "active")


def test_a_type_without_effect_is_stored_as_ignored(tl: Tierline) -> None:
    payload = fake_event("subscription.created", "org_1", tl.ctx.clock())
    payload["type"] = "customer.note_added"
    del payload["data"]["subscription"]

    result = deliver(tl, "fake", payload)

    assert (result.outcome, result.status_code) == (IngestOutcome.IGNORED, 200)
    assert [row.status for row in events(tl)] == ["ignored"]
    assert deliver(tl, "fake", payload).outcome is IngestOutcome.DUPLICATE
    assert subscriptions(tl) == []


def _forged(tl: Tierline, body: bytes) -> dict[str, str]:
    return sign_for("fake", body, "not-the-secret", int(tl.ctx.clock().timestamp()))


def _stale(tl: Tierline, body: bytes) -> dict[str, str]:
    then = tl.ctx.clock() - timedelta(seconds=fake.DEFAULT_TOLERANCE_SECONDS + 1)
    return sign_for("fake", body, SECRETS["fake"], int(then.timestamp()))


def _good(tl: Tierline, body: bytes) -> dict[str, str]:
    return sign_for("fake", body, SECRETS["fake"], int(tl.ctx.clock().timestamp()))


@pytest.mark.parametrize(
    ("provider", "make_headers", "make_body", "reason"),
    [
        ("fake", lambda tl, body: {}, None, "missing_signature"),
        ("fake", _forged, None, "bad_signature"),
        ("fake", _stale, None, "stale_timestamp"),
        ("fake", _good, lambda body: b'{"id": "evt_1", "type": ', "malformed_json"),
        ("fake", _good, lambda body: body + b" " * (64 * 1024), "body_too_large"),
        ("paypal", _good, None, "unknown_provider"),
    ],
    ids=["missing", "forged", "stale", "malformed", "oversized", "unknown-provider"],
)
def test_bad_input_is_rejected_with_its_reason_and_stores_nothing(
    tl: Tierline,
    make_tierline: MakeTierline,
    caplog: pytest.LogCaptureFixture,
    provider: str,
    make_headers: Callable[[Tierline, bytes], dict[str, str]],
    make_body: Callable[[bytes], bytes] | None,
    reason: str,
) -> None:
    tl = make_tierline(max_body_bytes=64 * 1024, **SECRET_SETTINGS)
    body = json.dumps(fake_event("subscription.created", "org_1", tl.ctx.clock())).encode()
    if make_body is not None:
        body = make_body(body)

    with caplog.at_level(logging.WARNING, logger="tierline.webhooks"):
        result = tl.ingest(provider, make_headers(tl, body), body)

    assert (result.outcome, result.status_code) == (IngestOutcome.REJECTED, 400)
    assert result.detail.startswith(f"{reason}:")
    assert events(tl) == [] and subscriptions(tl) == []
    [record] = [r for r in caplog.records if r.name == "tierline.webhooks"]
    assert reason in record.getMessage() and "\n" not in record.getMessage()


def test_an_older_snapshot_after_a_newer_one_is_ignored(tl: Tierline) -> None:
    now = tl.ctx.clock()
    older = fake_event("subscription.created", "org_1", now, status="trialing")
    newer = fake_event("subscription.updated", "org_1", now + timedelta(minutes=5), quantity=4)

    assert deliver(tl, "fake", newer).outcome is IngestOutcome.PROCESSED
    late = deliver(tl, "fake", older)

    assert late.outcome is IngestOutcome.PROCESSED and "stale snapshot ignored" in late.detail
    [sub] = subscriptions(tl)
    assert (sub["status"], sub["quantity"]) == ("active", 4)
    assert sub["provider_updated_at"] == now.replace(microsecond=0) + timedelta(minutes=5)
    assert [row.status for row in events(tl)] == ["processed", "processed"]


def test_a_snapshot_with_an_equal_timestamp_applies(tl: Tierline) -> None:
    now = tl.ctx.clock()
    deliver(tl, "fake", fake_event("subscription.created", "org_1", now, status="trialing"))
    result = deliver(tl, "fake", fake_event("subscription.updated", "org_1", now, quantity=2))

    assert result.outcome is IngestOutcome.PROCESSED and "stale" not in result.detail
    [sub] = subscriptions(tl)
    assert (sub["status"], sub["quantity"]) == ("active", 2)


def test_an_unmapped_tier_is_kept_and_applied_by_replay_once_linked(tl: Tierline) -> None:
    add_tier(tl, "team")
    payload = fake_event("subscription.created", "org_1", tl.ctx.clock(), tier_key="team_v2")

    result = deliver(tl, "fake", payload)

    assert (result.outcome, result.status_code) == (IngestOutcome.UNMAPPED, 200)
    [row] = events(tl)
    assert row.status == "unmapped" and row.processed_at is None and row.locked_until is None
    assert row.last_error is not None and "fake" in row.last_error and "'team_v2'" in row.last_error
    assert subscriptions(tl) == []

    link_tier(tl, "team", "fake", "team_v2")
    replayed = tl.inbox.replay(row.id)

    assert replayed.outcome is IngestOutcome.PROCESSED
    [sub] = subscriptions(tl)
    assert (sub["account"], sub["tier"]) == ("org_1", "team")
    [row] = events(tl)
    assert (row.status, row.attempts, row.last_error) == ("processed", 2, None)
    assert tl.inbox.replay(row.id).outcome is IngestOutcome.DUPLICATE


def test_replay_all_unmapped_takes_every_unmapped_event_oldest_first(tl: Tierline) -> None:
    now = tl.ctx.clock()
    for minute, ref in enumerate(("org_1", "org_2")):
        at = now + timedelta(minutes=minute)
        deliver(tl, "fake", fake_event("subscription.created", ref, at, tier_key="max"))
    assert tl.inbox.replay_all(EventStatus.UNMAPPED)[0].outcome is IngestOutcome.UNMAPPED

    link_tier(tl, "pro", "fake", "max")
    results = tl.inbox.replay_all("unmapped")

    assert [r.outcome for r in results] == [IngestOutcome.PROCESSED] * 2
    assert [r.row_id for r in results] == sorted(r.row_id for r in results if r.row_id)
    assert {sub["account"] for sub in subscriptions(tl)} == {"org_1", "org_2"}
    assert tl.inbox.replay_all("unmapped") == []
    with pytest.raises(ValidationError, match="only failed or unmapped"):
        tl.inbox.replay_all("processed")
    with pytest.raises(ValidationError, match="unknown event status 'lost'"):
        tl.inbox.replay_all("lost")


def test_list_and_get_events(tl: Tierline) -> None:
    now = tl.ctx.clock()
    deliver(tl, "fake", fake_event("subscription.created", "org_1", now))
    deliver(tl, "fake", fake_event("subscription.created", "org_2", now, tier_key="gold"))

    listed = tl.inbox.list_events()
    assert [e.status for e in listed] == [EventStatus.UNMAPPED, EventStatus.PROCESSED]
    assert all(e.payload is None for e in listed)
    assert [e.attempts for e in tl.inbox.list_events(status="unmapped")] == [1]
    assert tl.inbox.list_events(provider="stripe") == []
    assert len(tl.inbox.list_events(limit=1)) == 1

    shown = tl.inbox.get_event(listed[1].id)
    assert shown.payload is not None and json.loads(shown.payload)["type"] == shown.type
    assert shown.to_dict()["status"] == "processed"
    with pytest.raises(NotFoundError, match="no webhook event with id 999999"):
        tl.inbox.get_event(999_999)
    with pytest.raises(NotFoundError, match="no webhook event with id 999999"):
        tl.inbox.replay(999_999)
    with pytest.raises(ValidationError, match="unknown event status 'done'"):
        tl.inbox.list_events(status="done")
