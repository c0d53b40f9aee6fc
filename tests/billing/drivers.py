"""Provider-agnostic subscription events for the kind tests: one builder per provider.

Each driver builds a payload of the provider's own shape (Stripe events, Paddle notifications,
fake-provider events) for one subscription of account ``ACCOUNT``, from the same arguments:
an action (``created``, ``updated``, ``canceled``), a normalized status, the provider time, and
its priced items as ``(tier key or None, quantity)`` -- a key of None is a price no tier links
to. Tier keys are linked at every provider under their own name (see :func:`link_tiers`).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from tierline import Tierline
from tierline.catalog.models import Tier, TierProviderLink

ACCOUNT = "org_kind"
SUBSCRIPTION = {"stripe": "sub_Kind1", "paddle": "sub_01kind", "fake": "sub_fake_kind"}
CUSTOMER = {"stripe": "cus_Kind1", "paddle": "ctm_01kind", "fake": "cus_fake_kind"}
#: (key, sort_order, seats): free < pro < team.
TIERS = (("pro", 10, 1), ("team", 20, 5))
PERIOD = timedelta(days=30)
Item = tuple[str | None, int | None]


def link_tiers(tl: Tierline) -> None:
    """Tiers pro and team, each linked at every provider under its own key."""
    with tl.ctx.sessions.begin() as session:
        for key, order, seats in TIERS:
            tier = Tier(key=key, name=key.title(), sort_order=order, seats=seats)
            for provider in SUBSCRIPTION:
                tier.provider_links.append(TierProviderLink(provider=provider, external_key=key))
            session.add(tier)
    tl.ctx.cache.clear()


class Driver(Protocol):
    provider: str
    #: Whether a subscription of this provider can carry several priced items.
    multi_item: bool

    def event(
        self, action: str, status: str, at: datetime, items: list[Item] | None = None
    ) -> dict[str, Any]: ...


def _event_id(prefix: str) -> str:
    return f"{prefix}{secrets.token_hex(8)}"


@dataclass(frozen=True)
class StripeDriver:
    provider: str = "stripe"
    multi_item: bool = True

    def event(
        self, action: str, status: str, at: datetime, items: list[Item] | None = None
    ) -> dict[str, Any]:
        stamp = int(at.timestamp())
        end = int((at + PERIOD).timestamp())
        data = []
        for index, (key, quantity) in enumerate(items or [("pro", 1)]):
            item: dict[str, Any] = {
                "id": f"si_{index}",
                "object": "subscription_item",
                "price": {
                    "id": f"price_{index}_{key or 'addon'}",
                    "object": "price",
                    "lookup_key": key or "addon_metered",
                    "product": f"prod_{key or 'addon'}",
                },
                "current_period_start": stamp,
                # The plan's period is 30 days; an unmapped add-on renews sooner.
                "current_period_end": end if key else end - 20 * 86400,
            }
            if quantity is not None:
                item["quantity"] = quantity
            data.append(item)
        kind = {"canceled": "deleted"}.get(action, action)
        return {
            "id": _event_id("evt_"),
            "object": "event",
            "type": f"customer.subscription.{kind}",
            "created": stamp,
            "data": {
                "object": {
                    "id": SUBSCRIPTION["stripe"],
                    "object": "subscription",
                    "customer": CUSTOMER["stripe"],
                    "status": status,
                    "items": {"object": "list", "data": data},
                    "metadata": {"tierline_account": ACCOUNT},
                    "cancel_at_period_end": False,
                    "cancel_at": None,
                    "trial_end": None,
                }
            },
        }


def _iso(at: datetime) -> str:
    return at.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass(frozen=True)
class PaddleDriver:
    provider: str = "paddle"
    multi_item: bool = True

    def event(
        self, action: str, status: str, at: datetime, items: list[Item] | None = None
    ) -> dict[str, Any]:
        data = []
        for index, (key, quantity) in enumerate(items or [("pro", 1)]):
            data.append(
                {
                    "status": "active",
                    "quantity": quantity,
                    "price": {
                        "id": f"pri_{index}{key or 'addon'}",
                        "product_id": f"pro_{key or 'addon'}",
                        "custom_data": {"tierline_tier": key} if key else None,
                    },
                }
            )
        return {
            "event_id": _event_id("evt_"),
            "event_type": f"subscription.{action}",
            "occurred_at": _iso(at),
            "notification_id": _event_id("ntf_"),
            "data": {
                "id": SUBSCRIPTION["paddle"],
                "status": status,
                "customer_id": CUSTOMER["paddle"],
                "custom_data": {"tierline_account": ACCOUNT},
                "updated_at": _iso(at),
                "current_billing_period": {"starts_at": _iso(at), "ends_at": _iso(at + PERIOD)},
                "scheduled_change": None,
                "items": data,
            },
        }


@dataclass(frozen=True)
class FakeDriver:
    provider: str = "fake"
    multi_item: bool = False

    def event(
        self, action: str, status: str, at: datetime, items: list[Item] | None = None
    ) -> dict[str, Any]:
        [(key, quantity)] = items or [("pro", 1)]
        return {
            "id": _event_id("evt_fake_"),
            "object": "event",
            "type": f"subscription.{action}",
            "created": int(at.timestamp()),
            "data": {
                "subscription": {
                    "id": SUBSCRIPTION["fake"],
                    "status": status,
                    "account_ref": ACCOUNT,
                    "customer_id": CUSTOMER["fake"],
                    "tier_key": key or "addon_unlinked",
                    "current_period_end": int((at + PERIOD).timestamp()),
                    "cancel_at_period_end": False,
                    "trial_end": None,
                    "quantity": quantity,
                }
            },
        }


DRIVERS: dict[str, Driver] = {
    "stripe": StripeDriver(),
    "paddle": PaddleDriver(),
    "fake": FakeDriver(),
}
