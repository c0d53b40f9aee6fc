"""Paddle Billing's self-service actions, through its REST API with ``httpx``.

(``paddle-python-sdk`` is an optional extra that cannot be pointed at a local fake by base URL
without its own environment plumbing; the calls are few and plain JSON.) Documented sources:
create a transaction (``POST /transactions`` with ``items`` and ``custom_data``; its
``checkout.url`` opens the hosted/overlay checkout), a customer portal session (``POST
/customers/{id}/portal-sessions`` → ``urls.general.overview``), cancel at period end (``POST
/subscriptions/{id}/cancel`` with ``effective_from: next_billing_period``), resume by removing the
scheduled change (``PATCH /subscriptions/{id}`` with ``scheduled_change: null``), and the plan
change with its preview (``PATCH /subscriptions/{id}[/preview]`` with ``items`` and
``proration_billing_mode``). Paddle's API takes no idempotency keys.
"""

from __future__ import annotations

from typing import Any, ClassVar

from tierline.billing.actions import http
from tierline.billing.actions.base import (
    CheckoutRequest,
    LiveSubscription,
    PlanChange,
    ProrationPreview,
    ProviderActions,
    required,
)
from tierline.errors import ProviderAPIError
from tierline.settings import TierlineSettings

NAME = "Paddle"


def _call(settings: TierlineSettings, action: str, method: str, path: str, body: Any = None) -> Any:
    token = required(settings.paddle_api_key, "paddle_api_key", NAME, "API key")
    url = settings.paddle_api_url() + path
    return http.call(NAME, action, method, url, token=token, json=body)


class PaddleActions(ProviderActions):
    """Every action: checkout, portal, cancel/resume, preview and plan change."""

    name: ClassVar[str] = "paddle"

    def checkout_url(self, settings: TierlineSettings, request: CheckoutRequest) -> str:
        body = {
            "items": [{"price_id": request.external_key, "quantity": 1}],
            "custom_data": request.account_data,
            "collection_mode": "automatic",
        }
        answer = _call(settings, "creating a transaction", "POST", "/transactions", body)
        url = http.dig(answer, "data", "checkout", "url")
        if not url:
            raise ProviderAPIError(
                "Paddle created the transaction without a checkout URL: set a default payment "
                "link in Paddle (Checkout > Checkout settings)"
            )
        return str(url)

    def portal_url(
        self, settings: TierlineSettings, subscription: LiveSubscription, return_url: str
    ) -> str:
        customer = required(subscription.customer_id, "customer id", NAME, "customer")
        answer = _call(
            settings,
            "opening the customer portal",
            "POST",
            f"/customers/{customer}/portal-sessions",
            {"subscription_ids": [subscription.external_id]},
        )
        return http.text_at(NAME, "portal session", answer, "data", "urls", "general", "overview")

    def cancel_at_period_end(
        self, settings: TierlineSettings, subscription: LiveSubscription, idempotency_key: str
    ) -> None:
        _call(
            settings,
            "canceling",
            "POST",
            f"/subscriptions/{subscription.external_id}/cancel",
            {"effective_from": "next_billing_period"},
        )

    def resume(
        self, settings: TierlineSettings, subscription: LiveSubscription, idempotency_key: str
    ) -> None:
        _call(
            settings,
            "resuming",
            "PATCH",
            f"/subscriptions/{subscription.external_id}",
            {"scheduled_change": None},
        )

    @staticmethod
    def _change(change: PlanChange) -> dict[str, Any]:
        mode = "prorated_immediately" if change.prorate else "full_next_billing_period"
        return {
            "items": [{"price_id": change.external_key, "quantity": 1}],
            "proration_billing_mode": mode,
        }

    def preview_change(self, settings: TierlineSettings, change: PlanChange) -> ProrationPreview:
        path = f"/subscriptions/{change.subscription.external_id}/preview"
        answer = _call(settings, "previewing the plan change", "PATCH", path, self._change(change))
        result = http.dig(answer, "data", "update_summary", "result") or {}
        amount = int(str(result.get("amount") or "0"))
        sign = -1 if result.get("action") == "credit" else 1
        currency = str(result.get("currency_code") or http.dig(answer, "data", "currency_code"))
        return ProrationPreview(currency=currency.lower(), amount_due=sign * amount)

    def change_plan(self, settings: TierlineSettings, change: PlanChange) -> None:
        path = f"/subscriptions/{change.subscription.external_id}"
        _call(settings, f"moving to {change.tier_key!r}", "PATCH", path, self._change(change))
