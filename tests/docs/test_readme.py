"""Every README snippet runs: each ```python block in a fresh process, each CLI command exists.

Each Python block runs as written, in a temporary directory holding the README's own
``tierline.toml``, after the README's install commands (``tierline db upgrade``, ``tierline
catalog sync``) on a SQLite database. A block that is a fragment of something bigger (an
``env.py``, a request handler) gets a prelude giving it what the surrounding code would; every
block gets a check run after it (the FastAPI and Flask apps serve real requests). A block
without a harness here fails the test, so a new snippet is never left unrun.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

import pytest
import typer.main
from typer.core import TyperGroup
from typer.testing import CliRunner

from tierline.cli.app import app as cli_app
from tierline.testing import TEST_WEBHOOK_SECRET

from ..fakes.stripe_server import FakeStripe, fake_stripe  # noqa: F401 - a fixture

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
DATABASE_URL = "sqlite:///app.db"
HEALTHY_CHAIN = ROOT / "tests" / "doctor" / "exhibits" / "seed_003_fixed"
_FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.MULTILINE | re.DOTALL)


def blocks(language: str) -> list[str]:
    """The README's fenced blocks in ``language``, in order."""
    text = README.read_text(encoding="utf-8")
    return [body for lang, body in _FENCE.findall(text) if lang == language]


@dataclass(frozen=True)
class Harness:
    """What runs around one README block: ``before`` it and ``after`` it, in one process."""

    marker: str
    before: str = ""
    after: str = ""
    #: Run as a pytest test file (with the README's ``pytest_plugins`` conftest) instead.
    pytest: bool = False


_SIGNED_IN_EVENT = """
from tierline.testing import stripe_event
paid = stripe_event("customer.subscription.created", account="user-42", tier="pro", catalog=tl)
"""

HARNESSES = [
    Harness(
        marker="from tierline.db import include_object",
        # A fragment of the host's migrations/env.py: Alembic's context and the connection.
        before="from unittest import mock\ncontext = mock.Mock()\nconnection = metadata = None\n",
        after=(
            "import tierline.db\n"
            "assert context.configure.call_args.kwargs['include_object'] is "
            "tierline.db.include_object\n"
        ),
    ),
    Harness(
        marker="from tierline.web.fastapi import TierlineFastAPI",
        after=_SIGNED_IN_EVENT
        + """
from fastapi import Request
from fastapi.testclient import TestClient

@app.post("/login-for-test")   # what the host's own login does
def login(request: Request) -> dict[str, str]:
    request.session["user_id"] = "user-42"
    return {}

with TestClient(app) as client:
    assert client.post("/api/analyze").status_code == 401
    client.post("/login-for-test")
    assert client.post("/api/analyze").json()["reason"] == "no_subscription"
    assert client.get("/billing/settings").status_code == 200   # the settings page
    sent = client.post("/webhooks/stripe", content=paid.body, headers=paid.headers)
    assert sent.status_code == 200, sent.text
    assert client.post("/api/analyze").status_code == 200
    assert client.get("/export").json()["reason"] == "feature_not_in_tier"
print("served")
""",
    ),
    Harness(
        marker="from tierline.web.flask import TierlineFlask",
        after=_SIGNED_IN_EVENT
        + """
client = app.test_client()
assert client.post("/api/analyze").status_code == 401
with client.session_transaction() as cookie_session:   # what the host's own login does
    cookie_session["user_id"] = "user-42"
assert client.post("/api/analyze").get_json()["reason"] == "no_subscription"
assert client.get("/billing/settings").status_code == 200
sent = client.post("/webhooks/stripe", data=paid.body, headers=paid.headers)
assert sent.status_code == 200, sent.get_data(as_text=True)
assert client.post("/api/analyze").status_code == 200
print("served")
""",
    ),
    Harness(
        marker='tl.status("user-42")',
        # Inside the host's app: its Tierline, and a webhook request being handled.
        before="""
from types import SimpleNamespace
from tierline import Tierline
from tierline.testing import stripe_event
tl = Tierline("sqlite:///app.db", catalog="tierline.toml")
event = stripe_event("customer.subscription.created", account="user-42", tier="pro", catalog=tl)
request, raw_body = SimpleNamespace(headers=event.headers), event.body
""",
        after="""
assert tl.status("user-42").active and tl.status("user-42").tier == "pro"
assert tl.accounts.get("user-43").ref == "user-43"
print("ran")
""",
    ),
    Harness(
        marker='pytest_plugins = ["tierline.testing.pytest_plugin"]',
        after="import importlib\nfor name in pytest_plugins:\n    importlib.import_module(name)\n",
    ),
    Harness(marker="def test_past_due_keeps_access_through_grace", pytest=True),
    Harness(
        marker='tl.usage.track("org-1", "analyze"',
        after="""
with Tierline("sqlite:///usage-demo.db", catalog=catalog) as tl:
    assert tl.usage.check("org-1", "analyze").used == 1   # the retry counted once
    assert [member.member_ref for member in tl.seats.list("org-1").members] == ["alice"]
print("metered")
""",
    ),
    Harness(
        marker="@tl.on_access_change",
        after="""
assert changes == ["welcome ann to credit"], changes
tl = Tierline("sqlite:///hooks-demo.db")
assert [item.status.value for item in tl.outbox.list()] == ["delivered"]
print("hooked")
""",
    ),
    Harness(
        marker="from tierline.doctor import assert_chain_healthy",
        after="test_migrations()\nprint('healthy')\n",
    ),
]


