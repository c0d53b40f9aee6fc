"""``chain-not-run-from-empty``: the project builds its schema with ``create_all`` (and maybe
``stamp``) instead of running the chain, so a broken revision is never executed by its tests.

The project is the folder around the chain's script folder; its Python files are scanned,
except the chain itself and virtualenvs, build and hidden folders.
"""

from __future__ import annotations

import ast
import os
from collections.abc import Iterator
from pathlib import Path

from tierline.doctor.findings import Finding, Severity
from tierline.doctor.ops import call_name, iter_calls
from tierline.doctor.rules.base import CheckContext, finding

RULE = "chain-not-run-from-empty"

_SKIP_DIRS = frozenset(
    {
        "node_modules",
        "site-packages",
        "__pycache__",
        "build",
        "dist",
        "venv",
        "env",
    }
)
_UPGRADE_MARKERS = ("upgrade(", "upgrade head", "upgrade heads", '"upgrade"', "'upgrade'")


def project_files(root: Path, exclude: Path) -> Iterator[Path]:
    """Python files under ``root``, without ``exclude`` and hidden/virtualenv/build folders.

    The walk starts from the resolved root and does not follow symlinked folders, so a folder
    is ``exclude`` exactly when its joined path is ``exclude`` resolved: one string comparison
    per folder instead of a ``realpath`` (an ``lstat`` per path part), which was most of the
    static pass's time on a project of a thousand files.
    """
    for name in project_file_names(root, exclude):
        yield Path(name)


def project_file_names(root: Path, exclude: Path) -> Iterator[str]:
    """:func:`project_files` as strings (a ``Path`` per file costs more than reading it)."""
    excluded = str(exclude.resolve())
    for folder, dirs, files in os.walk(root.resolve()):
        dirs[:] = [
            d
            for d in dirs
            if not d.startswith(".") and d not in _SKIP_DIRS and os.path.join(folder, d) != excluded
        ]
        for name in files:
            if name.endswith(".py"):
                yield os.path.join(folder, name)


def chain_not_run_from_empty(ctx: CheckContext) -> Iterator[Finding]:
    """``create_all(...)`` calls in the project; errors when nothing in it runs an upgrade."""
    location = ctx.chain.location
    sightings: list[tuple[Path, int, bool]] = []
    runs_upgrade = False
    for name in project_file_names(location.project_root, location.script_location):
        if not os.path.isfile(name):
            continue  # a FIFO or device named *.py: opening it would block the pass
        try:
            with open(name, encoding="utf-8") as file:
                text = file.read()
        except (OSError, UnicodeDecodeError):
            continue
        if not runs_upgrade and any(marker in text for marker in _UPGRADE_MARKERS):
            runs_upgrade = True
        if "create_all" not in text:
            continue
        path = Path(name)
        try:
            tree = ast.parse(text)
        except SyntaxError:
            continue
        names = [(call_name(call), call.lineno) for call in iter_calls(tree)]  # one walk
        stamps = any(name == "stamp" for name, _ in names)
        sightings.extend((path, line, stamps) for name, line in names if name == "create_all")
    severity = Severity.WARNING if runs_upgrade else Severity.ERROR
    for path, line, stamps in sightings:
        how = "create_all() and stamp() build" if stamps else "create_all() builds"
        yield finding(
            RULE,
            path,
            line,
            severity,
            f"{how} the schema from the models, so the migration chain is never run "
            "from an empty database" + ("" if runs_upgrade else " anywhere in this project"),
            "build test databases with the chain (alembic.command.upgrade(config, 'head') on an "
            "empty database) and compare with the models (alembic check)",
        )
