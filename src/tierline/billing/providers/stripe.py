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
from datetime import datetime
from typing import Any

from tierline.billing.models import SubscriptionStatus
from tierline.billing.providers.base import ProviderEvent, SubscriptionItem, SubscriptionSnapshot
from tierline.billing.providers.fields import PayloadReader
from tierline.billing.providers.items import item_keys
from tierline.billing.providers.ordering import LifecycleOrder
from tierline.billing.providers.signing import SignatureScheme, SignedProvider

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


class StripeProvider(SignedProvider):
    """Verifies and parses Stripe webhooks (see the module docstring)."""

    name = NAME
    scheme = SCHEME
    default_tolerance = DEFAULT_TOLERANCE_SECONDS

    def parse(self, payload: Mapping[str, Any]) -> ProviderEvent:
        """Normalize a verified Stripe event object (a v1 snapshot event or a v2 thin event)."""
        kind = payload.get("object")
        if kind == THIN_EVENT_OBJECT:
            return _thin_event(payload)
        if kind is not None and kind != EVENT_OBJECT:
            raise _READ.fail("object", kind, f"{EVENT_OBJECT!r} or {THIN_EVENT_OBJECT!r}")
        event_id = _READ.string(payload, "id", "id")
        event_type = _READ.string(payload, "type", "type")
        occurred_at = _READ.unix(payload, "created", "created")
        livemode = _livemode(payload, "livemode")
        obj = _READ.obj(_READ.obj(payload, "data", "data"), "object", "data.object")
        snapshot: SubscriptionSnapshot | None = None
        facts: dict[str, Any] = {}
        if event_type in CHECKOUT_EVENTS:
            facts = _checkout_facts(obj)
        elif event_type in SUBSCRIPTION_EVENTS:
            snapshot = _snapshot(obj, event_type, occurred_at, livemode)
        elif event_type in INVOICE_EVENTS:
            facts = _invoice_facts(obj)
        return ProviderEvent(
            provider=NAME,
            event_id=event_id,
            type=event_type,
            occurred_at=occurred_at,
            subscription=snapshot,
            data=facts,
            livemode=livemode,
        )


def _thin_event(payload: Mapping[str, Any]) -> ProviderEvent:
    """A v2 thin event: a reference to the changed object, never a snapshot of it."""
    related = _READ.opt_obj(payload, "related_object", "related_object") or {}
    return ProviderEvent(
        provider=NAME,
        event_id=_READ.string(payload, "id", "id"),
        type=_READ.string(payload, "type", "type"),
        occurred_at=_READ.iso(payload, "created", "created"),
        data={
            "related_object_id": _READ.opt_string(related, "id", "related_object.id"),
            "related_object_type": _READ.opt_string(related, "type", "related_object.type"),
        },
        livemode=_livemode(payload, "livemode"),
    )


def _livemode(data: Mapping[str, Any], path: str) -> bool | None:
    """Stripe's ``livemode`` flag; None when the payload does not say."""
    value = data.get("livemode")
    if value is None:
        return None
    if not isinstance(value, bool):
        raise _READ.fail(path, value, "true, false or null")
    return value


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
        keys: tuple[str, ...] = ()
        if price is not None:
            keys = item_keys(
                _READ.opt_string(price, "lookup_key", f"{where}.price.lookup_key"),
                _READ.opt_string(price, "id", f"{where}.price.id"),
                _ref(price, "product", f"{where}.price.product"),
            )
        found.append(
            SubscriptionItem(
                keys=keys,
                quantity=_READ.opt_int(item, "quantity", f"{where}.quantity"),
                current_period_end=_READ.unix(
                    item, "current_period_end", f"{where}.current_period_end"
                ),
            )
        )
    return tuple(found)


def _snapshot(
    sub: Mapping[str, Any],
    event_type: str,
    occurred_at: datetime | None,
    event_livemode: bool | None,
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
    livemode = _livemode(sub, f"{where}.livemode")
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
        cancel_at=_READ.unix(sub, "cancel_at", f"{where}.cancel_at"),
        trial_end=_READ.unix(sub, "trial_end", f"{where}.trial_end"),
        updated_at=occurred_at,
        rank=LIFECYCLE.rank(event_type, status),
        livemode=event_livemode if livemode is None else livemode,
    )


def _with_quantity(
    items: tuple[SubscriptionItem, ...], quantity: int | None
) -> tuple[SubscriptionItem, ...]:
    """Older API versions put a single-item subscription's quantity on the subscription."""
    if quantity is None or len(items) != 1 or items[0].quantity is not None:
        return items
    only = items[0]
    return (SubscriptionItem(only.keys, quantity, only.current_period_end),)
