"""Polar webhooks: Standard Webhooks keyed by the raw secret, and the subscription events.

Signature (https://polar.sh/docs/integrate/webhooks/endpoints, Standard Webhooks)
    ``webhook-id``, ``webhook-timestamp``, ``webhook-signature: v1,<base64>`` (several
    space-separated during a rotation) over ``{id}.{timestamp}.{body}``, five-minute
    tolerance (``polar_tolerance_seconds``). The HMAC key is the secret's raw UTF-8 bytes
    (:attr:`KeyDerivation.RAW_UTF8`): Polar's SDKs base64-encode the secret before handing it
    to the ``standardwebhooks`` verifier, which decodes it back (polar-sdk ``validate_event``;
    polar-sdk 1.x also tries the base64-decoded key as a fallback, which Tierline does not).
    Secrets: ``TIERLINE_POLAR_WEBHOOK_SECRET`` (comma-separated during a rotation).

Envelope: ``{"type": "subscription.updated", "timestamp": <RFC 3339>, "data": {<object>}}``.
Dedup key: the ``webhook-id`` header (the same on every retry). A stored event re-parsed by
``events replay`` has no headers: its id is then ``{type}:{data.id}:{timestamp}``, used only
in messages (replay works on the stored row).

Events parsed (every other type is stored as ``ignored`` with 200)
    ``subscription.created|updated|active|canceled|uncanceled|revoked|past_due|paused|
    resumed|cycled|migrated`` (the event types of polar-sdk's ``validate_event``) give a snapshot
    of the Subscription in ``data``: account ref from ``data.metadata.tierline_account``, else
    ``data.customer.external_id``; customer ``data.customer_id``; tier keys: the product's
    ``metadata.tierline_tier``, then ``data.product_id``; quantity ``data.seats``; period end
    ``data.current_period_end``; ``cancel_at_period_end``; ``cancel_at`` = ``data.ends_at``
    (set when a cancellation is scheduled); ``trial_end``. ``subscription.canceled`` with
    ``cancel_at_period_end`` keeps the status ``active`` until ``ends_at``; ``revoked`` ends
    access at once (status ``canceled``, or ``unpaid`` once payment retries are exhausted).
    Polar delivers one endpoint's events in the order they were created
    (https://polar.sh/docs/integrate/webhooks/delivery); the ordering rule still guards
    against redeliveries.
    ``order.paid`` / ``order.created``: payment facts (``payment_id``, ``subscription_id``,
    ``customer_id``, ``account_ref``, ``amount_paid`` = ``total_amount`` in cents when
    ``paid`` is true, ``currency``, ``billing_reason``).
    ``checkout.created|updated|expired``: ``session_id``, ``account_ref`` (metadata, else
    ``customer_external_id``), ``customer_id``, ``status``.

Ordering (:data:`LIFECYCLE`)
    ``data.modified_at`` (else ``created_at``; microseconds), then rank: terminal
    ``canceled`` / ``expired`` (``incomplete_expired``) above everything; event:
    ``created`` (0) < every other subscription event (1) < ``revoked`` (2); status:
    ``incomplete`` (0) < ``trialing`` (1) < ``active``, ``past_due``, ``unpaid``, ``paused``
    (2) < ``canceled``, ``expired`` (3).
"""

from __future__ import annotations

from tierline.billing.providers import stripe
from tierline.billing.providers.declared import (
    DeclaredReader,
    FactSpec,
    Field,
    PaymentSpec,
    SnapshotSpec,
    by_event,
)
from tierline.billing.providers.ordering import LifecycleOrder, event_ranks
from tierline.billing.providers.standard_webhooks import (
    KeyDerivation,
    StandardWebhooksProvider,
    StandardWebhooksScheme,
)

NAME = "polar"
ACCOUNT_METADATA_KEY = "tierline_account"
TIER_METADATA_KEY = "tierline_tier"

#: Subscription events whose ``data`` is the subscription, with their lifecycle rank.
#: Every event between creation and the end (one rank; the status decides their ties).
_LIVE_EVENTS = "updated active canceled uncanceled past_due paused resumed cycled migrated"
SUBSCRIPTION_EVENT_RANKS = event_ranks(
    ("subscription.created",),
    tuple(f"subscription.{kind}" for kind in _LIVE_EVENTS.split()),
    ("subscription.revoked",),
)
PAYMENT_EVENTS = frozenset({"order.paid", "order.created"})
CHECKOUT_EVENTS = frozenset({"checkout.created", "checkout.updated", "checkout.expired"})

LIFECYCLE = LifecycleOrder(
    events=SUBSCRIPTION_EVENT_RANKS,
)
#: Polar's subscription statuses are Stripe's eight, normalized the same way (polar-sdk's
#: ``SubscriptionStatus`` literal; Polar bills through Stripe).
STATUS_MAP = stripe.STATUS_MAP
SCHEME = StandardWebhooksScheme(NAME, "TIERLINE_POLAR_WEBHOOK_SECRET", KeyDerivation.RAW_UTF8)

_ACCOUNT = Field.of(f"data.metadata.{ACCOUNT_METADATA_KEY}", "data.customer.external_id")
SUBSCRIPTION = SnapshotSpec(
    statuses=STATUS_MAP,
    lifecycle=LIFECYCLE,
    tier_keys=(f"product.metadata.{TIER_METADATA_KEY}", "product_id"),
    updated_at=("modified_at", "created_at"),
    account_ref=(f"metadata.{ACCOUNT_METADATA_KEY}", "customer.external_id"),
    quantity="seats",
    cancel_at="ends_at",
    facts={"checkout_id": Field.of("data.checkout_id")},
)
ORDER = PaymentSpec(
    amount="total_amount",
    paid="paid",
    account_ref=(f"metadata.{ACCOUNT_METADATA_KEY}", "customer.external_id"),
).facts()
CHECKOUT: FactSpec = {
    "session_id": Field.of("data.id"),
    "account_ref": Field.of(
        f"data.metadata.{ACCOUNT_METADATA_KEY}", "data.customer_external_id", kind="text"
    ),
    "customer_id": Field.of("data.customer_id"),
    "status": Field.of("data.status", kind="text"),
}


class PolarProvider(StandardWebhooksProvider):
    """Verifies and parses Polar webhooks (see the module docstring)."""

    name = NAME
    scheme = SCHEME
    subscription = SUBSCRIPTION
    fact_events = by_event((PAYMENT_EVENTS, ORDER), (CHECKOUT_EVENTS, CHECKOUT))

    def event_id(self, fields: DeclaredReader, event_type: str) -> str:
        """The ``webhook-id``; without it (a stored event re-parsed), a derived id."""
        webhook_id = fields.value(self.event_id_field)
        if webhook_id is not None:
            return str(webhook_id)
        object_id = fields.value(Field.of("data.id")) or "-"
        stamp = fields.value(Field.of("timestamp", kind="text")) or "-"
        return f"{event_type}:{object_id}:{stamp}"
