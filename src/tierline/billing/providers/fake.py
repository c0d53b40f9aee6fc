"""The ``fake`` provider: real signed webhooks, no payment company, for demos and offline tests.

Signature
    Header ``Tierline-Signature: t=<unix>,v1=<hex>`` where ``<hex>`` is the HMAC-SHA256 of
    ``f"{t}.{body}"`` keyed by a secret from ``TIERLINE_FAKE_WEBHOOK_SECRET`` (Stripe's scheme
    under Tierline's name). Several ``v1`` values and several configured secrets are accepted;
    the timestamp must be within 300 s of now, in either direction.

Payload (a JSON object)::

    {
      "id": "evt_fake_<hex>",              # unique per event; the inbox's idempotency key
      "object": "event",
      "type": "checkout.completed" | "subscription.created" | "subscription.updated"
              | "subscription.canceled",
      "created": <unix seconds>,
      "data": {
        "account_ref": "<host account id>",   # checkout.completed only (optional)
        "customer_id": "cus_fake_<hex>",       # checkout.completed only (optional)
        "subscription": {                      # required for subscription.*, optional for
          "id": "sub_fake_<hex>",              #   checkout.completed (one event then both
          "status": "active",                  #   completes the checkout and starts the
          "account_ref": "<host account id>",  #   subscription)
          "customer_id": "cus_fake_<hex>",
          "tier_key": "pro",                   # the tier's fake-provider link (its key)
          "quantity": 1,
          "items": [                           # optional, instead of tier_key/quantity: a
            {"tier_key": "pro",                #   multi-item subscription, one entry per
             "quantity": 3,                    #   priced item (an add-on's tier_key links to
             "current_period_end": <unix>}     #   no tier), each with its own period end
          ],
          "current_period_end": <unix> | null,
          "cancel_at_period_end": false,
          "cancel_at": <unix> | null,          # a scheduled end date
          "trial_end": <unix> | null
        }
      }
    }

``status`` is one of :class:`~tierline.billing.models.SubscriptionStatus`'s values. Other event
types parse (so a newer sender does not break an older receiver) and carry no snapshot.
:func:`build_event` makes these payloads; :func:`sign` signs them.

Ordering (:data:`LIFECYCLE`, combined by :mod:`tierline.billing.providers.ordering`)
    Snapshots of one subscription are ordered by the event's ``created`` (whole seconds), then
    by ``rank``: a terminal status (``canceled``, ``expired``) above everything; then the event
    type: ``checkout.completed``, ``subscription.created`` (0) < ``subscription.updated`` (1)
    < ``subscription.canceled`` (2); then the status: ``incomplete`` (0) < ``trialing`` (1) <
    ``active``, ``past_due``, ``unpaid``, ``paused`` (2) < ``canceled``, ``expired`` (3).
"""

from __future__ import annotations

import hashlib
import secrets as _secrets
import time
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from tierline.billing.models import SubscriptionStatus
from tierline.billing.providers.base import SubscriptionItem, SubscriptionSnapshot
from tierline.billing.providers.declared import (
    UNIX_TEXT_KINDS,
    DeclaredReader,
    EventObjectProvider,
    Field,
    SnapshotSpec,
)
from tierline.billing.providers.fields import PayloadReader
from tierline.billing.providers.ordering import LifecycleOrder
from tierline.billing.providers.signing import SignatureScheme
from tierline.errors import ValidationError

NAME = "fake"
SIGNATURE_HEADER = "Tierline-Signature"
DEFAULT_TOLERANCE_SECONDS = 300

CHECKOUT_COMPLETED = "checkout.completed"
SUBSCRIPTION_CREATED = "subscription.created"
SUBSCRIPTION_UPDATED = "subscription.updated"
SUBSCRIPTION_CANCELED = "subscription.canceled"
#: Every event type the fake provider sends, in the order a subscription lives through them.
EVENT_TYPES: tuple[str, ...] = (
    CHECKOUT_COMPLETED,
    SUBSCRIPTION_CREATED,
    SUBSCRIPTION_UPDATED,
    SUBSCRIPTION_CANCELED,
)

#: Stripe's scheme under Tierline's name.
SCHEME = SignatureScheme.stripe_style(NAME, SIGNATURE_HEADER, "TIERLINE_FAKE_WEBHOOK_SECRET")
#: The ordering table (see the module docstring's "Ordering").
LIFECYCLE = LifecycleOrder(
    events={
        CHECKOUT_COMPLETED: 0,
        SUBSCRIPTION_CREATED: 0,
        SUBSCRIPTION_UPDATED: 1,
        SUBSCRIPTION_CANCELED: 2,
    },
)
_READ = PayloadReader(NAME)
_STATUSES = ", ".join(status.value for status in SubscriptionStatus)


def sign(body: bytes, secret: str, timestamp: int | None = None) -> dict[str, str]:
    """The ``Tierline-Signature`` header for ``body`` (timestamp defaults to now)."""
    return SCHEME.sign(body, secret, timestamp)


_SUB = "data.subscription"
#: Where an event's subscription keeps each part of a snapshot (its time is the event's).
SUBSCRIPTION = SnapshotSpec(
    statuses={status.value: status for status in SubscriptionStatus},
    lifecycle=LIFECYCLE,
    root=_SUB,
    updated_at="/created",
    account_ref="account_ref",
    cancel_at="cancel_at",
    kinds=UNIX_TEXT_KINDS,
)
#: A checkout's facts: the event's own, else its subscription's.
CHECKOUT = {
    "account_ref": Field.of("data.account_ref", f"{_SUB}.account_ref", kind="text"),
    "customer_id": Field.of("data.customer_id", f"{_SUB}.customer_id", kind="text"),
    "subscription_id": Field.of(f"{_SUB}.id", kind="text"),
}


