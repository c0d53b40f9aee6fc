"""Where reconciliation reads a provider's subscriptions: one small module per provider.

A source pages through the provider's list of subscriptions (its raw API objects, exactly as
the API sends them) and wraps one object in a synthetic webhook payload that the provider's own
webhook parser reads, so reconciliation and webhooks share one normalization.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from tierline.errors import ValidationError
from tierline.settings import TierlineSettings

#: The prefix of every synthetic event id (``reconcile:<subscription id>:<marker>``).
EVENT_ID_PREFIX = "reconcile"


@dataclass(frozen=True)
class Page:
    """One page of the provider's subscriptions, and when it was fetched."""

    objects: Sequence[Mapping[str, Any]]
    fetched_at: datetime
    #: The provider's estimate of the total, when it gives one (Paddle does).
    estimated_total: int | None = None


class SubscriptionSource(Protocol):
    """What each provider's reconciliation source implements."""

    provider: str

    def pages(self, customers: Sequence[str] | None) -> Iterator[Page]:
        """Every subscription (of ``customers`` when given), page by page, in any status."""
        ...

    def synthetic_event(self, obj: Mapping[str, Any], fetched_at: datetime) -> dict[str, Any]:
        """A webhook payload of the provider carrying ``obj``, with a stable event id."""
        ...


#: Providers reconciliation can read.
RECONCILABLE = ("stripe", "paddle")


def source_for(provider: str, settings: TierlineSettings, clock: Any) -> SubscriptionSource:
    """The source of ``provider``; raises :class:`ValidationError` for another name."""
    if provider == "stripe":
        from tierline.billing.reconcile.stripe_source import StripeSource

        return StripeSource(settings, clock)
    if provider == "paddle":
        from tierline.billing.reconcile.paddle_source import PaddleSource

        return PaddleSource(settings, clock)
    raise ValidationError(
        f"cannot reconcile provider {provider!r}; valid: {', '.join(RECONCILABLE)}"
    )
