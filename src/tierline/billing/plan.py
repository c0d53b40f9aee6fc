"""The plan item of a subscription snapshot: the item whose price maps to a catalog tier.

A subscription may carry several priced items (a plan and add-ons, a metered item, Stripe's
mixed intervals). The plan item decides the tier, the quantity (seats = the tier's seats times
it) and the period end; an add-on or metered item listed first decides none of them (Stripe:
"a subscription can have multiple items", each with its own ``current_period_end`` from API
``2025-03-31.basil``, https://docs.stripe.com/billing/subscriptions/multiple-products).

Two items mapping to two different tiers: the higher tier by the catalog's order
(``sort_order``) wins, with a warning. No item mapping: no plan; the inbox then keeps the
stored tier of a known subscription, or holds the event as ``unmapped``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from tierline.access.tiers import TierData, TierSnapshot
from tierline.billing.providers.base import SubscriptionItem, SubscriptionSnapshot


@dataclass(frozen=True)
class Plan:
    """The plan item and its tier (both None when no item maps), and what to warn about."""

    tier: TierData | None
    item: SubscriptionItem | None
    warning: str | None = None

    def quantity(self) -> int | None:
        """The plan item's quantity (1 when the provider sends none); None without a plan."""
        if self.item is None:
            return None
        return 1 if self.item.quantity is None else self.item.quantity


def choose_plan(snap: SubscriptionSnapshot, provider: str, tiers: TierSnapshot) -> Plan:
    """The plan item of ``snap`` given the catalog's provider links in ``tiers``."""
    mapped: list[tuple[TierData, SubscriptionItem]] = []
    for item in snap.items:
        tier = tiers.tier_for_link(provider, item.keys)
        if tier is not None:
            mapped.append((tier, item))
    if not mapped:
        return Plan(None, None)
    # Highest sort_order first; the earlier item among equals (a stable sort).
    ranked = sorted(mapped, key=lambda found: -found[0].sort_order)
    tier, item = ranked[0]
    others = sorted({t.key for t, _ in mapped if t.id != tier.id})
    warning = None
    if others:
        warning = (
            f"subscription {snap.external_id} has items on several tiers "
            f"({', '.join([tier.key, *others])}); the highest, {tier.key!r}, applies"
        )
    return Plan(tier, item, warning)


def period_end(snap: SubscriptionSnapshot, item: SubscriptionItem | None) -> datetime | None:
    """The access period's end: the plan item's own period end, else the subscription's.

    Without a plan item (no price maps), a single-item subscription's item stands in.
    """
    if item is None and len(snap.items) == 1:
        item = snap.items[0]
    if item is not None and item.current_period_end is not None:
        return item.current_period_end
    return snap.current_period_end