class FakeProvider(EventObjectProvider):
    """Verifies and parses the fake provider's webhooks (see the module docstring)."""

    name = NAME
    scheme = SCHEME
    default_tolerance = DEFAULT_TOLERANCE_SECONDS
    subscription = SUBSCRIPTION

    def body(
        self, fields: DeclaredReader, event_type: str
    ) -> tuple[SubscriptionSnapshot | None, dict[str, Any]]:
        """Any event may carry a subscription (``subscription.*`` must); a checkout its facts."""
        data = _READ.obj(fields.payload, "data", "data")
        raw_sub = _READ.opt_obj(data, "subscription", _SUB)
        if raw_sub is None and event_type.startswith("subscription."):
            raise _READ.fail(_SUB, None, f"an object for {event_type} events")
        snapshot = None if raw_sub is None else self.snapshot(fields, SUBSCRIPTION, event_type)
        facts = fields.facts(CHECKOUT) if event_type == CHECKOUT_COMPLETED else {}
        return snapshot, facts

    def items(self, fields: DeclaredReader, spec: SnapshotSpec) -> tuple[SubscriptionItem, ...]:
        """The ``items`` list, or one item from the subscription's own tier_key and quantity."""
        sub = fields.object(_SUB)
        if sub.get("items") is None:
            return (_item({k: sub.get(k) for k in ("tier_key", "quantity")}, _SUB),)
        raw = _READ.objects(sub, "items", f"{_SUB}.items")
        if sub.get("tier_key") is not None:
            raise _READ.fail(f"{_SUB}.tier_key", sub["tier_key"], "null when items are given")
        return tuple(_item(item, f"{_SUB}.items[{index}]") for index, item in enumerate(raw))


def _item(data: Mapping[str, Any], where: str) -> SubscriptionItem:
    tier_key = _READ.opt_string(data, "tier_key", f"{where}.tier_key")
    quantity = _READ.opt_int(data, "quantity", f"{where}.quantity")
    if quantity is not None and quantity < 0:
        raise _READ.fail(f"{where}.quantity", quantity, "an integer >= 0")
    return SubscriptionItem(
        keys=(tier_key,) if tier_key else (),
        quantity=quantity,
        current_period_end=_READ.unix(data, "current_period_end", f"{where}.current_period_end"),
    )


def _unix(moment: datetime | float) -> int:
    return int(moment.timestamp()) if isinstance(moment, datetime) else int(moment)


def _stable_id(prefix: str, account_ref: str) -> str:
    # Derived from the account so a later update or cancel for the same account, built without
    # an explicit id, names the same subscription.
    digest = hashlib.sha256(account_ref.encode("utf-8")).hexdigest()[:16]
    return f"{prefix}_fake_{digest}"


def build_event(
    event_type: str,
    *,
    account_ref: str,
    tier_key: str,
    status: str | SubscriptionStatus | None = None,
    subscription_id: str | None = None,
    period_days: int = 30,
    now: datetime | float | None = None,
    cancel_at_period_end: bool = False,
    quantity: int = 1,
    cancel_at: datetime | float | None = None,
    items: Sequence[Mapping[str, Any]] | None = None,
) -> dict[str, Any]:
    """A fake-provider payload ready to serialize and :func:`sign`.

    ``status`` defaults to ``canceled`` for ``subscription.canceled`` and ``active`` otherwise;
    a ``trialing`` subscription's trial ends with its first period. ``subscription_id`` and the
    customer id default to ids derived from ``account_ref``, so successive events for one account
    describe one subscription. ``now`` (an aware datetime or unix seconds) defaults to the
    current time. ``cancel_at`` (an aware datetime or unix seconds) schedules the end.
    ``items``, when given, are the subscription's priced items in order, each a mapping with
    ``tier_key``, ``quantity`` and optionally ``current_period_end`` (unix seconds); they
    replace the single item that ``tier_key`` and ``quantity`` describe. Raises
    :class:`~tierline.errors.ValidationError` for an unknown type or status, or a negative
    period or quantity.
    """
    if event_type not in EVENT_TYPES:
        raise ValidationError(
            f"unknown fake event type {event_type!r}; valid types: {', '.join(EVENT_TYPES)}"
        )
    if status is None:
        status = "canceled" if event_type == SUBSCRIPTION_CANCELED else "active"
    try:
        status = SubscriptionStatus(status)
    except ValueError as exc:
        raise ValidationError(
            f"unknown subscription status {status!r}; valid: {_STATUSES}"
        ) from exc
    if period_days < 0 or quantity < 0:
        raise ValidationError(f"period_days ({period_days}) and quantity ({quantity}) must be >= 0")
    created = int(time.time()) if now is None else _unix(now)
    period_end = created + int(timedelta(days=period_days).total_seconds())
    customer_id = _stable_id("cus", account_ref)
    subscription: dict[str, Any] = {
        "id": subscription_id or _stable_id("sub", account_ref),
        "status": status.value,
        "account_ref": account_ref,
        "customer_id": customer_id,
        "tier_key": tier_key,
        "current_period_end": period_end,
        "cancel_at_period_end": cancel_at_period_end,
        "trial_end": period_end if status is SubscriptionStatus.TRIALING else None,
        "quantity": quantity,
        "cancel_at": None if cancel_at is None else _unix(cancel_at),
    }
    if items is not None:
        subscription.update(tier_key=None, quantity=None, items=[dict(item) for item in items])
    data: dict[str, Any] = {"subscription": subscription}
    if event_type == CHECKOUT_COMPLETED:
        data = {"account_ref": account_ref, "customer_id": customer_id, **data}
    return {
        "id": f"evt_fake_{_secrets.token_hex(12)}",
        "object": "event",
        "type": event_type,
        "created": created,
        "data": data,
    }
