"""Catalog use cases: sync the declared catalog to the database, list tiers (being written)."""

from __future__ import annotations

from dataclasses import dataclass, field

from tierline.context import Context


@dataclass(frozen=True)
class SyncReport:
    """What a catalog sync changed (or, in a dry run, would change), one line per change."""

    changes: list[str] = field(default_factory=list)
    dry_run: bool = False

    @property
    def changed(self) -> bool:
        return bool(self.changes)


class CatalogService:
    """Sync the catalog to the database and resolve provider keys to tiers."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
