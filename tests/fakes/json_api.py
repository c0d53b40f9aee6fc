"""The shared half of the local fakes of JSON provider APIs (Paddle, Polar, Whop, Lemon Squeezy).

A fake subclasses :class:`FakeJSONAPI` and answers in :meth:`FakeJSONAPI.route`, raising
:class:`APIFailure` with the provider's own error body. This base checks the bearer token,
records every request (``.requests``), replays queued failures (``fail_next``) and serves it all
on 127.0.0.1 (:func:`serving`).
"""

from __future__ import annotations

import json
import re
import secrets
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, TypeVar
from urllib.parse import urlsplit


@dataclass(frozen=True)
class JSONRequest:
    """One request the fake received, with its decoded JSON body (``None`` without one)."""

    method: str
    path: str
    body: Any
    headers: dict[str, str]
    status: int

    def header(self, name: str) -> str | None:
        """A header by case-insensitive name."""
        return self.headers.get(name.lower())


class APIFailure(Exception):  # noqa: N818 - it is a response, raised to unwind the handler
    """An error answer: the status and the provider-shaped JSON body."""

    def __init__(self, status: int, body: dict[str, Any]) -> None:
        super().__init__(json.dumps(body))
        self.status = status
        self.body = body


@dataclass
class FakeJSONAPI:
    """A fake provider API: subclasses set ``token`` and implement :meth:`route`."""

    url: str = ""
    token: str = "test_token"
    requests: list[JSONRequest] = field(default_factory=list)
    _queued: list[APIFailure] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def new_id(self, prefix: str) -> str:
        """A fresh provider-looking id: ``prefix`` + random hex."""
        return f"{prefix}{secrets.token_hex(8)}"

    def fail_next(self, status: int, body: dict[str, Any]) -> None:
        """Answer the next request with this error."""
        self._queued.append(APIFailure(status, body))

    def unauthorized(self) -> APIFailure:
        """The provider's answer to a wrong token (override for its shape)."""
        return APIFailure(401, {"error": {"detail": "unauthorized"}})

    def not_found(self, method: str, path: str) -> APIFailure:
        """The provider's answer to an unknown route or object."""
        return APIFailure(404, {"error": {"detail": f"not found: {method} {path}"}})

    def route(self, method: str, path: str, body: Any, headers: dict[str, str]) -> tuple[int, Any]:
        """Answer one authenticated request: (status, JSON body)."""
        raise self.not_found(method, path)

    def last(self, method: str, pattern: str) -> JSONRequest:
        """The latest recorded request whose path matches ``pattern`` (a regex)."""
        for request in reversed(self.requests):
            if request.method == method and re.fullmatch(pattern, request.path):
                return request
        raise AssertionError(f"no {method} {pattern} among {[r.path for r in self.requests]}")

    def handle(
        self, method: str, target: str, headers: dict[str, str], raw: str
    ) -> tuple[int, Any]:
        path = urlsplit(target).path
        body = json.loads(raw) if raw else None
        with self._lock:
            try:
                if headers.get("authorization") != f"Bearer {self.token}":
                    raise self.unauthorized()
                if self._queued:
                    raise self._queued.pop(0)
                status, answer = self.route(method, path, body, headers)
            except APIFailure as failure:
                status, answer = failure.status, failure.body
            self.requests.append(JSONRequest(method, path, body, headers, status))
        return status, answer


def _handler_for(fake: FakeJSONAPI) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length).decode() if length else ""
            headers = {k.lower(): v for k, v in self.headers.items()}
            status, answer = fake.handle(self.command, self.path, headers, raw)
            payload = b"" if answer is None else json.dumps(answer).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
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
