"""Simulated Polar, Whop and Lemon Squeezy payloads, filled into each provider's own shape.

Each provider's subscription event is a JSON template beside this module
(``webhook_templates/<provider>.json``, a documented payload: Polar's ``subscription.updated``
as the polar-sdk's typed models load it, Whop's ``membership.updated``, Lemon Squeezy's
``subscription_updated``). A simulated event fills in the event type, the times, the ids
derived from the account ref, the status, the account ref and the tier's link; everything else
keeps the template's documented shape.

======================  ========================  =========================  ======================
simulated event         Polar                     Whop                       Lemon Squeezy
======================  ========================  =========================  ======================
checkout.completed      subscription.created      membership.activated       subscription_created
subscription.created    subscription.created      membership.activated       subscription_created
subscription.updated    subscription.updated      membership.updated         subscription_updated
subscription.canceled   subscription.revoked      membership.deactivated     subscription_expired
subscription.past_due   subscription.past_due     membership.updated         subscription_updated
======================  ========================  =========================  ======================

Each provider creates the subscription when its checkout completes, so ``checkout.completed``
is the created event carrying the checkout's account ref (Polar and Whop metadata, Lemon
Squeezy ``meta.custom_data``). Access ending is Polar's ``revoked`` (status ``canceled``),
Whop's ``deactivated`` (``canceled``) and Lemon Squeezy's ``expired``.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from importlib import resources
from typing import Any

TEMPLATES = "webhook_templates"
PERIOD = timedelta(days=30)

#: The simulated events, in the order of the rows of :data:`_TYPES`.
_EVENTS = (
    "checkout.completed",
    "subscription.created",
    "subscription.updated",
    "subscription.canceled",
    "subscription.past_due",
)
#: Per provider: its event-type prefix, the type's rest for each of :data:`_EVENTS`, and the
#: status its subscriptions end in.
_TYPES: dict[str, tuple[str, str, str]] = {
    "polar": ("subscription.", "created created updated revoked past_due", "canceled"),
    "whop": ("membership.", "activated activated updated deactivated updated", "canceled"),
    "lemonsqueezy": ("subscription_", "created created updated expired updated", "expired"),
}
#: (provider, simulated event) -> the provider's event type.
EVENT_TYPES: dict[tuple[str, str], str] = {
    (provider, event): prefix + kind
    for provider, (prefix, kinds, _) in _TYPES.items()
    for event, kind in zip(_EVENTS, kinds.split(), strict=True)
}


def _status(provider: str, event: str) -> str:
    """The provider's status for a simulated event: ended, past due, else active."""
    if event == "subscription.canceled":
        return _TYPES[provider][2]
    return "past_due" if event == "subscription.past_due" else "active"


def _template(provider: str) -> dict[str, Any]:
    text = resources.files("tierline.billing").joinpath(TEMPLATES, f"{provider}.json").read_text()
    payload: dict[str, Any] = json.loads(text)
    return payload


def _digest(kind: str, account_ref: str) -> bytes:
    return hashlib.sha256(f"tierline-simulate:{kind}:{account_ref}".encode()).digest()


def _uuid(kind: str, account_ref: str) -> str:
    return str(uuid.UUID(bytes=_digest(kind, account_ref)[:16]))


def _number(kind: str, account_ref: str) -> int:
    return int.from_bytes(_digest(kind, account_ref)[:4], "big") % 10_000_000 + 1


def _whop_id(prefix: str, account_ref: str) -> str:
    return prefix + _digest(prefix, account_ref).hex()[:14]


def _iso(moment: float, digits: int = 6) -> str:
    text = datetime.fromtimestamp(moment, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")
    return text[: len(text) - 6 + digits] + "Z"


def _polar(event: str, account_ref: str, key: str, now: float, status: str) -> dict[str, Any]:
    payload = _template("polar")
    data = payload["data"]
    ended = status == "canceled"
    customer = _uuid("customer", account_ref)
    # A tier link is the product's id when it is one, else the product's metadata tier.
    product = key if _is_uuid(key) else _uuid(f"product:{key}", "")
    payload.update(type=EVENT_TYPES[("polar", event)], timestamp=_iso(now))
    data.update(
        id=_uuid("subscription", account_ref),
        status=status,
        modified_at=_iso(now),
        current_period_end=_iso(now + PERIOD.total_seconds()),
        ends_at=_iso(now) if ended else None,
        ended_at=_iso(now) if ended else None,
        canceled_at=_iso(now) if ended else None,
        cancel_at_period_end=False,
        customer_id=customer,
        product_id=product,
        metadata={"tierline_account": account_ref},
    )
    data["customer"].update(id=customer, external_id=account_ref)
    data["product"].update(id=product, metadata={"tierline_tier": key})
    return payload


def _is_uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


def _whop(event: str, account_ref: str, key: str, now: float, status: str) -> dict[str, Any]:
    payload = _template("whop")
    data = payload["data"]
    payload.update(
        id=f"msg_{uuid.uuid4().hex[:24]}", type=EVENT_TYPES[("whop", event)], timestamp=_iso(now, 3)
    )
    data.update(
        id=_whop_id("mem_", account_ref),
        status=status,
        updated_at=_iso(now, 3),
        renewal_period_end=_iso(now + PERIOD.total_seconds(), 3),
        cancel_at_period_end=False,
        canceled_at=_iso(now, 3) if status == "canceled" else None,
        metadata={"tierline_account": account_ref},
    )
    data["user"]["id"] = _whop_id("user_", account_ref)
    # A tier link is a plan id (plan_...) or a product id (prod_...).
    data["plan"]["id"] = key if not key.startswith("prod_") else _whop_id("plan_", key)
    if key.startswith("prod_"):
        data["product"]["id"] = key
    return payload


def _lemonsqueezy(
    event: str, account_ref: str, key: str, now: float, status: str
) -> dict[str, Any]:
    payload = _template("lemonsqueezy")
    name = EVENT_TYPES[("lemonsqueezy", event)]
    attributes = payload["data"]["attributes"]
    expired = status == "expired"
    payload["meta"].update(event_name=name, custom_data={"tierline_account": account_ref})
    payload["data"]["id"] = str(_number("subscription", account_ref))
    attributes.update(
        status=status,
        status_formatted=status.replace("_", " ").title(),
        customer_id=_number("customer", account_ref),
        # A tier link is the variant id (a number); another key is used as given.
        variant_id=int(key) if key.isascii() and key.isdigit() else key,
        cancelled=expired,
        renews_at=_iso(now + PERIOD.total_seconds()),
        ends_at=_iso(now) if expired else None,
        updated_at=_iso(now),
    )
    return payload


_BUILDERS: dict[str, Callable[[str, str, str, float, str], dict[str, Any]]] = {
    "polar": _polar,
    "whop": _whop,
    "lemonsqueezy": _lemonsqueezy,
}
#: The providers this module simulates.
PROVIDERS: tuple[str, ...] = tuple(_BUILDERS)


def build(provider: str, event: str, account_ref: str, key: str, now: float) -> dict[str, Any]:
    """The payload ``provider`` sends for the simulated ``event`` (both already validated)."""
    return _BUILDERS[provider](event, account_ref, key, now, _status(provider, event))
