"""The shared half of every local fake of a provider API (Stripe, Paddle, Polar, Whop, Lemon
Squeezy).

A fake subclasses :class:`FakeJSONAPI`, declares the settings that point Tierline at it and its
error shape (:meth:`FakeJSONAPI.failure`), and answers in :meth:`FakeJSONAPI.route`, raising
:class:`APIFailure` with the provider's own error body. This base decodes the request (JSON, or
what :meth:`FakeJSONAPI.decode` reads), checks the bearer token, records every request
(``.requests``), replays queued failures (``fail_next``) and serves it all on 127.0.0.1
(:func:`serving`).
"""

from __future__ import annotations

import json
import re
import secrets
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar, TypeVar
from urllib.parse import parse_qsl, urlsplit

#: An answer: HTTP status, JSON body, extra response headers.
Answer = tuple[int, Any, dict[str, str]]


@dataclass(frozen=True)
class JSONRequest:
    """One request the fake received, with its decoded body (``None`` without one) and query."""

    method: str
    path: str
    body: Any
    headers: dict[str, str]
    status: int = 0
    query: dict[str, str] = field(default_factory=dict)

    def header(self, name: str) -> str | None:
        """A header by case-insensitive name."""
        return self.headers.get(name.lower())

    @property
    def form(self) -> Any:
        """The decoded body of a form-encoded API (Stripe): the body, or a GET's query."""
        return self.body


class APIFailure(Exception):  # noqa: N818 - it is a response, raised to unwind the handler
    """An error answer: the status and the provider-shaped JSON body."""

    def __init__(self, status: int, body: dict[str, Any]) -> None:
        super().__init__(json.dumps(body))
        self.status = status
        self.body = body


@dataclass
class FakeJSONAPI:
    """A fake provider API: subclasses declare ``credentials`` and implement :meth:`route`."""

    url: str = ""
    requests: list[JSONRequest] = field(default_factory=list)
    _queued: list[APIFailure] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    #: (the setting holding the token, the token, the setting holding the base URL).
    credentials: ClassVar[tuple[str, str, str]] = ("", "test_token", "")
    #: (status, code, message) of the answer to a wrong token.
    unauthorized_error: ClassVar[tuple[int, str, str]] = (401, "unauthorized", "unauthorized")

    @property
    def token(self) -> str:
        """The bearer token this fake accepts."""
        return self.credentials[1]

    def settings(self) -> dict[str, str]:
        """The Tierline settings that point the provider's client here."""
        token_setting, token, base_setting = self.credentials
        return {token_setting: token, base_setting: self.url}

    def new_id(self, prefix: str) -> str:
        """A fresh provider-looking id: ``prefix`` + random hex."""
        return f"{prefix}{secrets.token_hex(8)}"

    def store(self, objects: dict[str, dict[str, Any]], obj_id: str, **fields: Any) -> str:
        """Seed ``objects[obj_id]`` as ``{"id": obj_id, **fields}``; return the id."""
        objects[obj_id] = {"id": obj_id, **fields}
        return obj_id

    def fail_next(self, status: int, body: dict[str, Any]) -> None:
        """Answer the next request with this error."""
        self._queued.append(APIFailure(status, body))

    def failure(self, status: int, code: str, message: str) -> APIFailure:
        """An error answer in the provider's shape (override for its shape)."""
        return APIFailure(status, {"error": {"code": code, "detail": message}})

    def unauthorized(self) -> APIFailure:
        """The provider's answer to a wrong token."""
        return self.failure(*self.unauthorized_error)

    def not_found(self, method: str, path: str) -> APIFailure:
        """The provider's answer to an unknown route or object."""
        return self.failure(404, "not_found", f"not found: {method} {path}")

    def authenticate(self, headers: dict[str, str]) -> None:
        """Raise :meth:`unauthorized` unless the bearer token is this fake's."""
        if headers.get("authorization") != f"Bearer {self.token}":
            raise self.unauthorized()

    def decode(self, method: str, raw: str, query: str) -> Any:
        """The request's body: JSON (override for a form-encoded API)."""
        return json.loads(raw) if raw else None

    def route(self, request: JSONRequest) -> tuple[int, Any]:
        """Answer one authenticated request: (status, JSON body)."""
        raise self.not_found(request.method, request.path)

    def answer(self, request: JSONRequest) -> Answer:
        """Authenticate, replay a queued failure or route; a failure is an answer too."""
        try:
            self.authenticate(request.headers)
            if self._queued:
                raise self._queued.pop(0)
            status, body = self.route(request)
        except APIFailure as failure:
            return failure.status, failure.body, {}
        return status, body, {}

    def last(self, method: str, pattern: str) -> JSONRequest:
        """The latest recorded request whose path matches ``pattern`` (a regex)."""
        for request in reversed(self.requests):
            if request.method == method and re.fullmatch(pattern, request.path):
                return request
        raise AssertionError(f"no {method} {pattern} among {[r.path for r in self.requests]}")

    def handle(self, method: str, target: str, headers: dict[str, str], raw: str) -> Answer:
        """Decode, answer and record one request."""
        split = urlsplit(target)
        query = dict(parse_qsl(split.query, keep_blank_values=True))
        body = self.decode(method, raw, split.query)
        request = JSONRequest(method, split.path, body, headers, query=query)
        with self._lock:
            status, answer, extra = self.answer(request)
            self.requests.append(replace(request, status=status))
        return status, answer, extra


@dataclass
class FakeCatalogAPI(FakeJSONAPI):
    """A fake whose checkout names ids of a seeded ``catalog`` (Polar products, Whop plans,
    Lemon Squeezy variants) and whose actions change seeded ``subscriptions`` (Whop's
    memberships), each active and not canceling when seeded (:meth:`seed`)."""

    catalog: set[str] = field(default_factory=set)
    subscriptions: dict[str, dict[str, Any]] = field(default_factory=dict)

    def seed(self, obj_id: str, **fields: Any) -> str:
        """Seed an active subscription ``obj_id`` with ``fields``; return its id."""
        return self.store(self.subscriptions, obj_id, status="active", **fields)


def _handler_for(fake: FakeJSONAPI) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length).decode() if length else ""
            headers = {k.lower(): v for k, v in self.headers.items()}
            status, answer, extra = fake.handle(self.command, self.path, headers, raw)
            payload = b"" if answer is None else json.dumps(answer).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            for name, value in extra.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(payload)

        do_GET = do_POST = do_PATCH = do_DELETE = _serve  # noqa: N815 - http.server's naming

        def log_message(self, format: str, *args: Any) -> None:
            """Quiet: the recorded requests are the log."""

    return Handler


F = TypeVar("F", bound=FakeJSONAPI)


@contextmanager
def serving(fake: F, prefix: str = "") -> Iterator[F]:
    """Serve ``fake`` on a free port of 127.0.0.1; ``fake.url`` is its base URL + ``prefix``."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(fake))
    server.daemon_threads = True
    fake.url = f"http://127.0.0.1:{server.server_address[1]}{prefix}"
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    try:
        yield fake
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
