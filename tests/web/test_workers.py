"""The settings page and checkout under real multi-worker servers: uvicorn and gunicorn, 2 each.

A form served by one worker must be accepted by another, so every worker signs with the one
``TIERLINE_SECRET_KEY``; an unset key stops the app at start-up instead.
"""

from __future__ import annotations

import asyncio
import http.client
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from fastapi import FastAPI
from flask import Flask
from sqlalchemy.engine import URL

from tierline import Tierline
from tierline.errors import ConfigurationError
from tierline.web.fastapi import IngestThreads, TierlineFastAPI
from tierline.web.flask import TierlineFlask

from .apps import CATALOG, form_token, web_settings

ROOT = Path(__file__).resolve().parents[2]
ROUNDS = 8


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


SERVERS: dict[str, Callable[[int], list[str]]] = {
    "uvicorn": lambda port: [
        *(sys.executable, "-m", "uvicorn", "--factory", "tests.web.served_app:fastapi_app"),
        *("--workers", "2", "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"),
    ],
    "gunicorn": lambda port: [
        *(sys.executable, "-m", "gunicorn", "--workers", "2", "--bind", f"127.0.0.1:{port}"),
        *("--log-level", "warning", "tests.web.served_app:flask_app()"),
    ],
}


def http_request(
    port: int, method: str, path: str, body: str | None = None
) -> tuple[int, str, dict[str, str]]:
    """One request on a new connection (so the server may hand it to any worker)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        headers = {"X-Account": "multi-worker-user", "Connection": "close"}
        if body is not None:
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        conn.request(method, path, body=body, headers=headers)
        response = conn.getresponse()
        text = response.read().decode()
        return response.status, text, {k.lower(): v for k, v in response.getheaders()}
    finally:
        conn.close()


def wait_until_serving(proc: subprocess.Popen[bytes], port: int) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"the server exited with {proc.returncode}")
        try:
            if http_request(port, "GET", "/billing/static/tierline.css")[0] == 200:
                return
        except OSError:
            time.sleep(0.2)
    raise AssertionError("the server did not start serving within 60 s")


def start_server(kind: str, port: int, env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        SERVERS[kind](port),
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # its own process group: the workers stop with it
    )


def stop_server(proc: subprocess.Popen[bytes]) -> None:
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


@pytest.fixture(params=sorted(SERVERS))
def servers(request: pytest.FixtureRequest, sqlite_url: URL) -> Iterator[tuple[int, int]]:
    """Two 2-worker servers of the test app, deployed alike (one database, one key).

    Which worker of one server accepts a connection is the kernel's choice, so a form is
    carried between processes deterministically by serving it from one server and posting it
    to the other: four worker processes, each with its own memory.
    """
    url = sqlite_url.render_as_string(hide_password=False)
    with Tierline(settings=web_settings(url), catalog=CATALOG) as tl:
        tl.sync_catalog()
    env = {**os.environ, "TIERLINE_DATABASE_URL": url}
    env["TIERLINE_SECRET_KEY"] = secrets.token_urlsafe(32)
    ports = (free_port(), free_port())
    procs = [start_server(str(request.param), port, env) for port in ports]
    try:
        for proc, port in zip(procs, ports, strict=True):
            wait_until_serving(proc, port)
        yield ports
    finally:
        for proc in procs:
            stop_server(proc)


def test_forms_from_one_worker_are_accepted_by_another(servers: tuple[int, int]) -> None:
    workers: set[str] = set()
    for round_ in range(ROUNDS):
        served_by, posted_to = servers if round_ % 2 == 0 else servers[::-1]
        status, page, page_headers = http_request(served_by, "GET", "/billing/settings")
        assert status == 200, page
        token = form_token(page)
        status, text, headers = http_request(
            posted_to, "POST", "/billing/checkout/team", body=f"csrf_token={token}"
        )
        assert status == 303, text
        assert "/billing/fake-checkout" in headers["location"]
        assert page_headers["x-worker"] != headers["x-worker"]
        workers |= {page_headers["x-worker"], headers["x-worker"]}
    assert len(workers) >= 2


def test_an_unset_secret_key_stops_either_adapter_at_start_up(sqlite_url: URL) -> None:
    settings = web_settings(str(sqlite_url), secret_key=None)
    with Tierline(settings=settings, catalog=CATALOG) as tl:
        with pytest.raises(ConfigurationError, match="TIERLINE_SECRET_KEY is not set"):
            TierlineFastAPI(tl, current_account=lambda request: None).install(FastAPI())
        with pytest.raises(ConfigurationError, match=r"secrets\.token_urlsafe"):
            TierlineFlask(Flask(__name__), tl=tl, current_account=lambda: None)


def test_webhook_threads_work_again_in_a_forked_child() -> None:
    # A forked worker (gunicorn's pre-fork model) inherits the pool object but none of its
    # threads: a pool started in the parent must not take the child's deliveries.
    threads = IngestThreads(2)

    async def ingest() -> object:
        return await asyncio.wait_for(threads.run(lambda value: value, "ok"), 5)

    def ingest_once() -> object:
        # On a thread of its own: a browser test earlier in the session may leave an event
        # loop marked running on this one.
        with ThreadPoolExecutor(1) as thread:
            return thread.submit(asyncio.run, ingest()).result()

    assert ingest_once() == "ok"  # the parent's pool now has an idle thread
    child = os.fork()
    if child == 0:  # pragma: no cover - the child reports through its exit code
        try:
            os._exit(0 if ingest_once() == "ok" else 1)
        except BaseException:
            os._exit(2)
    _, status = os.waitpid(child, 0)
    assert os.waitstatus_to_exitcode(status) == 0
