"""Stripe webhooks: the ``Stripe-Signature`` check and the event types Tierline acts on.

Signature (https://docs.stripe.com/webhooks#verify-manually)
    ``Stripe-Signature: t=<unix>,v1=<hex>[,v1=<hex>...][,v0=<hex>]``; each ``v1`` is the
    HMAC-SHA256 of ``f"{t}.{body}"`` keyed by the endpoint's signing secret (``whsec_...``,
    from ``TIERLINE_STRIPE_WEBHOOK_SECRET``). Any ``v1`` matching any configured secret passes
    (Stripe sends one per active secret while you roll it); ``v0`` is ignored. The timestamp
    must be within ``stripe_tolerance_seconds`` (300, the SDK's default) of now, in either
    direction. Live and test mode endpoints have different secrets: list both in
    ``TIERLINE_STRIPE_WEBHOOK_SECRET`` when one URL receives both modes.

Events parsed (every other type parses to an event without a snapshot; the inbox stores it as
``ignored`` and answers 200, so a genuine event is never refused)
    ``checkout.session.completed`` / ``checkout.session.async_payment_succeeded``
        ``data``: ``account_ref`` (the session's ``client_reference_id``), ``customer_id``,
        ``subscription_id``, ``mode``, ``session_id``, ``payment_status``.
    ``customer.subscription.created|updated|deleted|paused|resumed|pending_update_applied|
    pending_update_expired|trial_will_end`` (each carries the subscription as ``data.object``)
        A :class:`SubscriptionSnapshot`: ``account_ref`` from ``metadata["tierline_account"]``;
        one :class:`SubscriptionItem` per ``items.data[]`` entry: its keys from the price
        (``lookup_key``, then price id, then product id), its ``quantity``, and its own
        ``current_period_end`` (API ``2025-03-31.basil`` and later keep the period on each
        item, so mixed intervals give each item its own); the subscription's
        ``current_period_end`` and ``quantity`` (older API versions); ``cancel_at_period_end``
        from that flag only; ``cancel_at``, the date a scheduled cancellation ends the
        subscription (newer API versions also set it to the period end when
        ``cancel_at_period_end`` is set: access then ends at the same moment); ``livemode``;
        ``rank`` from :data:`LIFECYCLE`.
    ``invoice.paid`` / ``invoice.payment_succeeded`` / ``invoice.payment_failed``
        ``data``: ``invoice_id``, ``subscription_id`` (``parent.subscription_details`` from
        basil on, the top-level ``subscription`` before), ``customer_id``, ``amount_paid``
        (minor units), ``currency``, ``billing_reason``. Stripe sends
        ``invoice.payment_succeeded`` beside ``invoice.paid`` for the same payment
        (https://docs.stripe.com/api/events/types): both give the same facts, so whichever
        arrives counts as the payment (a referral converts once either way).
    v2 "thin" events (``"object": "v2.core.event"``; https://docs.stripe.com/event-destinations)
        Signed the same way, but ``created`` is RFC 3339 and the payload names a
        ``related_object`` instead of carrying ``data.object``. They parse to an event without
        a snapshot; ``data``: ``related_object_id``, ``related_object_type``.

Ordering (:data:`LIFECYCLE`, combined by :mod:`tierline.billing.providers.ordering`)
    Snapshots of one subscription are ordered by the event's ``created`` (whole seconds), then
    by ``rank``: a terminal status (``canceled``, ``incomplete_expired``) above everything;
    then the event type: ``created`` (0) < ``updated``, ``paused``, ``resumed``,
    ``pending_update_applied``, ``pending_update_expired``, ``trial_will_end`` (1) <
    ``deleted`` (2); then the status: ``incomplete`` (0) < ``trialing`` (1) < ``active``,
    ``past_due``, ``unpaid``, ``paused`` (2) < ``canceled``, ``incomplete_expired`` (3).

Live and test mode (https://docs.stripe.com/api/events/object#event_object-livemode)
    Every event says ``livemode``; :attr:`ProviderEvent.livemode` and
    :attr:`SubscriptionSnapshot.livemode` pass it through. :func:`expected_livemode` gives the
    mode an app accepts (``TIERLINE_STRIPE_MODE``, else the API key's prefix, else both); the
    apply step stores an event of the other mode as ``ignored``
    (:mod:`tierline.billing.livemode`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime
from typing import Any

from tierline.billing.models import SubscriptionStatus
from tierline.billing.providers.base import ProviderEvent, SubscriptionItem, SubscriptionSnapshot
from tierline.billing.providers.declared import (
    UNIX_TEXT_KINDS,
    DeclaredReader,
    EventObjectProvider,
    FactSpec,
    Field,
    SnapshotSpec,
    by_event,
)
from tierline.billing.providers.fields import PayloadReader
from tierline.billing.providers.items import item_keys
from tierline.billing.providers.ordering import LifecycleOrder
from tierline.billing.providers.signing import SignatureScheme

NAME = "stripe"
SIGNATURE_HEADER = "Stripe-Signature"
DEFAULT_TOLERANCE_SECONDS = 300
#: The metadata key (subscription) that carries the host's account ref.
ACCOUNT_METADATA_KEY = "tierline_account"
#: The ``object`` of a v1 event (a snapshot payload) and of a v2 thin event.
EVENT_OBJECT = "event"
THIN_EVENT_OBJECT = "v2.core.event"

CHECKOUT_EVENTS: frozenset[str] = frozenset(
    {"checkout.session.completed", "checkout.session.async_payment_succeeded"}
)
#: Subscription events whose ``data.object`` is the subscription, with their lifecycle rank.
SUBSCRIPTION_EVENT_RANKS: Mapping[str, int] = {
    "customer.subscription.created": 0,
    "customer.subscription.updated": 1,
    "customer.subscription.paused": 1,
    "customer.subscription.resumed": 1,
    "customer.subscription.pending_update_applied": 1,
    "customer.subscription.pending_update_expired": 1,
    "customer.subscription.trial_will_end": 1,
    "customer.subscription.deleted": 2,
}
SUBSCRIPTION_EVENTS: frozenset[str] = frozenset(SUBSCRIPTION_EVENT_RANKS)
INVOICE_EVENTS: frozenset[str] = frozenset(
    {"invoice.paid", "invoice.payment_succeeded", "invoice.payment_failed"}
)

#: The ordering table (see the module docstring's "Ordering").
LIFECYCLE = LifecycleOrder(
    events=SUBSCRIPTION_EVENT_RANKS,
)

SCHEME = SignatureScheme.stripe_style(NAME, SIGNATURE_HEADER, "TIERLINE_STRIPE_WEBHOOK_SECRET")
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

#: ``TIERLINE_STRIPE_MODE`` values and the ``livemode`` each accepts.
MODES: Mapping[str, bool] = {"live": True, "test": False}
#: API key prefixes (secret and restricted keys) and the mode each one belongs to.
_KEY_MODES: Mapping[str, bool] = {
    "sk_live_": True,
    "rk_live_": True,
    "sk_test_": False,
    "rk_test_": False,
}


def sign(body: bytes, secret: str, timestamp: int | None = None) -> dict[str, str]:
    """The ``Stripe-Signature`` header Stripe would send with ``body`` (timestamp: now)."""
    return SCHEME.sign(body, secret, timestamp)


def expected_livemode(mode: str | None, api_key: str | None) -> bool | None:
    """The ``livemode`` an app accepts: True (live), False (test) or None (both).

    ``mode`` is ``TIERLINE_STRIPE_MODE`` (``live`` or ``test``); unset, the API key decides by
    its prefix (``sk_live_``/``rk_live_`` live, ``sk_test_``/``rk_test_`` test); with neither,
    both modes are accepted and each subscription records its own. Raises :class:`ValueError`
    for another ``mode``.
    """
    if mode:
        if mode not in MODES:
            raise ValueError(f"unknown Stripe mode {mode!r}; valid: {', '.join(MODES)}")
        return MODES[mode]
    for prefix, live in _KEY_MODES.items():
        if api_key and api_key.startswith(prefix):
            return live
    return None


_OBJECT = "data.object"
#: Where a v1 event's subscription (``data.object``) keeps each part of a snapshot.
SUBSCRIPTION = SnapshotSpec(
    statuses=STATUS_MAP,
    lifecycle=LIFECYCLE,
    root=_OBJECT,
    updated_at="/created",
    customer_id="customer",
    # From 2025-03-31.basil the billing period lives on each item; before, on the subscription.
    quantity="quantity",
    cancel_at="cancel_at",
    kinds={**UNIX_TEXT_KINDS, "customer_id": "ref"},
)
CHECKOUT: FactSpec = {
    "session_id": Field.of(f"{_OBJECT}.id", kind="text", required=True),
    "account_ref": Field.of(f"{_OBJECT}.client_reference_id", kind="text"),
    "customer_id": Field.of(f"{_OBJECT}.customer", kind="ref"),
    "subscription_id": Field.of(f"{_OBJECT}.subscription", kind="ref"),
    "mode": Field.of(f"{_OBJECT}.mode", kind="text"),
    "payment_status": Field.of(f"{_OBJECT}.payment_status", kind="text"),
}
INVOICE: FactSpec = {
    "invoice_id": Field.of(f"{_OBJECT}.id", kind="text", required=True),
    "subscription_id": Field.of(
        f"{_OBJECT}.subscription",
        f"{_OBJECT}.parent.subscription_details.subscription",
        kind="ref",
    ),
    "customer_id": Field.of(f"{_OBJECT}.customer", kind="ref"),
    "amount_paid": Field.of(f"{_OBJECT}.amount_paid", kind="int"),
    "currency": Field.of(f"{_OBJECT}.currency", kind="text"),
    "billing_reason": Field.of(f"{_OBJECT}.billing_reason", kind="text"),
}
#: A v2 thin event's facts: a reference to the changed object, never a snapshot of it.
THIN_EVENT: FactSpec = {
    "related_object_id": Field.of("related_object.id", kind="text"),
    "related_object_type": Field.of("related_object.type", kind="text"),
}


class StripeProvider(EventObjectProvider):
    """Verifies and parses Stripe webhooks (see the module docstring)."""

    name = NAME
    scheme = SCHEME
    default_tolerance = DEFAULT_TOLERANCE_SECONDS
    subscription = SUBSCRIPTION
    fact_events = by_event((CHECKOUT_EVENTS, CHECKOUT), (INVOICE_EVENTS, INVOICE))

    def parse(self, payload: Mapping[str, Any]) -> ProviderEvent:
        """Normalize a verified Stripe event object (a v1 snapshot event or a v2 thin event)."""
        kind = payload.get("object")
        if kind is not None and kind not in (EVENT_OBJECT, THIN_EVENT_OBJECT):
            raise self.reader.fail("object", kind, f"{EVENT_OBJECT!r} or {THIN_EVENT_OBJECT!r}")
        return super().parse(payload)

    def occurred_at(self, fields: DeclaredReader) -> datetime | None:
        """``created``: unix seconds in a v1 event, RFC 3339 in a v2 thin event."""
        if not _thin(fields):
            return super().occurred_at(fields)
        created: datetime | None = fields.value(Field.of("created", kind="iso"))
        return created

    def livemode(self, fields: DeclaredReader) -> bool | None:
        """The event's ``livemode`` (None when it does not say)."""
        return _livemode(fields.payload, "livemode")

    def body(
        self, fields: DeclaredReader, event_type: str
    ) -> tuple[SubscriptionSnapshot | None, dict[str, Any]]:
        """A thin event's reference; a v1 event's ``data.object`` as declared."""
        if _thin(fields):
            return None, fields.facts(THIN_EVENT)
        self.reader.obj(self.reader.obj(fields.payload, "data", "data"), "object", _OBJECT)
        return super().body(fields, event_type)

    def items(self, fields: DeclaredReader, spec: SnapshotSpec) -> tuple[SubscriptionItem, ...]:
        """One item per ``items.data[]`` entry; an older API's quantity is the subscription's."""
        items_list = self.reader.opt_obj(fields.object(_OBJECT), "items", f"{_OBJECT}.items")
        raw = (
            []
            if items_list is None
            else self.reader.objects(items_list, "data", f"{_OBJECT}.items.data")
        )
        items = tuple(
            _item(item, f"{_OBJECT}.items.data[{index}]") for index, item in enumerate(raw)
        )
        return _with_quantity(items, fields.value(spec.field("quantity")))

    def snapshot(
        self, fields: DeclaredReader, spec: SnapshotSpec, event_type: str
    ) -> SubscriptionSnapshot:
        """The declared snapshot, in the subscription's own mode when it says one."""
        snapshot = super().snapshot(fields, spec, event_type)
        livemode = _livemode(fields.object(_OBJECT), f"{_OBJECT}.livemode")
        return snapshot if livemode is None else replace(snapshot, livemode=livemode)


