"""Count the network round trips an operation makes to PostgreSQL or MariaDB.

    with RoundTripProxy.to(url) as proxy:            # a TCP relay in front of the server
        tl = Tierline(settings=settings_for_tests(proxy.url))
        tl.status("warm-up")                          # connect outside the count
        proxy.reset()
        tl.ingest("stripe", event.headers, event.body)
        assert proxy.round_trips <= 3

A round trip is a turn of the conversation: the client sends (one or several packets), then
the server answers. Counted at the TCP level, whatever the driver does: a ``BEGIN``, a
``COMMIT``, a ping or a pipelined batch of statements (several statements, one answer) each
count as what they cost on the wire. Statements sent while the server is still answering an
earlier turn (a pipeline flushed in pieces) count as a turn of their own, so the count never
flatters. Connecting (the handshake and authentication) counts too: warm the pool first and
:meth:`RoundTripProxy.reset`.
"""

from __future__ import annotations

import selectors
import socket
import threading
from dataclasses import dataclass
from types import TracebackType

from sqlalchemy.engine import URL, make_url

_CHUNK = 1 << 16


@dataclass
class _Pair:
    client: socket.socket
    server: socket.socket
    #: Who spoke last: the next client packet after the server's answer starts a new turn.
    server_spoke: bool = True


class RoundTripProxy:
    """A loopback TCP relay to ``host:port`` that counts request/response turns."""

    def __init__(self, host: str, port: int) -> None:
        self._target = (host, port)
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.setblocking(False)
        self.port: int = self._listener.getsockname()[1]
        self._selector = selectors.DefaultSelector()
        self._selector.register(self._listener, selectors.EVENT_READ, None)
        self._pairs: dict[socket.socket, _Pair] = {}
        self._lock = threading.Lock()
        self._round_trips = 0
        self._closed = False
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._serve, name="round-trip-proxy", daemon=True)
        self._thread.start()
        self.url: URL = make_url("sqlite://")

    @classmethod
    def to(cls, url: str | URL) -> RoundTripProxy:
        """A proxy in front of the server ``url`` names; :attr:`url` is ``url`` through it."""
        parsed = make_url(url)
        default_port = 5432 if parsed.get_backend_name() == "postgresql" else 3306
        proxy = cls(parsed.host or "127.0.0.1", parsed.port or default_port)
        proxy.url = parsed.set(host="127.0.0.1", port=proxy.port)
        return proxy

    @property
    def round_trips(self) -> int:
        """Turns counted since the start or the last :meth:`reset`."""
        with self._lock:
            return self._round_trips

    def reset(self) -> None:
        """Start counting from zero."""
        with self._lock:
            self._round_trips = 0

    def close(self) -> None:
        """Stop relaying and close every connection.

        Raises:
            RuntimeError: the relay itself broke (its error is chained).
        """
        self._closed = True
        self._thread.join(timeout=5)
        if self._error is not None:
            raise RuntimeError("the round-trip relay failed") from self._error

    def __enter__(self) -> RoundTripProxy:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- the relay -----------------------------------------------------------------------
    def _serve(self) -> None:
        try:
            while not self._closed:
                for key, _mask in self._selector.select(timeout=0.05):
                    if key.fileobj is self._listener:
                        self._accept()
                    else:
                        self._relay(key.fileobj)  # type: ignore[arg-type]
        except BaseException as exc:
            self._error = exc
        finally:
            for sock in list(self._pairs):
                sock.close()
            self._listener.close()
            self._selector.close()

    def _accept(self) -> None:
        try:
            client, _ = self._listener.accept()
        except BlockingIOError:
            return
        server = socket.create_connection(self._target)
        for sock in (client, server):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        pair = _Pair(client, server)
        self._pairs[client] = self._pairs[server] = pair
        self._selector.register(client, selectors.EVENT_READ, None)
        self._selector.register(server, selectors.EVENT_READ, None)

    def _relay(self, sock: socket.socket) -> None:
        pair = self._pairs.get(sock)
        if pair is None:
            return
        try:
            data = sock.recv(_CHUNK)
        except OSError:
            data = b""
        if not data:
            self._drop(pair)
            return
        from_client = sock is pair.client
        if from_client and pair.server_spoke:
            with self._lock:
                self._round_trips += 1
        pair.server_spoke = not from_client
        other = pair.server if from_client else pair.client
        try:
            other.sendall(data)
        except OSError:
            self._drop(pair)

    def _drop(self, pair: _Pair) -> None:
        for sock in (pair.client, pair.server):
            if self._pairs.pop(sock, None) is not None:
                self._selector.unregister(sock)
            sock.close()
