"""A local fake of the parts of Whop's API v1 Tierline calls, in Whop's wire format.

Routes under ``/api/v1``: ``POST /checkout_configurations`` (a seeded ``plan_id``; answers with
``purchase_url``), ``POST /memberships/{id}/cancel`` and ``POST /memberships/{id}/uncancel``.
Errors are ``{"error": {"type", "message"}}``. Use the ``fake_whop`` fixture.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest

from tests.fakes.json_api import APIFailure, FakeCatalogAPI, JSONRequest, serving

API_KEY = "whop_apikey_fake01"
PREFIX = "/api/v1"
_MEMBERSHIP = re.compile(rf"^{PREFIX}/memberships/(mem_[a-z0-9]+)/(cancel|uncancel)$")


class FakeWhop(FakeCatalogAPI):
    """Plans (the catalog) and memberships (``subscriptions``), under ``/api/v1``."""

    credentials = ("whop_api_key", API_KEY, "whop_api_base")

    def seed_membership(self, plan_id: str) -> str:
        """Seed an active membership of plan ``plan_id``; return its id."""
        return self.seed(self.new_id("mem_"), plan={"id": plan_id}, cancel_at_period_end=False)

    def failure(self, status: int, code: str, message: str) -> APIFailure:
        return APIFailure(status, {"error": {"type": code, "message": message}})

    def unauthorized(self) -> APIFailure:
        return self.failure(401, "unauthorized", "The API key is invalid")

    def route(self, request: JSONRequest) -> tuple[int, Any]:
        method, path, body = request.method, request.path, request.body
        if method == "POST" and path == f"{PREFIX}/checkout_configurations":
            plan = body.get("plan_id")
            if plan not in self.catalog:
                raise self.failure(400, "invalid_request", f"Plan {plan!r} does not exist")
            config_id = self.new_id("ch_")
            return 201, {
                "id": config_id,
                "plan": {"id": plan},
                "metadata": body.get("metadata") or {},
                "redirect_url": body.get("redirect_url"),
                "purchase_url": f"https://whop.com/checkout/{plan}?session={config_id}",
            }
        match = _MEMBERSHIP.match(path)
        if method == "POST" and match and match.group(1) in self.subscriptions:
            membership = self.subscriptions[match.group(1)]
            if match.group(2) == "cancel":
                if body.get("cancel_at_period_end") is not True:
                    membership["status"] = "canceled"
                membership["cancel_at_period_end"] = bool(body.get("cancel_at_period_end"))
            else:
                membership["cancel_at_period_end"] = False
            return 200, membership
        raise self.not_found(method, path)


@pytest.fixture
def fake_whop() -> Iterator[FakeWhop]:
    """A fake Whop API on 127.0.0.1 for one test."""
    with serving(FakeWhop(), PREFIX) as fake:
        yield fake
