"""An HTTP POST bounded by a total deadline, for :mod:`tierline.access.webhook`.

``httpx``'s timeouts bound each socket operation, so a receiver that trickles a byte every few
seconds keeps a request alive for ever. Here every connect, read and write waits at most what is
left of one deadline for the whole try, and only the status line and headers are read: the
answer's body, whatever its size, never is. Needs ``httpcore`` (installed with ``httpx``, the
``access-webhooks`` extra).
"""

from __future__ import annotations

import ssl
import time
from collections.abc import Iterable, Mapping
from typing import Any

import httpcore


def post_status(url: str, body: bytes, headers: Mapping[str, str], deadline: float) -> int:
    """POST ``body`` to ``url`` and return the answer's status code, within ``deadline``
    seconds in all (connecting, sending, and reading the status line and headers; each socket
    operation waits at most what is left). The body of the answer is never read: the
    connection is closed once the headers are in.

    Raises:
        httpcore.TimeoutException: the deadline passed.
        httpcore.NetworkError, httpcore.ProtocolError: the receiver is unreachable or answered
            something that is not HTTP/1.1.
    """
    backend = _DeadlineBackend(httpcore.SyncBackend(), time.monotonic() + deadline)
    timeouts = dict.fromkeys(("connect", "read", "write", "pool"), deadline)
    with (
        httpcore.ConnectionPool(network_backend=backend, max_connections=1) as pool,
        pool.stream(
            "POST",
            url,
            headers=list(headers.items()),
            content=body,
            extensions={"timeout": timeouts},
        ) as response,
    ):
        return response.status


class _DeadlineBackend(httpcore.NetworkBackend):
    """An ``httpcore`` network backend whose streams wait, per socket operation, no longer
    than what is left before ``deadline`` (a :func:`time.monotonic` instant)."""

    def __init__(self, inner: httpcore.NetworkBackend, deadline: float) -> None:
        self._inner = inner
        self._deadline = deadline

    def remaining(self, timeout: float | None, error: type[Exception]) -> float:
        left = self._deadline - time.monotonic()
        if left <= 0:
            raise error("the total deadline of the try passed")
        return left if timeout is None else min(timeout, left)

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> _DeadlineStream:
        wait = self.remaining(timeout, httpcore.ConnectTimeout)
        stream = self._inner.connect_tcp(host, port, wait, local_address, socket_options)
        return _DeadlineStream(stream, self)

    def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable[Any] | None = None
    ) -> _DeadlineStream:
        wait = self.remaining(timeout, httpcore.ConnectTimeout)
        return _DeadlineStream(self._inner.connect_unix_socket(path, wait, socket_options), self)

    def sleep(self, seconds: float) -> None:
        self._inner.sleep(seconds)


class _DeadlineStream(httpcore.NetworkStream):
    """A network stream of :class:`_DeadlineBackend`."""

    def __init__(self, inner: httpcore.NetworkStream, backend: _DeadlineBackend) -> None:
        self._inner = inner
        self._backend = backend

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._inner.read(max_bytes, self._backend.remaining(timeout, httpcore.ReadTimeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._inner.write(buffer, self._backend.remaining(timeout, httpcore.WriteTimeout))

    def close(self) -> None:
        self._inner.close()

    def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> _DeadlineStream:
        wait = self._backend.remaining(timeout, httpcore.ConnectTimeout)
        return _DeadlineStream(
            self._inner.start_tls(ssl_context, server_hostname, wait), self._backend
        )

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)
