"""A local fake of the parts of Paddle Billing's API Tierline calls, in Paddle's wire format.

Routes:

- ``GET /subscriptions?per_page=...&after=...&customer_id=a,b&status=a,b``: a page of seeded
  subscription entities, oldest first, as
  ``{"data": [...], "meta": {"request_id", "pagination": {"per_page", "next", "has_more",
  "estimated_total"}}}``; ``next`` is the full URL of the following page (``after=<last id>``),
  as Paddle sends it (https://developer.paddle.com/api-reference/about/pagination).

Every request must carry ``Authorization: Bearer <the fake's API key>``; errors are Paddle's
``{"error": {"type", "code", "detail", "documentation_url"}, "meta": {"request_id"}}``. Every
request is recorded in ``.requests``.

Use the ``fake_paddle`` fixture: ``from tests.fakes.paddle_server import fake_paddle`` in a
test module, then ``fake_paddle.seed_subscription(...)`` and
``TierlineSettings(**fake_paddle.settings())``.
"""

from __future__ import annotations

import json
import secrets
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import pytest

API_KEY = "pdl_sdbx_apikey_01fake000000000000000000_tierline"
DOCS = "https://developer.paddle.com/errors/shared"


@dataclass(frozen=True)
class RecordedRequest:
    """One request the fake received."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    status: int


class PaddleAPIFailure(Exception):  # noqa: N818 - it is a response, raised to unwind the handler
    """An error answer in Paddle's shape."""

    def __init__(self, status: int, code: str, detail: str, *, kind: str = "request_error"):
        super().__init__(detail)
        self.status = status
        self.body = {
            "error": {
                "type": kind,
                "code": code,
                "detail": detail,
                "documentation_url": f"{DOCS}/{code}",
            }
        }


