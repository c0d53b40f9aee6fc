"""A local fake of Paddle Billing's API for the self-service actions, in Paddle's wire format.

(The subscription listing reconciliation pages through is faked in ``paddle_server``.)

Answers are ``{"data": ..., "meta": {"request_id"}}``; errors ``{"error": {"type", "code",
"detail", "documentation_url"}, "meta": ...}``. Routes: ``POST /transactions`` (items of seeded
prices; ``data.checkout.url``), ``POST /customers/{id}/portal-sessions``, ``POST
/subscriptions/{id}/cancel``, ``PATCH /subscriptions/{id}`` and ``PATCH
/subscriptions/{id}/preview``. Use the ``fake_paddle`` fixture.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from tests.fakes.json_api import APIFailure, FakeJSONAPI, serving

API_KEY = "pdl_sdbx_apikey_fake01"
_SUB = re.compile(r"^/subscriptions/(sub_[a-z0-9]+)(/cancel|/preview)?$")
_PORTAL = re.compile(r"^/customers/(ctm_[a-z0-9]+)/portal-sessions$")


def _meta() -> dict[str, str]:
    return {"request_id": "req-fake-paddle"}


def _error(status: int, code: str, detail: str) -> APIFailure:
    body = {
        "error": {
            "type": "request_error",
            "code": code,
            "detail": detail,
            "documentation_url": f"https://developer.paddle.com/v1/errors/shared/{code}",
        },
        "meta": _meta(),
    }
    return APIFailure(status, body)


@dataclass
class FakePaddle(FakeJSONAPI):
    """Seeded prices (id -> unit amount in cents) and subscriptions (id -> object)."""

    token: str = API_KEY
    prices: dict[str, int] = field(default_factory=dict)
    subscriptions: dict[str, dict[str, Any]] = field(default_factory=dict)

    def settings(self) -> dict[str, str]:
        return {"paddle_api_key": self.token, "paddle_api_base": self.url}

    def seed_subscription(self, price_id: str, customer: str = "ctm_fake01") -> str:
        sub_id = self.new_id("sub_")
        self.subscriptions[sub_id] = {
            "id": sub_id,
            "status": "active",
            "customer_id": customer,
            "items": [{"price": {"id": price_id}, "quantity": 1}],
            "next_billed_at": "2030-01-01T00:00:00Z",
            "scheduled_change": None,
        }
        return sub_id

    def unauthorized(self) -> APIFailure:
        return _error(403, "forbidden", "You aren't permitted to perform this request.")

    def not_found(self, method: str, path: str) -> APIFailure:
        return _error(404, "not_found", f"Entity not found: {method} {path}")

    def _items(self, body: Any) -> list[dict[str, Any]]:
        items = (body or {}).get("items") or []
        for item in items:
            if item.get("price_id") not in self.prices:
                raise _error(400, "price_not_found", f"price {item.get('price_id')} not found")
        return items

    def route(self, method: str, path: str, body: Any, headers: dict[str, str]) -> tuple[int, Any]:
        if method == "POST" and path == "/transactions":
            items = self._items(body)
            txn = self.new_id("txn_")
            data = {
                "id": txn,
                "status": "ready",
                "custom_data": body.get("custom_data"),
                "items": items,
                "checkout": {"url": f"https://pay.example.com/checkout?_ptxn={txn}"},
            }
            return 201, {"data": data, "meta": _meta()}
        portal = _PORTAL.match(path)
        if method == "POST" and portal:
            url = f"https://customer-portal.paddle.com/cpl_fake?token={self.new_id('pga_')}"
            data = {
                "id": self.new_id("cpls_"),
                "customer_id": portal.group(1),
                "urls": {"general": {"overview": url}, "subscriptions": []},
            }
            return 201, {"data": data, "meta": _meta()}
        match = _SUB.match(path)
        if match is None or match.group(1) not in self.subscriptions:
            raise self.not_found(method, path)
        sub = self.subscriptions[match.group(1)]
        action = match.group(2)
        if method == "POST" and action == "/cancel":
            if (body or {}).get("effective_from") != "next_billing_period":
                raise _error(400, "bad_request", "effective_from must be next_billing_period here")
            sub["scheduled_change"] = {
                "action": "cancel",
                "effective_at": sub["next_billed_at"],
                "resume_at": None,
            }
            return 200, {"data": sub, "meta": _meta()}
        if method == "PATCH" and action == "/preview":
            items = self._items(body)
            old = self.prices.get(sub["items"][0]["price"]["id"], 0)
            new = self.prices[items[0]["price_id"]]
            amount = (
                new - old if body.get("proration_billing_mode") == "prorated_immediately" else 0
            )
            result = {
                "action": "credit" if amount < 0 else "charge",
                "amount": str(abs(amount)),
                "currency_code": "USD",
            }
            return 200, {"data": {**sub, "update_summary": {"result": result}}, "meta": _meta()}
        if method == "PATCH" and action is None:
            if "scheduled_change" in body:
                sub["scheduled_change"] = body["scheduled_change"]
            if "items" in body:
                items = self._items(body)
                if not body.get("proration_billing_mode"):
                    raise _error(400, "bad_request", "proration_billing_mode is required")
                sub["items"] = [
                    {"price": {"id": i["price_id"]}, "quantity": i["quantity"]} for i in items
                ]
            return 200, {"data": sub, "meta": _meta()}
        raise self.not_found(method, path)


@pytest.fixture
def fake_paddle() -> Iterator[FakePaddle]:
    """A fake Paddle API on 127.0.0.1 for one test."""
    with serving(FakePaddle()) as fake:
        yield fake
