"""Referral use cases: codes, attribution, stats and conversion (being written)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from tierline.catalog.spec import ReferralPolicy
from tierline.context import Context
from tierline.credits.service import CreditService


@dataclass(frozen=True)
class ReferralInfo:
    """One referral as callers see it."""

    id: int
    referrer_ref: str
    referred_ref: str
    code: str
    created_at: datetime
    converted_at: datetime | None
    credited_at: datetime | None


@dataclass(frozen=True)
class ReferralStats:
    """An account's referral figures, for the settings page and the CLI."""

    code: str | None
    pending: int
    converted: int
    credited: int
    #: The account's own credit grants active now (from referrals or admins).
    active_credits: int


class ReferralService:
    """Referral codes, attribution, stats and conversion."""

    def __init__(self, ctx: Context, credits: CreditService, policy: ReferralPolicy) -> None:
        self.ctx = ctx
        self.credits = credits
        self.policy = policy
