"""Lemon Squeezy's self-service actions, through its JSON:API with ``httpx``.

Documented sources: a checkout (``POST /v1/checkouts`` with ``checkout_data.custom`` and the
store and variant relationships → ``data.attributes.url``), the customer portal (the
subscription object's ``data.attributes.urls.customer_portal``, from ``GET
/v1/subscriptions/{id}``), cancel (``DELETE /v1/subscriptions/{id}``: cancelled at the end of
the period, in its grace period until then), resume (``PATCH`` with ``cancelled: false``) and
the plan change (``PATCH`` with ``variant_id`` and ``disable_prorations``). No preview.
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

NAME = "Lemon Squeezy"
#: JSON:API's media type, required by Lemon Squeezy on both headers.
MEDIA_TYPE = "application/vnd.api+json"


def _call(settings: TierlineSettings, action: str, method: str, path: str, body: Any = None) -> Any:
    token = required(settings.lemonsqueezy_api_key, "lemonsqueezy_api_key", NAME, "API key")
    url = settings.lemonsqueezy_api_base.rstrip("/") + path
    headers = {"Accept": MEDIA_TYPE, "Content-Type": MEDIA_TYPE}
    return http.call(NAME, action, method, url, token=token, json=body, headers=headers)


def _ref(kind: str, ident: str) -> dict[str, Any]:
    return {"data": {"type": kind, "id": ident}}


class LemonSqueezyActions(SubscriptionUpdateActions):
    """Checkout, portal, cancel/resume and plan change (no preview)."""

    name: ClassVar[str] = "lemonsqueezy"

    def checkout_url(self, settings: TierlineSettings, request: CheckoutRequest) -> str:
        store = required(settings.lemonsqueezy_store_id, "lemonsqueezy_store_id", NAME, "store id")
        checkout_data: dict[str, Any] = {"custom": request.account_data}
        if request.email:
            checkout_data["email"] = request.email
        body = {
            "data": {
                "type": "checkouts",
                "attributes": {
                    "checkout_data": checkout_data,
                    "product_options": {"redirect_url": request.success_url},
                },
                "relationships": {
                    "store": _ref("stores", store),
                    "variant": _ref("variants", request.external_key),
                },
            }
        }
        answer = _call(settings, "creating a checkout", "POST", "/v1/checkouts", body)
        return http.text_at(NAME, "checkout", answer, "data", "attributes", "url")

    def portal_url(
        self, settings: TierlineSettings, subscription: LiveSubscription, return_url: str
    ) -> str:
        path = f"/v1/subscriptions/{subscription.external_id}"
        answer = _call(settings, "reading the subscription", "GET", path)
        return http.text_at(
            NAME, "subscription", answer, "data", "attributes", "urls", "customer_portal"
        )

    def cancel_at_period_end(
        self, settings: TierlineSettings, subscription: LiveSubscription, idempotency_key: str
    ) -> None:
        _call(settings, "canceling", "DELETE", f"/v1/subscriptions/{subscription.external_id}")

    resume_changes: ClassVar[dict[str, Any]] = {"cancelled": False}

    def update(
        self, settings: TierlineSettings, sub_id: str, changes: dict[str, Any], what: str
    ) -> None:
        body = {"data": {"type": "subscriptions", "id": sub_id, "attributes": changes}}
        _call(settings, what, "PATCH", f"/v1/subscriptions/{sub_id}", body)

    def plan_changes(self, change: PlanChange) -> dict[str, Any]:
        return {
            "variant_id": int(change.external_key)
            if change.external_key.isascii() and change.external_key.isdigit()
            else change.external_key,
            "disable_prorations": not change.prorate,
        }
