"""The static pass finds every exhibit's marked fault and nothing else (look-alikes included)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tierline.doctor import DoctorError, Severity, check_chain, parse_dialects
from tierline.doctor.rules import RULES

from .exhibit_helpers import EXHIBITS, actual, chain_path, expected

ROOT = Path(__file__).resolve().parents[2]
EXHIBIT_DIRS = sorted(p for p in EXHIBITS.iterdir() if p.is_dir())


@pytest.mark.parametrize("exhibit", EXHIBIT_DIRS, ids=lambda p: p.name)
def test_exhibit_gives_exactly_its_marked_findings(exhibit: Path) -> None:
    assert actual(check_chain(chain_path(exhibit))) == expected(exhibit)


def test_every_rule_has_an_exhibit() -> None:
    marked = {rule for exhibit in EXHIBIT_DIRS for (_, _, rule) in expected(exhibit)}
    assert set(RULES) | {"invalid-ignore"} <= marked


def test_look_alikes_exist_and_are_clean() -> None:
    clean = [p for p in EXHIBIT_DIRS if not expected(p)]
    assert {p.name for p in clean} >= {
        "lookalike_batch_named",
        "lookalike_merged_heads",
        "seed_003_fixed",
    }


@pytest.mark.parametrize(
    "chain",
    [
        "src/tierline/db/migrations",
        "examples/fastapi_app/migrations",
        "examples/flask_app/migrations",
    ],
)
def test_tierline_and_example_chains_are_healthy(chain: str) -> None:
    assert check_chain(ROOT / chain) == []


def test_the_chain_can_be_given_as_versions_folder_or_ini() -> None:
    exhibit = EXHIBITS / "seed_003_sqlite_alters"
    by_ini = check_chain(exhibit / "alembic.ini")
    by_folder = check_chain(exhibit / "alembic")
    by_versions = check_chain(exhibit / "alembic" / "versions")
    assert by_ini == by_folder == by_versions
    assert by_ini


def test_sqlite_rules_are_off_when_sqlite_is_not_a_target() -> None:
    exhibit = chain_path(EXHIBITS / "alter_outside_batch")
    assert check_chain(exhibit, parse_dialects("postgresql,mysql")) == []
    assert {f.rule for f in check_chain(exhibit, parse_dialects("sqlite"))} == {
        "alter-outside-batch"
    }


def test_identifier_limits_follow_the_dialects() -> None:
    exhibit = chain_path(EXHIBITS / "names")
    rules = {f.rule for f in check_chain(exhibit, parse_dialects("sqlite"))}
    assert "identifier-too-long" not in rules
    too_long = [
        f
        for f in check_chain(exhibit, parse_dialects("mariadb"))
        if f.rule == "identifier-too-long"
    ]
    assert len(too_long) == 1
    assert "mysql (64)" in too_long[0].message


def test_findings_name_the_call_and_the_fix() -> None:
    [found, *_] = check_chain(chain_path(EXHIBITS / "unnamed_constraint"))
    assert found.severity is Severity.ERROR
    assert "batch_op.create_unique_constraint(None" in found.message
    assert "uq_users_" in found.fix


def test_drop_column_outside_batch_is_only_a_warning() -> None:
    found = check_chain(chain_path(EXHIBITS / "alter_outside_batch"))
    drops = [f for f in found if "drop_column" in f.message]
    assert [f.severity for f in drops] == [Severity.WARNING]


@pytest.mark.parametrize("text", ["oracle", "", "sqlite,db2"])
def test_unknown_dialects_are_refused_by_name(text: str) -> None:
    with pytest.raises(ValueError, match="valid"):
        parse_dialects(text)


def test_a_missing_path_is_a_doctor_error(tmp_path: Path) -> None:
    with pytest.raises(DoctorError, match="does not exist"):
        check_chain(tmp_path / "nowhere")


def test_a_folder_without_a_chain_is_a_doctor_error(tmp_path: Path) -> None:
    with pytest.raises(DoctorError, match="no versions/ folder"):
        check_chain(tmp_path)


def test_a_revision_that_is_not_python_is_a_doctor_error(tmp_path: Path) -> None:
    versions = tmp_path / "migrations" / "versions"
    versions.mkdir(parents=True)
    (versions / "abc_broken.py").write_text("def upgrade(:\n")
    with pytest.raises(DoctorError, match=r"abc_broken.py:1: not valid Python"):
        check_chain(tmp_path / "migrations")


def test_a_folder_of_revision_files_under_another_name_is_a_chain(tmp_path: Path) -> None:
    # Apps using version_locations keep revisions in a folder not called versions/.
    source = EXHIBITS / "try_in_batch" / "migrations" / "versions"
    chain = tmp_path / "app" / "db_revisions"
    chain.mkdir(parents=True)
    for file in source.iterdir():
        (chain / file.name).write_text(file.read_text())
    assert [f.rule for f in check_chain(chain)] == ["try-in-batch"]
