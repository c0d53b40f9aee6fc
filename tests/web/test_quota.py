"""The quota gate through both adapters: counts on success, 402 quota_exceeded with the
counter, gives the use back when the view fails, admin passes without counting."""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime

from tierline import Tierline

from ..clock import FrozenClock
from .apps import ADMIN_TOKEN, WebClient, element


def test_the_quota_counts_then_answers_402_with_the_counter(
    client: WebClient, sqlite_tl: Tierline
) -> None:
    for used in (1, 2):
        reply = client.post("/analyze", account="alice")
        assert reply.status == 200, reply.text
        assert reply.json()["account"] == "alice"
        assert sqlite_tl.usage.check("alice", "analyze").used == used
    refused = client.post("/analyze", account="alice")
    assert refused.status == 402
    assert refused.json() == {
        "error": "payment_required",
        "reason": "quota_exceeded",
        "feature": "analyze",
        "limit": 2,
        "used": 2,
        "resets_at": "2026-06-02T00:00:00+00:00",
        "upgrade_url": "/billing/settings",
    }


def test_the_quota_resets_the_next_day(
    client: WebClient, sqlite_tl: Tierline, clock: FrozenClock
) -> None:
    for _ in range(2):
        client.post("/analyze", account="alice")
    assert client.post("/analyze", account="alice").status == 402
    clock.set(datetime(2026, 6, 2, tzinfo=UTC))
    assert client.post("/analyze", account="alice").status == 200


def test_a_failing_view_gives_its_use_back(client: WebClient, sqlite_tl: Tierline) -> None:
    with contextlib.suppress(RuntimeError):  # FastAPI's test client re-raises; Flask says 500
        reply = client.post("/analyze-broken", account="alice")
        assert reply.status == 500
    assert sqlite_tl.usage.check("alice", "analyze").used == 0


def test_without_an_account_401_and_admin_passes_without_counting(
    client: WebClient, sqlite_tl: Tierline
) -> None:
    assert client.post("/analyze").status == 401
    auth = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    assert client.post("/analyze", account="alice", headers=auth).status == 200
    assert sqlite_tl.usage.check("alice", "analyze").used == 0


def test_a_tier_without_the_feature_gets_the_feature_answer(
    client: WebClient, sqlite_tl: Tierline
) -> None:
    sqlite_tl.ensure_account("carol")
    sqlite_tl.assign_exempt("carol", "partner")
    reply = client.post("/analyze", account="carol")
    assert reply.status == 402
    assert reply.json()["reason"] == "feature_not_in_tier"
    assert reply.json()["feature"] == "analyze"


def test_the_settings_page_shows_usage_bars_with_the_reset_date_and_seats(
    client: WebClient, sqlite_tl: Tierline
) -> None:
    client.post("/analyze", account="kim")
    page = client.get("/billing/settings", account="kim").text
    _, attrs = element(page, "usage-bar-analyze")
    assert (attrs["max"], attrs["value"]) == ("2", "1")
    label = element(page, "usage")[0]
    assert "analyze: 1 of 2" in label
    assert "resets 2026-06-02 00:00 UTC" in label
    assert element(page, "seat-count")[0] == "Seats: 0 of 1 assigned"
