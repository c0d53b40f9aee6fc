"""Referral use cases (skeleton)."""

from __future__ import annotations

from tierline.catalog.spec import ReferralPolicy
from tierline.context import Context
from tierline.credits.service import CreditService


class ReferralService:
    """Referral codes, attribution, stats and conversion."""

    def __init__(self, ctx: Context, credits: CreditService, policy: ReferralPolicy) -> None:
        self.ctx = ctx
        self.credits = credits
        self.policy = policy
