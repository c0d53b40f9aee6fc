"""The webhook cases of ``tests/fixtures/cases``: load, shift to a clock, sign, and expect.

A case's payloads were recorded at ``sequence.json``'s ``base_time``; every unix timestamp
(Stripe) or RFC 3339 timestamp (Paddle) within 400 days of it is shifted by ``now - base_time``
so the sequence means at ``now`` what it meant when recorded.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from tierline import Tierline
from tierline.access.status import AccessSource, DenialReason

from .inbox_helpers import signed

CASES_DIR = Path(__file__).resolve().parent.parent / "fixtures" / "cases"
CATALOG = CASES_DIR / "catalog.toml"
ACCOUNT = "acct-1"
_ISO = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$")
_WINDOW = 400 * 86400


@dataclass(frozen=True)
class Delivery:
    """One step of a case: a provider and a payload (still at the recorded time)."""

    provider: str
    file: str
    payload: dict[str, Any]


@dataclass(frozen=True)
class Case:
    name: str
    base_time: int
    deliveries: tuple[Delivery, ...]

    def shifted(self, delivery: Delivery, now: datetime) -> dict[str, Any]:
        """The delivery's payload with its timestamps moved to ``now``."""
        shifted: dict[str, Any] = shift(delivery.payload, self.delta(now), self.base_time)
        return shifted

    def delta(self, now: datetime) -> int:
        return int(now.timestamp()) - self.base_time

    def at(self, recorded: int, now: datetime) -> datetime:
        """A recorded unix time of the case, shifted to ``now``'s frame."""
        return datetime.fromtimestamp(recorded + self.delta(now), UTC)


def shift(obj: Any, delta: int, base: int) -> Any:
    """``obj`` with every timestamp near ``base`` moved by ``delta`` seconds."""
    if isinstance(obj, dict):
        return {key: shift(value, delta, base) for key, value in obj.items()}
    if isinstance(obj, list):
        return [shift(value, delta, base) for value in obj]
    if isinstance(obj, int) and not isinstance(obj, bool) and abs(obj - base) < _WINDOW:
        return obj + delta
    if isinstance(obj, str) and _ISO.match(obj):
        moved = datetime.fromisoformat(obj.replace("Z", "+00:00")) + timedelta(seconds=delta)
        return moved.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return obj


def load_case(name: str) -> Case:
    folder = CASES_DIR / name
    sequence = json.loads((folder / "sequence.json").read_text())
    deliveries = tuple(
        Delivery(step["provider"], step["file"], json.loads((folder / step["file"]).read_text()))
        for step in sequence["steps"]
        if step["op"] == "ingest"
    )
    return Case(name, int(sequence["base_time"]), deliveries)


def deliver_case(tl: Tierline, case: Case, order: list[int] | None = None) -> list[Any]:
    """Sign and ingest the case's deliveries (in ``order`` of indexes) at the Tierline's clock."""
    now = tl.ctx.clock()
    results = []
    for index in order if order is not None else range(len(case.deliveries)):
        delivery = case.deliveries[index]
        headers, body = signed(delivery.provider, case.shifted(delivery, now), now)
        results.append(tl.ingest(delivery.provider, headers, body))
    return results


@dataclass(frozen=True)
class Expected:
    """What ``status(acct-1)`` and the subscription row must show after the whole case.

    Times are the case's recorded unix times (shifted when checked); ``grace_days`` is added to
    ``expires_at`` when set.
    """

    active: bool
    source: AccessSource
    tier: str
    status: str
    expires_at: int | None = None
    grace_days: int = 0
    reason: DenialReason | None = None
    seats: int = 1
    quantity: int = 1
    #: (event file, text its stored ``last_error`` must contain) checks.
    warnings: dict[str, str] = field(default_factory=dict)


#: Each case's EXPECTED line of its README.txt.
EXPECTED: dict[str, Expected] = {
    # Active until T+5d: expires_at = cancel_at, not the period end T+30d.
    "stripe-cancel-at-date-ignored": Expected(
        True, AccessSource.SUBSCRIPTION, "pro", "active", expires_at=1796396056
    ),
    # sub_A canceled and acct-1 loses paid access; the stored tier is kept, with a warning.
    "stripe-lookup-key-transferred-cancel-unmapped": Expected(
        False,
        AccessSource.FREE,
        "free",
        "canceled",
        reason=DenialReason.CANCELED,
        warnings={"02-stripe-deleted-no-lookup-key.json": "price unmapped"},
    ),
    # Tier team, quantity 4 -> seats 5 x 4 = 20; the period end of the plan item (T+300d).
    "stripe-multi-item-quantity-and-period-from-first-item": Expected(
        True,
        AccessSource.SUBSCRIPTION,
        "team",
        "active",
        expires_at=1821884056,
        seats=20,
        quantity=4,
    ),
    # Grace of 3 days from the failure (the past_due snapshot at T-1h+100s), not T+33d.
    "stripe-past-due-grace-covers-unpaid-period": Expected(
        True, AccessSource.GRACE, "pro", "past_due", expires_at=1795960556, grace_days=3
    ),
    # The late `created` (incomplete) of the same second does not overwrite `updated` (active).
    "stripe-same-second-incomplete-overwrites-active": Expected(
        True, AccessSource.SUBSCRIPTION, "pro", "active", expires_at=1798556056
    ),
}
CASE_NAMES = sorted(EXPECTED)


def expected_expiry(case: Case, expected: Expected, now: datetime) -> datetime | None:
    if expected.expires_at is None:
        return None
    return case.at(expected.expires_at, now) + timedelta(days=expected.grace_days)
