"""The pure parts: credit windows, and reading from a database that was never migrated."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from tierline.access.rules import GrantFacts, credit_window
from tierline.errors import DatabaseError

from ..clock import FrozenClock
from .seed import tierline_on

NOW = datetime(2026, 6, 1, tzinfo=UTC)


def window(start_days: float, end_days: float) -> GrantFacts:
    return GrantFacts(NOW + timedelta(days=start_days), NOW + timedelta(days=end_days))


@pytest.mark.parametrize(
    ("grants", "end_days", "had_expired"),
    [
        ([], None, False),
        ([window(-5, -1)], None, True),
        ([window(1, 3)], None, False),  # starts later: not active yet
        ([window(-1, 2)], 2, False),
        ([window(-1, 2), window(2, 4), window(4, 9)], 9, False),  # touching windows chain
        ([window(-1, 2), window(3, 4)], 2, False),  # a gap stops the chain
        ([window(-9, -2), window(-1, 6), window(0, 3)], 6, True),
    ],
)
def test_credit_window(grants: list[GrantFacts], end_days: float | None, had_expired: bool) -> None:
    end, expired = credit_window(grants, NOW)
    assert end == (None if end_days is None else NOW + timedelta(days=end_days))
    assert expired is had_expired


def test_status_on_an_unmigrated_database_says_so(tmp_path: Path) -> None:
    tl = tierline_on(make_url(f"sqlite:///{tmp_path / 'empty.db'}"), FrozenClock())
    try:
        with pytest.raises(DatabaseError, match="is the database migrated"):
            tl.status("x")
    finally:
        tl.close()
