"""Claims at their exact instants, on every dialect: a lease ends at ``locked_until`` itself,
a take-over grants a fresh lease from its own moment, and the attempt number fences."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.engine import URL

from tierline import db
from tierline.billing import claims
from tierline.billing.claims import Claim, Refused
from tierline.billing.models import Event, EventStatus

T0 = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
LEASE = timedelta(seconds=60)
US = timedelta(microseconds=1)


@pytest.fixture
def engine(db_url: URL) -> Iterator[Engine]:
    engine = db.make_engine(db_url)
    yield engine
    engine.dispose()


def _insert(
    engine, status: EventStatus = EventStatus.PROCESSING, error: str | None = None
) -> Claim:
    with engine.begin() as conn:
        claim = claims.insert_claim(
            conn,
            provider="fake",
            external_id="evt_lease",
            event_type="subscription.created",
            occurred_at=None,
            payload="{}",
            now=T0,
            lease=LEASE,
            status=status,
            error=error,
        )
    assert claim is not None and claim.attempt == 1
    return claim


def _take(engine: Engine, at: datetime) -> Claim | Refused | None:
    with engine.begin() as conn:
        return claims.take_over(conn, now=at, lease=LEASE, provider="fake", external_id="evt_lease")


def _row(engine: Engine) -> Any:
    with engine.connect() as conn:
        return conn.execute(select(Event.__table__)).one()


@pytest.mark.parametrize(
    ("offset", "taken"),
    [(-US, False), (timedelta(0), False), (US, True)],
    ids=["before", "at", "after"],
)
def test_a_lease_ends_after_its_exact_instant(
    engine: Engine, offset: timedelta, taken: bool
) -> None:
    _insert(engine)
    result = _take(engine, T0 + LEASE + offset)
    if taken:
        assert (
            result == Claim(row_id=result.row_id, attempt=2) if isinstance(result, Claim) else False
        )
        # The take-over's own lease runs from its moment.
        assert _row(engine).locked_until == T0 + LEASE + offset + LEASE
    else:
        assert isinstance(result, Refused) and result.status is EventStatus.PROCESSING
        assert _row(engine).attempts == 1


def test_a_take_over_grants_a_full_lease_of_its_own(engine: Engine) -> None:
    _insert(engine)
    moment = T0 + LEASE + US
    assert isinstance(_take(engine, moment), Claim)
    assert isinstance(_take(engine, moment + LEASE), Refused)  # at its end: still held
    third = _take(engine, moment + LEASE + US)
    assert isinstance(third, Claim) and third.attempt == 3


def test_failed_and_unmapped_events_are_taken_at_once(engine: Engine) -> None:
    _insert(engine, EventStatus.FAILED, error="boom\n  at line 2")
    row = _row(engine)
    assert (row.status, row.processed_at, row.locked_until) == ("failed", None, None)
    assert row.last_error == "boom at line 2"
    assert isinstance(_take(engine, T0), Claim)


def test_an_event_is_taken_over_by_its_row_id(engine: Engine) -> None:
    inserted = _insert(engine, EventStatus.FAILED, error="boom")
    with engine.begin() as conn:
        taken = claims.take_over(conn, now=T0, lease=LEASE, row_id=inserted.row_id)
        assert taken == Claim(row_id=inserted.row_id, attempt=2)
        refused = claims.take_over(conn, now=T0, lease=LEASE, row_id=inserted.row_id)
        assert refused == Refused(row_id=inserted.row_id, status=EventStatus.PROCESSING)
    assert _row(engine).locked_until == T0 + LEASE


def test_a_final_event_is_refused_and_unknown_is_none(engine: Engine) -> None:
    _insert(engine, EventStatus.PROCESSED)
    row = _row(engine)
    assert (row.processed_at, row.locked_until) == (T0, None)
    refused = _take(engine, T0 + LEASE * 10)
    assert refused == Refused(row_id=row.id, status=EventStatus.PROCESSED)
    with engine.begin() as conn:
        assert claims.take_over(conn, now=T0, lease=LEASE, row_id=999_999) is None


def test_mark_is_fenced_by_the_attempt(engine: Engine) -> None:
    first = _insert(engine)
    second = _take(engine, T0 + LEASE + US)
    assert isinstance(second, Claim)
    with engine.begin() as conn:
        assert not claims.mark(conn, first, EventStatus.PROCESSED, now=T0)
        assert claims.mark(conn, second, EventStatus.PROCESSED, now=T0 + LEASE)
    row = _row(engine)
    assert (row.status, row.processed_at, row.locked_until) == ("processed", T0 + LEASE, None)


def test_mark_records_a_failure_on_one_line_and_releases_the_lease(engine: Engine) -> None:
    claim = _insert(engine)
    with engine.begin() as conn:
        assert claims.mark(conn, claim, EventStatus.FAILED, now=T0, error="boom\n  at line 2")
    row = _row(engine)
    assert (row.status, row.processed_at, row.locked_until) == ("failed", None, None)
    assert row.last_error == "boom at line 2"


def test_restate_changes_the_outcome_marked_in_the_same_transaction(engine: Engine) -> None:
    claim = _insert(engine)
    with engine.begin() as conn:
        assert claims.mark(conn, claim, EventStatus.PROCESSED, now=T0)
        claims.restate(conn, claim, EventStatus.FAILED, now=T0, error="kept\nback")
    row = _row(engine)
    assert (row.status, row.processed_at, row.last_error) == ("failed", None, "kept back")
    with engine.begin() as conn:
        claims.restate(conn, claim, EventStatus.IGNORED, now=T0 + LEASE, error=None)
    row = _row(engine)
    assert (row.status, row.processed_at, row.last_error) == ("ignored", T0 + LEASE, None)
    assert row.attempts == 1


def test_restate_of_a_lost_claim_changes_nothing(engine: Engine) -> None:
    first = _insert(engine)
    second = _take(engine, T0 + LEASE + US)
    assert isinstance(second, Claim)
    with engine.begin() as conn:
        claims.restate(conn, first, EventStatus.IGNORED, now=T0, error="late")
    row = _row(engine)
    assert (row.status, row.attempts, row.last_error) == ("processing", 2, None)


@pytest.mark.parametrize(
    ("status", "provider", "waiting"),
    [
        (EventStatus.UNMAPPED, "fake", True),
        (EventStatus.UNMAPPED, "stripe", False),
        (EventStatus.FAILED, "fake", False),
        (None, "fake", False),
    ],
)
def test_any_unmapped_names_only_unmapped_events_of_the_provider(
    engine: Engine, status: EventStatus | None, provider: str, waiting: bool
) -> None:
    if status is not None:
        _insert(engine, status)
    with engine.connect() as conn:
        assert claims.any_unmapped(conn, provider) is waiting


def test_one_line_folds_and_cuts() -> None:
    assert claims.one_line(" a\n\tb  c ") == "a b c"
    exact = "x" * claims.MAX_ERROR_LENGTH
    assert claims.one_line(exact) == exact
    cut = claims.one_line(exact + "y")
    assert len(cut) == claims.MAX_ERROR_LENGTH and cut.endswith("...")
