"""Usage periods: calendar days and months in UTC and other time zones, anniversaries."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from tierline.usage.periods import LIFETIME_START, Period, add_months, period_at

UTC_ZONE = ZoneInfo("UTC")


def at(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)  # type: ignore[misc]


def test_a_day_runs_from_midnight_to_midnight() -> None:
    assert period_at("day", at(2026, 6, 1, 12), UTC_ZONE) == Period(at(2026, 6, 1), at(2026, 6, 2))


def test_a_month_ends_at_the_first_of_the_next() -> None:
    last_moment = at(2026, 1, 31, 23, 59, 59, 999999)
    assert period_at("month", last_moment, UTC_ZONE) == Period(at(2026, 1, 1), at(2026, 2, 1))
    assert period_at("month", at(2026, 2, 1), UTC_ZONE) == Period(at(2026, 2, 1), at(2026, 3, 1))
    assert period_at("month", at(2026, 12, 31, 23), UTC_ZONE) == Period(
        at(2026, 12, 1), at(2027, 1, 1)
    )


def test_leap_day_is_a_day_of_its_own_and_february_has_29() -> None:
    assert period_at("day", at(2028, 2, 29, 8), UTC_ZONE) == Period(at(2028, 2, 29), at(2028, 3, 1))
    assert period_at("month", at(2028, 2, 29, 8), UTC_ZONE) == Period(
        at(2028, 2, 1), at(2028, 3, 1)
    )


def test_a_month_in_another_time_zone_starts_at_its_local_midnight() -> None:
    new_york = ZoneInfo("America/New_York")
    # 03:00 UTC on March 1st is still February 28th, 22:00 in New York (EST, UTC-5).
    assert period_at("month", at(2026, 3, 1, 3), new_york) == Period(
        at(2026, 2, 1, 5), at(2026, 3, 1, 5)
    )


def test_a_daylight_saving_day_is_23_hours_long() -> None:
    paris = ZoneInfo("Europe/Paris")
    period = period_at("day", at(2026, 3, 29, 12), paris)
    assert period == Period(at(2026, 3, 28, 23), at(2026, 3, 29, 22))


def test_anniversary_months_follow_the_subscription_period_end() -> None:
    anchor = at(2026, 7, 15, 10)
    assert period_at("month", at(2026, 6, 20), UTC_ZONE, anchor) == Period(
        at(2026, 6, 15, 10), at(2026, 7, 15, 10)
    )
    # Exactly at an anniversary a new period starts.
    assert period_at("month", at(2026, 6, 15, 10), UTC_ZONE, anchor).start == at(2026, 6, 15, 10)
    # A period end already past (a renewal not yet reported) still aligns.
    assert period_at("month", at(2026, 9, 20), UTC_ZONE, anchor) == Period(
        at(2026, 9, 15, 10), at(2026, 10, 15, 10)
    )


def test_an_anniversary_on_the_31st_is_held_at_the_last_day_of_shorter_months() -> None:
    anchor = at(2026, 3, 31)
    assert period_at("month", at(2026, 2, 15), UTC_ZONE, anchor) == Period(
        at(2026, 1, 31), at(2026, 2, 28)
    )
    assert period_at("month", at(2026, 3, 1), UTC_ZONE, anchor) == Period(
        at(2026, 2, 28), at(2026, 3, 31)
    )
    assert period_at("month", at(2028, 3, 1), UTC_ZONE, at(2028, 3, 31)).start == at(2028, 2, 29)
    assert add_months(at(2028, 1, 31), 1) == at(2028, 2, 29)


def test_anniversary_months_count_across_years_and_far_from_the_anchor_day() -> None:
    assert period_at("month", at(2026, 3, 10), UTC_ZONE, at(2025, 11, 5, 10)) == Period(
        at(2026, 3, 5, 10), at(2026, 4, 5, 10)
    )
    assert period_at("month", at(2026, 3, 10), UTC_ZONE, at(2024, 11, 5, 10)) == Period(
        at(2026, 3, 5, 10), at(2026, 4, 5, 10)
    )
    assert period_at("month", at(2026, 12, 20), UTC_ZONE, at(2026, 1, 5)) == Period(
        at(2026, 12, 5), at(2027, 1, 5)
    )


def test_add_months_crosses_years_and_holds_the_given_day() -> None:
    assert add_months(at(2025, 12, 15), 1) == at(2026, 1, 15)
    assert add_months(at(2026, 1, 15), -1) == at(2025, 12, 15)
    assert add_months(at(2026, 2, 28), 1, day=31) == at(2026, 3, 31)


def test_a_day_limit_ignores_the_anniversary() -> None:
    assert period_at("day", at(2026, 6, 1, 12), UTC_ZONE, at(2026, 6, 15, 10)) == Period(
        at(2026, 6, 1), at(2026, 6, 2)
    )


def test_lifetime_has_one_period_that_never_resets() -> None:
    assert period_at("none", at(2026, 6, 1), UTC_ZONE) == Period(LIFETIME_START, None)
    assert period_at("none", at(2099, 1, 1), UTC_ZONE) == Period(LIFETIME_START, None)


def test_an_unknown_period_is_refused() -> None:
    with pytest.raises(ValueError, match="week"):
        period_at("week", at(2026, 6, 1), UTC_ZONE)
