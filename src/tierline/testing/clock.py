"""A clock tests can move: pass it as ``Tierline(clock=...)``."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

#: Where a :class:`FrozenClock` starts unless told otherwise.
DEFAULT_START = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


class FrozenClock:
    """Returns a fixed aware UTC time until moved with :meth:`advance` or :meth:`set`.

    Tierline reads "now" only through its clock (access expiry, trials, grace periods, credit
    expiry, and the providers' signature-timestamp tolerance), so moving this clock moves time
    for everything a :class:`~tierline.Tierline` built with it decides.
    """

    def __init__(self, now: datetime | None = None) -> None:
        if now is not None and now.tzinfo is None:
            raise ValueError(f"FrozenClock needs an aware datetime, got naive {now.isoformat()}")
        self.now = now or DEFAULT_START

    def __call__(self) -> datetime:
        return self.now

    def advance(
        self,
        *,
        weeks: float = 0,
        days: float = 0,
        hours: float = 0,
        minutes: float = 0,
        seconds: float = 0,
        milliseconds: float = 0,
        microseconds: float = 0,
    ) -> datetime:
        """Move the clock forward (a negative amount moves it back); returns the new time.

        The amounts are those of :class:`datetime.timedelta`, down to microseconds, so a test
        can stand exactly at a boundary or one microsecond either side of it.
        """
        self.now = self.now + timedelta(
            weeks=weeks,
            days=days,
            hours=hours,
            minutes=minutes,
            seconds=seconds,
            milliseconds=milliseconds,
            microseconds=microseconds,
        )
        return self.now

    def set(self, now: datetime) -> None:
        """Jump to ``now`` (an aware datetime)."""
        if now.tzinfo is None:
            raise ValueError(f"FrozenClock needs an aware datetime, got naive {now.isoformat()}")
        self.now = now

    def timestamp(self) -> float:
        """The clock's time as unix seconds (what providers put in payloads and signatures)."""
        return self.now.timestamp()
