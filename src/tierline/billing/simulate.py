"""Webhook payloads for ``tierline simulate``: what each provider (or the fake one) would send.

One vocabulary of simulated events maps onto each provider's real event types:

======================  ==================================  ============================
simulated event         Stripe                              Paddle
======================  ==================================  ============================
checkout.completed      checkout.session.completed          subscription.created [1]_
subscription.created    customer.subscription.created       subscription.created
subscription.updated    customer.subscription.updated       subscription.updated
subscription.canceled   customer.subscription.deleted       subscription.canceled
subscription.past_due   customer.subscription.updated [2]_  subscription.past_due
======================  ==================================  ============================

.. [1] Paddle creates the subscription when its checkout completes; the event carries the
   checkout's ``transaction_id``.
.. [2] Stripe has no past-due event type: the subscription is updated to ``past_due``.

The fake provider has its own ``checkout.completed`` and ``subscription.*`` types; past due is
``subscription.updated`` with status ``past_due``. Polar, Whop and Lemon Squeezy payloads are
built by :mod:`tierline.billing.simulate_templated` (its table names their event types).

Payloads have the fields, nesting and types of the providers' documented payloads (the JSON
fixtures under ``tests/fixtures/`` are the reference, and the tests compare the two). Ids of the
subscription and customer derive from the account ref, so successive simulated events for one
account describe one subscription. Amounts are placeholders: the provider owns prices.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from tierline.billing import simulate_templated
from tierline.billing.providers import fake, sign_for
from tierline.catalog.spec import Catalog
from tierline.errors import ConfigurationError, NotFoundError, ValidationError
from tierline.settings import TierlineSettings

CHECKOUT_COMPLETED = "checkout.completed"
SUBSCRIPTION_CREATED = "subscription.created"
SUBSCRIPTION_UPDATED = "subscription.updated"
SUBSCRIPTION_CANCELED = "subscription.canceled"
SUBSCRIPTION_PAST_DUE = "subscription.past_due"
#: Every event ``tierline simulate`` can send.
SIMULATED_EVENTS: tuple[str, ...] = (
    CHECKOUT_COMPLETED,
    SUBSCRIPTION_CREATED,
    SUBSCRIPTION_UPDATED,
    SUBSCRIPTION_CANCELED,
    SUBSCRIPTION_PAST_DUE,
)

#: (provider, simulated event) -> the provider's event type.
EVENT_TYPES: dict[tuple[str, str], str] = {
    ("stripe", CHECKOUT_COMPLETED): "checkout.session.completed",
    ("stripe", SUBSCRIPTION_CREATED): "customer.subscription.created",
    ("stripe", SUBSCRIPTION_UPDATED): "customer.subscription.updated",
    ("stripe", SUBSCRIPTION_CANCELED): "customer.subscription.deleted",
    ("stripe", SUBSCRIPTION_PAST_DUE): "customer.subscription.updated",
    ("paddle", CHECKOUT_COMPLETED): "subscription.created",
    ("paddle", SUBSCRIPTION_CREATED): "subscription.created",
    ("paddle", SUBSCRIPTION_UPDATED): "subscription.updated",
    ("paddle", SUBSCRIPTION_CANCELED): "subscription.canceled",
    ("paddle", SUBSCRIPTION_PAST_DUE): "subscription.past_due",
    ("fake", CHECKOUT_COMPLETED): fake.CHECKOUT_COMPLETED,
    ("fake", SUBSCRIPTION_CREATED): fake.SUBSCRIPTION_CREATED,
    ("fake", SUBSCRIPTION_UPDATED): fake.SUBSCRIPTION_UPDATED,
    ("fake", SUBSCRIPTION_CANCELED): fake.SUBSCRIPTION_CANCELED,
    ("fake", SUBSCRIPTION_PAST_DUE): fake.SUBSCRIPTION_UPDATED,
    **simulate_templated.EVENT_TYPES,
}
#: The providers simulated payloads exist for.
SIMULATED_PROVIDERS: tuple[str, ...] = ("stripe", "paddle", *simulate_templated.PROVIDERS, "fake")

_STATUS = {
    CHECKOUT_COMPLETED: "active",
    SUBSCRIPTION_CREATED: "active",
    SUBSCRIPTION_UPDATED: "active",
    SUBSCRIPTION_CANCELED: "canceled",
    SUBSCRIPTION_PAST_DUE: "past_due",
}
PERIOD = timedelta(days=30)
#: The placeholder price of simulated subscriptions, in cents.
AMOUNT = 1000
STRIPE_API_VERSION = "2025-03-31.basil"


def _check(provider: str, event: str) -> None:
    if provider not in SIMULATED_PROVIDERS:
        raise ValidationError(
            f"cannot simulate provider {provider!r}; valid providers: "
            + ", ".join(SIMULATED_PROVIDERS)
        )
    if event not in SIMULATED_EVENTS:
        raise ValidationError(
            f"cannot simulate event {event!r}; valid events: {', '.join(SIMULATED_EVENTS)}"
        )


def provider_event_type(provider: str, event: str) -> str:
    """The event type ``provider`` really sends for the simulated ``event``."""
    _check(provider, event)
    return EVENT_TYPES[(provider, event)]


def external_key(catalog: Catalog, tier_key: str, provider: str) -> str:
    """The tier's first link to ``provider`` in the catalog (a Stripe lookup key, say)."""
    tier = catalog.tiers.get(tier_key)
    if tier is None:
        known = ", ".join(sorted(catalog.tiers)) or "none"
        raise NotFoundError(f"tier {tier_key!r} is not in the catalog; tiers: {known}")
    keys = tier.providers.get(provider)
    if not keys:
        linked = ", ".join(sorted(tier.providers)) or "no provider"
        raise ValidationError(
            f"tier {tier_key!r} has no {provider} link in the catalog; it links to: {linked}"
        )
    return keys[0]


