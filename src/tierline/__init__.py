"""Tierline: the billing spine for Python SaaS apps.

Subscription tiers linked to billing providers by stable keys, idempotent webhook ingestion, a
paid-access gate, admin credits and referral codes, on SQLAlchemy models with a tested Alembic
migration chain.

The top-level names load on first use (:pep:`562` module ``__getattr__``): ``import tierline``
stays cheap, and the ORM, the settings and the providers load only when a name needs them.
"""

from __future__ import annotations

import importlib
import importlib.util
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tierline.access.status import AccessSource, AccessStatus, DenialReason, LimitInfo
    from tierline.accounts.service import AccountRef
    from tierline.billing.models import SubscriptionStatus
    from tierline.billing.result import IngestOutcome, IngestResult
    from tierline.errors import TierlineError
    from tierline.facade import Tierline
    from tierline.settings import TierlineSettings

__version__ = "0.1.0"

#: Public name -> the module that defines it.
_LAZY: dict[str, str] = {
    "AccessSource": "tierline.access.status",
    "AccessStatus": "tierline.access.status",
    "AccountRef": "tierline.accounts.service",
    "DenialReason": "tierline.access.status",
    "IngestOutcome": "tierline.billing.result",
    "IngestResult": "tierline.billing.result",
    "LimitInfo": "tierline.access.status",
    "SubscriptionStatus": "tierline.billing.models",
    "Tierline": "tierline.facade",
    "TierlineError": "tierline.errors",
    "TierlineSettings": "tierline.settings",
}

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


def __getattr__(name: str) -> Any:
    """Import a public name's module on first access (then the name is a plain global).

    Subpackages load the same way, so ``import tierline; tierline.db.upgrade(...)`` works as it
    did when the package imported everything up front.
    """
    module = _LAZY.get(name)
    if module is not None:
        value = getattr(importlib.import_module(module), name)
    elif not name.startswith("_") and importlib.util.find_spec(f"{__name__}.{name}") is not None:
        value = importlib.import_module(f"{__name__}.{name}")
    else:
        raise AttributeError(f"module 'tierline' has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
