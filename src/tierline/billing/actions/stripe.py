"""Stripe's self-service actions, through the official ``stripe`` SDK.

Documented sources: Checkout Sessions (``POST /v1/checkout/sessions``), the customer portal
(``POST /v1/billing_portal/sessions`` → ``url``), cancel at period end and resume (``POST
/v1/subscriptions/{id}`` with ``cancel_at_period_end``), the proration preview (``POST
/v1/invoices/create_preview`` with ``subscription`` and ``subscription_details.items``) and the
plan change (the same item's ``price`` replaced, with ``proration_behavior``). Every POST
carries an idempotency key.
"""

from __future__ import annotations

from typing import Any, ClassVar

import stripe

from tierline.billing import stripe_api
from tierline.billing.actions.base import (
    CheckoutRequest,
    LiveSubscription,
    PlanChange,
    PreviewLine,
    ProrationPreview,
    ProviderActions,
)
from tierline.settings import TierlineSettings


class StripeActions(ProviderActions):
    """Every action: Stripe offers a portal, cancel/resume, preview and plan change."""

    name: ClassVar[str] = "stripe"

    def checkout_url(self, settings: TierlineSettings, request: CheckoutRequest) -> str:
        return stripe_api.create_checkout_session(
            settings,
            account_ref=request.account_ref,
            lookup_key=request.external_key,
            success_url=request.success_url,
            cancel_url=request.cancel_url,
            customer_email=request.email,
        )

    def portal_url(
        self, settings: TierlineSettings, subscription: LiveSubscription, return_url: str
    ) -> str:
        api = stripe_api.client(settings)
        customer = subscription.customer_id or self._customer(api, subscription)
        try:
            session = api.v1.billing_portal.sessions.create(
                params={"customer": customer, "return_url": return_url}
            )
        except stripe.StripeError as exc:
            raise stripe_api.fail(f"opening the billing portal of {customer!r}", exc) from exc
        return str(session.url)

    def _customer(self, api: stripe.StripeClient, subscription: LiveSubscription) -> str:
        return str(self._retrieve(api, subscription.external_id).customer)

    def _retrieve(self, api: stripe.StripeClient, sub_id: str) -> stripe.Subscription:
        try:
            return api.v1.subscriptions.retrieve(sub_id)
        except stripe.StripeError as exc:
            raise stripe_api.fail(f"reading subscription {sub_id!r}", exc) from exc

    def _update(
        self, settings: TierlineSettings, sub_id: str, params: dict[str, Any], key: str, what: str
    ) -> None:
        api = stripe_api.client(settings)
        try:
            api.v1.subscriptions.update(
                sub_id,
                params=params,  # type: ignore[arg-type]  # a TypedDict of Stripe's params
                options={"idempotency_key": key},
            )
        except stripe.StripeError as exc:
            raise stripe_api.fail(f"{what} subscription {sub_id!r}", exc) from exc

    def cancel_at_period_end(
        self, settings: TierlineSettings, subscription: LiveSubscription, idempotency_key: str
    ) -> None:
        self._update(
            settings,
            subscription.external_id,
            {"cancel_at_period_end": True},
            idempotency_key,
            "canceling",
        )

    def resume(
        self, settings: TierlineSettings, subscription: LiveSubscription, idempotency_key: str
    ) -> None:
        self._update(
            settings,
            subscription.external_id,
            {"cancel_at_period_end": False},
            idempotency_key,
            "resuming",
        )

    def _items(self, settings: TierlineSettings, change: PlanChange) -> list[dict[str, str]]:
        """The subscription's first item with the new price (the catalog links one price)."""
        api = stripe_api.client(settings)
        price = stripe_api.find_price_id(api, change.external_key)
        current = self._retrieve(api, change.subscription.external_id)
        items = current.to_dict()["items"]["data"]
        if not items:
            raise stripe_api.StripeAPIError(
                f"Stripe subscription {current.id!r} has no items to change"
            )
        return [{"id": str(items[0]["id"]), "price": price}]

    @staticmethod
    def _proration(change: PlanChange) -> str:
        return "always_invoice" if change.prorate else "none"

    def preview_change(self, settings: TierlineSettings, change: PlanChange) -> ProrationPreview:
        api = stripe_api.client(settings)
        params: dict[str, Any] = {
            "subscription": change.subscription.external_id,
            "subscription_details": {
                "items": self._items(settings, change),
                "proration_behavior": "create_prorations" if change.prorate else "none",
            },
        }
        try:
            invoice = api.v1.invoices.create_preview(params=params)  # type: ignore[arg-type]
        except stripe.StripeError as exc:
            raise stripe_api.fail("previewing the plan change", exc) from exc
        data = invoice.to_dict()
        lines = tuple(
            PreviewLine(str(line.get("description") or ""), int(line.get("amount") or 0))
            for line in data["lines"]["data"]
        )
        return ProrationPreview(
            currency=str(invoice.currency), amount_due=int(invoice.amount_due), lines=lines
        )

    def change_plan(self, settings: TierlineSettings, change: PlanChange) -> None:
        params = {
            "items": self._items(settings, change),
            "proration_behavior": self._proration(change),
        }
        self._update(
            settings,
            change.subscription.external_id,
            params,
            change.idempotency_key,
            f"moving to {change.tier_key!r}",
        )
