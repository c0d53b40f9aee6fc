"""Imports every model so that ``Base.metadata`` describes Tierline's whole schema."""

from __future__ import annotations

from tierline.accounts.models import Account, AccountCustomer
from tierline.billing.models import Event, Subscription
from tierline.catalog.models import Feature, Tier, TierFeature, TierProviderLink
from tierline.credits.models import CreditGrant
from tierline.db.base import Base
from tierline.outbox.models import OutboxItem
from tierline.overrides.models import Override
from tierline.referrals.models import Referral
from tierline.seats.models import Seat
from tierline.usage.models import UsageCounter, UsageKey

__all__ = [
    "Account",
    "AccountCustomer",
    "Base",
    "CreditGrant",
    "Event",
    "Feature",
    "OutboxItem",
    "Override",
    "Referral",
    "Seat",
    "Subscription",
    "Tier",
    "TierFeature",
    "TierProviderLink",
    "UsageCounter",
    "UsageKey",
]
