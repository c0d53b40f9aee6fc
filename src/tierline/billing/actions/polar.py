"""Polar's self-service actions, through its REST API with ``httpx``.

Documented sources: a checkout session (``POST /v1/checkouts/`` with ``products``,
``external_customer_id`` and ``metadata`` → ``url``), a customer session (``POST
/v1/customer-sessions/`` → ``customer_portal_url``), cancel at period end and resume (``PATCH
/v1/subscriptions/{id}`` with ``cancel_at_period_end``) and the plan change (the same PATCH with
``product_id`` and ``proration_behavior`` ``invoice``, or ``next_period`` for a change billed
from the next period: Polar keeps the current product until the renewal, then applies it,
https://polar.sh/docs/features/subscriptions/proration). Polar offers no proration preview.
"""

from __future__ import annotations

from typing import Any, ClassVar

from tierline.billing.actions import http
from tierline.billing.actions.base import (
    ACCOUNT_KEY,
    CheckoutRequest,
    LiveSubscription,
    PlanChange,
    ProviderActions,
    required,
)
from tierline.settings import TierlineSettings

NAME = "Polar"


def _call(settings: TierlineSettings, action: str, method: str, path: str, body: Any) -> Any:
    token = required(settings.polar_access_token, "polar_access_token", NAME, "access token")
    url = settings.polar_api_base.rstrip("/") + path
    return http.call(NAME, action, method, url, token=token, json=body)


class PolarActions(ProviderActions):
    """Checkout, portal, cancel/resume and plan change (no preview)."""

    name: ClassVar[str] = "polar"

    def checkout_url(self, settings: TierlineSettings, request: CheckoutRequest) -> str:
        body: dict[str, Any] = {
            "products": [request.external_key],
            "external_customer_id": request.account_ref,
            "metadata": {ACCOUNT_KEY: request.account_ref},
            "success_url": request.success_url,
        }
        if request.email:
            body["customer_email"] = request.email
        answer = _call(settings, "creating a checkout", "POST", "/v1/checkouts/", body)
        return http.text_at(NAME, "checkout", answer, "url")

    def portal_url(
        self, settings: TierlineSettings, subscription: LiveSubscription, return_url: str
    ) -> str:
        body: dict[str, Any] = {"return_url": return_url}
        if subscription.customer_id:
            body["customer_id"] = subscription.customer_id
        else:
            body["external_customer_id"] = subscription.account_ref
        answer = _call(
            settings, "opening a customer session", "POST", "/v1/customer-sessions/", body
        )
        return http.text_at(NAME, "customer session", answer, "customer_portal_url")

    def _patch(
        self, settings: TierlineSettings, sub_id: str, body: dict[str, Any], what: str
    ) -> None:
        _call(settings, what, "PATCH", f"/v1/subscriptions/{sub_id}", body)

    def cancel_at_period_end(
        self, settings: TierlineSettings, subscription: LiveSubscription, idempotency_key: str
    ) -> None:
        self._patch(settings, subscription.external_id, {"cancel_at_period_end": True}, "canceling")

    def resume(
        self, settings: TierlineSettings, subscription: LiveSubscription, idempotency_key: str
    ) -> None:
        self._patch(settings, subscription.external_id, {"cancel_at_period_end": False}, "resuming")

    def change_plan(self, settings: TierlineSettings, change: PlanChange) -> None:
        body = {
            "product_id": change.external_key,
            "proration_behavior": "invoice" if change.prorate else "next_period",
        }
        self._patch(
            settings, change.subscription.external_id, body, f"moving to {change.tier_key!r}"
        )