def webhook_secret(settings: TierlineSettings, provider: str) -> str:
    """The secret a simulated event is signed with: the first of the provider's secrets."""
    values: list[str] = getattr(settings, f"{provider}_webhook_secret", [])
    if not values:
        raise ConfigurationError(
            f"no {provider} webhook secret to sign with; set TIERLINE_{provider.upper()}"
            "_WEBHOOK_SECRET to the secret the receiving app verifies with"
        )
    return values[0]


def build_payload(
    provider: str,
    event: str,
    *,
    account_ref: str,
    external_key: str,
    now: float | None = None,
) -> dict[str, Any]:
    """The payload ``provider`` would send for ``event`` on ``account_ref``'s subscription.

    ``external_key`` is the tier's link for that provider (see :func:`external_key`); ``now``
    (unix seconds) defaults to the current time.
    """
    _check(provider, event)
    moment = time.time() if now is None else now
    if provider == "stripe":
        return _stripe_event(event, account_ref, external_key, moment)
    if provider == "paddle":
        return _paddle_event(event, account_ref, external_key, moment)
    if provider in simulate_templated.PROVIDERS:
        return simulate_templated.build(provider, event, account_ref, external_key, moment)
    return fake.build_event(
        EVENT_TYPES[(provider, event)],
        account_ref=account_ref,
        tier_key=external_key,
        status=_STATUS[event],
        now=moment,
    )


def signed_request(
    provider: str, payload: dict[str, Any], secret: str, timestamp: int | None = None
) -> tuple[bytes, dict[str, str]]:
    """The body and headers of a delivery of ``payload``, signed with ``provider``'s scheme."""
    body = json.dumps(payload, indent=2).encode("utf-8")
    headers = {"Content-Type": "application/json", "User-Agent": "tierline-simulate"}
    headers.update(sign_for(provider, body, secret, timestamp))
    return body, headers


# -- ids ----------------------------------------------------------------------------------
def _derived(prefix: str, account_ref: str, size: int, alphabet: str) -> str:
    digest = hashlib.sha256(f"tierline-simulate:{prefix}:{account_ref}".encode()).digest()
    chars = "".join(alphabet[byte % len(alphabet)] for byte in digest)
    return f"{prefix}{chars[:size]}"


_STRIPE_CHARS = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
# Paddle ids are "<prefix>_" + 26 characters of lower-case Crockford base32.
_PADDLE_CHARS = "0123456789abcdefghjkmnpqrstvwxyz"


