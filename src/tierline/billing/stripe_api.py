"""Calls Tierline makes to Stripe's API, through the official ``stripe`` SDK.

Two calls: open a subscription Checkout Session for a price found by its ``lookup_key`` (the
catalog stores lookup keys, never price ids), and apply a coupon to a subscription (a referral
reward), idempotently. The client honours ``TIERLINE_STRIPE_API_BASE``, which is how tests point
it at a local server speaking Stripe's wire format. Every SDK failure becomes a
:class:`StripeAPIError` with a one-line message.
"""

from __future__ import annotations

import functools
from typing import Any

import stripe

from tierline.errors import ConfigurationError, ProviderAPIError
from tierline.settings import TierlineSettings

#: The subscription metadata key the webhook parser reads the account ref from.
ACCOUNT_METADATA_KEY = "tierline_account"
#: Retries of failed network calls (the SDK backs off; POSTs carry idempotency keys).
MAX_NETWORK_RETRIES = 2


class StripeAPIError(ProviderAPIError):
    """Stripe refused a call or could not be reached; ``status``/``code`` when Stripe answered."""

    def __init__(self, message: str, *, status: int | None = None, code: str | None = None):
        super().__init__(message)
        self.status = status
        self.code = code


class UnknownLookupKeyError(StripeAPIError, ConfigurationError):
    """No active Stripe price carries the lookup key the catalog links a tier to."""


def client(settings: TierlineSettings) -> stripe.StripeClient:
    """A Stripe client for ``settings`` (API key, and base URL when one is set)."""
    if not settings.stripe_api_key:
        raise ConfigurationError(
            "no Stripe API key is configured; set TIERLINE_STRIPE_API_KEY (sk_live_... or "
            "sk_test_...) to create checkouts and apply coupons"
        )
    return _client(settings.stripe_api_key, settings.stripe_api_base)


# Cached so calls reuse the SDK's connection pool; its HTTP client keeps one session per
# thread, so sharing a client between threads is safe.
@functools.lru_cache(maxsize=8)
def _client(api_key: str, api_base: str | None) -> stripe.StripeClient:
    base: dict[str, str] = {}
    if api_base:
        base["api"] = api_base.rstrip("/")
    return stripe.StripeClient(
        api_key,
        base_addresses=base,  # type: ignore[arg-type]  # a BaseAddresses TypedDict
        max_network_retries=MAX_NETWORK_RETRIES,
    )


def fail(action: str, exc: stripe.StripeError) -> StripeAPIError:
    """A :class:`StripeAPIError` with a one-line message for a failed SDK call."""
    detail = " ".join(str(exc.user_message or exc.__class__.__name__).split())
    status: int | None = exc.http_status
    code: str | None = exc.code
    where = f"HTTP {status}" if status else "no response"
    if code:
        where += f", code {code}"
    return StripeAPIError(f"Stripe {action} failed ({where}): {detail}", status=status, code=code)


def find_price_id(api: stripe.StripeClient, lookup_key: str) -> str:
    """The id of the active price with ``lookup_key``; raises :class:`UnknownLookupKeyError`."""
    try:
        prices = api.v1.prices.list(params={"lookup_keys": [lookup_key], "active": True})
    except stripe.StripeError as exc:
        raise fail(f"listing prices with lookup key {lookup_key!r}", exc) from exc
    for price in prices.data:
        if price.lookup_key == lookup_key:
            return str(price.id)
    raise UnknownLookupKeyError(
        f"no active Stripe price has lookup key {lookup_key!r}; set it on the price in Stripe "
        "(Product catalog > price > lookup key) or link the tier to an existing lookup key"
    )


def create_checkout_session(
    settings: TierlineSettings,
    *,
    account_ref: str,
    lookup_key: str,
    success_url: str,
    cancel_url: str,
    customer_email: str | None = None,
) -> str:
    """Open a subscription Checkout Session for the price with ``lookup_key``; return its URL.

    The session carries ``client_reference_id=account_ref`` and the subscription it creates
    carries ``metadata.tierline_account=account_ref``, so every later webhook names the account.
    """
    api = client(settings)
    params: dict[str, Any] = {
        "mode": "subscription",
        "line_items": [{"price": find_price_id(api, lookup_key), "quantity": 1}],
        "client_reference_id": account_ref,
        "success_url": success_url,
        "cancel_url": cancel_url,
        "subscription_data": {"metadata": {ACCOUNT_METADATA_KEY: account_ref}},
    }
    if customer_email:
        params["customer_email"] = customer_email
    try:
        session = api.v1.checkout.sessions.create(params=params)  # type: ignore[arg-type]
    except stripe.StripeError as exc:
        raise fail(f"creating a checkout session for {lookup_key!r}", exc) from exc
    if not session.url:
        raise StripeAPIError(f"Stripe returned checkout session {session.id} without a URL")
    return str(session.url)


def apply_coupon(
    settings: TierlineSettings, *, subscription_id: str, coupon: str, idempotency_key: str
) -> None:
    """Put ``coupon`` on the subscription; the same ``idempotency_key`` never applies it twice."""
    api = client(settings)
    try:
        api.v1.subscriptions.update(
            subscription_id,
            params={"discounts": [{"coupon": coupon}]},
            options={"idempotency_key": idempotency_key},
        )
    except stripe.StripeError as exc:
        raise fail(f"applying coupon {coupon!r} to subscription {subscription_id!r}", exc) from exc
