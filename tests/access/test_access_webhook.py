"""The signed ``access.changed`` POST to the host's URL, against a local receiver that verifies
it with the ``standardwebhooks`` package: retried on a 500 with the same ``webhook-id``, dead
after the last try, visible in the outbox. Delivered off the writer's thread: the writer
returns before the receiver answers, a receiver that trickles is cut at the try's deadline, and
the answer's body is never read."""

from __future__ import annotations

import base64
import contextlib
import json
import socket
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from pydantic import ValidationError as PydanticValidationError
from standardwebhooks import Webhook

from tierline import Tierline, TierlineSettings
from tierline.access import webhook
from tierline.access.changes import ACCESS_WEBHOOK
from tierline.outbox.models import OutboxStatus
from tierline.outbox.service import OutboxItemInfo

from ..clock import FrozenClock
from ..usage.seed import CATALOG, add_tiers

MakeTierline = Callable[..., Tierline]
#: Seconds a test waits, at most, for the background delivery thread.
WAIT = 20.0
SECRET = "whsec_" + base64.b64encode(b"tierline-access-webhook-test-key").decode()


@dataclass
class Receiver:
    """The host's endpoint: verifies each POST, answers the queued statuses (then 204)."""

    url: str = ""
    verified: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    rejected: int = 0
    answers: list[int] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    #: Set when a POST arrives; the answer waits (bounded) until ``release`` is set.
    arrived: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=threading.Event)

    def __post_init__(self) -> None:
        self.release.set()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    found = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["content-length"]))
            found.arrived.set()
            found.release.wait(WAIT)
            headers = {key.lower(): value for key, value in self.headers.items()}
            try:
                data = Webhook(SECRET).verify(body, headers)
            except Exception:
                with found.lock:
                    found.rejected += 1
                self.send_response(400)
                self.end_headers()
                return
            with found.lock:
                found.verified.append((headers["webhook-id"], data))
                status = found.answers.pop(0) if found.answers else 204
            self.send_response(status)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    found.url = f"http://127.0.0.1:{server.server_address[1]}/hooks/tierline"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield found
    found.release.set()
    server.shutdown()
    server.server_close()


@pytest.fixture(autouse=True)
def no_thread_left() -> Iterator[None]:
    """Set up before, so torn down after, the Tierline objects: none leaves its thread."""
    yield
    assert not [t for t in threading.enumerate() if t.name == "tierline-outbox-delivery"]


def delivered(tl: Tierline) -> None:
    """Wait (bounded) until the background thread tried what the writes handed it."""
    assert tl.ctx.background.wait_idle(WAIT)


@pytest.fixture
def tl(make_tierline: MakeTierline, receiver: Receiver) -> Tierline:
    built = make_tierline(
        CATALOG,
        access_webhook_url=receiver.url,
        access_webhook_secret=SECRET,
        outbox_backoff_seconds=60,
        outbox_max_attempts=3,
    )
    add_tiers(built)
    built.ensure_account("ann")
    return built


def test_a_change_is_posted_signed_and_verifiable(tl: Tierline, receiver: Receiver) -> None:
    tl.grant_credit("ann", days=10)
    delivered(tl)
    [(msg_id, data)] = receiver.verified
    [item] = tl.outbox.list()
    assert (item.kind, item.status) == (ACCESS_WEBHOOK, OutboxStatus.DELIVERED)
    assert msg_id == f"msg_tierline_{item.id}"
    assert data["type"] == "access.changed"
    change = data["data"]
    assert change["account"] == "ann"
    assert (change["old"]["active"], change["new"]["active"]) == (False, True)
    assert change["new"]["source"] == "credit"
    assert receiver.rejected == 0


def test_a_500_is_retried_with_the_same_id_then_dead_after_the_last_try(
    tl: Tierline, receiver: Receiver, clock: FrozenClock
) -> None:
    receiver.answers = [500, 200]
    tl.grant_credit("ann", days=10)
    delivered(tl)
    assert tl.status("ann").active  # the billing change stands
    [item] = tl.outbox.list()
    assert item.status is OutboxStatus.FAILED
    assert item.last_error is not None and "answered 500" in item.last_error
    clock.advance(minutes=5)
    [outcome] = tl.outbox.deliver_due()
    assert outcome.status is OutboxStatus.DELIVERED
    assert [msg_id for msg_id, _ in receiver.verified] == [f"msg_tierline_{item.id}"] * 2

    receiver.answers = [500, 500, 503]
    tl.revoke_credit("ann")
    delivered(tl)
    for _ in range(2):
        clock.advance(hours=1)
        tl.outbox.deliver_due()
    [dead] = tl.outbox.list(OutboxStatus.DEAD)
    assert dead.attempts == 3 and dead.last_error is not None and "503" in dead.last_error
    assert not tl.status("ann").active