def _stripe_id(prefix: str, account_ref: str) -> str:
    return _derived(prefix, account_ref, 24, _STRIPE_CHARS)


def _random_stripe_id(prefix: str, size: int = 24) -> str:
    return prefix + "".join(secrets.choice(_STRIPE_CHARS) for _ in range(size))


def _paddle_id(prefix: str, account_ref: str) -> str:
    return _derived(prefix, account_ref, 26, _PADDLE_CHARS)


def _random_paddle_id(prefix: str) -> str:
    return prefix + "".join(secrets.choice(_PADDLE_CHARS) for _ in range(26))


# -- Stripe -------------------------------------------------------------------------------
def _stripe_event(event: str, account_ref: str, key: str, now: float) -> dict[str, Any]:
    created = int(now)
    if event == CHECKOUT_COMPLETED:
        obj = _stripe_checkout_session(account_ref, created)
    else:
        obj = _stripe_subscription(event, account_ref, key, created)
    data: dict[str, Any] = {"object": obj}
    if event == SUBSCRIPTION_PAST_DUE:
        data["previous_attributes"] = {"status": "active"}
    elif event == SUBSCRIPTION_UPDATED:
        data["previous_attributes"] = {"cancel_at_period_end": False}
    return {
        "id": _random_stripe_id("evt_"),
        "object": "event",
        "api_version": STRIPE_API_VERSION,
        "created": created,
        "data": data,
        "livemode": False,
        "pending_webhooks": 1,
        "request": {"id": None, "idempotency_key": None},
        "type": EVENT_TYPES[("stripe", event)],
    }


def _stripe_price(key: str, created: int) -> tuple[dict[str, Any], dict[str, Any]]:
    """The (plan, price) pair of a subscription item; the tier link is the lookup key."""
    price_id = _stripe_id("price_", key)
    product = _stripe_id("prod_", key)
    plan = {
        "id": price_id,
        "object": "plan",
        "active": True,
        "amount": AMOUNT,
        "amount_decimal": str(AMOUNT),
        "billing_scheme": "per_unit",
        "created": created,
        "currency": "usd",
        "interval": "month",
        "interval_count": 1,
        "livemode": False,
        "metadata": {},
        "meter": None,
        "nickname": key,
        "product": product,
        "tiers_mode": None,
        "transform_usage": None,
        "trial_period_days": None,
        "usage_type": "licensed",
    }
    price = {
        "id": price_id,
        "object": "price",
        "active": True,
        "billing_scheme": "per_unit",
        "created": created,
        "currency": "usd",
        "custom_unit_amount": None,
        "livemode": False,
        "lookup_key": key,
        "metadata": {},
        "nickname": key,
        "product": product,
        "recurring": {
            "interval": "month",
            "interval_count": 1,
            "meter": None,
            "trial_period_days": None,
            "usage_type": "licensed",
        },
        "tax_behavior": "exclusive",
        "tiers_mode": None,
        "transform_quantity": None,
        "type": "recurring",
        "unit_amount": AMOUNT,
        "unit_amount_decimal": str(AMOUNT),
    }
    return plan, price


