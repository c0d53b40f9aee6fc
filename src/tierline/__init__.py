"""Tierline: the billing spine for Python SaaS apps.

Subscription tiers linked to billing providers by stable keys, idempotent webhook ingestion, a
paid-access gate, admin credits and referral codes, on SQLAlchemy models with a tested Alembic
migration chain.
"""

from __future__ import annotations

from tierline.access.status import AccessSource, AccessStatus, DenialReason, LimitInfo
from tierline.accounts.service import AccountRef
from tierline.billing.models import SubscriptionStatus
from tierline.billing.result import IngestOutcome, IngestResult
from tierline.errors import TierlineError
from tierline.facade import Tierline
from tierline.settings import TierlineSettings

__version__ = "0.1.0"

__all__ = [
    "AccessSource",
    "AccessStatus",
    "AccountRef",
    "DenialReason",
    "IngestOutcome",
    "IngestResult",
    "LimitInfo",
    "SubscriptionStatus",
    "Tierline",
    "TierlineError",
    "TierlineSettings",
    "__version__",
]
