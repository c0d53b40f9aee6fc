"""The webhook inbox (skeleton)."""

from __future__ import annotations

from tierline.catalog.service import CatalogService
from tierline.context import Context
from tierline.referrals.service import ReferralService


class Inbox:
    """Verify, claim, apply and mark webhooks exactly once."""

    def __init__(self, ctx: Context, catalog: CatalogService, referrals: ReferralService) -> None:
        self.ctx = ctx
        self.catalog = catalog
        self.referrals = referrals