def _stripe_subscription(event: str, account_ref: str, key: str, created: int) -> dict[str, Any]:
    sub_id = _stripe_id("sub_", account_ref)
    status = _STATUS[event]
    canceled = status == "canceled"
    period_end = created + int(PERIOD.total_seconds())
    plan, price = _stripe_price(key, created)
    item: dict[str, Any] = {
        "id": _stripe_id("si_", account_ref),
        "object": "subscription_item",
        "billing_thresholds": None,
        "created": created,
        "discounts": [],
        "metadata": {},
        "plan": plan,
        "price": price,
        "quantity": 1,
        "subscription": sub_id,
        "tax_rates": [],
        "current_period_start": created,
        "current_period_end": period_end,
    }
    return {
        "application": None,
        "application_fee_percent": None,
        "automatic_tax": {"disabled_reason": None, "enabled": False, "liability": None},
        "billing_cycle_anchor": created,
        "billing_cycle_anchor_config": None,
        "billing_thresholds": None,
        "cancel_at": None,
        "cancel_at_period_end": False,
        "canceled_at": created if canceled else None,
        "cancellation_details": {
            "comment": None,
            "feedback": None,
            "reason": "cancellation_requested" if canceled else None,
        },
        "collection_method": "charge_automatically",
        "created": created,
        "currency": "usd",
        "customer": _stripe_id("cus_", account_ref),
        "days_until_due": None,
        "default_payment_method": _stripe_id("pm_", account_ref),
        "default_source": None,
        "default_tax_rates": [],
        "description": None,
        "discounts": [],
        "ended_at": created if canceled else None,
        "id": sub_id,
        "invoice_settings": {"account_tax_ids": None, "issuer": {"type": "self"}},
        "items": {
            "object": "list",
            "data": [item],
            "has_more": False,
            "total_count": 1,
            "url": f"/v1/subscription_items?subscription={sub_id}",
        },
        "latest_invoice": _random_stripe_id("in_"),
        "livemode": False,
        # Stripe checkout copies subscription_data.metadata here; Tierline reads the account.
        "metadata": {"tierline_account": account_ref},
        "next_pending_invoice_item_invoice": None,
        "object": "subscription",
        "on_behalf_of": None,
        "pause_collection": None,
        "payment_settings": {
            "payment_method_options": None,
            "payment_method_types": None,
            "save_default_payment_method": "off",
        },
        "pending_invoice_item_interval": None,
        "pending_setup_intent": None,
        "pending_update": None,
        "plan": plan,
        "quantity": 1,
        "schedule": None,
        "start_date": created,
        "status": status,
        "test_clock": None,
        "transfer_data": None,
        "trial_end": None,
        "trial_settings": {"end_behavior": {"missing_payment_method": "create_invoice"}},
        "trial_start": None,
    }


def _stripe_checkout_session(account_ref: str, created: int) -> dict[str, Any]:
    return {
        "id": _random_stripe_id("cs_test_", 58),
        "object": "checkout.session",
        "adaptive_pricing": {"enabled": True},
        "after_expiration": None,
        "allow_promotion_codes": None,
        "amount_subtotal": AMOUNT,
        "amount_total": AMOUNT,
        "automatic_tax": {"enabled": False, "liability": None, "status": None},
        "billing_address_collection": None,
        "cancel_url": "https://app.example.com/billing/settings?checkout=canceled",
        # The account ref Tierline's checkout passes; the inbox links the customer with it.
        "client_reference_id": account_ref,
        "client_secret": None,
        "consent": None,
        "consent_collection": None,
        "created": created,
        "currency": "usd",
        "custom_fields": [],
        "custom_text": {
            "after_submit": None,
            "shipping_address": None,
            "submit": None,
            "terms_of_service_acceptance": None,
        },
        "customer": _stripe_id("cus_", account_ref),
        "customer_creation": "always",
        "customer_details": {
            "address": {
                "city": None,
                "country": "US",
                "line1": None,
                "line2": None,
                "postal_code": None,
                "state": None,
            },
            "email": None,
            "name": None,
            "phone": None,
            "tax_exempt": "none",
            "tax_ids": [],
        },
        "customer_email": None,
        "discounts": [],
        "expires_at": created + 24 * 3600,
        "invoice": _random_stripe_id("in_"),
        "invoice_creation": None,
        "livemode": False,
        "locale": None,
        "metadata": {},
        "mode": "subscription",
        "payment_intent": None,
        "payment_link": None,
        "payment_method_collection": "always",
        "payment_method_configuration_details": None,
        "payment_method_options": {"card": {"request_three_d_secure": "automatic"}},
        "payment_method_types": ["card"],
        "payment_status": "paid",
        "phone_number_collection": {"enabled": False},
        "recovered_from": None,
        "saved_payment_method_options": {
            "allow_redisplay_filters": ["always"],
            "payment_method_remove": None,
            "payment_method_save": None,
        },
        "setup_intent": None,
        "shipping_address_collection": None,
        "shipping_cost": None,
        "shipping_options": [],
        "status": "complete",
        "submit_type": None,
        "subscription": _stripe_id("sub_", account_ref),
        "success_url": "https://app.example.com/billing/settings?checkout=success",
        "total_details": {"amount_discount": 0, "amount_shipping": 0, "amount_tax": 0},
        "ui_mode": "hosted",
        "url": None,
    }


