"""``tierline events ...``: list, show, replay and ingest, in-process and once as a process."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.engine import URL
from typer.testing import CliRunner

from tierline import Tierline, TierlineSettings
from tierline.billing.providers import sign_for
from tierline.catalog.spec import Catalog
from tierline.cli.app import app

from ..billing.inbox_helpers import SECRETS, add_tier, fixture, link_tier
from .process import run_process

runner = CliRunner()


@pytest.fixture
def url(sqlite_url: URL, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A migrated database with a "pro" tier linked to Stripe's pro_monthly; secrets in env."""
    monkeypatch.chdir(tmp_path)  # no stray tierline.toml
    monkeypatch.setenv("TIERLINE_STRIPE_WEBHOOK_SECRET", f"whsec_old, {SECRETS['stripe']}")
    monkeypatch.delenv("TIERLINE_DATABASE_URL", raising=False)
    rendered = sqlite_url.render_as_string(hide_password=False)
    with Tierline(settings=TierlineSettings(database_url=rendered), catalog=Catalog()) as tl:
        add_tier(tl, "pro", {"stripe": ("pro_monthly",)})
        add_tier(tl, "team")
    yield rendered


def capture(tmp_path: Path, name: str, *, secret: str = SECRETS["stripe"]) -> list[str]:
    """A captured Stripe delivery: the body in a file and the header options to replay it."""
    body = json.dumps(fixture("stripe", name)).encode()
    path = tmp_path / f"{name}.json"
    path.write_bytes(body)
    headers = sign_for("stripe", body, secret, int(time.time()))
    options = ["--body", str(path)]
    for header, value in headers.items():
        options += ["--header", f"{header}: {value}"]
    return options


def test_ingest_list_show_and_a_duplicate(url: str, tmp_path: Path) -> None:
    delivery = capture(tmp_path, "customer.subscription.created")

    first = runner.invoke(app, ["events", "ingest", "stripe", *delivery, "--database-url", url])
    again = runner.invoke(app, ["events", "ingest", "stripe", *delivery, "--database-url", url])

    assert first.exit_code == 0, first.output
    assert first.output.startswith("processed [200] (event 1):")
    assert again.exit_code == 0 and again.output.startswith("duplicate [200]")
    listed = runner.invoke(app, ["events", "list", "--database-url", url, "--json"])
    [row] = json.loads(listed.output)
    assert (row["id"], row["provider"], row["status"], row["attempts"]) == (
        1,
        "stripe",
        "processed",
        1,
    )
    assert row["type"] == "customer.subscription.created"
    table = runner.invoke(
        app,
        ["events", "list", "--database-url", url, "--provider", "stripe"],
        env={"COLUMNS": "200"},
    )
    assert "customer.subscription.created" in table.output and "processed" in table.output
    shown = runner.invoke(app, ["events", "show", "1", "--database-url", url])
    assert shown.exit_code == 0
    assert "status: processed" in shown.output
    assert '\n  "type": "customer.subscription.created"' in shown.output  # pretty-printed
    shown_json = runner.invoke(app, ["events", "show", "1", "--json", "--database-url", url])
    payload = json.loads(json.loads(shown_json.output)["payload"])
    assert payload == fixture("stripe", "customer.subscription.created")


def test_a_forged_delivery_is_rejected_with_exit_1(url: str, tmp_path: Path) -> None:
    forged = capture(tmp_path, "invoice.paid", secret="whsec_someone_else")

    result = runner.invoke(app, ["events", "ingest", "stripe", *forged, "--database-url", url])

    assert result.exit_code == 1
    assert result.output.startswith("rejected [400]: bad_signature:")
    assert (
        json.loads(runner.invoke(app, ["events", "list", "--json", "--database-url", url]).output)
        == []
    )


