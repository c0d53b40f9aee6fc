"""A local fake of the parts of Lemon Squeezy's JSON:API Tierline calls, in its wire format.

Requests must carry ``Accept`` and ``Content-Type`` ``application/vnd.api+json``. Routes:
``POST /v1/checkouts`` (store and variant relationships; answers ``data.attributes.url``),
``GET``/``PATCH``/``DELETE /v1/subscriptions/{id}``. Errors are JSON:API's
``{"errors": [{"status", "title", "detail"}]}``. Use the ``fake_lemonsqueezy`` fixture.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest

from tests.fakes.json_api import APIFailure, FakeCatalogAPI, JSONRequest, serving

API_KEY = "ls_test_apikey_fake01"
STORE_ID = "4242"
MEDIA_TYPE = "application/vnd.api+json"
_SUB = re.compile(r"^/v1/subscriptions/([0-9]+)$")


class FakeLemonSqueezy(FakeCatalogAPI):
    """Variants (the catalog) and subscriptions (id -> attributes), numbered from 1001."""

    credentials = ("lemonsqueezy_api_key", API_KEY, "lemonsqueezy_api_base")
    unauthorized_error = (401, "Unauthorized", "Unauthenticated.")

    def settings(self) -> dict[str, str]:
        return {**super().settings(), "lemonsqueezy_store_id": STORE_ID}

    def seed_subscription(self, variant_id: str) -> str:
        sub_id = str(1001 + len(self.subscriptions))
        self.subscriptions[sub_id] = {
            "variant_id": int(variant_id),
            "status": "active",
            "cancelled": False,
            "urls": {
                "update_payment_method": f"https://store.lemonsqueezy.com/subscription/{sub_id}/payment-details",
                "customer_portal": f"https://store.lemonsqueezy.com/billing?expires=1&signature={sub_id}",
            },
        }
        return sub_id

    def failure(self, status: int, code: str, message: str) -> APIFailure:
        """JSON:API's error document (``code`` is the title)."""
        error = {"status": str(status), "title": code, "detail": message}
        return APIFailure(status, {"errors": [error]})

    def not_found(self, method: str, path: str) -> APIFailure:
        return self.failure(404, "Not Found", f"{method} {path} was not found")

    def _document(self, sub_id: str) -> dict[str, Any]:
        return {
            "data": {
                "type": "subscriptions",
                "id": sub_id,
                "attributes": self.subscriptions[sub_id],
            }
        }

    def route(self, request: JSONRequest) -> tuple[int, Any]:
        method, path, body = request.method, request.path, request.body
        headers = request.headers
        if headers.get("accept") != MEDIA_TYPE or (
            body is not None and headers.get("content-type") != MEDIA_TYPE
        ):
            raise self.failure(406, "Not Acceptable", f"use {MEDIA_TYPE}")
        if method == "POST" and path == "/v1/checkouts":
            data = body["data"]
            relations = data.get("relationships", {})
            store = relations.get("store", {}).get("data", {}).get("id")
            variant = relations.get("variant", {}).get("data", {}).get("id")
            if store != STORE_ID:
                raise self.failure(422, "Unprocessable Entity", f"store {store!r} does not exist")
            if variant not in self.catalog:
                raise self.failure(
                    422, "Unprocessable Entity", f"variant {variant!r} does not exist"
                )
            checkout_id = self.new_id("")
            attributes = {
                **data.get("attributes", {}),
                "store_id": int(store),
                "variant_id": int(variant),
                "url": f"https://fake.lemonsqueezy.com/checkout/custom/{checkout_id}?signature=x",
            }
            return 201, {"data": {"type": "checkouts", "id": checkout_id, "attributes": attributes}}
        match = _SUB.match(path)
        if match is None or match.group(1) not in self.subscriptions:
            raise self.not_found(method, path)
        sub_id = match.group(1)
        sub = self.subscriptions[sub_id]
        if method == "GET":
            return 200, self._document(sub_id)
        if method == "DELETE":
            sub.update(status="cancelled", cancelled=True)
            return 200, self._document(sub_id)
        if method == "PATCH":
            data = body["data"]
            if data.get("id") != sub_id or data.get("type") != "subscriptions":
                raise self.failure(409, "Conflict", "data.id and data.type must match the URL")
            attributes = data.get("attributes", {})
            if "variant_id" in attributes:
                if str(attributes["variant_id"]) not in self.catalog:
                    raise self.failure(422, "Unprocessable Entity", "variant does not exist")
                sub["variant_id"] = attributes["variant_id"]
            if attributes.get("cancelled") is False:
                sub.update(status="active", cancelled=False)
            return 200, self._document(sub_id)
        raise self.not_found(method, path)


@pytest.fixture
def fake_lemonsqueezy() -> Iterator[FakeLemonSqueezy]:
    """A fake Lemon Squeezy API on 127.0.0.1 for one test."""
    with serving(FakeLemonSqueezy()) as fake:
        yield fake
