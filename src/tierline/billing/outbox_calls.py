"""Provider API calls that follow from webhooks, made through the outbox.

A call is written as an outbox item in the webhook's transaction (so it exists exactly when the
effect does, and never fails or slows the webhook) and delivered after the commit with
retries. Kinds:

``stripe.coupon``
    Put a referral coupon on the referred account's Stripe subscription
    (``POST /v1/subscriptions/{id}`` with ``discounts[0][coupon]``). Payload:
    ``{"subscription_id", "coupon", "referral_id"}``; idempotency key
    ``tierline-referral-<referral id>``.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection

from tierline.outbox.deliverers import Deliverer, Delivery
from tierline.outbox.queue import enqueue

STRIPE_COUPON = "stripe.coupon"


def queue_stripe_coupon(
    conn: Connection,
    *,
    subscription_id: str,
    coupon: str,
    referral_id: int,
    now: datetime,
) -> int:
    """Write the coupon call of a converted referral in the caller's transaction; its id."""
    return enqueue(
        conn,
        STRIPE_COUPON,
        {"subscription_id": subscription_id, "coupon": coupon, "referral_id": referral_id},
        idempotency_key=f"tierline-referral-{referral_id}",
        now=now,
    )


def deliver_stripe_coupon(delivery: Delivery) -> None:
    """Apply the coupon; raises on a missing API key or any Stripe error (the outbox retries).

    Stripe (API v1) saves the first response to an idempotency key once the endpoint began,
    errors included, and replays it to every retry with that key for at least 24 hours
    (https://docs.stripe.com/api/idempotent_requests). The first try sends the item's key, so a
    try whose answer was lost is answered from Stripe's record; a later try, after Stripe
    answered with an error, sends ``<key>:try-<n>`` so it is executed afresh instead of
    replaying that error. Setting ``discounts`` replaces the subscription's list, so executing
    it again can never apply the coupon twice.
    """
    # Imported here: the Stripe SDK is an optional extra and slow to import.
    from tierline.billing import stripe_api

    key = delivery.idempotency_key
    if delivery.attempt > 1:
        key = f"{key}:try-{delivery.attempt}"
    stripe_api.apply_coupon(
        delivery.settings,
        subscription_id=str(delivery.payload["subscription_id"]),
        coupon=str(delivery.payload["coupon"]),
        idempotency_key=key,
    )


def _deliver_hold_end(delivery: Delivery) -> None:
    from tierline.billing.scheduled import deliver_hold_end

    deliver_hold_end(delivery)


#: The deliverers Tierline registers itself (``tierline.downgrade``: the end of a downgrade's
#: hold, see :mod:`tierline.billing.scheduled`).
BUILTIN_DELIVERERS: dict[str, Deliverer] = {
    STRIPE_COUPON: deliver_stripe_coupon,
    "tierline.downgrade": _deliver_hold_end,
}
