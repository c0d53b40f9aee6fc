"""Catalog use cases (skeleton)."""

from __future__ import annotations

from tierline.context import Context


class CatalogService:
    """Sync the catalog to the database and resolve provider keys to tiers."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
