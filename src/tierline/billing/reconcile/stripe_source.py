"""Stripe subscriptions through the official SDK, for reconciliation.

``GET /v1/subscriptions`` with ``status=all`` (the default leaves canceled subscriptions out),
``expand[]=data.items.data.price`` and ``limit=100``, paging with ``starting_after=<last id>``
while ``has_more`` (https://docs.stripe.com/api/subscriptions/list,
https://docs.stripe.com/api/pagination). With customers, one listing per ``customer``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any

from tierline.billing.reconcile.sources import EVENT_ID_PREFIX, Page, PagedSource

#: Stripe's largest page.
PAGE_SIZE = 100
#: Stripe statuses after which nothing reopens a subscription: sent as a ``deleted`` event.
_ENDED = frozenset({"canceled", "incomplete_expired"})


class StripeSource(PagedSource):
    """Pages through Stripe subscriptions (see the module docstring)."""

    provider = "stripe"
    default_page_size = PAGE_SIZE

    def pages(self, customers: Sequence[str] | None) -> Iterator[Page]:
        import stripe

        from tierline.billing import stripe_api

        api = stripe_api.client(self.settings)
        for customer in customers if customers is not None else [None]:
            params: dict[str, Any] = {
                "status": "all",
                "limit": self.page_size,
                "expand": ["data.items.data.price"],
            }
            if customer is not None:
                params["customer"] = customer
            while True:
                try:
                    page = api.v1.subscriptions.list(params=params)  # type: ignore[arg-type]
                except stripe.StripeError as exc:
                    raise stripe_api.fail("listing subscriptions", exc) from exc
                objects = [_wire(sub.to_dict()) for sub in page.data]
                yield Page(objects, self.clock())
                if not page.has_more or not objects:
                    break
                params["starting_after"] = objects[-1]["id"]

    def synthetic_event(self, obj: Mapping[str, Any], fetched_at: datetime) -> dict[str, Any]:
        """A ``customer.subscription.updated`` (``deleted`` once ended) event carrying ``obj``.

        A Stripe subscription has no "updated" timestamp, so the event id's marker is a digest
        of the object (the same state gives the same id, a duplicate) and the event's
        ``created`` is when the page was fetched: the state is at least that fresh, and a
        webhook created later still wins.
        """
        digest = hashlib.sha256(
            json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str).encode()
        ).hexdigest()[:16]
        ended = obj.get("status") in _ENDED
        return {
            "id": f"{EVENT_ID_PREFIX}:{obj.get('id')}:{digest}",
            "object": "event",
            "type": f"customer.subscription.{'deleted' if ended else 'updated'}",
            "created": int(fetched_at.timestamp()),
            "livemode": bool(obj.get("livemode", False)),
            "data": {"object": dict(obj)},
        }


def _wire(obj: dict[str, Any]) -> dict[str, Any]:
    """The object as Stripe sent it: the SDK turns ``*_decimal`` strings into ``Decimal``."""
    plain: dict[str, Any] = json.loads(json.dumps(obj, default=str))
    return plain
