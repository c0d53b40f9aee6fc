"""Paddle Billing webhooks: the ``Paddle-Signature`` check and the subscription events.

Signature (https://developer.paddle.com/webhooks/signature-verification)
    ``Paddle-Signature: ts=<unix>;h1=<hex>[;h1=<hex>...]``; each ``h1`` is the HMAC-SHA256 of
    ``f"{ts}:{body}"`` keyed by the notification destination's secret key (``pdl_ntfset_...``,
    from ``TIERLINE_PADDLE_WEBHOOK_SECRET``; several comma-separated keys during a rotation).
    The timestamp must be within ``paddle_tolerance_seconds`` of now in either direction. The
    default, 5 s, is the official SDK's ``Verifier(maximum_variance=5)``: Paddle signs just
    before sending, so anything older is a replay or a badly wrong clock. Raise it if your
    server's clock drifts or a proxy queues requests.

Notification shape
    ``{"event_id": "evt_...", "event_type": "subscription.updated", "occurred_at": <RFC 3339>,
    "notification_id": "ntf_...", "data": {<the subscription entity>}}``.

Events parsed (every other type parses to an event without a snapshot; the inbox stores it as
``ignored`` and answers 200, so a genuine event is never refused)
    ``subscription.created|imported|activated|trialing|updated|past_due|paused|resumed|canceled``
    (https://developer.paddle.com/webhooks/subscriptions) give a :class:`SubscriptionSnapshot`:
    ``account_ref`` from ``data.custom_data["tierline_account"]``; one
    :class:`SubscriptionItem` per ``data.items[]`` entry with its ``quantity`` and its keys:
    the price's ``custom_data["tierline_tier"]``, the product's (when the product object is
    included), the price id, the product id. Paddle keeps one billing period per subscription
    (its items share the billing cycle; an item has no period of its own), so the period end
    is the subscription's ``current_billing_period.ends_at``. A ``scheduled_change`` with
    action ``cancel`` gives ``cancel_at`` = its ``effective_at``, and ``cancel_at_period_end``
    when that is the period end (or unsaid); ``trial_end`` comes from the items'
    ``trial_dates.ends_at`` while trialing; ``updated_at`` is the entity's ``updated_at``;
    ``rank`` from :data:`LIFECYCLE`. ``subscription.imported`` is a subscription migrated
    from another billing platform, already in its own status (usually ``active``).
    ``ProviderEvent.data`` carries ``notification_id`` and, when the entity names one,
    ``transaction_id``.
    ``transaction.paid`` / ``transaction.completed``
    (https://developer.paddle.com/webhooks/transactions) are payments: ``data`` carries the
    facts a Stripe ``invoice.paid`` gives: ``transaction_id``, ``subscription_id`` (null on
    the first transaction.paid of a checkout, set once the subscription exists),
    ``customer_id``, ``amount_paid`` (``details.totals.grand_total``, minor units, as an
    integer), ``currency``, ``origin``, and ``account_ref`` from the transaction's
    ``custom_data["tierline_account"]`` (the checkout's custom data), which links the
    customer to the account whatever order the events arrive in.

Ordering (:data:`LIFECYCLE`, combined by :mod:`tierline.billing.providers.ordering`)
    Snapshots of one subscription are ordered by ``data.updated_at`` (milliseconds; ties still
    happen, e.g. ``subscription.updated`` beside ``subscription.past_due``), then by ``rank``:
    the terminal status ``canceled`` above everything; then the event type: ``created``,
    ``imported`` (0) < ``activated``, ``trialing`` (1) < ``updated``, ``past_due``,
    ``paused``, ``resumed`` (2) < ``canceled`` (3); then the status: ``trialing`` (1) <
    ``active``, ``past_due``, ``paused`` (2) < ``canceled`` (3).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime
from typing import Any

from tierline.billing.models import SubscriptionStatus
from tierline.billing.providers.base import SubscriptionItem, SubscriptionSnapshot
from tierline.billing.providers.declared import (
    DeclaredProvider,
    DeclaredReader,
    FactSpec,
    Field,
    SnapshotSpec,
    by_event,
)
from tierline.billing.providers.fields import PayloadReader
from tierline.billing.providers.items import item_keys
from tierline.billing.providers.ordering import LifecycleOrder
from tierline.billing.providers.signing import SignatureScheme

NAME = "paddle"
SIGNATURE_HEADER = "Paddle-Signature"
#: The official SDK's default ``maximum_variance``.
DEFAULT_TOLERANCE_SECONDS = 5
#: The subscription custom_data key that carries the host's account ref.
ACCOUNT_CUSTOM_DATA_KEY = "tierline_account"
#: The price/product custom_data key that names a Tierline tier link.
TIER_CUSTOM_DATA_KEY = "tierline_tier"

#: Subscription events whose ``data`` is the subscription entity, with their lifecycle rank.
SUBSCRIPTION_EVENT_RANKS: Mapping[str, int] = {
    "subscription.created": 0,
    "subscription.imported": 0,
    "subscription.activated": 1,
    "subscription.trialing": 1,
    "subscription.updated": 2,
    "subscription.past_due": 2,
    "subscription.paused": 2,
    "subscription.resumed": 2,
    "subscription.canceled": 3,
}
SUBSCRIPTION_EVENTS: frozenset[str] = frozenset(SUBSCRIPTION_EVENT_RANKS)
#: Transaction events that record a payment (``data`` is the transaction entity).
PAYMENT_EVENTS: frozenset[str] = frozenset({"transaction.paid", "transaction.completed"})

#: The ordering table (see the module docstring's "Ordering").
LIFECYCLE = LifecycleOrder(
    events=SUBSCRIPTION_EVENT_RANKS, terminal=frozenset({SubscriptionStatus.CANCELED})
)

#: ``ts=<unix>;h1=<hex>`` over ``{ts}:{body}`` (the columns of :mod:`...signing`'s table).
SCHEME = SignatureScheme(
    NAME, SIGNATURE_HEADER, ";", "ts", "h1", ":", "TIERLINE_PADDLE_WEBHOOK_SECRET"
)
#: Paddle's subscription statuses, normalized.
STATUS_MAP: Mapping[str, SubscriptionStatus] = {
    "active": SubscriptionStatus.ACTIVE,
    "trialing": SubscriptionStatus.TRIALING,
    "past_due": SubscriptionStatus.PAST_DUE,
    "paused": SubscriptionStatus.PAUSED,
    "canceled": SubscriptionStatus.CANCELED,
}


def sign(body: bytes, secret: str, timestamp: int | None = None) -> dict[str, str]:
    """The ``Paddle-Signature`` header Paddle would send with ``body`` (timestamp: now)."""
    return SCHEME.sign(body, secret, timestamp)


#: Where a subscription notification's entity (``data``) keeps each part of a snapshot; the
#: cancellation and the trial end are read from ``scheduled_change`` and the items.
SUBSCRIPTION = SnapshotSpec(
    statuses=STATUS_MAP,
    lifecycle=LIFECYCLE,
    account_ref=f"custom_data.{ACCOUNT_CUSTOM_DATA_KEY}",
    current_period_end="current_billing_period.ends_at",
    cancel_at_period_end=(),
    trial_end=(),
    facts={"transaction_id": Field.of("data.transaction_id", kind="text")},
    kinds=dict.fromkeys(("external_id", "account_ref", "customer_id"), "text"),
)
#: A payment's facts (the same keys a Stripe invoice gives).
PAYMENT: FactSpec = {
    "transaction_id": Field.of("data.id", kind="text", required=True),
    "subscription_id": Field.of("data.subscription_id", kind="text"),
    "customer_id": Field.of("data.customer_id", kind="text"),
    "account_ref": Field.of(f"data.custom_data.{ACCOUNT_CUSTOM_DATA_KEY}", kind="text"),
    "amount_paid": Field.of("data.details.totals.grand_total", kind="digits"),
    "currency": Field.of("data.currency_code", kind="text"),
    "origin": Field.of("data.origin", kind="text"),
}
_NOTIFICATION_ID = Field.of("notification_id", kind="text")


class PaddleProvider(DeclaredProvider):
    """Verifies and parses Paddle Billing webhooks (see the module docstring)."""

    name = NAME
    scheme = SCHEME
    default_tolerance = DEFAULT_TOLERANCE_SECONDS
    event_id_field = Field.of("event_id", kind="text")
    event_type_field = Field.of("event_type", kind="text")
    occurred_at_field = Field.of("occurred_at", kind="iso")
    subscription = SUBSCRIPTION
    fact_events = by_event((PAYMENT_EVENTS, PAYMENT))

    def body(
        self, fields: DeclaredReader, event_type: str
    ) -> tuple[SubscriptionSnapshot | None, dict[str, Any]]:
        """The declared body; every event also names its ``notification_id``."""
        self.reader.obj(fields.payload, "data", "data")
        snapshot, facts = super().body(fields, event_type)
        if facts.get("transaction_id", ...) is None:
            del facts["transaction_id"]  # a subscription event names one only when it has one
        return snapshot, {"notification_id": fields.value(_NOTIFICATION_ID), **facts}

    def items(self, fields: DeclaredReader, spec: SnapshotSpec) -> tuple[SubscriptionItem, ...]:
        """One item per ``data.items[]`` entry (the period is the subscription's)."""
        items = _READ.objects(fields.object("data"), "items", "data.items")
        return tuple(_item(item, f"data.items[{index}]") for index, item in enumerate(items))

    def snapshot(
        self, fields: DeclaredReader, spec: SnapshotSpec, event_type: str
    ) -> SubscriptionSnapshot:
        """The declared snapshot with the scheduled cancellation and the trial's end."""
        snapshot = super().snapshot(fields, spec, event_type)
        sub = fields.object("data")
        change = _READ.opt_obj(sub, "scheduled_change", "data.scheduled_change")
        cancel_at, at_period_end = _cancel_at(change, snapshot.current_period_end)
        trialing = snapshot.status is SubscriptionStatus.TRIALING
        return replace(
            snapshot,
            cancel_at=cancel_at,
            cancel_at_period_end=at_period_end,
            trial_end=_trial_end(_READ.objects(sub, "items", "data.items")) if trialing else None,
        )


_READ = PayloadReader(NAME)


def _item(item: Mapping[str, Any], where: str) -> SubscriptionItem:
    price = _READ.obj(item, "price", f"{where}.price")
    product = _READ.opt_obj(item, "product", f"{where}.product") or {}
    keys = item_keys(
        _tier_of(price, f"{where}.price"),
        _tier_of(product, f"{where}.product"),
        _READ.string(price, "id", f"{where}.price.id"),
        _READ.opt_string(price, "product_id", f"{where}.price.product_id"),
    )
    return SubscriptionItem(
        keys=keys, quantity=_READ.opt_int(item, "quantity", f"{where}.quantity")
    )


def _tier_of(entity: Mapping[str, Any], where: str) -> str | None:
    """A price's or product's ``custom_data["tierline_tier"]``, if it names one."""
    custom = _READ.opt_obj(entity, "custom_data", f"{where}.custom_data") or {}
    key = TIER_CUSTOM_DATA_KEY
    return _READ.opt_string(custom, key, f"{where}.custom_data.{key}")


def _trial_end(items: list[Mapping[str, Any]]) -> datetime | None:
    ends: list[datetime] = []
    for index, item in enumerate(items):
        dates = _READ.opt_obj(item, "trial_dates", f"data.items[{index}].trial_dates")
        if dates is not None:
            end = _READ.iso(dates, "ends_at", f"data.items[{index}].trial_dates.ends_at")
            if end is not None:
                ends.append(end)
    return max(ends, default=None)


def _cancel_at(
    change: Mapping[str, Any] | None, period_end: datetime | None
) -> tuple[datetime | None, bool]:
    """(cancel_at, cancel_at_period_end) from a ``scheduled_change`` with action ``cancel``."""
    if change is None:
        return None, False
    if _READ.opt_string(change, "action", "data.scheduled_change.action") != "cancel":
        return None, False
    effective = _READ.iso(change, "effective_at", "data.scheduled_change.effective_at")
    return effective, effective is None or effective == period_end