# -- Paddle -------------------------------------------------------------------------------
def _iso(moment: float) -> str:
    """Paddle's RFC 3339 timestamps: UTC, microseconds, ``Z``."""
    return datetime.fromtimestamp(moment, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _paddle_event(event: str, account_ref: str, key: str, now: float) -> dict[str, Any]:
    return {
        "event_id": _random_paddle_id("evt_"),
        "event_type": EVENT_TYPES[("paddle", event)],
        "occurred_at": _iso(now),
        "notification_id": _random_paddle_id("ntf_"),
        "data": _paddle_subscription(event, account_ref, key, now),
    }


def _paddle_item(key: str, status: str, now: float, period_end: float | None) -> dict[str, Any]:
    live = status != "canceled"
    # A tier link may be a Paddle price or product id; any other key is matched through the
    # price's custom_data, which is where Tierline looks first.
    price_id = key if key.startswith("pri_") else _paddle_id("pri_", key)
    product_id = key if key.startswith("pro_") else _paddle_id("pro_", key)
    return {
        "status": "active" if live else "inactive",
        "quantity": 1,
        "recurring": True,
        "created_at": _iso(now),
        "updated_at": _iso(now),
        "previously_billed_at": _iso(now) if live else None,
        "next_billed_at": _iso(period_end) if period_end is not None else None,
        "trial_dates": None,
        "price": {
            "id": price_id,
            "product_id": product_id,
            "name": key,
            "description": f"Simulated price of {key}",
            "type": "standard",
            "billing_cycle": {"interval": "month", "frequency": 1},
            "trial_period": None,
            "tax_mode": "account_setting",
            "unit_price": {"amount": str(AMOUNT), "currency_code": "USD"},
            "unit_price_overrides": [],
            "quantity": {"minimum": 1, "maximum": 100},
            "status": "active",
            "custom_data": {"tierline_tier": key},
            "import_meta": None,
            "created_at": _iso(now),
            "updated_at": _iso(now),
        },
        "product": {
            "id": product_id,
            "name": key,
            "type": "standard",
            "status": "active",
            "tax_category": "standard",
            "description": None,
            "image_url": None,
            "custom_data": None,
            "import_meta": None,
            "created_at": _iso(now),
            "updated_at": _iso(now),
        },
    }


def _paddle_subscription(event: str, account_ref: str, key: str, now: float) -> dict[str, Any]:
    status = _STATUS[event]
    canceled = status == "canceled"
    period_end = None if canceled else now + PERIOD.total_seconds()
    data: dict[str, Any] = {
        "id": _paddle_id("sub_", account_ref),
        "status": status,
        "customer_id": _paddle_id("ctm_", account_ref),
        "address_id": _paddle_id("add_", account_ref),
        "business_id": None,
        "currency_code": "USD",
        "created_at": _iso(now),
        "updated_at": _iso(now),
        "started_at": _iso(now),
        "first_billed_at": _iso(now),
        "next_billed_at": _iso(period_end) if period_end is not None else None,
        "paused_at": None,
        "canceled_at": _iso(now) if canceled else None,
        "collection_mode": "automatic",
        "billing_details": None,
        "current_billing_period": (
            None if period_end is None else {"starts_at": _iso(now), "ends_at": _iso(period_end)}
        ),
        "billing_cycle": {"interval": "month", "frequency": 1},
        "scheduled_change": None,
        "items": [_paddle_item(key, status, now, period_end)],
        # Paddle.js checkout passes customData; Tierline reads the account from it.
        "custom_data": {"tierline_account": account_ref},
        "import_meta": None,
        "discount": None,
    }
    if EVENT_TYPES[("paddle", event)] == "subscription.created":
        data["transaction_id"] = _random_paddle_id("txn_")
    if event == SUBSCRIPTION_PAST_DUE:
        # As in Paddle's documented subscription.past_due payload: items carry no product.
        for item in data["items"]:
            del item["product"]
    return data
