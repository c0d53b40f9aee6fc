"""Usage periods: which period a moment falls in, and when it resets.

A period is identified by its start (an aware UTC datetime); the counter row of a new period is
a new row, so a reset needs no job. Periods:

- ``day``: from local midnight to the next, in ``usage_timezone`` (DST days are 23 or 25 h).
- ``month``, ``calendar`` alignment: from the 1st, local midnight, to the next 1st.
- ``month``, ``anniversary`` alignment: from one monthly anniversary of the subscription's
  period end to the next. The anchor is the active subscription's ``current_period_end`` (the
  renewal date); the period is that end stepped back (or forward) by whole months until it
  contains ``now``. A day of month the month lacks (the 31st, Feb 29) is held at the month's
  last day, as Stripe's billing cycle anchor does ("a monthly subscription with a billing
  cycle anchor date of January 31 bills the last day of the month closest to the anchor date,
  so February 28 (or February 29 in a leap year), then March 31, April 30":
  stripe.com/docs/subscriptions/billing-cycle).
- ``none``: one lifetime period starting at :data:`LIFETIME_START`, never reset.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo

from tierline.catalog.models import LimitPeriod

#: The start of the one period of a lifetime (``none``) limit.
LIFETIME_START = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class Period:
    """``[start, end)`` in UTC; ``end`` is ``None`` for a lifetime period."""

    start: datetime
    end: datetime | None


def period_at(
    period: str,
    now: datetime,
    zone: tzinfo,
    anchor: datetime | None = None,
) -> Period:
    """The period of kind ``period`` (``day``, ``month``, ``none``) containing ``now``.

    ``anchor`` (an aware datetime, e.g. the subscription's period end) aligns monthly periods
    to it instead of to the calendar month.

    Raises:
        ValueError: ``period`` is not one of ``day``, ``month``, ``none``.
    """
    kind = LimitPeriod(period)
    if kind is LimitPeriod.NONE:
        return Period(LIFETIME_START, None)
    local = now.astimezone(zone)
    if kind is LimitPeriod.DAY:
        start = _local(local.year, local.month, local.day, zone)
        following = local.date() + timedelta(days=1)
        end = _local(following.year, following.month, following.day, zone)
        return Period(start, end)
    if anchor is not None:
        return _anniversary(now, anchor)
    start = _local(local.year, local.month, 1, zone)
    year, month = _shift(local.year, local.month, 1)
    return Period(start, _local(year, month, 1, zone))


def _local(year: int, month: int, day: int, zone: tzinfo) -> datetime:
    """Local midnight of that day, in UTC."""
    return datetime(year, month, day, tzinfo=zone).astimezone(UTC)


def _shift(year: int, month: int, months: int) -> tuple[int, int]:
    index = year * 12 + (month - 1) + months
    return index // 12, index % 12 + 1


def add_months(moment: datetime, months: int, day: int | None = None) -> datetime:
    """``moment`` moved by whole months, its day of month (or ``day``) held at the month's end."""
    year, month = _shift(moment.year, moment.month, months)
    wanted = day if day is not None else moment.day
    return moment.replace(
        year=year, month=month, day=min(wanted, calendar.monthrange(year, month)[1])
    )


def _anniversary(now: datetime, anchor: datetime) -> Period:
    anchor = anchor.astimezone(UTC)
    now = now.astimezone(UTC)
    day = anchor.day
    # Whole months between the anchor and now, then adjust by one either way.
    months = (now.year - anchor.year) * 12 + (now.month - anchor.month)
    start = add_months(anchor, months, day)
    if start > now:
        months -= 1
        start = add_months(anchor, months, day)
    end = add_months(anchor, months + 1, day)
    if end <= now:  # not reachable with the day held, kept as a guard
        start, end = end, add_months(anchor, months + 2, day)
    return Period(start, end)
