"""Functions run in worker processes by the exactness tests (importable by ``spawn``)."""

from __future__ import annotations

from tierline import Tierline, TierlineSettings
from tierline.catalog.spec import Catalog


def track_until_refused(url: str, ref: str, feature: str) -> int:
    """Track one use at a time until refused; how many were counted."""
    settings = TierlineSettings(database_url=url)
    with Tierline(settings=settings, catalog=Catalog(free_tier="free")) as tl:
        counted = 0
        while tl.usage.track(ref, feature).allowed:
            counted += 1
        return counted


def assign_until_refused(url: str, ref: str, prefix: str, tries: int) -> int:
    """Assign members ``prefix-0``... until refused (or ``tries``); how many got a seat."""
    from tierline.errors import SeatsExhaustedError

    settings = TierlineSettings(database_url=url)
    with Tierline(settings=settings, catalog=Catalog(free_tier="free")) as tl:
        for n in range(tries):
            try:
                tl.seats.assign(ref, f"{prefix}-{n}")
            except SeatsExhaustedError:
                return n
        return tries
