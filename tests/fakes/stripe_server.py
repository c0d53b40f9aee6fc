"""A local fake of the parts of Stripe's API Tierline calls, speaking Stripe's wire format.

Requests are form-encoded with Stripe's nested brackets (``line_items[0][price]``,
``subscription_data[metadata][tierline_account]``, ``lookup_keys[0]`` or ``lookup_keys[]``);
answers are Stripe-shaped JSON objects, errors are ``{"error": {"type", "message", "code",
"param"}}`` with Stripe's status codes. Routes:

- ``GET /v1/prices?lookup_keys[]=...&active=true``: a ``list`` object of the seeded prices.
- ``POST /v1/checkout/sessions``: a ``checkout.session`` (``cs_test_...``) for a seeded price.
- ``GET /v1/subscriptions/{id}``: a seeded subscription with its ``items`` list.
- ``POST /v1/subscriptions/{id}``: updates a seeded subscription; ``discounts[n][coupon]``
  must name a seeded coupon; ``cancel_at_period_end``; ``items[0][id]`` + ``items[0][price]``
  with ``proration_behavior`` (a seeded price).
- ``POST /v1/billing_portal/sessions``: a ``billing_portal.session`` for a ``customer``.
- ``POST /v1/invoices/create_preview``: the proration preview of ``subscription`` with
  ``subscription_details[items]`` (difference of the two prices; 0 with ``none``).
- ``GET /v1/subscriptions?status=all&customer=...&limit=...&starting_after=...``: a ``list``
  of seeded subscriptions, oldest first, paged like Stripe (``has_more``); without
  ``status`` canceled subscriptions are left out, as Stripe does. ``expand[]`` is recorded.

Every request must carry ``Authorization: Bearer sk_test_...`` (else 401). A POST's
``Idempotency-Key`` is honoured as Stripe does: the same key with the same parameters replays
the first response without a second effect (``Idempotent-Replayed: true``); with different
parameters it is a 400 ``idempotency_error``. Every request is recorded in ``.requests``.

Use the ``fake_stripe`` fixture: ``from tests.fakes.stripe_server import fake_stripe`` in a
test module, then ``fake_stripe.seed_price("pro_monthly")`` and
``TierlineSettings(**fake_stripe.settings())``.
"""

from __future__ import annotations

import re
import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

import pytest

from tests.fakes.json_api import Answer, APIFailure, FakeJSONAPI, JSONRequest, serving

API_KEY = "sk_test_tierline_fake_51Hx"
_SUBSCRIPTION_PATH = re.compile(r"^/v1/subscriptions/([A-Za-z0-9_]+)$")


class StripeAPIFailure(APIFailure):
    """An error answer in Stripe's shape."""

    def __init__(
        self, status: int, message: str, *, kind: str = "invalid_request_error", **extra: str
    ) -> None:
        super().__init__(status, {"error": {"type": kind, "message": message, **extra}})


def _missing(message: str, param: str) -> StripeAPIFailure:
    """Stripe's 400 ``resource_missing`` for parameter ``param``."""
    return StripeAPIFailure(400, message, code="resource_missing", param=param)


def decode_form(pairs: list[tuple[str, str]]) -> dict[str, Any]:
    """Stripe's bracketed form keys as nested dicts and lists (``a[0][b]=1`` -> {a: [{b: 1}]})."""
    root: dict[str, Any] = {}
    for key, value in pairs:
        base, _, rest = key.partition("[")
        parts = [base] + (rest[:-1].split("][") if rest else [])
        node: Any = root
        for index, part in enumerate(parts):
            last = index == len(parts) - 1
            nxt = None if last else parts[index + 1]
            empty: Any = [] if nxt is not None and (nxt == "" or nxt.isdigit()) else {}
            if isinstance(node, list):
                slot = len(node) if part == "" else int(part)
                while len(node) <= slot:
                    node.append(None)
                if last:
                    node[slot] = value
                elif node[slot] is None:
                    node[slot] = empty
                node = node[slot]
            else:
                if last:
                    node[part] = value
                else:
                    node = node.setdefault(part, empty)
    return root


