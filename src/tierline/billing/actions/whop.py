"""Whop's self-service actions, through its REST API v1 with ``httpx``.

Documented sources: a checkout configuration (``POST /checkout_configurations`` with
``plan_id``, ``metadata`` and ``redirect_url`` → ``purchase_url``), cancel at period end
(``POST /memberships/{id}/cancel`` with ``cancel_at_period_end: true``) and its undo (``POST
/memberships/{id}/uncancel``). Members manage payment methods in Whop's hub (a static URL,
``TIERLINE_WHOP_HUB_URL``); Whop offers no plan change of a membership through the API.
"""

from __future__ import annotations

from typing import Any, ClassVar

from tierline.billing.actions import http
from tierline.billing.actions.base import (
    CheckoutRequest,
    LiveSubscription,
    ProviderActions,
    required,
)
from tierline.settings import TierlineSettings

NAME = "Whop"


def _call(settings: TierlineSettings, action: str, path: str, body: Any) -> Any:
    token = required(settings.whop_api_key, "whop_api_key", NAME, "API key")
    url = settings.whop_api_base.rstrip("/") + path
    return http.call(NAME, action, "POST", url, token=token, json=body)


class WhopActions(ProviderActions):
    """Checkout, the hub link and cancel/resume."""

    name: ClassVar[str] = "whop"

    def checkout_url(self, settings: TierlineSettings, request: CheckoutRequest) -> str:
        body = {
            "plan_id": request.external_key,
            "metadata": request.account_data,
            "redirect_url": request.success_url,
        }
        answer = _call(
            settings, "creating a checkout configuration", "/checkout_configurations", body
        )
        return http.text_at(NAME, "checkout configuration", answer, "purchase_url")

    def portal_url(
        self, settings: TierlineSettings, subscription: LiveSubscription, return_url: str
    ) -> str:
        return settings.whop_hub_url

    def cancel_at_period_end(
        self, settings: TierlineSettings, subscription: LiveSubscription, idempotency_key: str
    ) -> None:
        path = f"/memberships/{subscription.external_id}/cancel"
        _call(settings, "canceling", path, {"cancel_at_period_end": True})

    def resume(
        self, settings: TierlineSettings, subscription: LiveSubscription, idempotency_key: str
    ) -> None:
        _call(settings, "resuming", f"/memberships/{subscription.external_id}/uncancel", {})
