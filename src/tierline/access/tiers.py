"""Tier definitions (features, limits, seats) held in memory, so ``status()`` never joins them.

The snapshot also holds every provider link, which is how the webhook inbox maps a provider's
keys to a tier. It is reloaded when the access cache is cleared (a catalog sync through this
process does that: :attr:`TTLCache.generation` changes), when a subscription names a tier id
(or the inbox a provider key) the snapshot does not know, and otherwise at most every
:data:`REFRESH_SECONDS`, which bounds how long a catalog change made by another process takes
to be seen.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from sqlalchemy import Engine, select

from tierline.access.cache import TTLCache
from tierline.access.rules import TierFacts
from tierline.access.status import AccessStatus, LimitInfo, ReadOnlyDict, read_only
from tierline.catalog.models import Feature, LimitPeriod, Tier, TierFeature, TierProviderLink
from tierline.catalog.spec import Catalog

#: Longest time a tier definition changed by another process may be served stale.
REFRESH_SECONDS = 5.0

FREE_TIER_KEY = "free"
#: Where a tier's features come from in a status: its own tier, or a credit's.
STATUS_SOURCES = ("tier", "credit_tier")


@dataclass(frozen=True)
class TierData:
    """One tier, as status() hands it out."""

    id: int
    key: str
    seats: int
    sort_order: int
    exempt: bool
    retired: bool
    features: frozenset[str] = frozenset()
    #: Shared by every status of this tier (read-only).
    limits: ReadOnlyDict[str, LimitInfo] = field(default_factory=ReadOnlyDict)
    #: By source (``tier``, ``credit_tier``): where each feature and each limit comes from,
    #: shared by every status of this tier (read-only).
    sources: dict[str, tuple[ReadOnlyDict[str, str], ReadOnlyDict[str, str]]] = field(
        default_factory=dict
    )

    def __post_init__(self) -> None:
        object.__setattr__(self, "limits", read_only(self.limits))
        object.__setattr__(
            self,
            "sources",
            {
                source: (
                    ReadOnlyDict(dict.fromkeys(self.features, source)),
                    ReadOnlyDict(dict.fromkeys(self.limits, source)),
                )
                for source in STATUS_SOURCES
            },
        )

    @property
    def facts(self) -> TierFacts:
        return TierFacts(exempt=self.exempt, sort_order=self.sort_order)


@dataclass(frozen=True)
class TierSnapshot:
    """Every tier by id, plus the two the catalog names by role."""

    by_id: dict[int, TierData]
    facts: dict[int, TierFacts]
    #: Where an account without paid access lands (None: no free tier).
    free: TierData | None
    #: Whose features a credit grants (None: no tier to take them from).
    credit: TierData | None
    #: (provider, external key) -> tier id: the catalog's provider links, for the inbox.
    links: dict[tuple[str, str], int] = field(default_factory=dict)
    #: Features some tier limits over the account's lifetime (period ``none``).
    lifetime_features: frozenset[str] = frozenset()

    def tier_for_link(self, provider: str, keys: Sequence[str]) -> TierData | None:
        """The tier linked to the first of ``keys`` a provider link knows, or ``None``."""
        for key in keys:
            tier_id = self.links.get((provider, key))
            if tier_id is not None:
                return self.by_id.get(tier_id)
        return None


def load_snapshot(engine: Engine, catalog: Catalog) -> TierSnapshot:
    """Read every tier with its features, limits and provider links (three small queries)."""
    with engine.connect() as conn:
        tier_rows = conn.execute(
            select(Tier.id, Tier.key, Tier.seats, Tier.sort_order, Tier.exempt, Tier.retired)
        ).all()
        feature_rows = conn.execute(
            select(
                TierFeature.tier_id, Feature.key, TierFeature.limit_value, TierFeature.period
            ).join(Feature, Feature.id == TierFeature.feature_id)
        ).all()
        link_rows = conn.execute(
            select(
                TierProviderLink.provider, TierProviderLink.external_key, TierProviderLink.tier_id
            )
        ).all()
    features: dict[int, set[str]] = {}
    limits: dict[int, dict[str, LimitInfo]] = {}
    for tier_id, key, limit_value, period in feature_rows:
        features.setdefault(tier_id, set()).add(key)
        if limit_value is not None:
            limits.setdefault(tier_id, {})[key] = LimitInfo(key, limit_value, period)
    by_id = {
        row.id: TierData(
            id=row.id,
            key=row.key,
            seats=row.seats,
            sort_order=row.sort_order,
            exempt=bool(row.exempt),
            retired=bool(row.retired),
            features=frozenset(features.get(row.id, ())),
            limits=ReadOnlyDict(limits.get(row.id, {})),
        )
        for row in tier_rows
    }
    by_key = {tier.key: tier for tier in by_id.values()}
    free = by_key.get(catalog.free_tier or FREE_TIER_KEY)
    credit = by_key.get(catalog.credit_tier) if catalog.credit_tier else None
    if credit is None:
        # The paid tier at the top of the ladder; live tiers before retired ones.
        paid = [t for t in by_id.values() if not t.exempt]
        paid.sort(key=lambda t: (not t.retired, t.sort_order, -t.id))
        credit = paid[-1] if paid else None
    return TierSnapshot(
        by_id=by_id,
        facts={tier_id: tier.facts for tier_id, tier in by_id.items()},
        free=free,
        credit=credit,
        links={(provider, key): tier_id for provider, key, tier_id in link_rows},
        lifetime_features=frozenset(
            key
            for tier_limits in limits.values()
            for key, info in tier_limits.items()
            if info.period == LimitPeriod.NONE.value
        ),
    )


class TierCache:
    """The current :class:`TierSnapshot`, reloaded as the module docstring says."""

    def __init__(
        self,
        engine: Engine,
        catalog: Catalog,
        access_cache: TTLCache[AccessStatus],
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._engine = engine
        self._catalog = catalog
        self._access_cache = access_cache
        self._clock = clock
        self._lock = threading.Lock()
        #: The snapshot loaded last (None before the first), not checked for age.
        self.last: TierSnapshot | None = None
        self._generation = -1
        self._loaded_at = 0.0

    def get(self) -> TierSnapshot:
        """The snapshot, reloaded first if stale."""
        snapshot = self.last
        if (
            snapshot is None
            or self._generation != self._access_cache.generation
            or self._clock() - self._loaded_at > REFRESH_SECONDS
        ):
            return self.reload()
        return snapshot

    def reload(self) -> TierSnapshot:
        """Read the tiers again now."""
        with self._lock:
            generation = self._access_cache.generation
            snapshot = load_snapshot(self._engine, self._catalog)
            self.last = snapshot
            self._generation = generation
            self._loaded_at = self._clock()
            return snapshot
