"""A local fake of the parts of Paddle Billing's API Tierline calls, in Paddle's wire format.

One fake serves reconciliation and the self-service actions. Routes:

- ``GET /subscriptions?per_page=...&after=...&customer_id=a,b&status=a,b``: a page of seeded
  subscription entities, oldest first, as
  ``{"data": [...], "meta": {"request_id", "pagination": {"per_page", "next", "has_more",
  "estimated_total"}}}``; ``next`` is the full URL of the following page (``after=<last id>``),
  as Paddle sends it (https://developer.paddle.com/api-reference/about/pagination).
- ``POST /transactions`` (items of seeded prices; answers ``data.checkout.url``).
- ``POST /customers/{id}/portal-sessions`` (``data.urls.general.overview``).
- ``POST /subscriptions/{id}/cancel`` (``effective_from: next_billing_period``: a scheduled
  change), ``PATCH /subscriptions/{id}`` (``scheduled_change``, ``items`` with
  ``proration_billing_mode``) and ``PATCH /subscriptions/{id}/preview`` (``update_summary``).

Answers are ``{"data": ..., "meta": {"request_id"}}``. Every request must carry ``Authorization:
Bearer <the fake's API key>`` (none: 401 ``authentication_missing``; another: 403
``forbidden``); errors are Paddle's ``{"error": {"type", "code", "detail",
"documentation_url"}, "meta": {"request_id"}}``. Every request is recorded in ``.requests``.

Use the ``fake_paddle`` fixture: ``from tests.fakes.paddle_server import fake_paddle`` in a
test module, then ``fake_paddle.seed_subscription(...)`` (and ``fake_paddle.prices`` for the
prices a checkout or plan change may name) and ``TierlineSettings(**fake_paddle.settings())``.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import pytest

from tests.fakes.json_api import Answer, APIFailure, FakeJSONAPI, JSONRequest, serving

API_KEY = "pdl_sdbx_apikey_01fake000000000000000000_tierline"
DOCS = "https://developer.paddle.com/errors/shared"
_SUB = re.compile(r"^/subscriptions/(sub_[a-z0-9]+)(/cancel|/preview)?$")
_PORTAL = re.compile(r"^/customers/(ctm_[a-z0-9]+)/portal-sessions$")
_START = "2026-06-01T11:00:00.000000Z"


@dataclass
class FakePaddle(FakeJSONAPI):
    """Seeded prices (id -> unit amount in cents) and subscriptions (id -> entity, in creation
    order); see the module docstring."""

    prices: dict[str, int] = field(default_factory=dict)
    subscriptions: dict[str, dict[str, Any]] = field(default_factory=dict)
    credentials = ("paddle_api_key", API_KEY, "paddle_api_base")

    def seed_subscription(
        self,
        price_id: str | None = None,
        *,
        tier_key: str | None = "pro",
        customer_id: str = "ctm_01fake0000000000000000001",
        status: str = "active",
        quantity: int = 1,
        ends_at: str = "2026-07-01T11:00:00.000000Z",
        updated_at: str = "2026-06-01T12:00:00.000000Z",
        account_ref: str | None = None,
    ) -> str:
        """Add a subscription entity with one item on ``price_id`` (a random id by default)
        whose ``custom_data`` names ``tier_key``; return its id."""
        canceled = status == "canceled"
        price = {
            "id": price_id or f"pri_01{secrets.token_hex(12)}",
            "product_id": "pro_01fake00000000000000000001",
            "name": "Plan",
            "type": "standard",
            "billing_cycle": {"interval": "month", "frequency": 1},
            "unit_price": {"amount": "2900", "currency_code": "USD"},
            "status": "active",
            "custom_data": None if tier_key is None else {"tierline_tier": tier_key},
            "created_at": "2026-05-22T12:00:00.000000Z",
            "updated_at": "2026-05-22T12:00:00.000000Z",
        }
        item = {
            "status": "active",
            "quantity": quantity,
            "recurring": True,
            "created_at": _START,
            "updated_at": updated_at,
            "previously_billed_at": _START,
            "next_billed_at": ends_at,
            "trial_dates": None,
            "price": price,
        }
        entity = {
            "status": status,
            "customer_id": customer_id,
            "address_id": f"add_01{secrets.token_hex(12)}",
            "business_id": None,
            "currency_code": "USD",
            "created_at": _START,
            "updated_at": updated_at,
            "started_at": _START,
            "first_billed_at": _START,
            "next_billed_at": None if canceled else ends_at,
            "paused_at": None,
            "canceled_at": updated_at if canceled else None,
            "collection_mode": "automatic",
            "billing_details": None,
            "current_billing_period": (
                None if canceled else {"starts_at": _START, "ends_at": ends_at}
            ),
            "billing_cycle": {"interval": "month", "frequency": 1},
            "scheduled_change": None,
            "items": [item],
            "custom_data": None if account_ref is None else {"tierline_account": account_ref},
            "import_meta": None,
            "discount": None,
        }
        return self.store(self.subscriptions, f"sub_01{secrets.token_hex(12)}", **entity)

    # -- errors and authentication -----------------------------------------------------
    def failure(self, status: int, code: str, message: str) -> APIFailure:
        error = {
            "type": "request_error",
            "code": code,
            "detail": message,
            "documentation_url": f"{DOCS}/{code}",
        }
        return APIFailure(status, {"error": error})

    def not_found(self, method: str, path: str) -> APIFailure:
        return self.failure(404, "not_found", f"Entity not found: {method} {path}")

    def authenticate(self, headers: dict[str, str]) -> None:
        scheme, _, token = headers.get("authorization", "").partition(" ")
        if scheme != "Bearer" or not token:
            raise self.failure(401, "authentication_missing", "Authentication header missing")
        if token != self.token:
            raise self.failure(403, "forbidden", "You aren't permitted to perform this request.")

    def answer(self, request: JSONRequest) -> Answer:
        """Every answer, error or not, carries ``meta.request_id``."""
        status, body, extra = super().answer(request)
        body["meta"] = {**body.get("meta", {}), "request_id": secrets.token_hex(16)}
        return status, body, extra

    # -- routing -----------------------------------------------------------------------
    def route(self, request: JSONRequest) -> tuple[int, Any]:
        method, path, body = request.method, request.path, request.body
        if method == "GET" and path == "/subscriptions":
            return 200, self._list_subscriptions(request.query)
        if method == "POST" and path == "/transactions":
            txn = self.new_id("txn_")
            data = {
                "id": txn,
                "status": "ready",
                "custom_data": body.get("custom_data"),
                "items": self._items(body),
                "checkout": {"url": f"https://pay.example.com/checkout?_ptxn={txn}"},
            }
            return 201, {"data": data}
        portal = _PORTAL.match(path)
        if method == "POST" and portal:
            url = f"https://customer-portal.paddle.com/cpl_fake?token={self.new_id('pga_')}"
            data = {
                "id": self.new_id("cpls_"),
                "customer_id": portal.group(1),
                "urls": {"general": {"overview": url}, "subscriptions": []},
            }
            return 201, {"data": data}
        match = _SUB.match(path)
        if match is None or match.group(1) not in self.subscriptions:
            raise self.not_found(method, path)
        return 200, {
            "data": self._update(method, match.group(2), self.subscriptions[match.group(1)], body)
        }

    def _items(self, body: Any) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = (body or {}).get("items") or []
        for item in items:
            if item.get("price_id") not in self.prices:
                raise self.failure(
                    400, "price_not_found", f"price {item.get('price_id')} not found"
                )
        return items

    def _update(self, method: str, action: str | None, sub: dict[str, Any], body: Any) -> Any:
        if method == "POST" and action == "/cancel":
            if (body or {}).get("effective_from") != "next_billing_period":
                raise self.failure(
                    400, "bad_request", "effective_from must be next_billing_period here"
                )
            sub["scheduled_change"] = {
                "action": "cancel",
                "effective_at": sub["next_billed_at"],
                "resume_at": None,
            }
            return sub
        if method == "PATCH" and action == "/preview":
            items = self._items(body)
            old = self.prices.get(sub["items"][0]["price"]["id"], 0)
            new = self.prices[items[0]["price_id"]]
            prorated = body.get("proration_billing_mode") == "prorated_immediately"
            amount = new - old if prorated else 0
            result = {
                "action": "credit" if amount < 0 else "charge",
                "amount": str(abs(amount)),
                "currency_code": "USD",
            }
            return {**sub, "update_summary": {"result": result}}
        if method == "PATCH" and action is None:
            if "scheduled_change" in body:
                sub["scheduled_change"] = body["scheduled_change"]
            if "items" in body:
                items = self._items(body)
                if not body.get("proration_billing_mode"):
                    raise self.failure(400, "bad_request", "proration_billing_mode is required")
                sub["items"] = [
                    {"price": {"id": i["price_id"]}, "quantity": i["quantity"]} for i in items
                ]
            return sub
        raise self.not_found(method, f"/subscriptions/{sub['id']}{action or ''}")

    def _list_subscriptions(self, query: dict[str, str]) -> dict[str, Any]:
        per_page = int(query.get("per_page") or 50)
        if not 1 <= per_page <= 200:
            raise self.failure(
                400, "invalid_field", f"per_page must be between 1 and 200, not {per_page}"
            )
        customers = set(filter(None, query.get("customer_id", "").split(",")))
        statuses = set(filter(None, query.get("status", "").split(",")))
        matching = [
            sub
            for sub in self.subscriptions.values()
            if (not customers or sub["customer_id"] in customers)
            and (not statuses or sub["status"] in statuses)
        ]
        found = matching
        after = query.get("after")
        if after:
            ids = [sub["id"] for sub in found]
            found = found[ids.index(after) + 1 :] if after in ids else []
        page = found[:per_page]
        following = {**query, "after": page[-1]["id"]} if page else query
        pagination = {
            "per_page": per_page,
            "next": f"{self.url}/subscriptions?{urlencode(following)}",
            "has_more": len(found) > per_page,
            "estimated_total": len(matching),
        }
        return {"data": page, "meta": {"pagination": pagination}}


@pytest.fixture
def fake_paddle() -> Iterator[FakePaddle]:
    """A fake Paddle API on 127.0.0.1 (a free port) for one test."""
    with serving(FakePaddle()) as fake:
        yield fake
