"""The catalog as code: what ``tierline.toml`` declares, as plain data.

Parsing and validation live in :mod:`tierline.catalog.config`; writing it to the database in
:mod:`tierline.catalog.service`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from tierline.catalog.models import LimitPeriod

#: Providers a tier may link to, by the key used in ``providers = {...}``.
KNOWN_PROVIDERS: tuple[str, ...] = ("stripe", "paddle", "polar", "whop", "lemonsqueezy", "fake")


@dataclass(frozen=True)
class LimitSpec:
    """A numeric limit: ``limit`` uses of a feature per ``period``."""

    limit: int
    period: LimitPeriod = LimitPeriod.NONE


@dataclass(frozen=True)
class TierSpec:
    """One ``[tiers.<key>]`` table."""

    key: str
    name: str
    description: str | None = None
    seats: int = 1
    customer_facing: bool = True
    exempt: bool = False
    fallback_price: str | None = None
    sort_order: int = 0
    features: tuple[str, ...] = ()
    limits: dict[str, LimitSpec] = field(default_factory=dict)
    #: provider name -> external keys (a Stripe lookup key may be monthly and yearly, say).
    providers: dict[str, tuple[str, ...]] = field(default_factory=dict)


class RewardRecipient(StrEnum):
    """Who gets the referral reward when the referred account first pays."""

    REFERRER = "referrer"
    REFERRED = "referred"
    BOTH = "both"


@dataclass(frozen=True)
class ReferralPolicy:
    """The ``[referrals]`` table: the reward applied once, on the first paid subscription."""

    reward_days: int = 0
    reward_to: RewardRecipient = RewardRecipient.BOTH
    #: A Stripe coupon id applied to the referred account's subscription, if any.
    stripe_coupon: str | None = None

    @property
    def enabled(self) -> bool:
        return self.reward_days > 0 or self.stripe_coupon is not None


@dataclass(frozen=True)
class Catalog:
    """A whole catalog file."""

    tiers: dict[str, TierSpec] = field(default_factory=dict)
    #: Feature keys declared in ``[features]`` (with optional display names).
    features: dict[str, str | None] = field(default_factory=dict)
    referrals: ReferralPolicy = field(default_factory=ReferralPolicy)
    #: ``[catalog] free_tier``: the tier an account without paid access falls back to
    #: (default: the tier keyed ``free``, if any). It must be exempt (no payment).
    free_tier: str | None = None
    #: ``[catalog] credit_tier``: the tier whose features a credit window grants (default: the
    #: paid, non-exempt tier with the highest sort order).
    credit_tier: str | None = None
