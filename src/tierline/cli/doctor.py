"""Top-level command ``tierline doctor``: find migration faults in an app's Alembic chain.

Exit codes: 0 healthy (warnings allowed), 1 at least one error, 2 the chain cannot be checked
(missing path, a file that is not Python, an env.py that cannot run).
"""

from __future__ import annotations

import json
import sys
from collections import defaultdict
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from rich.progress import Progress

    from tierline.doctor import Finding

#: Chains with at least this many revision steps (3 per revision) get a progress bar.
LONG_RUN_STEPS = 30


class OutputFormat(StrEnum):
    TEXT = "text"
    JSON = "json"
    SARIF = "sarif"


def register(app: typer.Typer) -> None:
    """Add this module's command to the root app."""
    app.command("doctor")(doctor)


def doctor(
    path: Annotated[
        Path,
        typer.Argument(
            help="The chain: a versions/ folder, a folder holding one (migrations/), or an "
            "alembic.ini.",
            show_default=False,
        ),
    ],
    dialects: Annotated[
        str,
        typer.Option(
            "--dialects",
            help="Target dialects, comma-separated: sqlite, postgresql, mysql (mariadb).",
        ),
    ] = "sqlite,postgresql,mysql",
    output: Annotated[
        OutputFormat, typer.Option("--format", help="text (grouped by file), json or sarif.")
    ] = OutputFormat.TEXT,
    run: Annotated[
        list[str] | None,
        typer.Option(
            "--run",
            metavar="URL",
            help="Also run the chain on this database URL (repeatable): upgrade from empty, "
            "compare with the models, downgrade to base, upgrade again. 'sqlite' = a scratch "
            "SQLite file. Use only scratch databases.",
            show_default=False,
        ),
    ] = None,
    seed: Annotated[
        bool,
        typer.Option(
            "--seed",
            help="With --run: upgrade one revision at a time, insert a row into every table "
            "each revision creates or alters, and report the rows a later revision loses "
            "(rows-lost).",
        ),
    ] = False,
    app: Annotated[
        str | None,
        typer.Option(
            "--app",
            metavar="MODULE:FACTORY",
            help="With --run: the Flask app a Flask-Migrate env.py needs, as flask --app names "
            "it (myapp:create_app, myapp:app, myapp). The factory is called per --run URL, its "
            "SQLAlchemy URI pointed at that URL, and the chain run in its app context. Default: "
            "FLASK_APP, when env.py reads current_app.",
            show_default=False,
        ),
    ] = None,
    fix: Annotated[
        bool,
        typer.Option(
            "--fix",
            help="Show the mechanical fixes as a diff (name unnamed constraints, wrap ALTERs in "
            "batch_alter_table); exit 1 when there are some.",
        ),
    ] = False,
    write: Annotated[
        bool, typer.Option("--write", help="With --fix: write the fixes, then check again.")
    ] = False,
) -> None:
    """Find the migration faults that break an app on SQLite, PostgreSQL or MariaDB."""
    from tierline.doctor import DoctorError, check_chain, parse_dialects

    try:
        targets = parse_dialects(dialects)
    except ValueError as exc:
        typer.echo(f"error: --dialects: {exc}", err=True)
        raise typer.Exit(2) from exc
    if seed and not run:
        typer.echo("error: --seed only goes with --run URL", err=True)
        raise typer.Exit(2)
    if app is not None and not run:
        typer.echo("error: --app only goes with --run URL", err=True)
        raise typer.Exit(2)
    if write and not fix:
        typer.echo("error: --write only goes with --fix", err=True)
        raise typer.Exit(2)
    if fix:
        try:
            changed = _fix(path, targets, write)
        except DoctorError as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(2) from exc
        if not write:
            raise typer.Exit(1 if changed else 0)
    try:
        findings = check_chain(path, targets)
        if run:
            from tierline.doctor.dynamic import run_chain

            for url in run:
                with _progress_bar(url) as progress:
                    findings.extend(run_chain(path, url, seed=seed, progress=progress, app=app))
    except DoctorError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc
    except Exception as exc:  # the dynamic pass runs the host's own code: never a traceback
        first = (str(exc).strip().splitlines() or [""])[0]
        typer.echo(f"error: running the chain failed: {type(exc).__name__}: {first}", err=True)
        raise typer.Exit(2) from exc
    findings.sort(key=lambda f: (str(f.file), f.line, f.rule))
    _print(findings, output, path)
    if any(f.severity == "error" for f in findings):
        raise typer.Exit(1)


