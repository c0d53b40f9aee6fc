"""``tierline outbox list|retry|run``."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.engine import URL
from typer.testing import CliRunner

from tierline import Tierline, TierlineSettings
from tierline.catalog.spec import Catalog
from tierline.cli.app import app
from tierline.outbox import queue
from tierline.outbox.deliverers import Delivery, register_deliverer
from tierline.outbox.models import OutboxStatus

runner = CliRunner()
KIND = "test.cli"
FAILING: set[str] = set()


def _deliver(delivery: Delivery) -> None:
    if delivery.idempotency_key in FAILING:
        raise ConnectionError(f"cannot reach the provider for {delivery.idempotency_key}")


@pytest.fixture
def url(sqlite_url: URL, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("TIERLINE_DATABASE_URL", raising=False)
    monkeypatch.setenv("TIERLINE_OUTBOX_MAX_ATTEMPTS", "1")
    register_deliverer(KIND, _deliver)
    FAILING.clear()
    yield sqlite_url.render_as_string(hide_password=False)


def _write(url: str, *keys: str) -> None:
    tl = Tierline(settings=TierlineSettings(database_url=url), catalog=Catalog())
    with tl, tl.engine.begin() as conn:
        for key in keys:
            queue.enqueue(conn, KIND, {"key": key}, idempotency_key=key, now=tl.ctx.clock())


def test_run_once_delivers_what_is_due_and_a_dead_item_exits_1(url: str) -> None:
    _write(url, "ok-1", "ok-2", "bad-1")
    FAILING.add("bad-1")

    result = runner.invoke(app, ["outbox", "run", "--once", "--database-url", url])

    assert result.exit_code == 1, result.output
    assert "item 3 (test.cli) try 1: dead: ConnectionError: cannot reach" in result.output
    assert result.output.rstrip().endswith("3 tries: 2 delivered, 0 failed, 1 dead")

    listed = runner.invoke(
        app, ["outbox", "list", "--status", "dead", "--json", "--database-url", url]
    )
    assert listed.exit_code == 0
    [dead] = json.loads(listed.output)
    assert (dead["id"], dead["status"], dead["attempts"]) == (3, "dead", 1)
    table = runner.invoke(app, ["outbox", "list", "--database-url", url])
    assert "dead" in table.output and "delivered" in table.output


def test_retry_one_or_all_then_max_items_bounds_the_run(url: str) -> None:
    _write(url, "bad-1", "bad-2")
    FAILING.update({"bad-1", "bad-2"})
    runner.invoke(app, ["outbox", "run", "--once", "--database-url", url])
    FAILING.clear()

    one = runner.invoke(app, ["outbox", "retry", "1", "--database-url", url])
    assert one.exit_code == 0 and one.output == "outbox item 1 (test.cli) is pending again\n"
    again = runner.invoke(app, ["outbox", "retry", "1", "--database-url", url])
    assert again.exit_code == 1
    assert again.output.startswith("error: outbox item 1 is pending;")
    everything = runner.invoke(
        app, ["outbox", "retry", "--all-failed", "--json", "--database-url", url]
    )
    assert json.loads(everything.output) == {"revived": 1}

    bounded = runner.invoke(
        app, ["outbox", "run", "--max-items", "1", "--json", "--database-url", url]
    )
    assert bounded.exit_code == 0, bounded.output
    assert [o["status"] for o in json.loads(bounded.output)] == ["delivered"]
    rest = runner.invoke(
        app, ["outbox", "list", "--status", "pending", "--json", "--database-url", url]
    )
    assert len(json.loads(rest.output)) == 1


@pytest.mark.parametrize(
    "args, message",
    [
        (["retry"], "give exactly one of: an item id, --all-failed"),
        (["retry", "1", "--all-failed"], "give exactly one of: an item id, --all-failed"),
        (["retry", "42"], "error: no outbox item with id 42"),
        (["list", "--status", "stuck"], "error: unknown outbox status 'stuck'; valid: pending"),
        (["run", "--max-items", "0"], "--max-items"),
    ],
)
def test_bad_input_is_a_one_line_error(url: str, args: list[str], message: str) -> None:
    result = runner.invoke(app, ["outbox", *args, "--database-url", url])
    assert result.exit_code != 0
    assert message in result.output
    assert "Traceback" not in result.output
    assert OutboxStatus.PENDING.value == "pending"


def test_sigterm_stops_the_worker_cleanly(url: str) -> None:
    command = [sys.executable, "-m", "tierline", "outbox", "run", "--interval", "30"]
    worker = subprocess.Popen(
        [*command, "--database-url", url],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={k: v for k, v in os.environ.items() if not k.startswith("TIERLINE_")},
    )
    try:
        assert worker.stderr is not None
        # Printed once the signal handlers are in place.
        assert worker.stderr.readline().startswith("outbox worker: polling every 30 s;")
        worker.send_signal(signal.SIGTERM)
        out, _ = worker.communicate(timeout=60)
    finally:
        if worker.poll() is None:
            worker.kill()
    assert worker.returncode == 0
    assert out == "0 tries: 0 delivered, 0 failed, 0 dead\n"


def test_the_cli_names_every_outbox_status() -> None:
    # The CLI writes the statuses out so `--help` loads no ORM; they must stay the model's.
    from tierline.cli.outbox import OUTBOX_STATUSES
    from tierline.outbox.models import OutboxStatus

    assert tuple(status.value for status in OutboxStatus) == OUTBOX_STATUSES


@pytest.mark.parametrize("item_id", ["0", str(2**31), str(10**20)])
def test_an_item_id_no_row_can_have_is_the_same_one_line_error_on_every_dialect(
    db_url: URL, item_id: str
) -> None:
    url = db_url.render_as_string(hide_password=False)
    result = runner.invoke(app, ["outbox", "retry", item_id, "--database-url", url])
    assert result.exit_code == 1
    assert result.stderr == (
        f"error: outbox item id {item_id} is out of range: ids run from 1 to 2147483647\n"
    )


def test_a_list_limit_past_the_maximum_is_a_usage_error(url: str) -> None:
    result = runner.invoke(app, ["outbox", "list", "--limit", str(10**20), "--database-url", url])
    assert result.exit_code == 2
    assert "--limit" in result.output


@pytest.mark.parametrize("interval", ["inf", "1e308"])
def test_an_interval_no_wait_can_take_is_refused_before_any_delivery(
    url: str, interval: str
) -> None:
    # Event.wait() overflows on these; before, the worker delivered what was due first and
    # only then failed on the wait, so a refused value had changed the outbox.
    _write(url, "due-1")

    result = runner.invoke(app, ["outbox", "run", "--interval", interval, "--database-url", url])

    assert result.exit_code == 1, result.output
    assert "error: --interval must be from 0 to 86400 seconds" in result.output
    assert "Traceback" not in result.output
    listed = runner.invoke(app, ["outbox", "list", "--json", "--database-url", url])
    assert [item["status"] for item in json.loads(listed.output)] == ["pending"]