@dataclass
class FakeStripe(FakeJSONAPI):
    """State and recordings of one fake Stripe server (see the module docstring)."""

    #: lookup_key -> price object.
    prices: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: subscription id -> subscription object.
    subscriptions: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: coupon id -> coupon object.
    coupons: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: checkout session id -> session object.
    sessions: dict[str, dict[str, Any]] = field(default_factory=dict)
    _idempotent: dict[str, tuple[str, str, dict[str, Any], int, dict[str, Any]]] = field(
        default_factory=dict
    )
    credentials = ("stripe_api_key", API_KEY, "stripe_api_base")

    # -- seeding -----------------------------------------------------------------------

    def seed_price(self, lookup_key: str, *, active: bool = True, unit_amount: int = 2900) -> str:
        """Add a recurring monthly price with ``lookup_key``; return its id."""
        price_id = f"price_{secrets.token_hex(12)}"
        self.prices[lookup_key] = {
            "id": price_id,
            "object": "price",
            "active": active,
            "billing_scheme": "per_unit",
            "created": int(time.time()),
            "currency": "usd",
            "livemode": False,
            "lookup_key": lookup_key,
            "metadata": {},
            "nickname": None,
            "product": f"prod_{secrets.token_hex(7)}",
            "recurring": {"interval": "month", "interval_count": 1, "usage_type": "licensed"},
            "type": "recurring",
            "unit_amount": unit_amount,
            "unit_amount_decimal": str(unit_amount),
        }
        return price_id

    def seed_subscription(
        self, customer: str = "cus_fake123", lookup_key: str | None = None
    ) -> str:
        """Add an active subscription without discounts (one item with the price of
        ``lookup_key`` when given); return its id."""
        sub_id = f"sub_{secrets.token_hex(12)}"
        items = []
        if lookup_key is not None:
            items.append(
                {
                    "id": f"si_{secrets.token_hex(7)}",
                    "object": "subscription_item",
                    "price": self.prices[lookup_key],
                    "quantity": 1,
                }
            )
        self.subscriptions[sub_id] = {
            "id": sub_id,
            "object": "subscription",
            "customer": customer,
            "cancel_at_period_end": False,
            "discounts": [],
            "items": {"object": "list", "data": items, "has_more": False},
            "livemode": False,
            "metadata": {},
            "status": "active",
        }
        return sub_id

    def seed_priced_subscription(
        self,
        lookup_key: str,
        *,
        customer: str = "cus_fake123",
        status: str = "active",
        quantity: int = 1,
        period_end: int = 1_782_903_600,
        account_ref: str | None = None,
        cancel_at_period_end: bool = False,
    ) -> str:
        """Add a subscription shaped like API ``2025-03-31.basil`` (the period on its item)
        with one item on a price with ``lookup_key``; return its id."""
        sub_id = f"sub_{secrets.token_hex(12)}"
        price = self.prices.get(lookup_key)
        if price is None:
            self.seed_price(lookup_key)
            price = self.prices[lookup_key]
        created = period_end - 30 * 86400
        self.subscriptions[sub_id] = {
            "id": sub_id,
            "object": "subscription",
            "cancel_at": None,
            "cancel_at_period_end": cancel_at_period_end,
            "canceled_at": None,
            "created": created,
            "currency": "usd",
            "customer": customer,
            "discounts": [],
            "ended_at": None,
            "items": {
                "object": "list",
                "data": [
                    {
                        "id": f"si_{secrets.token_hex(7)}",
                        "object": "subscription_item",
                        "created": created,
                        "current_period_start": created,
                        "current_period_end": period_end,
                        "metadata": {},
                        "price": dict(price),
                        "quantity": quantity,
                        "subscription": sub_id,
                    }
                ],
                "has_more": False,
                "total_count": 1,
                "url": f"/v1/subscription_items?subscription={sub_id}",
            },
            "livemode": False,
            "metadata": {} if account_ref is None else {"tierline_account": account_ref},
            "status": status,
            "trial_end": None,
        }
        return sub_id

    def _price_by_id(self, price_id: object, param: str) -> dict[str, Any]:
        for price in self.prices.values():
            if price["id"] == price_id:
                return price
        raise _missing(f"No such price: '{price_id}'", param)

    def seed_coupon(self, coupon_id: str, *, percent_off: float = 100.0) -> None:
        """Add a one-month coupon."""
        self.coupons[coupon_id] = {
            "id": coupon_id,
            "object": "coupon",
            "duration": "repeating",
            "duration_in_months": 1,
            "livemode": False,
            "percent_off": percent_off,
            "valid": True,
        }

    def fail_next(  # type: ignore[override]  # Stripe's error is built from its message
        self, status: int, message: str, *, kind: str = "api_error", code: str | None = None
    ) -> None:
        """Answer the next request with this error (marked not retryable, as Stripe does)."""
        extra = {"code": code} if code else {}
        self._queued.append(StripeAPIFailure(status, message, kind=kind, **extra))

    # -- routing -----------------------------------------------------------------------
    def decode(self, method: str, raw: str, query: str) -> Any:
        """The form-encoded body of a POST, else the query, as nested dicts and lists."""
        return decode_form(parse_qsl(raw if method == "POST" else query, keep_blank_values=True))

    def authenticate(self, headers: dict[str, str]) -> None:
        auth = headers.get("authorization", "")
        scheme, _, token = auth.partition(" ")
        if scheme != "Bearer" or not token.startswith("sk_test_"):
            raise StripeAPIFailure(
                401, f"Invalid API Key provided: {token[:8]}****; the fake takes only sk_test_ keys"
            )
        if token != self.token:
            raise StripeAPIFailure(401, f"Invalid API Key provided: {token[:12]}****")

    def answer(self, request: JSONRequest) -> Answer:
        """Stripe's idempotency: a POST's ``Idempotency-Key`` replays the first answer."""
        try:
            self.authenticate(request.headers)
        except APIFailure as failure:
            return self._sent(failure.status, failure.body, {})
        key = request.header("idempotency-key") if request.method == "POST" else None
        if key is not None and key in self._idempotent:
            first_method, first_path, first_form, status, body = self._idempotent[key]
            if (first_method, first_path, first_form) == (
                request.method,
                request.path,
                request.body,
            ):
                return status, body, self._headers({"Idempotent-Replayed": "true"})
            failure = StripeAPIFailure(
                400,
                "Keys for idempotent requests can only be used with the same parameters "
                "they were first used with. Try using a key other than "
                f"'{key}' if you meant to execute a different request.",
                kind="idempotency_error",
            )
            return self._sent(failure.status, failure.body, {})
        status, body, extra = super().answer(request)
        if key is not None:
            self._idempotent[key] = (request.method, request.path, request.body, status, body)
        return self._sent(status, body, extra)

    @staticmethod
    def _headers(extra: dict[str, str]) -> dict[str, str]:
        return {"Request-Id": f"req_{secrets.token_hex(7)}", **extra}

    def _sent(self, status: int, body: Any, extra: dict[str, str]) -> Answer:
        """Every answer names its request; an error says it is not worth retrying."""
        if status >= 400:
            extra = {**extra, "Stripe-Should-Retry": "false"}
        return status, body, self._headers(extra)

    def route(self, request: JSONRequest) -> tuple[int, Any]:
        return 200, self._route(request.method, request.path, request.body)

    def _route(self, method: str, path: str, form: dict[str, Any]) -> dict[str, Any]:
        if method == "GET" and path == "/v1/prices":
            return self._list_prices(form)
        if method == "POST" and path == "/v1/checkout/sessions":
            return self._create_session(form)
        if method == "GET" and path == "/v1/subscriptions":
            return self._list_subscriptions(form)
        match = _SUBSCRIPTION_PATH.match(path)
        if method == "POST" and match:
            return self._update_subscription(match.group(1), form)
        if method == "GET" and match:
            return self._public(self._subscription(match.group(1)))
        if method == "POST" and path == "/v1/billing_portal/sessions":
            return self._portal_session(form)
        if method == "POST" and path == "/v1/invoices/create_preview":
            return self._preview(form)
        raise StripeAPIFailure(
            404,
            f"Unrecognized request URL ({method}: {path}). Please see https://stripe.com/docs "
            "or we can help at https://support.stripe.com/.",
        )

    def _list_prices(self, form: dict[str, Any]) -> dict[str, Any]:
        keys = form.get("lookup_keys", [])
        keys = [keys] if isinstance(keys, str) else keys
        active = form.get("active")
        found = [
            price
            for key, price in self.prices.items()
            if (not keys or key in keys)
            and (active is None or str(price["active"]).lower() == active)
        ]
        return {"object": "list", "data": found, "has_more": False, "url": "/v1/prices"}

    def _list_subscriptions(self, form: dict[str, Any]) -> dict[str, Any]:
        status = form.get("status")
        customer = form.get("customer")
        limit = int(form.get("limit") or 10)
        if not 1 <= limit <= 100:
            raise StripeAPIFailure(
                400, "Invalid integer: limit must be between 1 and 100", param="limit"
            )
        found = [
            {k: v for k, v in sub.items() if not k.startswith("_")}
            for sub in self.subscriptions.values()
            if (customer is None or sub["customer"] == customer)
            and (
                status == "all"
                or (status is None and sub["status"] not in ("canceled", "incomplete_expired"))
                or sub["status"] == status
            )
        ]
        after = form.get("starting_after")
        if after is not None:
            ids = [sub["id"] for sub in found]
            if after not in ids:
                raise StripeAPIFailure(
                    400, f"No such subscription: '{after}'", param="starting_after"
                )
            found = found[ids.index(after) + 1 :]
        return {
            "object": "list",
            "data": found[:limit],
            "has_more": len(found) > limit,
            "url": "/v1/subscriptions",
        }

    def _create_session(self, form: dict[str, Any]) -> dict[str, Any]:
        for required in ("mode", "success_url"):
            if not form.get(required):
                raise StripeAPIFailure(
                    400,
                    f"Missing required param: {required}.",
                    code="parameter_missing",
                    param=required,
                )
        items = form.get("line_items") or []
        known = {price["id"] for price in self.prices.values()}
        for index, item in enumerate(items):
            if item.get("price") not in known:
                raise _missing(
                    f"No such price: '{item.get('price')}'", f"line_items[{index}][price]"
                )
        session_id = f"cs_test_{secrets.token_hex(24)}"
        session = {
            "id": session_id,
            "object": "checkout.session",
            "cancel_url": form.get("cancel_url"),
            "client_reference_id": form.get("client_reference_id"),
            "created": int(time.time()),
            "customer": None,
            "customer_email": form.get("customer_email"),
            "expires_at": int(time.time()) + 86400,
            "livemode": False,
            "metadata": form.get("metadata", {}),
            "mode": form["mode"],
            "payment_status": "unpaid",
            "status": "open",
            "subscription": None,
            "success_url": form["success_url"],
            "url": f"https://checkout.stripe.com/c/pay/{session_id}",
        }
        self.sessions[session_id] = session
        return session

    def _subscription(self, sub_id: object) -> dict[str, Any]:
        sub = self.subscriptions.get(str(sub_id))
        if sub is None:
            raise StripeAPIFailure(
                404, f"No such subscription: '{sub_id}'", code="resource_missing", param="id"
            )
        return sub

    @staticmethod
    def _public(sub: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in sub.items() if not k.startswith("_")}

    def _portal_session(self, form: dict[str, Any]) -> dict[str, Any]:
        if not form.get("customer"):
            raise StripeAPIFailure(
                400, "Missing required param: customer.", code="parameter_missing", param="customer"
            )
        session_id = f"bps_{secrets.token_hex(12)}"
        return {
            "id": session_id,
            "object": "billing_portal.session",
            "customer": form["customer"],
            "livemode": False,
            "return_url": form.get("return_url"),
            "url": f"https://billing.stripe.com/p/session/test_{session_id}",
        }

    def _new_items(self, sub: dict[str, Any], items: list[Any], param: str) -> list[Any]:
        """The subscription's items with ``items[n][id]``'s price replaced."""
        current = {item["id"]: item for item in sub["items"]["data"]}
        result = [dict(item) for item in sub["items"]["data"]]
        for index, change in enumerate(items):
            if change.get("id") not in current:
                raise _missing(
                    f"Invalid subscription_item id: {change.get('id')}", f"{param}[{index}][id]"
                )
            price = self._price_by_id(change.get("price"), f"{param}[{index}][price]")
            for item in result:
                if item["id"] == change["id"]:
                    item["price"] = price
        return result

    def _preview(self, form: dict[str, Any]) -> dict[str, Any]:
        sub = self._subscription(form.get("subscription"))
        details = form.get("subscription_details") or {}
        behavior = details.get("proration_behavior", "create_prorations")
        old = sub["items"]["data"][0]["price"]
        new = self._new_items(sub, details.get("items") or [], "subscription_details[items]")
        new_price = new[0]["price"]
        lines = []
        if behavior != "none":
            lines = [
                {
                    "object": "line_item",
                    "amount": -old["unit_amount"],
                    "currency": "usd",
                    "description": f"Unused time on {old['lookup_key']}",
                },
                {
                    "object": "line_item",
                    "amount": new_price["unit_amount"],
                    "currency": "usd",
                    "description": f"Remaining time on {new_price['lookup_key']}",
                },
            ]
        return {
            "id": None,
            "object": "invoice",
            "amount_due": max(0, sum(line["amount"] for line in lines)),
            "currency": "usd",
            "subscription": sub["id"],
            "lines": {"object": "list", "data": lines, "has_more": False},
        }

    def _update_subscription(self, sub_id: str, form: dict[str, Any]) -> dict[str, Any]:
        sub = self._subscription(sub_id)
        if "cancel_at_period_end" in form:
            sub["cancel_at_period_end"] = form["cancel_at_period_end"] == "true"
        if "items" in form:
            if form.get("proration_behavior") not in (
                "create_prorations",
                "always_invoice",
                "none",
            ):
                raise StripeAPIFailure(
                    400, "Invalid proration_behavior", param="proration_behavior"
                )
            sub["items"]["data"] = self._new_items(sub, form["items"], "items")
            sub.setdefault("_prorations", []).append(form["proration_behavior"])
        discounts = []
        for index, entry in enumerate(form.get("discounts") or []):
            coupon = self.coupons.get(entry.get("coupon"))
            if coupon is None:
                raise _missing(
                    f"No such coupon: '{entry.get('coupon')}'", f"discounts[{index}][coupon]"
                )
            discounts.append(f"di_{secrets.token_hex(12)}")
            sub.setdefault("_applied_coupons", []).append(coupon["id"])
        if "discounts" in form:
            sub["discounts"] = discounts
        return self._public(sub)

    def applied_coupons(self, sub_id: str) -> list[str]:
        """Every coupon applied to the subscription, once per effective update."""
        return list(self.subscriptions[sub_id].get("_applied_coupons", []))


@pytest.fixture
def fake_stripe() -> Iterator[FakeStripe]:
    """A fake Stripe API on 127.0.0.1 (a free port) for one test."""
    with serving(FakeStripe()) as fake:
        yield fake
