"""Credit use cases (skeleton)."""

from __future__ import annotations

from tierline.context import Context


class CreditService:
    """Grant, revoke and list time-boxed credits."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
