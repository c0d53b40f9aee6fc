"""The provider interface: verify a webhook, parse it into a normalized event.

Every provider module implements :class:`Provider`; the registry in
:mod:`tierline.billing.providers` maps names to instances. Tier resolution is *not* done here:
a snapshot carries the provider's external keys (``tier_keys``), and the inbox resolves them
through the catalog's tier-provider links, so a provider module needs no database.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

from tierline.billing.models import SubscriptionStatus
from tierline.errors import TierlineError


class WebhookRejected(TierlineError):  # noqa: N818 - it names an outcome, not a failure
    """The webhook must not be processed: bad signature, stale timestamp, malformed body.

    ``reason`` is a short machine-readable code: ``missing_signature``, ``malformed_signature``,
    ``bad_signature``, ``stale_timestamp`` (too old or too far in the future),
    ``malformed_json``, ``malformed_payload`` (JSON, but not the provider's event shape),
    ``body_too_large``, ``unknown_provider``, ``no_secret_configured``.
    """

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class SubscriptionItem:
    """One priced line of a subscription (a Stripe subscription item, a Paddle item...).

    ``keys`` are the provider's catalog keys for this item's price, in the order to try them (a
    Stripe price ``lookup_key``, then price id, then product id; a Paddle price ``custom_data``
    key, then ids). The inbox picks the *plan item* -- the item whose keys map to a catalog
    tier -- and takes the tier, quantity and period end from it, so an add-on or metered item
    listed first never decides them.
    """

    keys: tuple[str, ...] = ()
    #: The item's quantity (seats); None when the provider sends none (metered prices).
    quantity: int | None = None
    #: The end of this item's current billing period (Stripe ``2025-03-31.basil``+ keeps the
    #: period on each item; mixed intervals give each item its own).
    current_period_end: datetime | None = None


@dataclass(frozen=True)
class SubscriptionSnapshot:
    """A provider's view of one subscription at one moment, normalized."""

    external_id: str
    status: SubscriptionStatus
    #: The host's account ref, when the payload carries it (client_reference_id, custom_data,
    #: metadata); otherwise the inbox finds the account by ``customer_id``.
    account_ref: str | None = None
    customer_id: str | None = None
    #: The subscription's priced items, in the provider's order.
    items: tuple[SubscriptionItem, ...] = ()
    #: The subscription-level period end, when the provider sends one (older Stripe API
    #: versions, Paddle's ``current_billing_period``); an item's own period end wins for it.
    current_period_end: datetime | None = None
    #: True when the subscription ends at the end of its current period.
    cancel_at_period_end: bool = False
    #: A date at which the subscription is scheduled to end (Stripe ``cancel_at``, Paddle
    #: ``scheduled_change`` with action ``cancel`` -> ``effective_at``): access ends then.
    cancel_at: datetime | None = None
    trial_end: datetime | None = None
    #: The provider's timestamp of this state, used to never let older state overwrite newer.
    updated_at: datetime | None = None
    #: The lifecycle rank of this snapshot, which breaks ties between snapshots with the same
    #: ``updated_at`` (higher = later in the lifecycle; each provider declares its ``LIFECYCLE``
    #: table, combined by :mod:`tierline.billing.providers.ordering`).
    rank: int = 0
    #: The provider's live/test mode flag, when it sends one (Stripe ``livemode``).
    livemode: bool | None = None

    @property
    def tier_keys(self) -> tuple[str, ...]:
        """Every item's keys, in item order, without repeats."""
        keys: list[str] = []
        for item in self.items:
            for key in item.keys:
                if key not in keys:
                    keys.append(key)
        return tuple(keys)


@dataclass(frozen=True)
class ProviderEvent:
    """One webhook, normalized."""

    provider: str
    event_id: str
    type: str
    occurred_at: datetime | None
    subscription: SubscriptionSnapshot | None = None
    #: Extra normalized facts a handler may need (e.g. the checkout's client_reference_id).
    data: Mapping[str, Any] = field(default_factory=dict)
    #: The provider's live/test mode flag, when it sends one (Stripe ``livemode``).
    livemode: bool | None = None


@runtime_checkable
class Provider(Protocol):
    """What every billing provider implements."""

    #: The registry name: ``stripe``, ``paddle``, ``fake``...
    name: str

    def verify(self, headers: Mapping[str, str], body: bytes) -> Mapping[str, Any]:
        """Check the signature over the raw body and return the decoded JSON payload.

        Header names are matched case-insensitively. Raises :class:`WebhookRejected`.
        """
        ...

    def parse(self, payload: Mapping[str, Any]) -> ProviderEvent:
        """Normalize a verified payload. Raises :class:`WebhookRejected` if it is malformed."""
        ...
