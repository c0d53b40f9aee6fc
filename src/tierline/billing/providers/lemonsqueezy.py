"""Lemon Squeezy webhooks: the ``X-Signature`` body HMAC, and the subscription events.

Signature (https://docs.lemonsqueezy.com/help/webhooks/signing-requests)
    ``X-Signature: <hex HMAC-SHA256 of the raw body>`` keyed by the webhook's signing secret
    (``TIERLINE_LEMONSQUEEZY_WEBHOOK_SECRET``, several comma-separated during a rotation).
    The request also names the event in ``X-Event-Name``; the body repeats it as
    ``meta.event_name``, which is what Tierline reads (so a stored body re-parses alike).

No event id, no signed timestamp: the replay risk, and its bounds
    Lemon Squeezy sends no event id and signs no timestamp, so a captured delivery verifies
    forever. The dedup key is derived: ``{event_name}:{data.type}:{data.id}:{updated_at}``
    (``data.attributes.updated_at``), so a retry of one delivery is a duplicate. A replayed
    *older* delivery of a known subscription is answered 200 and changes nothing: the
    ordering rule refuses a snapshot older than the stored one ("stale snapshot ignored").
    What remains -- an old delivery replayed for a subscription Tierline has not stored, or
    an old payment -- is bounded by a maximum age: a delivery whose ``updated_at`` is more
    than ``TIERLINE_LEMONSQUEEZY_MAX_EVENT_AGE_SECONDS`` (default 3 days) from now, either
    way, is rejected as ``stale_timestamp`` (400, nothing stored). Lemon Squeezy retries a
    failed delivery three more times with exponential backoff (5 s, 25 s, 125 s;
    https://docs.lemonsqueezy.com/help/webhooks/webhook-requests), so a genuine delivery is
    minutes old; three days also leaves room to resend a failed one from the dashboard after
    a weekend outage.

Body (JSON:API): ``{"meta": {"event_name": ..., "test_mode": ..., "custom_data": {...}},
"data": {"type": "subscriptions", "id": "1", "attributes": {...}, ...}}``. The checkout's
``custom`` data arrives as ``meta.custom_data`` on order and subscription events.

Events parsed (https://docs.lemonsqueezy.com/help/webhooks/event-types; every other type is
stored as ``ignored`` with 200)
    ``subscription_created|updated|cancelled|resumed|expired|paused|unpaused`` give a snapshot
    of the subscription object: account ref ``meta.custom_data.tierline_account``; customer
    ``attributes.customer_id``; tier keys ``attributes.variant_id`` then
    ``attributes.product_id`` (numbers, read as strings); quantity
    ``attributes.first_subscription_item.quantity``; period end ``attributes.renews_at``;
    ``trial_end`` ``attributes.trial_ends_at``. Status ``cancelled`` is the grace period
    before expiry: it is ``active`` with ``cancel_at`` = ``attributes.ends_at`` and
    ``cancel_at_period_end`` (``attributes.cancelled``); ``expired`` ends access for good.
    ``on_trial`` is trialing; ``past_due``, ``unpaid``, ``paused`` as named.
    ``subscription_payment_success|recovered`` (subscription invoice) and ``order_created``
    (order) give payment facts: ``payment_id`` (the invoice's or order's), ``subscription_id``,
    ``customer_id``, ``account_ref``, ``amount_paid`` (``attributes.total``, cents) when
    ``attributes.status`` is ``paid``, ``currency``, ``billing_reason``.
    ``subscription_payment_failed`` is recorded (the subscription events carry the status).

Ordering (:data:`LIFECYCLE`)
    ``data.attributes.updated_at`` (microseconds), then rank: the terminal ``expired`` above
    everything; event: ``created`` (0) < ``updated``, ``cancelled``, ``resumed``, ``paused``,
    ``unpaused`` (1) < ``expired`` (2); status: ``trialing`` (1) < ``active``, ``past_due``,
    ``unpaid``, ``paused`` (2) < ``expired`` (3).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from tierline.billing.models import SubscriptionStatus
from tierline.billing.providers.declared import (
    DeclaredProvider,
    DeclaredReader,
    Field,
    PaymentSpec,
    SnapshotSpec,
    by_event,
)
from tierline.billing.providers.ordering import LifecycleOrder, event_ranks
from tierline.billing.providers.signing import BodyHmacScheme, check_age, unix_now

NAME = "lemonsqueezy"
ACCOUNT_CUSTOM_DATA_KEY = "tierline_account"
#: Three days: far beyond the retries (minutes), room for a dashboard resend.
DEFAULT_MAX_EVENT_AGE_SECONDS = 3 * 24 * 3600

#: Every event between creation and the end (one rank; the status decides their ties).
_LIVE_EVENTS = "updated cancelled resumed paused unpaused"
SUBSCRIPTION_EVENT_RANKS = event_ranks(
    ("subscription_created",),
    tuple(f"subscription_{kind}" for kind in _LIVE_EVENTS.split()),
    ("subscription_expired",),
)
INVOICE_EVENTS = frozenset(
    {
        "subscription_payment_success",
        "subscription_payment_recovered",
        "subscription_payment_failed",
    }
)
ORDER_EVENTS = frozenset({"order_created"})

LIFECYCLE = LifecycleOrder(
    events=SUBSCRIPTION_EVENT_RANKS, terminal=frozenset({SubscriptionStatus.EXPIRED})
)
#: Lemon Squeezy's subscription statuses, normalized (``cancelled`` is still active).
STATUS_MAP: Mapping[str, SubscriptionStatus] = {
    "on_trial": SubscriptionStatus.TRIALING,
    "active": SubscriptionStatus.ACTIVE,
    "cancelled": SubscriptionStatus.ACTIVE,
    "past_due": SubscriptionStatus.PAST_DUE,
    "unpaid": SubscriptionStatus.UNPAID,
    "paused": SubscriptionStatus.PAUSED,
    "expired": SubscriptionStatus.EXPIRED,
}
SCHEME = BodyHmacScheme(NAME, "X-Signature", "TIERLINE_LEMONSQUEEZY_WEBHOOK_SECRET")

UPDATED_AT = Field.of("data.attributes.updated_at", kind="iso")
#: JSON:API documents: the object's fields are its ``attributes``, its id is ``data.id``, and the
#: checkout's custom data travels in ``meta``.
_DOCUMENT: dict[str, Any] = {
    "root": "data.attributes",
    "account_ref": f"/meta.custom_data.{ACCOUNT_CUSTOM_DATA_KEY}",
}
SUBSCRIPTION = SnapshotSpec(
    statuses=STATUS_MAP,
    lifecycle=LIFECYCLE,
    **_DOCUMENT,
    external_id="/data.id",
    tier_keys=("variant_id", "product_id"),
    quantity="first_subscription_item.quantity",
    current_period_end="renews_at",
    cancel_at_period_end="cancelled",
    cancel_at="ends_at",
    trial_end="trial_ends_at",
)
INVOICE = PaymentSpec(**_DOCUMENT, amount="total", paid="status", payment_id="/data.id")
#: An order names no subscription (the subscription event that follows links it).
ORDER = dataclasses.replace(INVOICE, subscription_id=()).facts()
INVOICE_FACTS = INVOICE.facts()


class LemonSqueezyProvider(DeclaredProvider):
    """Verifies and parses Lemon Squeezy webhooks (see the module docstring).

    ``tolerance_seconds`` is the maximum event age: how far ``data.attributes.updated_at`` may
    be from now (``TIERLINE_LEMONSQUEEZY_MAX_EVENT_AGE_SECONDS``).
    """

    name = NAME
    scheme = SCHEME
    default_tolerance = DEFAULT_MAX_EVENT_AGE_SECONDS
    event_id_field = Field(())
    event_type_field = Field.of("meta.event_name", kind="text")
    occurred_at_field = UPDATED_AT
    subscription = SUBSCRIPTION
    fact_events = by_event((INVOICE_EVENTS, INVOICE_FACTS), (ORDER_EVENTS, ORDER))

    def check(self, payload: Mapping[str, Any]) -> None:
        """Refuse a delivery whose ``updated_at`` is too far from now (``stale_timestamp``)."""
        updated_at: datetime | None = DeclaredReader(self.reader, payload).value(UPDATED_AT)
        if updated_at is not None:
            age = unix_now(self.clock) - updated_at.timestamp()
            what = f"data.attributes.updated_at {updated_at.isoformat()}"
            check_age(age, self.tolerance_seconds, what)

    def event_id(self, fields: DeclaredReader, event_type: str) -> str:
        """``{event_name}:{data.type}:{data.id}:{updated_at}`` (Lemon Squeezy sends no id)."""
        parts = [
            fields.value(Field.of(path, kind="text")) or "-"
            for path in ("data.type", "data.attributes.updated_at")
        ]
        return f"{event_type}:{parts[0]}:{fields.value(Field.of('data.id')) or '-'}:{parts[1]}"
