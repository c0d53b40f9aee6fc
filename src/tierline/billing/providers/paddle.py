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

Events parsed (other types parse to an event without a snapshot, for the inbox to ignore)
    ``subscription.created|activated|trialing|updated|past_due|paused|resumed|canceled`` give a
    :class:`SubscriptionSnapshot`: ``account_ref`` from ``data.custom_data["tierline_account"]``;
    ``tier_keys`` per item: the price's ``custom_data["tierline_tier"]``, the product's (when the
    product object is included), the price id, the product id; the period end from
    ``current_billing_period.ends_at``; ``cancel_at_period_end`` when ``scheduled_change.action``
    is ``cancel``; ``trial_end`` from the items' ``trial_dates.ends_at`` while trialing;
    ``updated_at`` is the entity's ``updated_at``. ``ProviderEvent.data`` carries
    ``notification_id`` and, on ``subscription.created``, ``transaction_id``.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from tierline.billing.models import SubscriptionStatus
from tierline.billing.providers.base import ProviderEvent, SubscriptionItem, SubscriptionSnapshot
from tierline.billing.providers.fields import PayloadReader
from tierline.billing.providers.signing import SignatureScheme, SignedProvider

NAME = "paddle"
SIGNATURE_HEADER = "Paddle-Signature"
#: The official SDK's default ``maximum_variance``.
DEFAULT_TOLERANCE_SECONDS = 5
#: The subscription custom_data key that carries the host's account ref.
ACCOUNT_CUSTOM_DATA_KEY = "tierline_account"
#: The price/product custom_data key that names a Tierline tier link.
TIER_CUSTOM_DATA_KEY = "tierline_tier"

SUBSCRIPTION_EVENTS: frozenset[str] = frozenset(
    f"subscription.{action}"
    for action in (
        "created",
        "activated",
        "trialing",
        "updated",
        "past_due",
        "paused",
        "resumed",
        "canceled",
    )
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
            snapshot = _snapshot(data)
            transaction_id = _READ.opt_string(data, "transaction_id", "data.transaction_id")
            if transaction_id is not None:
                facts["transaction_id"] = transaction_id
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
        keys: list[str] = []
        where = f"data.items[{index}]"
        price = _READ.obj(item, "price", f"{where}.price")
        product = _READ.opt_obj(item, "product", f"{where}.product")
        price_data = _READ.opt_obj(price, "custom_data", f"{where}.price.custom_data") or {}
        product_data = (
            _READ.opt_obj(product, "custom_data", f"{where}.product.custom_data") or {}
            if product is not None
            else {}
        )
        for key in (
            _READ.opt_string(
                price_data,
                TIER_CUSTOM_DATA_KEY,
                f"{where}.price.custom_data.{TIER_CUSTOM_DATA_KEY}",
            ),
            _READ.opt_string(
                product_data,
                TIER_CUSTOM_DATA_KEY,
                f"{where}.product.custom_data.{TIER_CUSTOM_DATA_KEY}",
            ),
            _READ.string(price, "id", f"{where}.price.id"),
            _READ.opt_string(price, "product_id", f"{where}.price.product_id"),
        ):
            if key is not None and key not in keys:
                keys.append(key)
        found.append(
            SubscriptionItem(
                keys=tuple(keys),
                quantity=_READ.opt_int(item, "quantity", f"{where}.quantity"),
            )
        )
    return tuple(found)


def _trial_end(items: list[Mapping[str, Any]]) -> datetime | None:
    ends: list[datetime] = []
    for index, item in enumerate(items):
        dates = _READ.opt_obj(item, "trial_dates", f"data.items[{index}].trial_dates")
        if dates is not None:
            end = _READ.iso(dates, "ends_at", f"data.items[{index}].trial_dates.ends_at")
            if end is not None:
                ends.append(end)
    return max(ends, default=None)


def _snapshot(sub: Mapping[str, Any]) -> SubscriptionSnapshot:
    raw_status = _READ.string(sub, "status", "data.status")
    status = STATUS_MAP.get(raw_status)
    if status is None:
        raise _READ.fail("data.status", raw_status, f"one of {', '.join(STATUS_MAP)}")
    items = _READ.objects(sub, "items", "data.items")
    custom = _READ.opt_obj(sub, "custom_data", "data.custom_data") or {}
    period = _READ.opt_obj(sub, "current_billing_period", "data.current_billing_period")
    change = _READ.opt_obj(sub, "scheduled_change", "data.scheduled_change")
    return SubscriptionSnapshot(
        external_id=_READ.string(sub, "id", "data.id"),
        status=status,
        account_ref=_READ.opt_string(
            custom, ACCOUNT_CUSTOM_DATA_KEY, f"data.custom_data.{ACCOUNT_CUSTOM_DATA_KEY}"
        ),
        customer_id=_READ.opt_string(sub, "customer_id", "data.customer_id"),
        items=_items(items),
        current_period_end=(
            None
            if period is None
            else _READ.iso(period, "ends_at", "data.current_billing_period.ends_at")
        ),
        cancel_at_period_end=(
            change is not None
            and _READ.opt_string(change, "action", "data.scheduled_change.action") == "cancel"
        ),
        trial_end=_trial_end(items) if status is SubscriptionStatus.TRIALING else None,
        updated_at=_READ.iso(sub, "updated_at", "data.updated_at"),
    )
