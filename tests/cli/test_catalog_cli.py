"""``tierline catalog validate | sync | show`` through Typer's in-process runner."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy.engine import URL
from typer.testing import CliRunner

from tierline.cli.app import app

EXAMPLE = Path(__file__).parents[2] / "examples" / "catalog" / "tierline.toml"

CATALOG = """
[tiers.free]
name = "Free"
exempt = true
features = ["dashboard"]

[tiers.pro]
name = "Pro"
seats = 3
fallback_price = "$19/mo"
features = ["dashboard", "analyze"]
limits = { batches = { limit = 100, period = "month" } }
providers = { stripe = ["pro_monthly", "pro_yearly"], paddle = "pro" }
"""

# The CLI runs against the migrated SQLite database; sync itself is tested on every dialect.
sqlite_only = pytest.mark.parametrize("dialect", ["sqlite"])


@pytest.fixture
def runner(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    # A tierline.toml in the working directory would be picked up by default: use an empty one.
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("TIERLINE_CATALOG", raising=False)
    return CliRunner()


def write(tmp_path: Path, text: str, name: str = "tierline.toml") -> str:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return str(path)


def test_validate_accepts_the_example(runner: CliRunner) -> None:
    result = runner.invoke(app, ["catalog", "validate", "--catalog", str(EXAMPLE)])
    assert result.exit_code == 0, result.output
    assert result.stdout == "catalog OK: 4 tiers\n"


def test_validate_flags_tiers_linked_to_the_fake_provider_unless_it_is_on(
    runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("TIERLINE_ENABLE_FAKE_PROVIDER", raising=False)
    path = write(tmp_path, CATALOG.replace('paddle = "pro"', 'fake = "pro"'))
    result = runner.invoke(app, ["catalog", "validate", "--catalog", path])
    assert result.exit_code == 1
    assert result.stdout.splitlines()[1].startswith(
        "  tiers.pro.providers.fake: links to the fake provider, which is for demos and tests"
    )
    assert "TIERLINE_ENABLE_FAKE_PROVIDER=1" in result.stdout

    turned_on = runner.invoke(
        app, ["catalog", "validate", "--catalog", path], env={"TIERLINE_ENABLE_FAKE_PROVIDER": "1"}
    )
    assert turned_on.exit_code == 0, turned_on.output
    assert turned_on.stdout == "catalog OK: 2 tiers\n"


def test_validate_reads_the_default_file_and_tierline_catalog(
    runner: CliRunner, tmp_path: Path
) -> None:
    write(tmp_path, CATALOG)
    assert runner.invoke(app, ["catalog", "validate"]).stdout == "catalog OK: 2 tiers\n"

    other = write(tmp_path, '[tiers.x]\nname = "X"\nexempt = true\n', "other.toml")
    result = runner.invoke(app, ["catalog", "validate"], env={"TIERLINE_CATALOG": other})
    assert result.stdout == "catalog OK: 1 tier\n"


def test_validate_lists_every_problem_and_exits_1(runner: CliRunner, tmp_path: Path) -> None:
    path = write(tmp_path, CATALOG.replace("seats = 3", "seats = 0\nseat = 2") + "[bogus]\n")

    result = runner.invoke(app, ["catalog", "validate", "--catalog", path])

    assert result.exit_code == 1
    lines = result.stdout.splitlines()
    assert lines[0] == f"catalog {path}: 3 problems"
    assert sorted(line.split(":")[0].strip() for line in lines[1:]) == [
        "bogus",
        "tiers.pro.seat",
        "tiers.pro.seats",
    ]
    assert "Traceback" not in result.output


def test_validate_reports_toml_syntax_with_its_line(runner: CliRunner, tmp_path: Path) -> None:
    path = write(tmp_path, '[tiers.free]\nname = "Free\n')

    result = runner.invoke(app, ["catalog", "validate", "--catalog", path])

    assert result.exit_code == 1
    assert "line 2, column" in result.stdout
    assert "invalid TOML" in result.stdout


def test_validate_of_a_missing_file_is_one_line(runner: CliRunner, tmp_path: Path) -> None:
    missing = tmp_path / "absent.toml"
    result = runner.invoke(app, ["catalog", "validate", "--catalog", str(missing)])
    assert result.exit_code == 1
    assert result.stderr.startswith(f"error: catalog file {missing} does not exist")
    assert result.stderr.count("\n") == 1


@sqlite_only
def test_sync_dry_run_then_sync_then_show(
    runner: CliRunner, tmp_path: Path, db_url: URL, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = db_url.render_as_string(hide_password=False)
    path = write(tmp_path, CATALOG, "plans.toml")
    sync = ["catalog", "sync", "--catalog", path, "--database-url", url]

    dry = runner.invoke(app, [*sync, "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert "+ tier pro" in dry.stdout.splitlines()
    assert "+ link stripe:pro_yearly -> pro" in dry.stdout.splitlines()
    assert dry.stdout.splitlines()[-1].startswith("dry run: ")
    empty = runner.invoke(app, ["catalog", "show", "--json", "--database-url", url])
    assert json.loads(empty.stdout) == []

    real = runner.invoke(app, sync)
    assert real.exit_code == 0, real.output
    # The dry run announced exactly what the real sync did.
    assert real.stdout.splitlines()[:-1] == dry.stdout.splitlines()[:-1]
    assert runner.invoke(app, sync).stdout == "no changes\n"

    shown = runner.invoke(app, ["catalog", "show", "--json", "--database-url", url])
    assert shown.exit_code == 0, shown.output
    tiers = json.loads(shown.stdout)
    assert [tier["key"] for tier in tiers] == ["free", "pro"]
    assert tiers[1] == {
        "key": "pro",
        "name": "Pro",
        "description": None,
        "seats": 3,
        "customer_facing": True,
        "exempt": False,
        "fallback_price": "$19/mo",
        "sort_order": 1,
        "retired": False,
        "features": ["analyze", "batches", "dashboard"],
        "limits": {"batches": {"limit": 100, "period": "month"}},
        "providers": {"paddle": ["pro"], "stripe": ["pro_monthly", "pro_yearly"]},
    }

    # Not a terminal: plain rows, so the texts below appear whole.
    table = runner.invoke(app, ["catalog", "show", "--database-url", url])
    assert table.exit_code == 0, table.output
    for text in ("pro", "Free", "$19/mo", "batches 100/month", "pro_monthly"):
        assert text in table.stdout


@sqlite_only
def test_sync_of_a_bad_catalog_changes_nothing(
    runner: CliRunner, tmp_path: Path, db_url: URL
) -> None:
    url = db_url.render_as_string(hide_password=False)
    path = write(tmp_path, CATALOG.replace('paddle = "pro"', 'padle = "pro"'))

    result = runner.invoke(app, ["catalog", "sync", "--catalog", path, "--database-url", url])

    assert result.exit_code == 1
    assert "tiers.pro.providers.padle: unknown provider 'padle'" in result.stderr
    # show reads the database only, so the broken tierline.toml beside it does not stop it.
    shown = runner.invoke(app, ["catalog", "show", "--json", "--database-url", url])
    assert json.loads(shown.stdout) == []


def test_sync_of_a_missing_catalog_is_one_line_without_traceback(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere.toml"
    env = {k: v for k, v in os.environ.items() if not k.startswith("TIERLINE_")}
    env["TIERLINE_DATABASE_URL"] = f"sqlite:///{tmp_path / 'x.db'}"

    result = subprocess.run(
        [sys.executable, "-m", "tierline", "catalog", "sync", "--catalog", str(missing)],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=120,
        check=False,
    )

    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        f"error: catalog file {missing} does not exist; create it (see "
        "examples/catalog/tierline.toml) or name another with --catalog or TIERLINE_CATALOG"
    ]
    assert result.stdout == ""
