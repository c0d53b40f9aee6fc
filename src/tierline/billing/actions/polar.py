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
    CheckoutRequest,
    LiveSubscription,
    PlanChange,
    SubscriptionUpdateActions,
    required,
)
from tierline.settings import TierlineSettings

NAME = "Polar"


def _call(settings: TierlineSettings, action: str, method: str, path: str, body: Any) -> Any:
    token = required(settings.polar_access_token, "polar_access_token", NAME, "access token")
    url = settings.polar_api_base.rstrip("/") + path
    return http.call(NAME, action, method, url, token=token, json=body)


class PolarActions(SubscriptionUpdateActions):
    """Checkout, portal, cancel/resume and plan change (no preview)."""

    name: ClassVar[str] = "polar"

    def checkout_url(self, settings: TierlineSettings, request: CheckoutRequest) -> str:
        body: dict[str, Any] = {
            "products": [request.external_key],
            "external_customer_id": request.account_ref,
            "metadata": request.account_data,
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

    resume_changes: ClassVar[dict[str, Any]] = {"cancel_at_period_end": False}

    def update(
        self, settings: TierlineSettings, sub_id: str, changes: dict[str, Any], what: str
    ) -> None:
        _call(settings, what, "PATCH", f"/v1/subscriptions/{sub_id}", changes)

    def cancel_at_period_end(
        self, settings: TierlineSettings, subscription: LiveSubscription, idempotency_key: str
    ) -> None:
        self.update(settings, subscription.external_id, {"cancel_at_period_end": True}, "canceling")

    def plan_changes(self, change: PlanChange) -> dict[str, Any]:
        return {
            "product_id": change.external_key,
            "proration_behavior": "invoice" if change.prorate else "next_period",
        }
