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
from datetime import datetime
from typing import Any

from tierline.billing.models import SubscriptionStatus
from tierline.billing.providers.base import ProviderEvent, SubscriptionItem, SubscriptionSnapshot
from tierline.billing.providers.fields import PayloadReader
from tierline.billing.providers.items import item_keys
from tierline.billing.providers.ordering import LifecycleOrder
from tierline.billing.providers.signing import SignatureScheme, SignedProvider

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

SCHEME = SignatureScheme(
    provider=NAME,
    header=SIGNATURE_HEADER,
    separator=";",
    timestamp_key="ts",
    hash_key="h1",
    joiner=":",
    setting="TIERLINE_PADDLE_WEBHOOK_SECRET",
)
_READ = PayloadReader(NAME)

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


class PaddleProvider(SignedProvider):
    """Verifies and parses Paddle Billing webhooks (see the module docstring)."""

    name = NAME
    scheme = SCHEME
    default_tolerance = DEFAULT_TOLERANCE_SECONDS

    def parse(self, payload: Mapping[str, Any]) -> ProviderEvent:
        """Normalize a verified Paddle notification."""
        event_id = _READ.string(payload, "event_id", "event_id")
        event_type = _READ.string(payload, "event_type", "event_type")
        occurred_at = _READ.iso(payload, "occurred_at", "occurred_at")
        data = _READ.obj(payload, "data", "data")
        facts: dict[str, Any] = {
            "notification_id": _READ.opt_string(payload, "notification_id", "notification_id")
        }
        snapshot = None
        if event_type in SUBSCRIPTION_EVENTS:
            snapshot = _snapshot(data, event_type)
            transaction_id = _READ.opt_string(data, "transaction_id", "data.transaction_id")
            if transaction_id is not None:
                facts["transaction_id"] = transaction_id
        elif event_type in PAYMENT_EVENTS:
            facts.update(_payment_facts(data))
        return ProviderEvent(
            provider=NAME,
            event_id=event_id,
            type=event_type,
            occurred_at=occurred_at,
            subscription=snapshot,
            data=facts,
        )


def _items(items: list[Mapping[str, Any]]) -> tuple[SubscriptionItem, ...]:
    found: list[SubscriptionItem] = []
    for index, item in enumerate(items):
        where = f"data.items[{index}]"
        price = _READ.obj(item, "price", f"{where}.price")
        product = _READ.opt_obj(item, "product", f"{where}.product") or {}
        keys = item_keys(
            _tier_of(price, f"{where}.price"),
            _tier_of(product, f"{where}.product"),
            _READ.string(price, "id", f"{where}.price.id"),
            _READ.opt_string(price, "product_id", f"{where}.price.product_id"),
        )
        found.append(
            SubscriptionItem(
                keys=keys, quantity=_READ.opt_int(item, "quantity", f"{where}.quantity")
            )
        )
    return tuple(found)


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


def _payment_facts(txn: Mapping[str, Any]) -> dict[str, Any]:
    """The normalized payment facts of a transaction (the same keys a Stripe invoice gives)."""
    custom = _READ.opt_obj(txn, "custom_data", "data.custom_data") or {}
    details = _READ.opt_obj(txn, "details", "data.details") or {}
    totals = _READ.opt_obj(details, "totals", "data.details.totals") or {}
    return {
        "transaction_id": _READ.string(txn, "id", "data.id"),
        "subscription_id": _READ.opt_string(txn, "subscription_id", "data.subscription_id"),
        "customer_id": _READ.opt_string(txn, "customer_id", "data.customer_id"),
        "account_ref": _READ.opt_string(
            custom, ACCOUNT_CUSTOM_DATA_KEY, f"data.custom_data.{ACCOUNT_CUSTOM_DATA_KEY}"
        ),
        "amount_paid": _minor_units(totals, "grand_total", "data.details.totals.grand_total"),
        "currency": _READ.opt_string(txn, "currency_code", "data.currency_code"),
        "origin": _READ.opt_string(txn, "origin", "data.origin"),
    }


def _minor_units(data: Mapping[str, Any], key: str, path: str) -> int | None:
    """A Paddle amount: a string of digits in the currency's lowest unit (``"2900"``)."""
    value = _READ.opt_string(data, key, path)
    if value is None:
        return None
    if not (value.isascii() and value.isdigit()) or len(value) > 18:
        raise _READ.fail(path, value, "an amount in minor units (a string of digits)")
    return int(value)


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


def _snapshot(sub: Mapping[str, Any], event_type: str) -> SubscriptionSnapshot:
    raw_status = _READ.string(sub, "status", "data.status")
    status = STATUS_MAP.get(raw_status)
    if status is None:
        raise _READ.fail("data.status", raw_status, f"one of {', '.join(STATUS_MAP)}")
    items = _READ.objects(sub, "items", "data.items")
    custom = _READ.opt_obj(sub, "custom_data", "data.custom_data") or {}
    period = _READ.opt_obj(sub, "current_billing_period", "data.current_billing_period")
    period_end = (
        None
        if period is None
        else _READ.iso(period, "ends_at", "data.current_billing_period.ends_at")
    )
    change = _READ.opt_obj(sub, "scheduled_change", "data.scheduled_change")
    cancel_at, at_period_end = _cancel_at(change, period_end)
    return SubscriptionSnapshot(
        external_id=_READ.string(sub, "id", "data.id"),
        status=status,
        account_ref=_READ.opt_string(
            custom, ACCOUNT_CUSTOM_DATA_KEY, f"data.custom_data.{ACCOUNT_CUSTOM_DATA_KEY}"
        ),
        customer_id=_READ.opt_string(sub, "customer_id", "data.customer_id"),
        items=_items(items),
        current_period_end=period_end,
        cancel_at_period_end=at_period_end,
        cancel_at=cancel_at,
        trial_end=_trial_end(items) if status is SubscriptionStatus.TRIALING else None,
        updated_at=_READ.iso(sub, "updated_at", "data.updated_at"),
        rank=LIFECYCLE.rank(event_type, status),
    )