def harness_for(block: str) -> Harness:
    matching = [harness for harness in HARNESSES if harness.marker in block]
    assert len(matching) == 1, f"no single harness for this README block:\n{block}"
    return matching[0]


@pytest.fixture
def workdir(tmp_path: Path, fake_stripe: FakeStripe) -> tuple[Path, dict[str, str]]:  # noqa: F811
    """A directory with the README's catalog and database, and the environment to run in."""
    (tmp_path / "tierline.toml").write_text(blocks("toml")[0], encoding="utf-8")
    # A healthy chain for the doctor snippet: `migrations/` with an alembic.ini beside it.
    shutil.copytree(HEALTHY_CHAIN / "alembic", tmp_path / "migrations")
    ini = (HEALTHY_CHAIN / "alembic.ini").read_text(encoding="utf-8")
    (tmp_path / "alembic.ini").write_text(ini.replace("/alembic", "/migrations"), encoding="utf-8")
    fake_stripe.seed_price("pro_monthly")
    env = {key: value for key, value in os.environ.items() if not key.startswith("TIERLINE_")}
    env.update(
        TIERLINE_SECRET_KEY="readme-test-secret-key",
        TIERLINE_DATABASE_URL=DATABASE_URL,
        TIERLINE_STRIPE_WEBHOOK_SECRET=TEST_WEBHOOK_SECRET,
        TIERLINE_STRIPE_API_KEY=fake_stripe.token,
        TIERLINE_STRIPE_API_BASE=fake_stripe.url,
        PYTHONPATH=str(ROOT),
    )
    # The README's install commands, on SQLite instead of the server it names.
    for command in (["db", "upgrade"], ["catalog", "sync", "--catalog", "tierline.toml"]):
        done = subprocess.run(
            [sys.executable, "-m", "tierline", *command, "--database-url", DATABASE_URL],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
        )
        assert done.returncode == 0, done.stderr
    return tmp_path, env


def test_every_python_block_has_a_harness() -> None:
    python_blocks = blocks("python")
    assert len(python_blocks) == len(HARNESSES)
    for block in python_blocks:
        harness_for(block)