@dataclass
class FakePaddle:
    """State and recordings of one fake Paddle server (see the module docstring)."""

    url: str = ""
    api_key: str = API_KEY
    #: subscription id -> subscription entity, in insertion (creation) order.
    subscriptions: dict[str, dict[str, Any]] = field(default_factory=dict)
    requests: list[RecordedRequest] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def settings(self) -> dict[str, str]:
        """The Tierline settings that point the Paddle client here."""
        return {"paddle_api_key": self.api_key, "paddle_api_base": self.url}

    def seed_subscription(
        self,
        *,
        tier_key: str | None = "pro",
        customer_id: str = "ctm_01fake0000000000000000001",
        status: str = "active",
        quantity: int = 1,
        ends_at: str = "2026-07-01T11:00:00.000000Z",
        updated_at: str = "2026-06-01T12:00:00.000000Z",
        account_ref: str | None = None,
        price_id: str | None = None,
    ) -> str:
        """Add a subscription entity with one item whose price's ``custom_data`` names
        ``tier_key``; return its id."""
        sub_id = f"sub_01{secrets.token_hex(12)}"
        price_id = price_id or f"pri_01{secrets.token_hex(12)}"
        self.subscriptions[sub_id] = {
            "id": sub_id,
            "status": status,
            "customer_id": customer_id,
            "address_id": f"add_01{secrets.token_hex(12)}",
            "business_id": None,
            "currency_code": "USD",
            "created_at": "2026-06-01T11:00:00.000000Z",
            "updated_at": updated_at,
            "started_at": "2026-06-01T11:00:00.000000Z",
            "first_billed_at": "2026-06-01T11:00:00.000000Z",
            "next_billed_at": None if status == "canceled" else ends_at,
            "paused_at": None,
            "canceled_at": updated_at if status == "canceled" else None,
            "collection_mode": "automatic",
            "billing_details": None,
            "current_billing_period": (
                None
                if status == "canceled"
                else {"starts_at": "2026-06-01T11:00:00.000000Z", "ends_at": ends_at}
            ),
            "billing_cycle": {"interval": "month", "frequency": 1},
            "scheduled_change": None,
            "items": [
                {
                    "status": "active",
                    "quantity": quantity,
                    "recurring": True,
                    "created_at": "2026-06-01T11:00:00.000000Z",
                    "updated_at": updated_at,
                    "previously_billed_at": "2026-06-01T11:00:00.000000Z",
                    "next_billed_at": ends_at,
                    "trial_dates": None,
                    "price": {
                        "id": price_id,
                        "product_id": "pro_01fake00000000000000000001",
                        "name": "Plan",
                        "type": "standard",
                        "billing_cycle": {"interval": "month", "frequency": 1},
                        "unit_price": {"amount": "2900", "currency_code": "USD"},
                        "status": "active",
                        "custom_data": None if tier_key is None else {"tierline_tier": tier_key},
                        "created_at": "2026-05-22T12:00:00.000000Z",
                        "updated_at": "2026-05-22T12:00:00.000000Z",
                    },
                }
            ],
            "custom_data": None if account_ref is None else {"tierline_account": account_ref},
            "import_meta": None,
            "discount": None,
        }
        return sub_id

    # -- routing -----------------------------------------------------------------------
    def handle(
        self, method: str, target: str, headers: dict[str, str]
    ) -> tuple[int, dict[str, Any]]:
        split = urlsplit(target)
        query = dict(parse_qsl(split.query, keep_blank_values=True))
        with self._lock:
            try:
                self._authenticate(headers)
                status, answer = 200, self._route(method, split.path, query)
            except PaddleAPIFailure as failure:
                status, answer = failure.status, failure.body
            answer["meta"] = {**answer.get("meta", {}), "request_id": secrets.token_hex(16)}
            self.requests.append(RecordedRequest(method, split.path, query, headers, status))
        return status, answer

    def _authenticate(self, headers: dict[str, str]) -> None:
        scheme, _, token = headers.get("authorization", "").partition(" ")
        if scheme != "Bearer" or not token:
            raise PaddleAPIFailure(
                401, "authentication_missing", "Authentication header missing", kind="request_error"
            )
        if token != self.api_key:
            raise PaddleAPIFailure(
                403,
                "forbidden",
                "You aren't permitted to perform this request.",
                kind="request_error",
            )

    def _route(self, method: str, path: str, query: dict[str, str]) -> dict[str, Any]:
        if method == "GET" and path == "/subscriptions":
            return self._list_subscriptions(query)
        raise PaddleAPIFailure(404, "not_found", f"Route {method} {path} not found")

    def _list_subscriptions(self, query: dict[str, str]) -> dict[str, Any]:
        per_page = int(query.get("per_page") or 50)
        if not 1 <= per_page <= 200:
            raise PaddleAPIFailure(
                400, "invalid_field", f"per_page must be between 1 and 200, not {per_page}"
            )
        customers = set(filter(None, query.get("customer_id", "").split(",")))
        statuses = set(filter(None, query.get("status", "").split(",")))
        found = [
            sub
            for sub in self.subscriptions.values()
            if (not customers or sub["customer_id"] in customers)
            and (not statuses or sub["status"] in statuses)
        ]
        after = query.get("after")
        if after:
            ids = [sub["id"] for sub in found]
            found = found[ids.index(after) + 1 :] if after in ids else []
        page = found[:per_page]
        has_more = len(found) > per_page
        following = {**query, "after": page[-1]["id"]} if page else query
        return {
            "data": page,
            "meta": {
                "pagination": {
                    "per_page": per_page,
                    "next": f"{self.url}/subscriptions?{urlencode(following)}",
                    "has_more": has_more,
                    "estimated_total": len(
                        [
                            sub
                            for sub in self.subscriptions.values()
                            if (not customers or sub["customer_id"] in customers)
                            and (not statuses or sub["status"] in statuses)
                        ]
                    ),
                }
            },
        }


def _handler_for(fake: FakePaddle) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            if length:
                self.rfile.read(length)
            headers = {k.lower(): v for k, v in self.headers.items()}
            status, answer = fake.handle(self.command, self.path, headers)
            payload = json.dumps(answer).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        do_GET = do_POST = do_PATCH = _serve  # noqa: N815 - http.server's naming

        def log_message(self, format: str, *args: Any) -> None:
            """Quiet: the recorded requests are the log."""

    return Handler


@pytest.fixture
def fake_paddle() -> Iterator[FakePaddle]:
    """A fake Paddle API on 127.0.0.1 (a free port) for one test."""
    fake = FakePaddle()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(fake))
    server.daemon_threads = True
    fake.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="fake-paddle", daemon=True
    )
    thread.start()
    try:
        yield fake
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
