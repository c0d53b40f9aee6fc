"""Every override held in memory, applied to each computed ``status()`` without a query.

Overrides are an admin's exceptions, few by nature, so the whole table is one small read. The
snapshot is reloaded by :class:`~tierline.overrides.service.OverrideService` after each change
made in this process, when the access cache is cleared, and otherwise at most every
:data:`REFRESH_SECONDS` (how long a change made by another process can take to be seen; the
same bound as tier definitions, :data:`tierline.access.tiers.REFRESH_SECONDS`).
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from contextlib import nullcontext
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, Engine, select

from tierline.access.cache import TTLCache
from tierline.access.status import AccessStatus, LimitInfo
from tierline.accounts.models import Account
from tierline.overrides.models import Override

REFRESH_SECONDS = 5.0
OVERRIDE_SOURCE = "override"


@dataclass(frozen=True, slots=True)
class OverrideFacts:
    """What applying an override needs."""

    feature: str
    enabled: bool
    limit: int | None
    period: str | None
    expires_at: datetime | None

    def active(self, now: datetime) -> bool:
        return self.expires_at is None or self.expires_at > now


def apply_overrides(
    status: AccessStatus, overrides: Sequence[OverrideFacts], now: datetime
) -> AccessStatus:
    """``status`` with the account's unexpired overrides applied, sources marked ``override``.

    An enabled override grants the feature (and, with a limit, replaces the tier's limit; its
    period defaults to the tier's, else ``none``); a disabled one removes the feature.
    """
    live = [o for o in overrides if o.active(now)]
    if not live:
        return status
    features = set(status.features)
    limits = dict(status.limits)
    feature_sources = dict(status.feature_sources)
    limit_sources = dict(status.limit_sources)
    for o in live:
        if not o.enabled:
            features.discard(o.feature)
            limits.pop(o.feature, None)
            feature_sources.pop(o.feature, None)
            limit_sources.pop(o.feature, None)
            continue
        features.add(o.feature)
        feature_sources[o.feature] = OVERRIDE_SOURCE
        if o.limit is not None:
            base = limits.get(o.feature)
            period = o.period or (base.period if base is not None else "none")
            limits[o.feature] = LimitInfo(o.feature, o.limit, period)
            limit_sources[o.feature] = OVERRIDE_SOURCE
    return dataclasses.replace(
        status,
        features=frozenset(features),
        limits=limits,
        feature_sources=feature_sources,
        limit_sources=limit_sources,
    )


_FACTS = select(
    Account.ref,
    Override.feature,
    Override.enabled,
    Override.limit_value,
    Override.period,
    Override.expires_at,
).join(Account, Account.id == Override.account_id)


def load_overrides(
    engine: Engine, *, conn: Connection | None = None, ref: str | None = None
) -> dict[str, tuple[OverrideFacts, ...]]:
    """Every override (of account ``ref`` only, when given), by account ref; read on ``conn``
    (an open transaction) when given."""
    statement = _FACTS if ref is None else _FACTS.where(Account.ref == ref)
    found: dict[str, list[OverrideFacts]] = {}
    with nullcontext(conn) if conn is not None else engine.connect() as reader:
        for row_ref, feature, enabled, limit, period, expires_at in reader.execute(statement):
            found.setdefault(row_ref, []).append(
                OverrideFacts(feature, bool(enabled), limit, period, expires_at)
            )
    return {row_ref: tuple(rows) for row_ref, rows in found.items()}


class OverrideSnapshot:
    """The current overrides by account ref, reloaded as the module docstring says."""

    def __init__(
        self,
        engine: Engine,
        access_cache: TTLCache[AccessStatus],
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._engine = engine
        self._access_cache = access_cache
        self._clock = clock
        self._lock = threading.Lock()
        self._by_ref: Mapping[str, tuple[OverrideFacts, ...]] | None = None
        self._generation = -1
        self._loaded_at = 0.0

    def get(self) -> Mapping[str, tuple[OverrideFacts, ...]]:
        by_ref = self._by_ref
        if (
            by_ref is None
            or self._generation != self._access_cache.generation
            or self._clock() - self._loaded_at > REFRESH_SECONDS
        ):
            return self.reload()
        return by_ref

    def reload(self) -> Mapping[str, tuple[OverrideFacts, ...]]:
        with self._lock:
            generation = self._access_cache.generation
            by_ref = load_overrides(self._engine)
            self._by_ref, self._generation, self._loaded_at = by_ref, generation, self._clock()
            return by_ref

    def adjust(self, status: AccessStatus, now: datetime) -> AccessStatus:
        """``status`` with its account's overrides applied (the hook of ``status()``)."""
        overrides = self.get().get(status.account_ref)
        return apply_overrides(status, overrides, now) if overrides else status

    def adjust_in(self, conn: Connection, status: AccessStatus, now: datetime) -> AccessStatus:
        """:meth:`adjust` with the account's overrides as ``conn``'s transaction sees them."""
        ref = status.account_ref
        overrides = load_overrides(self._engine, conn=conn, ref=ref).get(ref)
        return apply_overrides(status, overrides, now) if overrides else status