@pytest.mark.parametrize("index", range(len(HARNESSES)))
def test_the_python_block_runs(index: int, workdir: tuple[Path, dict[str, str]]) -> None:
    block = blocks("python")[index]
    harness = harness_for(block)
    program = "\n".join([textwrap.dedent(harness.before), block, textwrap.dedent(harness.after)])
    directory, env = workdir
    command = [sys.executable, "-c", program]
    if harness.pytest:
        conftest = next(b for b in blocks("python") if "pytest_plugins" in b)
        (directory / "conftest.py").write_text(conftest, encoding="utf-8")
        (directory / "test_snippet.py").write_text(program, encoding="utf-8")
        command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"]
        command += ["-p", "no:pytest_alembic", "test_snippet.py"]
    done = subprocess.run(
        command,
        cwd=directory,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, (
        f"README block failed:\n{block}\n--- output:\n{done.stdout}\n{done.stderr}"
    )
    if harness.pytest:
        assert "1 passed" in done.stdout


def _readme_commands() -> list[tuple[str, ...]]:
    """Every ``tierline ...`` command line the README shows (bash blocks, inline code spans),
    as its leading words: ``("db", "upgrade|downgrade")``, ``("doctor", "migrations")``..."""
    text = README.read_text(encoding="utf-8")
    lines = [line for body in blocks("bash") for line in body.splitlines()]
    lines += re.findall(r"`(tierline [^`]*)`", text)
    commands: set[tuple[str, ...]] = set()
    for line in lines:
        words = line.split("#")[0].split()
        if "tierline" not in words:
            continue
        path: list[str] = []
        for word in words[words.index("tierline") + 1 :][:2]:
            if not re.fullmatch(r"[a-z][a-z-]*(\\?\|[a-z-]+)*", word):
                break
            path.append(word.replace("\\", ""))
        if path:  # `tierline --help` names no command
            commands.add(tuple(path))
    return sorted(commands)


def test_the_readme_names_at_least_the_main_commands() -> None:
    named = {" ".join(path) for path in _readme_commands()}
    assert {"demo", "db upgrade", "catalog sync", "doctor migrations"} <= named


@pytest.mark.parametrize("path", _readme_commands(), ids=" ".join)
def test_every_readme_command_exists(path: tuple[str, ...]) -> None:
    # Typer vendors its own click: groups are TyperGroup, plain commands TyperCommand.
    root = typer.main.get_command(cli_app)
    assert isinstance(root, TyperGroup)
    command = root.commands.get(path[0])
    assert command is not None, f"the README names `tierline {path[0]}`, which does not exist"
    if isinstance(command, TyperGroup) and len(path) > 1:
        # A group's next word is a subcommand ("upgrade|downgrade" names each alternative).
        for name in path[1].split("|"):
            assert name in command.commands, f"no `tierline {path[0]} {name}`"
    # Otherwise the next word is an argument of the command (doctor PATH, say).


def test_the_readme_catalog_validates(tmp_path: Path) -> None:
    (tmp_path / "tierline.toml").write_text(blocks("toml")[0], encoding="utf-8")
    result = CliRunner().invoke(
        cli_app, ["catalog", "validate", "--catalog", str(tmp_path / "tierline.toml")]
    )
    assert result.exit_code == 0, result.output
    assert result.output.startswith("catalog OK")


def _section(title: str) -> str:
    """The README's ``## title`` section, up to the next ``## `` heading."""
    text = README.read_text(encoding="utf-8")
    start = text.index(f"\n## {title}\n")
    end = text.find("\n## ", start + 1)
    return text[start : end if end != -1 else len(text)]


def test_the_configuration_table_names_every_setting() -> None:
    from tierline.settings import TierlineSettings

    table = _section("Configuration")
    missing = [
        f"TIERLINE_{name.upper()}"
        for name in TierlineSettings.model_fields
        if f"`TIERLINE_{name.upper()}`" not in table
    ]
    assert missing == [], f"settings missing from the README's Configuration table: {missing}"


def test_the_configuration_table_names_only_real_settings() -> None:
    from tierline.settings import TierlineSettings

    named = set(re.findall(r"`TIERLINE_([A-Z_]+)`", _section("Configuration")))
    unknown = sorted(name for name in named if name.lower() not in TierlineSettings.model_fields)
    assert unknown == [], f"the Configuration table names settings that do not exist: {unknown}"
