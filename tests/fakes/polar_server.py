"""A local fake of the parts of Polar's API Tierline calls, in Polar's wire format.

Routes: ``POST /v1/checkouts/`` (seeded ``products``; answers the checkout with ``url``),
``POST /v1/customer-sessions/`` (``customer_portal_url``) and ``PATCH /v1/subscriptions/{id}``
(``cancel_at_period_end``, ``product_id`` + ``proration_behavior``). Errors are Polar's
``{"error": "ResourceNotFound", "detail": ...}`` and 422 ``{"detail": [{"loc", "msg", "type"}]}``.
Use the ``fake_polar`` fixture.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest

from tests.fakes.json_api import APIFailure, FakeCatalogAPI, JSONRequest, serving

TOKEN = "polar_oat_fake01"
_SUB = re.compile(r"^/v1/subscriptions/([A-Za-z0-9-]+)$")


def _invalid(field_name: str, message: str) -> APIFailure:
    detail = [{"loc": ["body", field_name], "msg": message, "type": "value_error"}]
    return APIFailure(422, {"detail": detail})


class FakePolar(FakeCatalogAPI):
    """Products (the catalog) and subscriptions; errors ``{"error": <type>, "detail"}``."""

    credentials = ("polar_access_token", TOKEN, "polar_api_base")

    def failure(self, status: int, code: str, message: str) -> APIFailure:
        return APIFailure(status, {"error": code, "detail": message})

    def unauthorized(self) -> APIFailure:
        return self.failure(401, "Unauthorized", "Invalid access token")

    def seed_subscription(self, product_id: str) -> str:
        return self.seed(self.new_id("sub-"), product_id=product_id, cancel_at_period_end=False)

    def not_found(self, method: str, path: str) -> APIFailure:
        return self.failure(404, "ResourceNotFound", "Not found")

    def route(self, request: JSONRequest) -> tuple[int, Any]:
        method, path, body = request.method, request.path, request.body
        if method == "POST" and path == "/v1/checkouts/":
            products = body.get("products") or []
            if not products or any(p not in self.catalog for p in products):
                raise _invalid("products", f"Product does not exist: {products}")
            checkout_id = self.new_id("")
            answer = {
                "id": checkout_id,
                "status": "open",
                "products": [{"id": p} for p in products],
                "metadata": body.get("metadata", {}),
                "external_customer_id": body.get("external_customer_id"),
                "success_url": body.get("success_url"),
                "url": f"https://buy.polar.sh/polar_c_{checkout_id}",
            }
            return 201, answer
        if method == "POST" and path == "/v1/customer-sessions/":
            if not (body.get("customer_id") or body.get("external_customer_id")):
                raise _invalid("customer_id", "Field required")
            token = self.new_id("polar_cst_")
            return 201, {
                "id": self.new_id(""),
                "token": token,
                "customer_id": body.get("customer_id"),
                "customer_portal_url": f"https://polar.sh/fake-org/portal?customer_session_token={token}",
            }
        match = _SUB.match(path)
        if method == "PATCH" and match and match.group(1) in self.subscriptions:
            sub = self.subscriptions[match.group(1)]
            if "product_id" in body:
                if body["product_id"] not in self.catalog:
                    raise _invalid("product_id", "Product does not exist")
                behavior = body.get("proration_behavior")
                if behavior not in ("invoice", "prorate", "next_period"):
                    raise _invalid(
                        "proration_behavior",
                        "Input should be 'invoice', 'prorate' or 'next_period'",
                    )
                if behavior == "next_period":  # applied at the renewal; pending until then
                    sub["pending_update"] = {"product_id": body["product_id"]}
                else:
                    sub["product_id"] = body["product_id"]
                    sub["pending_update"] = None
            if "cancel_at_period_end" in body:
                sub["cancel_at_period_end"] = bool(body["cancel_at_period_end"])
            return 200, sub
        raise self.not_found(method, path)


@pytest.fixture
def fake_polar() -> Iterator[FakePolar]:
    """A fake Polar API on 127.0.0.1 for one test."""
    with serving(FakePolar()) as fake:
        yield fake
