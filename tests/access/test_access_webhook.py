"""The signed ``access.changed`` POST to the host's URL, against a local receiver that verifies
it with the ``standardwebhooks`` package: retried on a 500 with the same ``webhook-id``, dead
after the last try, visible in the outbox."""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from standardwebhooks import Webhook

from tierline import Tierline
from tierline.access.changes import ACCESS_WEBHOOK
from tierline.outbox.models import OutboxStatus

from ..clock import FrozenClock
from ..usage.seed import CATALOG, add_tiers

MakeTierline = Callable[..., Tierline]
SECRET = "whsec_" + base64.b64encode(b"tierline-access-webhook-test-key").decode()


@dataclass
class Receiver:
    """The host's endpoint: verifies each POST, answers the queued statuses (then 204)."""

    url: str = ""
    verified: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    rejected: int = 0
    answers: list[int] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    found = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["content-length"]))
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
    server.shutdown()
    server.server_close()


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
    [item] = tl.outbox.list()
    assert item.last_error is not None and "TIERLINE_ACCESS_WEBHOOK_SECRET" in item.last_error
    assert receiver.verified == [] and receiver.rejected == 0


def test_the_body_is_the_documented_json(tl: Tierline, receiver: Receiver) -> None:
    tl.grant_credit("ann", days=10)
    [(_, data)] = receiver.verified
    assert sorted(data) == ["data", "timestamp", "type"]
    assert sorted(data["data"]) == ["account", "new", "occurred_at", "old"]
    json.dumps(data)  # plain JSON all the way down