def _thin(fields: DeclaredReader) -> bool:
    return fields.payload.get("object") == THIN_EVENT_OBJECT


_READ = PayloadReader(NAME)


def _livemode(data: Mapping[str, Any], path: str) -> bool | None:
    """Stripe's ``livemode`` flag; None when the payload does not say."""
    value = data.get("livemode")
    if value is None:
        return None
    if not isinstance(value, bool):
        raise _READ.fail(path, value, "true, false or null")
    return value


def _item(item: Mapping[str, Any], where: str) -> SubscriptionItem:
    price = _READ.opt_obj(item, "price", f"{where}.price")
    keys: tuple[str, ...] = ()
    if price is not None:
        keys = item_keys(
            _READ.opt_string(price, "lookup_key", f"{where}.price.lookup_key"),
            _READ.opt_string(price, "id", f"{where}.price.id"),
            _READ.ref(price, "product", f"{where}.price.product"),
        )
    return SubscriptionItem(
        keys=keys,
        quantity=_READ.opt_int(item, "quantity", f"{where}.quantity"),
        current_period_end=_READ.unix(item, "current_period_end", f"{where}.current_period_end"),
    )


def _with_quantity(
    items: tuple[SubscriptionItem, ...], quantity: int | None
) -> tuple[SubscriptionItem, ...]:
    """Older API versions put a single-item subscription's quantity on the subscription."""
    if quantity is None or len(items) != 1 or items[0].quantity is not None:
        return items
    only = items[0]
    return (SubscriptionItem(only.keys, quantity, only.current_period_end),)