class _RichProgress:
    """A Rich bar on stderr, shown once the run proves long (``LONG_RUN_STEPS``)."""

    def __init__(self, label: str) -> None:
        self._label = label
        self._bar: Progress | None = None

    def start(self, total: int) -> None:
        if total < LONG_RUN_STEPS:
            return
        from rich.console import Console
        from rich.progress import Progress

        self._bar = Progress(console=Console(stderr=True), transient=True)
        self._bar.add_task(self._label, total=total)
        self._bar.start()

    def advance(self) -> None:
        if self._bar is not None:
            self._bar.advance(self._bar.task_ids[0])

    def stop(self) -> None:
        if self._bar is not None:
            self._bar.stop()


@contextmanager
def _progress_bar(url: str) -> Iterator[_RichProgress | None]:
    """A progress bar for the run on ``url`` when stderr is a terminal; None otherwise."""
    if not sys.stderr.isatty():
        yield None
        return
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        label = make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        label = url  # run_chain names the bad URL
    bar = _RichProgress(f"running {label}")
    try:
        yield bar
    finally:
        bar.stop()


def _fix(path: Path, targets: frozenset[str], write: bool) -> bool:
    """Print the fixes' diff (and write them with ``write``); whether any file changes."""
    from tierline.doctor.fix import plan_fixes
    from tierline.doctor.report import display_path

    fixes = plan_fixes(path, targets)
    for item in fixes:
        typer.echo(item.diff(display_path(item.path, Path.cwd())), nl=False)
        if write:
            item.path.write_text(item.after, encoding="utf-8")
    if not fixes:
        typer.echo("nothing to fix mechanically")
    elif write:
        typer.echo(f"fixed {len(fixes)} file{'s' * (len(fixes) != 1)}\n")
    return bool(fixes)


def _print(findings: Sequence[Finding], output: OutputFormat, path: Path) -> None:
    from tierline import __version__
    from tierline.doctor.report import as_json, as_sarif

    base = Path.cwd()
    if output is OutputFormat.JSON:
        typer.echo(json.dumps(as_json(findings, base), indent=2))
    elif output is OutputFormat.SARIF:
        typer.echo(json.dumps(as_sarif(findings, base, __version__), indent=2))
    else:
        _print_text(findings, base, path)


def _print_text(findings: Sequence[Finding], base: Path, path: Path) -> None:
    from rich.console import Console
    from rich.markup import escape

    from tierline.doctor.report import display_path

    console = Console(highlight=False, soft_wrap=True)
    if not findings:
        console.print(f"[green]✓[/] {escape(str(path))}: no migration faults found")
        return
    by_file: dict[str, list[Finding]] = defaultdict(list)
    for item in findings:
        by_file[display_path(item.file, base)].append(item)
    for name, items in by_file.items():
        console.print(f"[bold]{escape(name)}[/]")
        for item in items:
            colour = "red" if item.severity == "error" else "yellow"
            console.print(
                f"  {item.line:>4}  [{colour}]{item.severity.value:<7}[/] "
                f"[bold]{item.rule}[/]  {escape(item.message)}"
            )
            console.print(f"        [dim]fix:[/] {escape(item.fix)}")
    errors = sum(1 for f in findings if f.severity == "error")
    warnings = len(findings) - errors
    console.print(
        f"\n{errors} error{'s' * (errors != 1)}, {warnings} warning{'s' * (warnings != 1)} "
        f"in {len(by_file)} file{'s' * (len(by_file) != 1)}"
    )