def test_a_signature_the_receiver_refuses_fails_visibly(
    make_tierline: MakeTierline, receiver: Receiver
) -> None:
    other = "whsec_" + base64.b64encode(b"another key entirely").decode()
    tl = make_tierline(CATALOG, access_webhook_url=receiver.url, access_webhook_secret=other)
    add_tiers(tl)
    tl.ensure_account("ann")
    tl.grant_credit("ann", days=10)
    delivered(tl)
    [item] = tl.outbox.list()
    assert item.status is OutboxStatus.FAILED
    assert item.last_error is not None and "answered 400" in item.last_error
    assert receiver.verified == [] and receiver.rejected == 1 and tl.status("ann").active


def test_a_url_without_a_secret_fails_visibly(
    make_tierline: MakeTierline, receiver: Receiver
) -> None:
    tl = make_tierline(CATALOG, access_webhook_url=receiver.url)
    add_tiers(tl)
    tl.ensure_account("ann")
    tl.grant_credit("ann", days=10)
    delivered(tl)
    [item] = tl.outbox.list()
    assert item.last_error is not None and "TIERLINE_ACCESS_WEBHOOK_SECRET" in item.last_error
    assert receiver.verified == [] and receiver.rejected == 0


def test_the_body_is_the_documented_json(tl: Tierline, receiver: Receiver) -> None:
    tl.grant_credit("ann", days=10)
    delivered(tl)
    [(_, data)] = receiver.verified
    assert sorted(data) == ["data", "timestamp", "type"]
    assert sorted(data["data"]) == ["account", "new", "occurred_at", "old"]
    json.dumps(data)  # plain JSON all the way down


def test_the_write_returns_before_the_receiver_answers(tl: Tierline, receiver: Receiver) -> None:
    receiver.release.clear()  # the receiver holds its answer until the write has returned
    tl.grant_credit("ann", days=10)
    assert receiver.arrived.wait(WAIT)  # the POST is out, on another thread
    [item] = tl.outbox.list()
    assert item.status is OutboxStatus.PENDING and item.attempts == 1  # claimed, not answered
    receiver.release.set()
    delivered(tl)
    assert tl.outbox.get(item.id).status is OutboxStatus.DELIVERED
    assert len(receiver.verified) == 1


class RawReceiver:
    """A TCP server that reads a request and answers with ``answer(conn)`` (one per thread);
    ``sent`` counts the bytes ``answer`` wrote before the client hung up."""

    def __init__(self, answer: Callable[[socket.socket, RawReceiver], None]) -> None:
        self.answer = answer
        self.sent = 0
        self.stop = threading.Event()
        self.server = socket.create_server(("127.0.0.1", 0))
        self.server.settimeout(0.05)  # accept() wakes up to see ``stop``
        self.url = f"http://127.0.0.1:{self.server.getsockname()[1]}/"
        self.threads = [threading.Thread(target=self._serve, daemon=True)]
        self.threads[0].start()

    def _serve(self) -> None:
        while not self.stop.is_set():
            try:
                conn, _ = self.server.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            conn.settimeout(WAIT)
            thread = threading.Thread(target=self._handle, args=(conn,), daemon=True)
            self.threads.append(thread)
            thread.start()

    def _handle(self, conn: socket.socket) -> None:
        with conn:
            conn.recv(65536)
            with contextlib.suppress(OSError):  # the client hung up
                self.answer(conn, self)

    def close(self) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(WAIT)
        self.server.close()


@pytest.fixture
def raw() -> Iterator[Callable[[Callable[[socket.socket, RawReceiver], None]], RawReceiver]]:
    servers: list[RawReceiver] = []

    def start(answer: Callable[[socket.socket, RawReceiver], None]) -> RawReceiver:
        servers.append(RawReceiver(answer))
        return servers[-1]

    yield start
    for server in servers:
        server.close()


def trickle(conn: socket.socket, server: RawReceiver) -> None:
    """A status line, then one header byte at a time: each read gets a byte, none the end."""
    conn.sendall(b"HTTP/1.1 200 OK\r\nX-Slow: ")
    while not server.stop.wait(0.05):
        conn.sendall(b"a")


