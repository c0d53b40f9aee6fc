"""The answer of ``check()``, ``track()`` and ``release()``: :class:`UsageDecision`."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any


class UsageReason(StrEnum):
    """Why a use is refused (the ``reason`` of the gate's 402)."""

    QUOTA_EXCEEDED = "quota_exceeded"
    FEATURE_NOT_IN_TIER = "feature_not_in_tier"


@dataclass(frozen=True)
class UsageDecision:
    """Whether ``amount`` more uses of ``feature`` fit, and the counter of the current period.

    ``limit`` and ``remaining`` are ``None`` for an unlimited feature (it still counts);
    ``resets_at`` is when the next period starts (``None`` for a lifetime limit); ``used`` is
    the count after the call (a refused ``track()`` changes nothing). ``duplicate`` is True
    when ``track()`` was given an idempotency key it had already counted (nothing more was).
    """

    allowed: bool
    feature: str
    used: int
    limit: int | None
    remaining: int | None
    resets_at: datetime | None
    reason: UsageReason | None = None
    period: str = "none"
    period_start: datetime | None = None
    duplicate: bool = False

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (``tierline usage ... --json`` and 402 bodies)."""
        return {
            "allowed": self.allowed,
            "feature": self.feature,
            "used": self.used,
            "limit": self.limit,
            "remaining": self.remaining,
            "period": self.period,
            "period_start": self.period_start.isoformat() if self.period_start else None,
            "resets_at": self.resets_at.isoformat() if self.resets_at else None,
            "reason": self.reason.value if self.reason else None,
            "duplicate": self.duplicate,
        }