def test_unmapped_events_are_replayed_once_the_catalog_links_them(url: str, tmp_path: Path) -> None:
    payload = fixture("stripe", "customer.subscription.created")
    payload["data"]["object"]["items"]["data"][0]["price"]["lookup_key"] = "team_monthly"
    body = json.dumps(payload).encode()
    (tmp_path / "team.json").write_bytes(body)
    headers = sign_for("stripe", body, SECRETS["stripe"], int(time.time()))
    [(name, value)] = headers.items()

    unmapped = runner.invoke(
        app,
        [
            "events",
            "ingest",
            "stripe",
            "--body",
            str(tmp_path / "team.json"),
            "-H",
            f"{name}: {value}",
            "--database-url",
            url,
        ],
    )

    assert unmapped.exit_code == 1 and unmapped.output.startswith("unmapped [200]")
    assert "'team_monthly'" in unmapped.output
    stuck = runner.invoke(app, ["events", "replay", "--unmapped", "--database-url", url])
    assert stuck.exit_code == 1 and stuck.output.startswith("unmapped [200]")

    with Tierline(settings=TierlineSettings(database_url=url), catalog=Catalog()) as tl:
        link_tier(tl, "team", "stripe", "team_monthly")
    replayed = runner.invoke(app, ["events", "replay", "--unmapped", "--database-url", url])

    assert replayed.exit_code == 0, replayed.output
    assert replayed.output.startswith("processed [200] (event 1):")
    assert "on tier 'team'" in replayed.output
    nothing = runner.invoke(app, ["events", "replay", "--unmapped", "--database-url", url])
    assert nothing.output.strip() == "nothing to replay"
    again = runner.invoke(app, ["events", "replay", "1", "--json", "--database-url", url])
    assert json.loads(again.output)[0]["outcome"] == "duplicate"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["events", "replay"], "give exactly one of"),
        (["events", "replay", "1", "--failed"], "give exactly one of"),
        (["events", "list", "--status", "lost"], "unknown event status 'lost'"),
        (["events", "list", "--provider", "strip"], "unknown provider 'strip'; known providers:"),
        (["events", "show", "42"], "no webhook event with id 42"),
    ],
)
def test_bad_arguments_name_the_problem(url: str, args: list[str], message: str) -> None:
    result = runner.invoke(app, [*args, "--database-url", url])

    assert result.exit_code != 0
    assert message in result.output


def test_a_malformed_header_option_is_a_usage_error(url: str, tmp_path: Path) -> None:
    (tmp_path / "body.json").write_text("{}")
    result = runner.invoke(
        app,
        [
            "events",
            "ingest",
            "stripe",
            "--body",
            str(tmp_path / "body.json"),
            "--header",
            "no colon here",
            "--database-url",
            url,
        ],
    )
    assert result.exit_code == 2 and "is not 'Name: value'" in result.output


def test_a_rejected_ingest_as_a_process_is_one_line_and_exit_1(url: str, tmp_path: Path) -> None:
    body = tmp_path / "paid.json"
    body.write_text(json.dumps(fixture("stripe", "invoice.paid")))

    result = run_process(
        ["events", "ingest", "stripe", "--body", str(body), "--database-url", url],
        settings={"TIERLINE_STRIPE_WEBHOOK_SECRET": SECRETS["stripe"]},
    )

    assert result.returncode == 1
    assert result.stdout.splitlines() == [
        "rejected [400]: missing_signature: the Stripe-Signature header is missing or empty"
    ]
    assert "Traceback" not in result.stderr


def test_the_status_help_lists_every_event_status() -> None:
    from tierline.billing.models import EventStatus
    from tierline.cli.events import EVENT_STATUSES

    assert tuple(status.value for status in EventStatus) == EVENT_STATUSES


def test_an_oversized_body_file_is_refused_without_being_read_whole(
    url: str, tmp_path: Path
) -> None:
    # The web endpoint refuses a body over max_body_bytes before reading it whole; the CLI
    # read the file whole first (a multi-gigabyte capture or /dev/zero: MemoryError).
    pytest.importorskip("resource")  # POSIX only
    huge = tmp_path / "huge.json"
    with huge.open("wb") as file:
        file.truncate(4 * 2**30)  # sparse: no disk used
    # The CLI in a process whose memory is capped at 2 GiB, so reading either body whole
    # fails at once instead of eating the machine's memory.
    capped = (
        "import resource, runpy, sys; "
        "resource.setrlimit(resource.RLIMIT_AS, (2 * 2**30, 2 * 2**30)); "
        "sys.argv = ['tierline', *sys.argv[1:]]; "
        "runpy.run_module('tierline', run_name='__main__')"
    )
    outputs = []
    for body in (str(huge), "/dev/zero"):
        if not Path(body).exists():
            continue
        result = run_process(
            ["events", "ingest", "stripe", "--body", body, "--database-url", url],
            settings={"TIERLINE_STRIPE_WEBHOOK_SECRET": SECRETS["stripe"]},
            entry=("-c", capped),
        )
        assert "Traceback" not in result.stderr, result.stderr[-2000:]
        assert result.returncode == 1
        outputs.append(result.stdout.strip())
    assert outputs[0] == (
        f"rejected [400]: body_too_large: webhook body is {4 * 2**30} bytes; the limit is 1048576"
    )
    assert outputs[1:] in (
        [],
        [
            "rejected [400]: body_too_large: webhook body is more than 1048576 bytes; "
            "the limit is 1048576"
        ],
    )


def test_a_body_file_at_the_limit_is_ingested(url: str, tmp_path: Path) -> None:
    # Reading one byte past the limit must not refuse a body of exactly the limit.
    body = tmp_path / "body.json"
    body.write_bytes(b" " * 1048576)

    result = runner.invoke(
        app, ["events", "ingest", "stripe", "--body", str(body), "--database-url", url]
    )

    assert result.exit_code == 1
    assert "body_too_large" not in result.output
    assert result.output.startswith("rejected [400]: missing_signature")
