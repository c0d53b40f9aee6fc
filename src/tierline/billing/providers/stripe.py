"""Stripe webhooks: the ``Stripe-Signature`` check and the event types Tierline acts on.

Signature (https://docs.stripe.com/webhooks#verify-manually)
    ``Stripe-Signature: t=<unix>,v1=<hex>[,v1=<hex>...][,v0=<hex>]``; each ``v1`` is the
    HMAC-SHA256 of ``f"{t}.{body}"`` keyed by the endpoint's signing secret (``whsec_...``,
    from ``TIERLINE_STRIPE_WEBHOOK_SECRET``). Any ``v1`` matching any configured secret passes
    (Stripe sends one per active secret while you roll it); ``v0`` is ignored. The timestamp
    must be within ``stripe_tolerance_seconds`` (300, the SDK's default) of now, in either
    direction.

Events parsed (everything else parses to an event without a snapshot, for the inbox to ignore)
    ``checkout.session.completed``
        ``data``: ``account_ref`` (the session's ``client_reference_id``), ``customer_id``,
        ``subscription_id``, ``mode``, ``session_id``, ``payment_status``.
    ``customer.subscription.created|updated|deleted|paused|resumed``
        A :class:`SubscriptionSnapshot`: ``account_ref`` from ``metadata["tierline_account"]``;
        ``tier_keys`` from each item's price (``lookup_key``, then price id, then product id);
        the period end from ``items.data[0].current_period_end`` (API ``2025-03-31.basil`` and
        later) or the subscription's own ``current_period_end`` (older versions);
        ``cancel_at`` (a scheduled end date) is kept as a date, apart from
        ``cancel_at_period_end``; ``rank`` orders same-second snapshots: created < updated <
        deleted.
    ``invoice.paid`` / ``invoice.payment_failed``
        ``data``: ``invoice_id``, ``subscription_id`` (``parent.subscription_details`` from
        basil on, the top-level ``subscription`` before), ``customer_id``, ``amount_paid``,
        ``currency``, ``billing_reason``.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from tierline.billing.models import SubscriptionStatus
from tierline.billing.providers.base import ProviderEvent, SubscriptionItem, SubscriptionSnapshot
from tierline.billing.providers.fields import PayloadReader
from tierline.billing.providers.signing import SignatureScheme, SignedProvider

NAME = "stripe"
SIGNATURE_HEADER = "Stripe-Signature"
DEFAULT_TOLERANCE_SECONDS = 300
#: The metadata key (subscription) that carries the host's account ref.
ACCOUNT_METADATA_KEY = "tierline_account"

CHECKOUT_COMPLETED = "checkout.session.completed"
SUBSCRIPTION_EVENTS: frozenset[str] = frozenset(
    f"customer.subscription.{action}"
    for action in ("created", "updated", "deleted", "paused", "resumed")
)
INVOICE_EVENTS: frozenset[str] = frozenset({"invoice.paid", "invoice.payment_failed"})

SCHEME = SignatureScheme(
    provider=NAME,
    header=SIGNATURE_HEADER,
    separator=",",
    timestamp_key="t",
    hash_key="v1",
    joiner=".",
    setting="TIERLINE_STRIPE_WEBHOOK_SECRET",
)
_READ = PayloadReader(NAME)

#: Stripe's subscription statuses, normalized (``incomplete_expired`` is Tierline's ``expired``).
STATUS_MAP: Mapping[str, SubscriptionStatus] = {
    "incomplete": SubscriptionStatus.INCOMPLETE,
    "incomplete_expired": SubscriptionStatus.EXPIRED,
    "trialing": SubscriptionStatus.TRIALING,
    "active": SubscriptionStatus.ACTIVE,
    "past_due": SubscriptionStatus.PAST_DUE,
    "canceled": SubscriptionStatus.CANCELED,
    "unpaid": SubscriptionStatus.UNPAID,
    "paused": SubscriptionStatus.PAUSED,
}


def sign(body: bytes, secret: str, timestamp: int | None = None) -> dict[str, str]:
    """The ``Stripe-Signature`` header Stripe would send with ``body`` (timestamp: now)."""
    return SCHEME.sign(body, secret, timestamp)


class StripeProvider(SignedProvider):
    """Verifies and parses Stripe webhooks (see the module docstring)."""

    name = NAME
    scheme = SCHEME
    default_tolerance = DEFAULT_TOLERANCE_SECONDS

    def parse(self, payload: Mapping[str, Any]) -> ProviderEvent:
        """Normalize a verified Stripe event object."""
        kind = payload.get("object")
        if kind is not None and kind != "event":
            raise _READ.fail("object", kind, "'event'")
        event_id = _READ.string(payload, "id", "id")
        event_type = _READ.string(payload, "type", "type")
        occurred_at = _READ.unix(payload, "created", "created")
        obj = _READ.obj(_READ.obj(payload, "data", "data"), "object", "data.object")
        snapshot: SubscriptionSnapshot | None = None
        facts: dict[str, Any] = {}
        if event_type == CHECKOUT_COMPLETED:
            facts = _checkout_facts(obj)
        elif event_type in SUBSCRIPTION_EVENTS:
            snapshot = _snapshot(obj, occurred_at, _EVENT_RANK.get(event_type, 1))
        elif event_type in INVOICE_EVENTS:
            facts = _invoice_facts(obj)
        return ProviderEvent(
            provider=NAME,
            event_id=event_id,
            type=event_type,
            occurred_at=occurred_at,
            subscription=snapshot,
            data=facts,
        )


def _ref(data: Mapping[str, Any], key: str, path: str) -> str | None:
    """An id field that Stripe sends as a string, or as the object itself when expanded."""
    value = data.get(key)
    if isinstance(value, Mapping):
        return _READ.string(value, "id", f"{path}.id")
    return _READ.opt_string(data, key, path)


def _checkout_facts(session: Mapping[str, Any]) -> dict[str, Any]:
    where = "data.object"
    return {
        "session_id": _READ.string(session, "id", f"{where}.id"),
        "account_ref": _READ.opt_string(
            session, "client_reference_id", f"{where}.client_reference_id"
        ),
        "customer_id": _ref(session, "customer", f"{where}.customer"),
        "subscription_id": _ref(session, "subscription", f"{where}.subscription"),
        "mode": _READ.opt_string(session, "mode", f"{where}.mode"),
        "payment_status": _READ.opt_string(session, "payment_status", f"{where}.payment_status"),
    }


def _invoice_facts(invoice: Mapping[str, Any]) -> dict[str, Any]:
    where = "data.object"
    subscription_id = _ref(invoice, "subscription", f"{where}.subscription")
    parent = _READ.opt_obj(invoice, "parent", f"{where}.parent")
    if subscription_id is None and parent is not None:
        details = _READ.opt_obj(
            parent, "subscription_details", f"{where}.parent.subscription_details"
        )
        if details is not None:
            subscription_id = _ref(
                details, "subscription", f"{where}.parent.subscription_details.subscription"
            )
    return {
        "invoice_id": _READ.string(invoice, "id", f"{where}.id"),
        "subscription_id": subscription_id,
        "customer_id": _ref(invoice, "customer", f"{where}.customer"),
        "amount_paid": _READ.opt_int(invoice, "amount_paid", f"{where}.amount_paid"),
        "currency": _READ.opt_string(invoice, "currency", f"{where}.currency"),
        "billing_reason": _READ.opt_string(invoice, "billing_reason", f"{where}.billing_reason"),
    }


def _items(items: list[Mapping[str, Any]]) -> tuple[SubscriptionItem, ...]:
    found: list[SubscriptionItem] = []
    for index, item in enumerate(items):
        where = f"data.object.items.data[{index}]"
        price = _READ.opt_obj(item, "price", f"{where}.price")
        keys: list[str] = []
        if price is not None:
            for key in (
                _READ.opt_string(price, "lookup_key", f"{where}.price.lookup_key"),
                _READ.opt_string(price, "id", f"{where}.price.id"),
                _ref(price, "product", f"{where}.price.product"),
            ):
                if key is not None and key not in keys:
                    keys.append(key)
        found.append(
            SubscriptionItem(
                keys=tuple(keys),
                quantity=_READ.opt_int(item, "quantity", f"{where}.quantity"),
                current_period_end=_READ.unix(
                    item, "current_period_end", f"{where}.current_period_end"
                ),
            )
        )
    return tuple(found)


#: Lifecycle rank on equal ``created`` seconds: created < updated (and paused/resumed) < deleted.
_EVENT_RANK: Mapping[str, int] = {
    "customer.subscription.created": 0,
    "customer.subscription.deleted": 2,
}


def _snapshot(
    sub: Mapping[str, Any], occurred_at: datetime | None, rank: int
) -> SubscriptionSnapshot:
    where = "data.object"
    raw_status = _READ.string(sub, "status", f"{where}.status")
    status = STATUS_MAP.get(raw_status)
    if status is None:
        raise _READ.fail(f"{where}.status", raw_status, f"one of {', '.join(STATUS_MAP)}")
    items_list = _READ.opt_obj(sub, "items", f"{where}.items")
    items = [] if items_list is None else _READ.objects(items_list, "data", f"{where}.items.data")
    # From 2025-03-31.basil the billing period lives on each item; before, on the subscription.
    period_end = _READ.unix(sub, "current_period_end", f"{where}.current_period_end")
    quantity = _READ.opt_int(sub, "quantity", f"{where}.quantity")
    metadata = _READ.opt_obj(sub, "metadata", f"{where}.metadata") or {}
    cancel_at = _READ.unix(sub, "cancel_at", f"{where}.cancel_at")
    return SubscriptionSnapshot(
        external_id=_READ.string(sub, "id", f"{where}.id"),
        status=status,
        account_ref=_READ.opt_string(
            metadata, ACCOUNT_METADATA_KEY, f"{where}.metadata.{ACCOUNT_METADATA_KEY}"
        ),
        customer_id=_ref(sub, "customer", f"{where}.customer"),
        items=_with_quantity(_items(items), quantity),
        current_period_end=period_end,
        cancel_at_period_end=_READ.flag(
            sub, "cancel_at_period_end", f"{where}.cancel_at_period_end"
        ),
        cancel_at=cancel_at,
        trial_end=_READ.unix(sub, "trial_end", f"{where}.trial_end"),
        updated_at=occurred_at,
        rank=rank,
    )


def _with_quantity(
    items: tuple[SubscriptionItem, ...], quantity: int | None
) -> tuple[SubscriptionItem, ...]:
    """Older API versions put a single-item subscription's quantity on the subscription."""
    if quantity is None or len(items) != 1 or items[0].quantity is not None:
        return items
    only = items[0]
    return (SubscriptionItem(only.keys, quantity, only.current_period_end),)
