"""Self-service billing actions per provider: checkout, portal, cancel/resume, plan change.

One small module per provider, each a :class:`~tierline.billing.actions.base.ProviderActions`
subclass declaring only what that provider's API offers; :func:`actions_for` is the registry.
Modules are imported on first use (the Stripe SDK is an optional extra).
"""

from __future__ import annotations

import importlib

from tierline.billing.actions.base import (
    ACTIONS,
    BillingActions,
    CheckoutRequest,
    LiveSubscription,
    PlanChange,
    ProrationPreview,
    ProviderActions,
    UnsupportedActionError,
)
from tierline.errors import ValidationError

#: provider -> (module, class) implementing its actions.
REGISTRY: dict[str, tuple[str, str]] = {
    "stripe": ("tierline.billing.actions.stripe", "StripeActions"),
    "paddle": ("tierline.billing.actions.paddle", "PaddleActions"),
    "polar": ("tierline.billing.actions.polar", "PolarActions"),
    "whop": ("tierline.billing.actions.whop", "WhopActions"),
    "lemonsqueezy": ("tierline.billing.actions.lemonsqueezy", "LemonSqueezyActions"),
}


def actions_for(provider: str) -> ProviderActions:
    """The actions of ``provider``; raises :class:`ValidationError` for a provider without any."""
    entry = REGISTRY.get(provider)
    if entry is None:
        raise ValidationError(
            f"provider {provider!r} has no self-service actions; providers with actions: "
            + ", ".join(REGISTRY)
        )
    module, name = entry
    cls: type[ProviderActions] = getattr(importlib.import_module(module), name)
    return cls()


__all__ = [
    "ACTIONS",
    "REGISTRY",
    "BillingActions",
    "CheckoutRequest",
    "LiveSubscription",
    "PlanChange",
    "ProrationPreview",
    "ProviderActions",
    "UnsupportedActionError",
    "actions_for",
]
