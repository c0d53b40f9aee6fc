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
          "current_period_end": <unix> | null,
          "cancel_at_period_end": false,
          "trial_end": <unix> | null,
          "quantity": 1
        }
      }
    }

``status`` is one of :class:`~tierline.billing.models.SubscriptionStatus`'s values. Other event
types parse (so a newer sender does not break an older receiver) and carry no snapshot.
:func:`build_event` makes these payloads; :func:`sign` signs them.
"""

from __future__ import annotations

import hashlib
import secrets as _secrets
import time
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from tierline.billing.models import SubscriptionStatus
from tierline.billing.providers.base import ProviderEvent, SubscriptionItem, SubscriptionSnapshot
from tierline.billing.providers.fields import PayloadReader
from tierline.billing.providers.signing import SignatureScheme, SignedProvider
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

SCHEME = SignatureScheme(
    provider=NAME,
    header=SIGNATURE_HEADER,
    separator=",",
    timestamp_key="t",
    hash_key="v1",
    joiner=".",
    setting="TIERLINE_FAKE_WEBHOOK_SECRET",
)
_READ = PayloadReader(NAME)
_STATUSES = ", ".join(status.value for status in SubscriptionStatus)


def sign(body: bytes, secret: str, timestamp: int | None = None) -> dict[str, str]:
    """The ``Tierline-Signature`` header for ``body`` (timestamp defaults to now)."""
    return SCHEME.sign(body, secret, timestamp)


class FakeProvider(SignedProvider):
    """Verifies and parses the fake provider's webhooks (see the module docstring)."""

    name = NAME
    scheme = SCHEME
    default_tolerance = DEFAULT_TOLERANCE_SECONDS

    def parse(self, payload: Mapping[str, Any]) -> ProviderEvent:
        """Normalize a payload; checkout data has account_ref, customer_id, subscription_id."""
        event_id = _READ.string(payload, "id", "id")
        event_type = _READ.string(payload, "type", "type")
        occurred_at = _READ.unix(payload, "created", "created")
        data = _READ.obj(payload, "data", "data")
        raw_sub = _READ.opt_obj(data, "subscription", "data.subscription")
        if raw_sub is None and event_type.startswith("subscription."):
            raise _READ.fail("data.subscription", None, f"an object for {event_type} events")
        rank = EVENT_TYPES.index(event_type) if event_type in EVENT_TYPES else 0
        snapshot = None if raw_sub is None else _snapshot(raw_sub, occurred_at, rank)
        facts: dict[str, Any] = {}
        if event_type == CHECKOUT_COMPLETED:
            account_ref = _READ.opt_string(data, "account_ref", "data.account_ref")
            customer_id = _READ.opt_string(data, "customer_id", "data.customer_id")
            facts = {
                "account_ref": account_ref or (snapshot.account_ref if snapshot else None),
                "customer_id": customer_id or (snapshot.customer_id if snapshot else None),
                "subscription_id": snapshot.external_id if snapshot else None,
            }
        return ProviderEvent(
            provider=NAME,
            event_id=event_id,
            type=event_type,
            occurred_at=occurred_at,
            subscription=snapshot,
            data=facts,
        )


def _snapshot(
    sub: Mapping[str, Any], updated_at: datetime | None, rank: int
) -> SubscriptionSnapshot:
    where = "data.subscription"
    raw_status = _READ.string(sub, "status", f"{where}.status")
    try:
        status = SubscriptionStatus(raw_status)
    except ValueError as exc:
        raise _READ.fail(f"{where}.status", raw_status, f"one of {_STATUSES}") from exc
    tier_key = _READ.opt_string(sub, "tier_key", f"{where}.tier_key")
    quantity = _READ.opt_int(sub, "quantity", f"{where}.quantity")
    if quantity is not None and quantity < 0:
        raise _READ.fail(f"{where}.quantity", quantity, "an integer >= 0")
    return SubscriptionSnapshot(
        external_id=_READ.string(sub, "id", f"{where}.id"),
        status=status,
        account_ref=_READ.opt_string(sub, "account_ref", f"{where}.account_ref"),
        customer_id=_READ.opt_string(sub, "customer_id", f"{where}.customer_id"),
        items=(SubscriptionItem(keys=(tier_key,) if tier_key else (), quantity=quantity),),
        current_period_end=_READ.unix(sub, "current_period_end", f"{where}.current_period_end"),
        cancel_at_period_end=_READ.flag(
            sub, "cancel_at_period_end", f"{where}.cancel_at_period_end"
        ),
        trial_end=_READ.unix(sub, "trial_end", f"{where}.trial_end"),
        updated_at=updated_at,
        rank=rank,
    )


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
) -> dict[str, Any]:
    """A fake-provider payload ready to serialize and :func:`sign`.

    ``status`` defaults to ``canceled`` for ``subscription.canceled`` and ``active`` otherwise;
    a ``trialing`` subscription's trial ends with its first period. ``subscription_id`` and the
    customer id default to ids derived from ``account_ref``, so successive events for one account
    describe one subscription. ``now`` (an aware datetime or unix seconds) defaults to the
    current time. Raises :class:`~tierline.errors.ValidationError` for an unknown type or
    status, or a negative period or quantity.
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
    if now is None:
        created = int(time.time())
    elif isinstance(now, datetime):
        created = int(now.timestamp())
    else:
        created = int(now)
    period_end = created + int(timedelta(days=period_days).total_seconds())
    customer_id = _stable_id("cus", account_ref)
    subscription = {
        "id": subscription_id or _stable_id("sub", account_ref),
        "status": status.value,
        "account_ref": account_ref,
        "customer_id": customer_id,
        "tier_key": tier_key,
        "current_period_end": period_end,
        "cancel_at_period_end": cancel_at_period_end,
        "trial_end": period_end if status is SubscriptionStatus.TRIALING else None,
        "quantity": quantity,
    }
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
