"""Tierline: the billing spine for Python SaaS apps.

Subscription tiers linked to billing providers by stable keys, idempotent webhook ingestion, a
paid-access gate, admin credits and referral codes, on SQLAlchemy models with a tested Alembic
migration chain.
"""

from __future__ import annotations

from tierline.errors import TierlineError

__version__ = "0.1.0"

__all__ = ["TierlineError", "__version__"]
