"""Access use cases (skeleton)."""

from __future__ import annotations

from tierline.context import Context


class AccessService:
    """Decide what an account may do."""

    def __init__(self, ctx: Context, *, free_tier: str | None = None) -> None:
        self.ctx = ctx
        self.free_tier = free_tier
