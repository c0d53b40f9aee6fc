"""Where reconciliation reads a provider's subscriptions: one small module per provider.

A source pages through the provider's list of subscriptions (its raw API objects, exactly as
the API sends them) and wraps one object in a synthetic webhook payload that the provider's own
webhook parser reads, so reconciliation and webhooks share one normalization.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar, Protocol

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


class PagedSource:
    """What every source shares: its settings, the clock that stamps each page, a page size.

    A subclass names its ``provider`` and its ``default_page_size`` (the provider's largest).
    """

    provider: str
    default_page_size: ClassVar[int]

    def __init__(
        self,
        settings: TierlineSettings,
        clock: Callable[[], datetime],
        *,
        page_size: int | None = None,
    ) -> None:
        self.settings = settings
        self.clock = clock
        self.page_size = self.default_page_size if page_size is None else page_size


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
