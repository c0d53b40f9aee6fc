"""``tierline doctor`` through Typer's in-process runner: formats, exit codes, errors."""

from __future__ import annotations

import io
import json
import shutil
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.doctor.exhibit_helpers import EXHIBITS
from tierline.cli.app import app
from tierline.doctor.dynamic import run_chain

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def runner(monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.chdir(EXHIBITS)
    return CliRunner()


def test_text_report_groups_findings_by_file(runner: CliRunner) -> None:
    result = runner.invoke(app, ["doctor", "seed_003_sqlite_alters/alembic.ini"])
    assert result.exit_code == 1, result.output
    lines = result.stdout.splitlines()
    headers = [line for line in lines if line and not line.startswith(" ")]
    assert headers[:3] == [
        "seed_003_sqlite_alters/alembic/versions/0005_widen_quotes_symbol.py",
        "seed_003_sqlite_alters/alembic/versions/0013_referrals.py",
        "seed_003_sqlite_alters/tests/conftest.py",
    ]
    assert "alter-outside-batch" in result.stdout
    assert 'fix: move it into \'with op.batch_alter_table("quotes")' in result.stdout
    assert lines[-1] == "7 errors, 2 warnings in 3 files"


def test_json_lists_rule_file_line_severity_message_fix(runner: CliRunner) -> None:
    result = runner.invoke(app, ["doctor", "try_in_batch/migrations", "--format", "json"])
    assert result.exit_code == 1, result.output
    assert json.loads(result.stdout) == [
        {
            "rule": "try-in-batch",
            "file": "try_in_batch/migrations/versions/1111aaaa0002_drop_legacy.py",
            "line": 13,
            "severity": "error",
            "message": "try/except around batch_op.drop_column('tier_key') inside "
            "batch_alter_table: batch operations run when the block exits, so this except "
            "never catches them",
            "fix": "remove the try/except; if the step is conditional, inspect the table first "
            "(sa.inspect(op.get_bind())) and decide before the batch block",
        }
    ]


def test_sarif_is_a_minimal_sarif_2_1_0_log(runner: CliRunner) -> None:
    result = runner.invoke(app, ["doctor", "names/migrations", "--format", "sarif"])
    assert result.exit_code == 1, result.output
    log = json.loads(result.stdout)
    assert log["version"] == "2.1.0"
    [run] = log["runs"]
    rules = run["tool"]["driver"]["rules"]
    assert run["tool"]["driver"]["name"] == "tierline-doctor"
    ids = [rule["id"] for rule in rules]
    assert {"unnamed-constraint", "identifier-too-long", "revision-fails"} <= set(ids)
    levels = sorted(r["level"] for r in run["results"])
    assert levels == ["error", "warning", "warning", "warning"]
    first = run["results"][0]
    assert ids[first["ruleIndex"]] == first["ruleId"]
    location = first["locations"][0]["physicalLocation"]
    assert location["artifactLocation"]["uri"] == "names/migrations/versions/5555aaaa0001_tiers.py"
    assert location["region"]["startLine"] == 14
    assert first["message"]["text"].startswith("sa.Column('key', ..., unique=True)")


def test_warnings_alone_exit_zero(runner: CliRunner) -> None:
    result = runner.invoke(
        app, ["doctor", "names/migrations", "--dialects", "sqlite", "--format", "json"]
    )
    assert result.exit_code == 0, result.output
    assert {row["severity"] for row in json.loads(result.stdout)} == {"warning"}


def test_a_healthy_chain_exits_zero(runner: CliRunner) -> None:
    result = runner.invoke(app, ["doctor", str(ROOT / "examples" / "flask_app" / "migrations")])
    assert result.exit_code == 0, result.output
    assert "no migration faults found" in result.stdout


def test_a_missing_path_is_one_error_line_exit_2(runner: CliRunner) -> None:
    result = runner.invoke(app, ["doctor", "no/such/migrations"])
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr.strip().splitlines() == [
        "error: no/such/migrations does not exist; give a versions/ folder, a folder holding "
        "one, or an alembic.ini"
    ]


def test_an_unparsable_revision_is_one_error_line_exit_2(tmp_path: Path) -> None:
    versions = tmp_path / "migrations" / "versions"
    versions.mkdir(parents=True)
    (versions / "abc_broken.py").write_text("revision = 'abc'\ndef upgrade(:\n")
    result = CliRunner().invoke(app, ["doctor", str(tmp_path / "migrations")])
    assert result.exit_code == 2
    [line] = result.stderr.strip().splitlines()
    assert line.startswith("error: ") and "abc_broken.py:2: not valid Python" in line


def test_an_unknown_dialect_is_refused_by_name(runner: CliRunner) -> None:
    result = runner.invoke(app, ["doctor", "names/migrations", "--dialects", "sqlite,oracle"])
    assert result.exit_code == 2
    assert "unknown dialect 'oracle'" in result.stderr
    assert "Traceback" not in result.output


def test_a_chain_whose_revisions_cannot_be_imported_is_one_error_line(tmp_path: Path) -> None:
    project = tmp_path / "app"
    shutil.copytree(EXHIBITS / "seed_003_fixed", project)
    revision = project / "alembic" / "versions" / "0014_credit_until.py"
    revision.write_text("import app_models_not_installed\n" + revision.read_text())
    result = CliRunner().invoke(app, ["doctor", str(project / "alembic.ini"), "--run", "sqlite"])
    assert result.exit_code == 2
    assert result.stderr.strip().splitlines() == [
        "error: Alembic cannot load the chain's revision files: ModuleNotFoundError: "
        "No module named 'app_models_not_installed'"
    ]


def test_seed_reports_rows_lost_and_draws_no_bar_in_a_pipe(runner: CliRunner) -> None:
    result = runner.invoke(
        app, ["doctor", "dynamic_seed_rows_lost/alembic.ini", "--run", "sqlite", "--seed"]
    )
    assert result.exit_code == 1, result.output
    assert "rows-lost  upgrade of revision 0002 loses 1 seeded row of table 'notes'" in (
        result.stdout
    )
    assert result.stderr == ""


def test_seed_without_run_is_refused(runner: CliRunner) -> None:
    result = runner.invoke(app, ["doctor", "dynamic_seed_healthy/alembic.ini", "--seed"])
    assert result.exit_code == 2
    assert "--seed only goes with --run URL" in result.stderr


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_terminal_gets_a_progress_bar_on_a_long_run(monkeypatch: pytest.MonkeyPatch) -> None:
    from tierline.cli import doctor

    terminal = _Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    monkeypatch.setattr(doctor, "LONG_RUN_STEPS", 9)
    with doctor._progress_bar("sqlite") as progress:
        assert progress is not None
        run_chain(EXHIBITS / "dynamic_seed_healthy" / "alembic.ini", progress=progress)
    assert "running sqlite" in terminal.getvalue()


def test_a_short_run_draws_no_bar_even_on_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    from tierline.cli import doctor

    terminal = _Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    with doctor._progress_bar("sqlite") as progress:
        run_chain(EXHIBITS / "dynamic_seed_healthy" / "alembic.ini", progress=progress)
    assert terminal.getvalue() == ""


def test_run_with_app_runs_a_flask_migrate_chain(
    runner: CliRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("FLASK_APP", raising=False)
    result = runner.invoke(
        app,
        [
            "doctor",
            "flask_migrate_faulty/migrations",
            "--dialects",
            "postgresql",
            "--run",
            "sqlite",
            "--app",
            "fm_faulty_app:create_app",
        ],
    )
    assert result.exit_code == 1, result.output
    assert "revision-fails  upgrade of revision 2b3c4d5e6f7a fails on sqlite" in result.stdout
    assert result.stdout.splitlines()[-1] == "1 error, 0 warnings in 1 file"


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (
            "no_such_module:create_app",
            "error: --app 'no_such_module:create_app': no module named 'no_such_module' (run "
            "from the project folder, or give the module's import path)",
        ),
        (
            "fm_quotes_app:nope",
            "error: --app 'fm_quotes_app:nope': module 'fm_quotes_app' has no attribute 'nope'",
        ),
        (
            "fm_quotes_app:create_broken_app",
            "error: --app 'fm_quotes_app:create_broken_app': create_broken_app() raised "
            "RuntimeError: QUOTES_SECRET_KEY is not set",
        ),
        (
            # A factory's sys.exit(0) must not end the doctor with success and no report.
            "fm_quotes_app:create_exiting_app",
            "error: --app 'fm_quotes_app:create_exiting_app': create_exiting_app() called "
            "sys.exit(0)",
        ),
    ],
)
def test_a_bad_app_is_one_error_line_exit_2(runner: CliRunner, spec: str, message: str) -> None:
    result = runner.invoke(
        app, ["doctor", "flask_migrate_app/migrations", "--run", "sqlite", "--app", spec]
    )
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr.strip().splitlines() == [message]


def test_what_the_app_prints_does_not_corrupt_the_json_report(runner: CliRunner) -> None:
    result = runner.invoke(
        app,
        [
            "doctor",
            "flask_migrate_app/migrations",
            "--run",
            "sqlite",
            "--app",
            "fm_quotes_app:create_chatty_app",
            "--format",
            "json",
        ],
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == []
    assert "quotes app starting" in result.stderr


def test_app_without_run_is_refused(runner: CliRunner) -> None:
    result = runner.invoke(
        app, ["doctor", "flask_migrate_app/migrations", "--app", "fm_quotes_app:create_app"]
    )
    assert result.exit_code == 2
    assert "--app only goes with --run URL" in result.stderr
