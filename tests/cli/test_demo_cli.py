"""``tierline demo``: the README's first command."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from tierline import Tierline
from tierline.cli import demo as demo_module
from tierline.cli.app import app as cli_app

START_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 15.0


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_demo_serves_the_example_app_until_stopped(tmp_path: Path) -> None:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("TIERLINE_")}
    env["PYTHONUNBUFFERED"] = "1"
    command = [sys.executable, "-m", "tierline", "demo", "--port", str(port)]
    command += ["--database-url", f"sqlite:///{tmp_path / 'demo.db'}"]
    # From another directory: the demo must find the examples wherever it is started.
    process = subprocess.Popen(
        command, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        page = _wait_for(f"http://127.0.0.1:{port}/login", process)
        assert page.status_code == 200
        assert 'id="send-code"' in page.text
    finally:
        process.send_signal(signal.SIGINT)
        try:
            out, err = process.communicate(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            process.kill()
            out, err = process.communicate()
    assert process.returncode == 0, err
    assert f"http://127.0.0.1:{port}/login?ref=" in out
    assert "/api/analyze  -> 200 three times" in out and "402 quota_exceeded" in out


def _wait_for(url: str, process: subprocess.Popen[str]) -> httpx.Response:
    deadline = time.monotonic() + START_TIMEOUT_S
    while True:
        if process.poll() is not None:
            _, err = process.communicate()
            raise AssertionError(f"tierline demo exited with {process.returncode}: {err}")
        try:
            return httpx.get(url, timeout=2)
        except httpx.TransportError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def test_demo_prints_where_to_go_and_a_working_invite(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    served: dict[str, Any] = {}

    def fake_run(server: Any, sockets: list[socket.socket]) -> None:
        served.update(app=server.config.app, address=sockets[0].getsockname())

    monkeypatch.setattr("uvicorn.Server.run", fake_run)
    url = f"sqlite:///{tmp_path / 'demo.db'}"
    port = free_port()
    everywhere = "0.0.0.0"  # noqa: S104 - nobody connects: uvicorn's serving is replaced
    result = CliRunner().invoke(
        cli_app, ["demo", "--host", everywhere, "--port", str(port), "--database-url", url]
    )
    assert result.exit_code == 0, result.output
    assert served["address"] == (everywhere, port)
    tl: Tierline = served["app"].state.tierline
    try:
        assert tl.settings.public_url == f"http://127.0.0.1:{port}"
        # The demo, and only the demo, turns the fake provider on, with a secret of its own.
        assert result.output.startswith(f"Tierline DEMO on http://127.0.0.1:{port}")
        assert "This is a demo, not a production setup" in result.output
        assert tl.settings.enable_fake_provider is True
        [secret] = tl.settings.fake_webhook_secret
        assert secret.startswith("demo-") and len(secret) > 20
        assert f"TIERLINE_FAKE_WEBHOOK_SECRET={secret}" in result.output
        code = tl.referral_code("demo-referrer")
        assert f"http://127.0.0.1:{port}/login?ref={code}" in result.output
        assert {tier.key for tier in tl.catalog.tiers()} == {"free", "pro"}
    finally:
        tl.engine.dispose()


def test_demo_without_the_examples_is_one_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(demo_module, "checkout_examples_dir", lambda: tmp_path / "examples")
    port = str(free_port())
    result = CliRunner().invoke(cli_app, ["demo", "--port", port, "--database-url", "sqlite://"])
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("error: cannot find the example app 'fastapi_app'")
    assert "Traceback" not in result.output


def test_demo_on_a_busy_port_fails_in_one_line_before_its_banner(tmp_path: Path) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        database = tmp_path / "demo.db"
        result = CliRunner().invoke(
            cli_app, ["demo", "--port", str(port), "--database-url", f"sqlite:///{database}"]
        )
    assert result.exit_code == 1
    assert result.output.strip().splitlines() == [
        f"error: cannot listen on 127.0.0.1:{port}: Address already in use; "
        "stop what uses it or choose another port with --port"
    ]
    assert not database.exists()  # failed before touching the database
