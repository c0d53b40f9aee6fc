"""Access use cases (skeleton)."""

from __future__ import annotations

from tierline.catalog.spec import Catalog
from tierline.context import Context


class AccessService:
    """Decide what an account may do."""

    def __init__(self, ctx: Context, catalog: Catalog) -> None:
        self.ctx = ctx
        self.catalog = catalog