def huge(conn: socket.socket, server: RawReceiver) -> None:
    """A 2xx with a 256 MiB body, sent until the client hangs up."""
    size = 256 * 1024 * 1024
    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % size)
    chunk = b"a" * (1024 * 1024)
    while server.sent < size and not server.stop.is_set():
        conn.sendall(chunk)
        server.sent += len(chunk)


def grant_posting_to(make_tierline: MakeTierline, url: str) -> tuple[Tierline, OutboxItemInfo]:
    """A Tierline posting to ``url``: grants ann a credit, waits for the try; its item."""
    tl = make_tierline(CATALOG, access_webhook_url=url, access_webhook_secret=SECRET)
    add_tiers(tl)
    tl.ensure_account("ann")
    tl.grant_credit("ann", days=10)
    delivered(tl)
    [item] = tl.outbox.list()
    return tl, item


def test_a_trickling_receiver_is_cut_at_the_deadline_and_the_item_failed(
    make_tierline: MakeTierline, raw: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(webhook, "TIMEOUT_SECONDS", 0.5)  # per-read timeouts never fire here
    server = raw(trickle)
    tl, item = grant_posting_to(make_tierline, server.url)
    assert item.status is OutboxStatus.FAILED and tl.status("ann").active
    assert item.last_error is not None and "did not answer within 0.5 s" in item.last_error


def test_the_body_of_the_answer_is_not_read(make_tierline: MakeTierline, raw: Any) -> None:
    server = raw(huge)
    _, item = grant_posting_to(make_tierline, server.url)
    assert item.status is OutboxStatus.DELIVERED  # the 200 is enough
    server.close()  # the sender stops once the client hung up
    assert server.sent < 64 * 1024 * 1024  # socket buffers, not the 256 MiB body


def test_close_leaves_items_not_started_to_the_worker(
    tl: Tierline, receiver: Receiver, clock: FrozenClock
) -> None:
    tl.ctx.background.close(timeout=0)
    tl.grant_credit("ann", days=10)  # after close: nothing is tried on any thread
    [item] = tl.outbox.list()
    assert (item.status, item.attempts) == (OutboxStatus.PENDING, 0)
    [outcome] = tl.outbox.deliver_due()  # what `tierline outbox run` does
    assert outcome.status is OutboxStatus.DELIVERED and len(receiver.verified) == 1


@pytest.mark.parametrize(
    ("setting", "value", "problem"),
    [
        ("URL", "ftp://app.example.com/hooks", "must be an http:// or https:// URL"),
        ("URL", "hooks.internal/x", "must be an http:// or https:// URL"),
        ("URL", "ftp://admin:S3cretPass@hooks.example.com/x", "must be an http:// or https://"),
        ("SECRET", "whsec_" + base64.b64encode(b"short").decode(), "decodes to 5 bytes"),
        ("SECRET", "whsec_not*base64*at*all*but*long*enough", "is not base64"),
    ],
)
def test_a_bad_url_or_secret_is_refused_when_the_settings_load(
    monkeypatch: pytest.MonkeyPatch, setting: str, value: str, problem: str
) -> None:
    monkeypatch.setenv(f"TIERLINE_ACCESS_WEBHOOK_{setting}", value)
    with pytest.raises(PydanticValidationError) as refused:
        TierlineSettings()
    assert problem in str(refused.value)
    assert value not in str(refused.value)  # never echoed: a secret, or a URL's password


def test_a_standard_webhooks_secret_and_an_http_url_load(monkeypatch: pytest.MonkeyPatch) -> None:
    bare = base64.b64encode(b"tierline-access-webhook-test-key").decode()  # no prefix: accepted
    for secret in (SECRET, bare, bare.rstrip("=")):
        monkeypatch.setenv("TIERLINE_ACCESS_WEBHOOK_URL", "https://app.example.com/hooks")
        monkeypatch.setenv("TIERLINE_ACCESS_WEBHOOK_SECRET", secret)
        settings = TierlineSettings()
        assert settings.access_webhook_secret == secret
        Webhook(secret)  # what signs with it agrees
    monkeypatch.setenv("TIERLINE_ACCESS_WEBHOOK_URL", "")
    monkeypatch.setenv("TIERLINE_ACCESS_WEBHOOK_SECRET", "")
    settings = TierlineSettings()
    assert (settings.access_webhook_url, settings.access_webhook_secret) == (None, None)
