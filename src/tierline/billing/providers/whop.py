"""Whop webhooks (API v1): Standard Webhooks keyed by the raw secret, and membership events.

Signature (Standard Webhooks; the headers of every event page of Whop's API reference)
    ``webhook-id``, ``webhook-timestamp``, ``webhook-signature: v1,<base64>`` (several
    space-separated during a rotation) over ``{id}.{timestamp}.{body}``, five-minute
    tolerance (``whop_tolerance_seconds``). The HMAC key is the secret's raw UTF-8 bytes,
    ``ws_`` prefix included (:attr:`KeyDerivation.RAW_UTF8`): the official SDK's
    ``whop_sdk.lib.verify_webhook.unwrap`` base64-encodes the secret before the
    ``standardwebhooks`` verifier decodes it, because Whop's backend HMACs with the literal
    secret. Secrets: ``TIERLINE_WHOP_WEBHOOK_SECRET`` (comma-separated during a rotation).

Envelope: ``{"id": "msg_...", "api_version": "v1", "timestamp": <RFC 3339>, "type":
"membership.activated", "company_id": "biz_...", "data": {<object>}}``. Dedup key: the
``webhook-id`` header, which is the envelope's ``id`` (so a re-parsed stored event keeps it).

Events parsed (every other type is stored as ``ignored`` with 200)
    ``membership.activated|updated|cancel_at_period_end_changed|trial_ending_soon|deactivated``
    (https://docs.whop.com/api-reference/memberships/membership-deactivated and its sibling
    pages; the names are whop-sdk's ``WebhookEvent``) give a snapshot of the membership in
    ``data``: account ref ``data.metadata.tierline_account`` (the checkout configuration's
    metadata); customer ``data.user.id``, else ``data.member.id``; tier keys ``data.plan.id``
    then ``data.product.id``; period end ``data.renewal_period_end``;
    ``cancel_at_period_end``. Statuses: ``trialing``; ``active``, ``canceling`` (active until
    the period ends) and ``completed`` (a one-time purchase that keeps access) are active;
    ``past_due``; ``unresolved`` (a disputed payment) is unpaid; ``drafted`` is incomplete;
    ``canceled`` and ``expired`` end access.
    ``payment.succeeded`` (https://docs.whop.com/api-reference/payments/payment-succeeded):
    payment facts (``payment_id``, ``subscription_id`` =
    ``data.membership.id``, ``customer_id``, ``account_ref``, ``amount_paid`` = ``data.total``
    converted to minor units, ``currency``, ``billing_reason``). ``payment.failed`` is recorded
    (the membership events carry the resulting status).

Ordering (:data:`LIFECYCLE`)
    ``data.updated_at`` (milliseconds), then rank: terminal ``canceled`` / ``expired`` above
    everything; event: ``activated`` (0) < ``updated``, ``cancel_at_period_end_changed``,
    ``trial_ending_soon`` (1) < ``deactivated`` (2); status: ``incomplete`` (0) <
    ``trialing`` (1) < ``active``, ``past_due``, ``unpaid`` (2) < ``canceled``, ``expired`` (3).
"""

from __future__ import annotations

import json
from collections.abc import Mapping

from tierline.billing.models import SubscriptionStatus
from tierline.billing.providers.declared import (
    DeclaredReader,
    Field,
    PaymentSpec,
    SnapshotSpec,
    by_event,
)
from tierline.billing.providers.ordering import LifecycleOrder, event_ranks
from tierline.billing.providers.standard_webhooks import (
    WEBHOOK_ID_KEY,
    KeyDerivation,
    StandardWebhooksProvider,
    StandardWebhooksScheme,
)

NAME = "whop"
ACCOUNT_METADATA_KEY = "tierline_account"

MEMBERSHIP_EVENT_RANKS = event_ranks(
    ("membership.activated",),
    (
        "membership.updated",
        "membership.cancel_at_period_end_changed",
        "membership.trial_ending_soon",
    ),
    ("membership.deactivated",),
)
PAYMENT_EVENTS = frozenset({"payment.succeeded"})

LIFECYCLE = LifecycleOrder(events=MEMBERSHIP_EVENT_RANKS)
#: Whop's membership statuses, normalized.
STATUS_MAP: Mapping[str, SubscriptionStatus] = {
    "drafted": SubscriptionStatus.INCOMPLETE,
    "trialing": SubscriptionStatus.TRIALING,
    "active": SubscriptionStatus.ACTIVE,
    "canceling": SubscriptionStatus.ACTIVE,
    "completed": SubscriptionStatus.ACTIVE,
    "past_due": SubscriptionStatus.PAST_DUE,
    "unresolved": SubscriptionStatus.UNPAID,
    "canceled": SubscriptionStatus.CANCELED,
    "expired": SubscriptionStatus.EXPIRED,
}
SCHEME = StandardWebhooksScheme(NAME, "TIERLINE_WHOP_WEBHOOK_SECRET", KeyDerivation.RAW_UTF8)

MEMBERSHIP = SnapshotSpec(
    statuses=STATUS_MAP,
    lifecycle=LIFECYCLE,
    tier_keys=("plan.id", "product.id"),
    customer_id=("user.id", "member.id"),
    current_period_end="renewal_period_end",
)
PAYMENT = PaymentSpec(
    amount="total",
    amount_kind="major",
    subscription_id="membership.id",
    customer_id="user.id",
).facts()


def sign(body: bytes, secret: str, timestamp: int | None = None) -> dict[str, str]:
    """The Standard Webhooks headers Whop would send with ``body`` (timestamp: now).

    The ``webhook-id`` is the envelope's ``id`` when the body has one, as Whop sends it.
    """
    try:
        payload = json.loads(body)
    except ValueError:
        payload = None
    envelope_id = payload.get("id") if isinstance(payload, dict) else None
    return SCHEME.sign(
        body, secret, timestamp, envelope_id if isinstance(envelope_id, str) else None
    )


_ENVELOPE_ID = Field.of("id")


class WhopProvider(StandardWebhooksProvider):
    """Verifies and parses Whop webhooks (see the module docstring)."""

    name = NAME
    scheme = SCHEME
    event_id_field = Field.of(WEBHOOK_ID_KEY, "id")
    subscription = MEMBERSHIP

    def event_id(self, fields: DeclaredReader, event_type: str) -> str:
        """The ``webhook-id``, else the envelope's ``id`` (the same value, in the body).

        The envelope's ``id`` is read even when the header gives the id: a stored event is
        re-parsed without its headers, so a malformed ``id`` must be a 400 on arrival, not an
        event that can never be replayed.
        """
        fields.value(_ENVELOPE_ID)
        return super().event_id(fields, event_type)

    fact_events = by_event((PAYMENT_EVENTS, PAYMENT))
