"""Mutation-test one decision module with mutmut and print its score.

    uv run python scripts/mutation.py MODULE [--max-children N] [--fresh | --not-killed]
    uv run python scripts/mutation.py --list

MODULE is a key of ``MODULES`` below (``access.rules``, ``billing.ordering``, ...). Each module is
mutated alone and checked only by its own tests, on SQLite: the PostgreSQL/MariaDB URLs are
removed from the environment so those parametrisations skip.

mutmut 3 reads its settings from ``[tool.mutmut]`` in the pyproject.toml of the directory it runs
in and copies the project into ``mutants/`` there. To scope one module at a time, this script
builds a scratch project per module under ``.mutation/<MODULE>/`` (git-ignored): a copy of
``src/``, ``tests/`` and ``examples/`` and a pyproject.toml whose ``[tool.mutmut]`` names the module
(``only_mutate``) and its tests (``pytest_add_cli_args_test_selection``). Results are cached
there; ``--fresh`` throws the scratch project away first.

The score is killed / (all mutants - known equivalent mutants). ``EQUIVALENT`` lists each mutant
that no test can kill because the program behaves the same, with the reason; names are mutmut's
(``uv run python scripts/mutation.py MODULE --show NAME`` prints one mutant's diff). A mutant's
number is stable while its function's source is unchanged.

This is a developer tool, not part of CI. See DEVELOPERS.md, "Mutation testing".
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCRATCH = ROOT / ".mutation"
COPIED = ("src", "tests", "examples")
SQLITE_ONLY_UNSET = ("TIERLINE_TEST_POSTGRES_URL", "TIERLINE_TEST_MARIADB_URL")

# mutmut's exit-code vocabulary (mutmut.stats.status_by_exit_code).
KILLED_CODES = {1, 3, 37}  # test failure, pytest internal error, caught by the type checker
TIMEOUT_CODES = {36, 24, -24, 152, 255}  # an endless loop is a detected mutant too
SURVIVED_CODES = {0}
NO_TESTS_CODES = {5, 33}


@dataclass(frozen=True)
class Module:
    source: str
    tests: tuple[str, ...]


MODULES: dict[str, Module] = {
    "access.rules": Module("src/tierline/access/rules.py", ("tests/access",)),
    "billing.ordering": Module(
        "src/tierline/billing/providers/ordering.py", ("tests/billing/providers/test_ordering.py",)
    ),
    "billing.claims": Module("src/tierline/billing/claims.py", ("tests/billing/test_claims.py",)),
    "billing.plan": Module("src/tierline/billing/plan.py", ("tests/billing/test_plan.py",)),
    "billing.subscriptions": Module(
        "src/tierline/billing/subscriptions.py", ("tests/billing/test_subscription_rows.py",)
    ),
    "usage.periods": Module("src/tierline/usage/periods.py", ("tests/usage/test_periods.py",)),
}

# Mutants that behave exactly like the original, by module: mutant name -> why. They are left
# out of the score.
EQUIVALENT: dict[str, dict[str, str]] = {
    "access.rules": {
        "tierline.access.rules.x__preference__mutmut_3": "tiers.get(None) is None, as the guard",
        "tierline.access.rules.x__judge__mutmut_11": "tiers.get(None) is None, as the guard",
        "tierline.access.rules.x__preference__mutmut_12": 'float("INF") == float("inf")',
        "tierline.access.rules.x__preference__mutmut_18": (
            "-(3**31) for a tierless verdict: differs only for a sort_order below -2**31, "
            "which the Integer column cannot hold on PostgreSQL/MariaDB"
        ),
        "tierline.access.rules.x__preference__mutmut_19": (
            "-(2**32) for a tierless verdict: differs only for a sort_order below -2**31, "
            "which the Integer column cannot hold on PostgreSQL/MariaDB"
        ),
        "tierline.access.rules.x_decide__mutmut_24": (
            "key <= best_key: equal keys mean equal source, tier, expiry and quantity, so an "
            "equal Decision"
        ),
        "tierline.access.rules.x__capped__mutmut_6": "cancel_at <= end: equal moments, same value",
        "tierline.access.rules.x_credit_window__mutmut_14": (
            "starts_at >= now: a grant starting now is already in the current window's max"
        ),
    },
    "usage.periods": {
        # The `if end <= now` guard of _anniversary never runs in the original (its own comment
        # says so): its mutants change nothing.
        **{
            f"tierline.usage.periods.x__anniversary__mutmut_{n}": "in the unreachable guard"
            for n in range(39, 49)
        },
        # The guard puts right a start one month early, whatever caused it.
        "tierline.usage.periods.x__anniversary__mutmut_19": (
            "start >= now: one month early at an anniversary, which the guard corrects"
        ),
        "tierline.usage.periods.x__anniversary__mutmut_22": (
            "months -= 2: one month early, which the guard corrects"
        ),
        # _anniversary passes day=anchor.day to add_months, which defaults to the moment's day
        # (the anchor's): passing none is the same.
        **{
            f"tierline.usage.periods.x__anniversary__mutmut_{n}": "day=anchor.day is the default"
            for n in (5, 15, 18, 26, 29, 33, 36)
        },
        # astimezone(None) is the machine's local zone: the same instant (Period compares
        # instants), and the same wall clock where that zone is UTC, as on the machines we run.
        "tierline.usage.periods.x__anniversary__mutmut_2": "astimezone(None) on a UTC machine",
        "tierline.usage.periods.x__anniversary__mutmut_4": "astimezone(None) on a UTC machine",
        "tierline.usage.periods.x__local__mutmut_1": "astimezone(None): the same instant",
    },
    "billing.claims": {
        "tierline.billing.claims.x_rowcount__mutmut_1": "cast(None, ...): typing.cast is a no-op",
        "tierline.billing.claims.x_insert_claim__mutmut_48": (
            "`returning or first is not None`: without RETURNING the insert's first row is None"
        ),
    },
}

_POSTGRES_ONLY = (
    "the PostgreSQL RETURNING branch of insert_claim: killed by test_claims on PostgreSQL"
)
_IMPORT_TIME = "runs only at import time, before mutmut switches a mutant on: no test can see it"
# Real (not equivalent) mutants that survive for a known reason: a branch only another dialect
# takes (checked by hand against that dialect's run of the module's tests), or code mutmut
# cannot switch on. They stay in the score as survivors and are only labelled in the report.
SURVIVOR_NOTES: dict[str, dict[str, str]] = {
    "billing.subscriptions": {
        f"tierline.billing.subscriptions.x__apply__mutmut_{n}": _IMPORT_TIME for n in range(1, 6)
    },
    "billing.claims": {
        **{
            f"tierline.billing.claims.x_insert_claim__mutmut_{n}": _POSTGRES_ONLY
            for n in (32, 33, 34, 35, 41, 43, 45, 47, 49)
        },
        "tierline.billing.claims.x_insert_claim__mutmut_42": (
            "RETURNING on every dialect: killed by test_claims on MariaDB"
        ),
    },
}


def _scratch_pyproject(module: Module) -> str:
    pyproject = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    selection = ", ".join(json.dumps(path) for path in module.tests)
    return (
        pyproject
        + "\n[tool.mutmut]\n"
        + 'source_paths = ["src"]\n'
        + f"only_mutate = [{json.dumps(module.source)}]\n"
        + f"pytest_add_cli_args_test_selection = [{selection}]\n"
        + 'pytest_add_cli_args = ["-q", "-p", "no:cacheprovider"]\n'
        # Workers fork from a server that only collected the tests: forked from mutmut's main
        # process they would inherit tests/conftest.py's cache of migrated databases from its
        # earlier pytest sessions, whose temporary directories pytest deletes meanwhile, and
        # every mutant would look killed.
        + 'process_isolation = "forkserver"\n'
    )


def _prepare(key: str, module: Module, *, fresh: bool) -> Path:
    work = SCRATCH / key
    if fresh and work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True, exist_ok=True)
    for name in COPIED:
        target = work / name
        if target.exists():
            shutil.rmtree(target)
        shutil.copytree(
            ROOT / name, target, ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "*.db*")
        )
    # mutmut copies src/ and tests/ into mutants/ only when they are missing there; refresh the
    # tests so a new test is seen, and let mutmut re-mutate a source whose mtime changed.
    mutants_tests = work / "mutants" / "tests"
    if mutants_tests.exists():
        shutil.rmtree(mutants_tests)
    (work / "pyproject.toml").write_text(_scratch_pyproject(module), encoding="utf-8")
    return work


def _run_mutmut(work: Path, args: list[str]) -> int:
    env = {k: v for k, v in os.environ.items() if k not in SQLITE_ONLY_UNSET}
    # Runs this interpreter's own mutmut on arguments built above, never on outside input.
    return subprocess.call([sys.executable, "-m", "mutmut", *args], cwd=work, env=env)  # noqa: S603


def _not_killed(work: Path, module: Module) -> list[str]:
    """The mutants of the last run that no test killed (survived, unchecked, no tests...)."""
    meta = work / "mutants" / (module.source + ".meta")
    if not meta.exists():
        return []
    codes: dict[str, int | None] = json.loads(meta.read_text(encoding="utf-8"))["exit_code_by_key"]
    return sorted(n for n, c in codes.items() if c not in KILLED_CODES | TIMEOUT_CODES)


def _score(key: str, module: Module, work: Path) -> int:
    meta = work / "mutants" / (module.source + ".meta")
    if not meta.exists():
        print(f"no results for {key}: mutmut did not finish generating mutants")
        return 1
    codes: dict[str, int | None] = json.loads(meta.read_text(encoding="utf-8"))["exit_code_by_key"]
    equivalent = EQUIVALENT.get(key, {})
    unknown = sorted(set(equivalent) - set(codes))
    counted = {name: code for name, code in codes.items() if name not in equivalent}
    killed = sorted(n for n, c in counted.items() if c in KILLED_CODES or c in TIMEOUT_CODES)
    survived = sorted(n for n, c in counted.items() if c in SURVIVED_CODES)
    no_tests = sorted(n for n, c in counted.items() if c in NO_TESTS_CODES)
    unchecked = sorted(n for n, c in counted.items() if c is None)
    other = sorted(set(counted) - set(killed) - set(survived) - set(no_tests) - set(unchecked))
    total = len(counted)
    score = 100.0 * len(killed) / total if total else 100.0
    print()
    print(f"{key} ({module.source}), tests: {' '.join(module.tests)}")
    print(f"  mutants: {len(codes)}, equivalent (excluded): {len(codes) - total}")
    print(f"  killed: {len(killed)} / {total}  score: {score:.1f}%")
    for label, names in (
        ("survived", survived),
        ("no tests", no_tests),
        ("not checked", unchecked),
        ("other", other),
    ):
        if names:
            print(f"  {label} ({len(names)}):")
            for name in names:
                note = SURVIVOR_NOTES.get(key, {}).get(name)
                print(f"    {name}" + (f"  ({note})" if note else ""))
    if unknown:
        print(f"  stale EQUIVALENT entries (no such mutant any more): {', '.join(unknown)}")
    return 0 if score >= 90.0 else 2


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("module", nargs="?", choices=sorted(MODULES), metavar="MODULE")
    parser.add_argument("--list", action="store_true", help="list the modules and their tests")
    parser.add_argument("--max-children", type=int, default=2, help="parallel workers (2)")
    parser.add_argument("--fresh", action="store_true", help="discard cached results first")
    parser.add_argument("--score-only", action="store_true", help="print the cached score")
    parser.add_argument(
        "--not-killed",
        action="store_true",
        help="re-check only the mutants the last run did not kill (after adding tests)",
    )
    parser.add_argument("--show", metavar="MUTANT", help="print one mutant's diff")
    args = parser.parse_args(argv)
    if args.list or args.module is None:
        for key, module in MODULES.items():
            print(f"{key:24} {module.source}  <- {' '.join(module.tests)}")
        return 0 if args.list else 1
    module = MODULES[args.module]
    work = SCRATCH / args.module
    if args.show:
        return _run_mutmut(work, ["show", args.show])
    if not args.score_only:
        work = _prepare(args.module, module, fresh=args.fresh)
        # Naming the module's mutants makes mutmut re-check every one of them, so a test added
        # since the last run counts.
        names = [module.source.removeprefix("src/").removesuffix(".py").replace("/", ".") + ".*"]
        if args.not_killed:
            names = _not_killed(work, module) or names
        code = _run_mutmut(work, ["run", "--max-children", str(args.max_children), *names])
        if code != 0:
            print(f"mutmut run exited with {code}")
    return _score(args.module, module, work)


if __name__ == "__main__":
    raise SystemExit(main())
