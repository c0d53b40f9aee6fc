"""The dynamic pass: run a host app's chain on a scratch database, through its own env.py.

Upgrade from empty to the heads, downgrade to base, upgrade again (Alembic applies the
revisions one at a time, each in order); the first revision that raises becomes a
``revision-fails`` finding naming the revision, the line on its traceback and the database's
error. One command per phase, not per revision, keeps a long chain fast.

With ``seed``, the first upgrade goes one revision at a time (``command.upgrade`` to each
revision id, ancestors first) and :class:`~tierline.doctor.seed.Seeder` inserts a row into
every table each revision created or altered, then counts every seeded row after each revision:
rows a revision loses become a ``rows-lost`` finding naming it (a dropped table's rows are not
lost), a table it cannot fill a ``seed-skipped`` warning.

A ``progress`` object (:class:`Progress`) hears the number of revision steps of the run, then
one ``advance()`` per revision upgraded or downgraded (Alembic logs "Running upgrade ..." on
``alembic.runtime.migration`` for each one).

After the first upgrade, ``alembic check`` (Alembic 1.9+) compares the migrated schema with
the env's ``target_metadata`` (honouring its ``include_object``) and reports ``model-drift``;
an env without ``target_metadata`` skips that comparison.

Alembic is configured through the app's ``alembic.ini`` (Flask-Migrate keeps one in
``migrations/``), with ``sqlalchemy.url`` replaced by the scratch URL. An env.py that takes its
URL from elsewhere would migrate that database instead: give scratch databases only (a
database that already has a table is refused: the run downgrades to base). The env's
own logging setup (``logging.config.fileConfig``) is skipped while it runs, so Alembic's INFO
lines do not mix with the report. A Flask-Migrate env.py runs inside the app ``app`` names
(``module:create_app``, or ``FLASK_APP``), pointed at the scratch URL
(:mod:`tierline.doctor.flaskapp`).
"""

from __future__ import annotations

import io
import logging
import logging.config
import sys
import tempfile
import traceback
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from tierline.doctor.chain import ChainLocation, locate_chain
from tierline.doctor.findings import DoctorError, Finding, Severity
from tierline.doctor.flaskapp import app_spec

if TYPE_CHECKING:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    from tierline.doctor.seed import LostRows, SkippedTable

REVISION_FAILS = "revision-fails"
MODEL_DRIFT = "model-drift"
SCRATCH_SQLITE = "sqlite"


class Progress(Protocol):
    """Hears how far a run is: ``start(total revision steps)``, then ``advance()`` per step."""

    def start(self, total: int) -> None: ...

    def advance(self) -> None: ...


def run_chain(
    path: Path | str,
    url: str = SCRATCH_SQLITE,
    *,
    seed: bool = False,
    progress: Progress | None = None,
    app: str | None = None,
) -> list[Finding]:
    """Run the chain at ``path`` on ``url`` (``"sqlite"``: a scratch SQLite file).

    ``app``: the Flask app a Flask-Migrate env.py needs, as ``flask --app`` names it
    (``module:create_app``, ``module:app``, ``module``); None = ``FLASK_APP`` when the env.py
    reads ``current_app``, else no app. The factory is called once per run, the app's
    ``SQLALCHEMY_DATABASE_URI`` set to ``url`` and the env handed an engine on ``url``.

    Returns at most one ``revision-fails`` finding (the run stops at the first failing step)
    and any ``model-drift`` finding; with ``seed``, also ``rows-lost`` (error) and
    ``seed-skipped`` (warning) findings. Raises DoctorError when the chain has no alembic.ini
    and no app (a Flask-Migrate chain given its app runs without one), the database cannot be
    opened or already has a table, the app cannot be made, or its env.py cannot run at all
    (e.g. a Flask-Migrate env.py without an app).
    """
    location = locate_chain(Path(path))
    spec = app_spec(app, location.script_location)
    if location.alembic_ini is None and spec is None:
        raise DoctorError(
            f"{path}: no alembic.ini beside or inside the chain; the dynamic pass configures "
            "Alembic through the app's alembic.ini (a Flask-Migrate chain runs without one, "
            "given --app)"
        )
    if url == SCRATCH_SQLITE:
        with tempfile.TemporaryDirectory(prefix="tierline-doctor-") as scratch:
            scratch_url = f"sqlite:///{Path(scratch) / 'doctor.db'}"
            return _run(location, scratch_url, seed, progress, spec)
    return _run(location, url, seed, progress, spec)


@contextmanager
def _env_logging_untouched() -> Iterator[None]:
    """Skip the env's ``fileConfig(config.config_file_name)`` (Flask-Migrate's env calls it
    even when the name is None): it would reconfigure the logging of the whole process."""
    original = logging.config.fileConfig

    def skip(*args: object, **kwargs: object) -> None:
        return None

    logging.config.fileConfig = skip
    try:
        yield
    finally:
        logging.config.fileConfig = original


@contextmanager
def _importable(folder: Path) -> Iterator[None]:
    """Let env.py import the app from the project folder, as running alembic there would."""
    entry = str(folder)
    sys.path.insert(0, entry)
    try:
        yield
    finally:
        if entry in sys.path:
            sys.path.remove(entry)


def _config(location: ChainLocation, url: str) -> Config:
    from alembic.config import Config

    ini = location.alembic_ini
    # Commands' own messages ("No new upgrade operations detected.") would mix with the report.
    # No ini (a Flask-Migrate chain given its app): a Config of no file, as Flask-Migrate
    # makes when migrations/alembic.ini is missing.
    config = Config(str(ini) if ini is not None else None, stdout=io.StringIO())
    try:
        config.file_config  # noqa: B018 -- read the ini now, before its logging section is dropped
    except Exception as exc:  # configparser's errors, a missing %(name)s
        raise DoctorError(f"cannot read {ini}: {_first_line(exc)}") from exc
    # env.py calls fileConfig(config.config_file_name) when set: Alembic's INFO lines would
    # interleave with the report.
    config.config_file_name = None
    config.set_main_option("script_location", str(location.script_location))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def _run(
    location: ChainLocation,
    url: str,
    seed: bool,
    progress: Progress | None,
    app: str | None,
) -> list[Finding]:
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        parsed = make_url(url)
        dialect = parsed.get_backend_name()
    except ArgumentError as exc:
        raise DoctorError(f"--run {url!r} is not a database URL: {exc}") from exc
    _refuse_a_database_with_tables(url, parsed.render_as_string(hide_password=True))
    config = _config(location, url)
    with ExitStack() as stack:
        stack.enter_context(_importable(location.project_root))
        stack.enter_context(_env_logging_untouched())
        if app is not None:
            from tierline.doctor.flaskapp import app_context

            stack.enter_context(app_context(app, url, [location.project_root, Path.cwd()]))
        return _run_steps(config, location, url, dialect, seed, progress)


def _refuse_a_database_with_tables(url: str, shown: str) -> None:
    """Raise DoctorError unless the database at ``url`` has no table yet.

    The run downgrades to base (dropping what the chain made) and reads every table as the
    chain's; a database with tables is someone's data, or the leftover of an earlier run,
    whose revisions and rows would be misread.
    """
    from sqlalchemy import create_engine, inspect
    from sqlalchemy.pool import NullPool

    try:
        engine = create_engine(url, poolclass=NullPool)
        try:
            tables = sorted(inspect(engine).get_table_names())
        finally:
            engine.dispose()
    except Exception as exc:  # the driver's errors: no server, no database, no driver
        raise DoctorError(f"--run {shown}: cannot open it: {_first_line(exc)}") from exc
    if tables:
        listed = ", ".join(tables[:5]) + (f" and {len(tables) - 5} more" if len(tables) > 5 else "")
        raise DoctorError(
            f"--run {shown}: the database already has {len(tables)} "
            f"table{'s' * (len(tables) != 1)} ({listed}); the run downgrades the chain to base, "
            "so give an empty scratch database (drop and create it again after a run)"
        )


def _run_steps(
    config: Config,
    location: ChainLocation,
    url: str,
    dialect: str,
    seed: bool,
    progress: Progress | None,
) -> list[Finding]:
    from alembic import command
    from alembic.script import ScriptDirectory
    from alembic.util import CommandError

    try:
        script = ScriptDirectory.from_config(config)
        by_file = {Path(s.path).resolve(): s.revision for s in script.walk_revisions()}
    except CommandError as exc:
        raise DoctorError(f"Alembic cannot read the chain: {exc}") from exc
    except Exception as exc:  # a revision file importing the app, which fails to import
        raise DoctorError(
            f"Alembic cannot load the chain's revision files: {type(exc).__name__}: "
            f"{_first_line(exc)}"
        ) from exc
    # Alembic applies the revisions of one command one at a time, in order; the revision that
    # fails is the revision file on the traceback (batch operations, too, run inside it).
    steps: list[tuple[str, Callable[[Config, str], None], str]] = [
        ("upgrade", command.upgrade, "heads"),
        ("downgrade", command.downgrade, "base"),
        ("upgrade again", command.upgrade, "heads"),
    ]
    found: list[Finding] = []
    if progress is not None:
        progress.start(len(by_file) * len(steps))
    with _counting_steps(progress):
        if seed:
            steps = steps[1:]
            try:
                found.extend(_seeded_upgrade(config, script, location, url, dialect))
            except _SeededStepError as failed:
                found.append(_failure(location, by_file, "seeded upgrade", dialect, failed.error))
                return found
            drift = _model_drift(config, location, dialect)
            if drift is not None:
                found.append(drift)
        for phase, step, target in steps:
            try:
                step(config, target)
            except Exception as exc:  # any error of the host's code is the finding
                found.append(_failure(location, by_file, phase, dialect, exc))
                return found
            if phase == "upgrade":
                drift = _model_drift(config, location, dialect)
                if drift is not None:
                    found.append(drift)
    return found


class _SeededStepError(Exception):
    def __init__(self, error: Exception) -> None:
        super().__init__(str(error))
        self.error = error


def _seeded_upgrade(
    config: Config, script: ScriptDirectory, location: ChainLocation, url: str, dialect: str
) -> list[Finding]:
    """Upgrade one revision at a time, seeding rows after each; the findings of the seeding.

    Raises _SeededStepError carrying the error of a revision that fails.
    """
    from alembic import command
    from sqlalchemy import create_engine
    from sqlalchemy.pool import NullPool

    from tierline.doctor.seed import Seeder

    revisions = list(reversed(list(script.walk_revisions("base", "heads"))))
    # NullPool: no connection of the seeder stays open while a revision runs (MariaDB's
    # metadata locks would block its DDL).
    engine = create_engine(url, poolclass=NullPool)
    seeder = Seeder(engine)
    found: list[Finding] = []
    try:
        for revision in revisions:
            try:
                command.upgrade(config, revision.revision)
            except Exception as exc:  # any error of the host's code is the finding
                raise _SeededStepError(exc) from exc
            lost, skipped = seeder.after(revision.revision)
            file = Path(revision.path)
            found.extend(_rows_lost(file, revision.revision, dialect, item) for item in lost)
            found.extend(_seed_skipped(file, revision.revision, dialect, s) for s in skipped)
    finally:
        engine.dispose()
    return found


def _upgrade_line(file: Path) -> int:
    """The line of ``def upgrade`` in a revision file (1 when there is none)."""
    try:
        lines = file.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return 1
    for number, text in enumerate(lines, start=1):
        if text.lstrip().startswith("def upgrade"):
            return number
    return 1


def _rows_lost(file: Path, revision: str, dialect: str, lost: LostRows) -> Finding:
    rows = f"{lost.count} seeded row{'s' * (lost.count != 1)}"
    return Finding(
        rule="rows-lost",
        file=file,
        line=_upgrade_line(file),
        severity=Severity.ERROR,
        message=f"upgrade of revision {revision} loses {rows} of table {lost.table!r} on "
        f"{dialect} (seeded after revision {lost.seeded_at}); the table stays, its rows go",
        fix="alter the table in place, or in batch mode (which copies the rows); when "
        "recreating it by hand, copy the rows into the new table before dropping the old one",
    )


def _seed_skipped(file: Path, revision: str, dialect: str, skipped: SkippedTable) -> Finding:
    return Finding(
        rule="seed-skipped",
        file=file,
        line=_upgrade_line(file),
        severity=Severity.WARNING,
        message=f"--seed cannot insert a row into table {skipped.table!r} after revision "
        f"{revision} on {dialect}: {skipped.reason}; its rows are not checked",
        fix="nothing to change if the table is right; check that its rows survive the chain "
        "in a test of your own",
    )


class _StepCounter(logging.Filter):
    """Advance the progress on each "Running upgrade/downgrade"; pass on what was shown before."""

    def __init__(self, progress: Progress, shown_from: int) -> None:
        super().__init__()
        self._progress = progress
        self._shown_from = shown_from

    def filter(self, record: logging.LogRecord) -> bool:
        if str(record.msg).startswith("Running ") and record.args:
            step = str(record.args[0]) if isinstance(record.args, tuple) else ""
            if step.startswith(("upgrade", "downgrade")):
                self._progress.advance()
        return record.levelno >= self._shown_from


@contextmanager
def _counting_steps(progress: Progress | None) -> Iterator[None]:
    if progress is None:
        yield
        return
    logger = logging.getLogger("alembic.runtime.migration")
    level = logger.level
    counter = _StepCounter(progress, logger.getEffectiveLevel())
    logger.addFilter(counter)
    logger.setLevel(logging.INFO)
    try:
        yield
    finally:
        logger.setLevel(level)
        logger.removeFilter(counter)


def _model_drift(config: Config, location: ChainLocation, dialect: str) -> Finding | None:
    from alembic import command
    from alembic.util import AutogenerateDiffsDetected, CommandError

    try:
        command.check(config)
    except AutogenerateDiffsDetected as exc:
        diffs = "; ".join(_describe(d) for d in exc.diffs[:5])
        more = f" (and {len(exc.diffs) - 5} more)" if len(exc.diffs) > 5 else ""
        return Finding(
            rule=MODEL_DRIFT,
            file=location.script_location / "env.py",
            line=1,
            severity=Severity.ERROR,
            message=f"on {dialect}, the migrated schema differs from the models: {diffs}{more}",
            fix="write a revision for the difference (alembic revision --autogenerate) or "
            "correct the models",
        )
    except CommandError:
        return None  # no target_metadata: nothing to compare with
    except Exception as exc:  # the env's autogenerate path (include_object, hooks) failed
        return Finding(
            rule=MODEL_DRIFT,
            file=location.script_location / "env.py",
            line=1,
            severity=Severity.WARNING,
            message=f"on {dialect}, the schema could not be compared with the models: "
            f"{type(exc).__name__}: {_first_line(exc)}",
            fix="make 'alembic check' run with this env.py",
        )
    return None


def _describe(diff: object) -> str:
    if isinstance(diff, tuple) and diff:
        kind = str(diff[0])
        names = [
            part if isinstance(part, str) else str(getattr(part, "name", "") or "")
            for part in diff[1:]
        ]
        names = [n for n in names if n]
        return f"{kind} {' '.join(names)}".strip()
    if isinstance(diff, list) and diff:
        return _describe(diff[0])
    return str(diff)


def _first_line(exc: BaseException) -> str:
    orig = getattr(exc, "orig", None)
    text = str(orig if orig is not None else exc).strip() or type(exc).__name__
    return text.splitlines()[0]


def _failure(
    location: ChainLocation,
    by_file: dict[Path, str],
    phase: str,
    dialect: str,
    exc: Exception,
) -> Finding:
    frames = [
        f for f in traceback.extract_tb(exc.__traceback__) if Path(f.filename).resolve() in by_file
    ]
    if not frames:
        raise DoctorError(_env_error(location, exc)) from exc
    frame = frames[-1]
    revision = by_file[Path(frame.filename).resolve()]
    return Finding(
        rule=REVISION_FAILS,
        file=Path(frame.filename),
        line=frame.lineno or 1,
        severity=Severity.ERROR,
        message=f"{phase} of revision {revision} fails on {dialect}: "
        f"{type(exc).__name__}: {_first_line(exc)}",
        fix="make the revision run on every target dialect (batch mode for SQLite ALTERs, "
        "named constraints, a downgrade that undoes the upgrade)",
    )


def _env_error(location: ChainLocation, exc: Exception) -> str:
    text = _first_line(exc)
    env = location.script_location / "env.py"
    if "application context" in text:
        return (
            f"{env} needs a Flask application context (Flask-Migrate's env.py reads "
            "current_app): give the app factory with --app module:create_app (or set "
            "FLASK_APP), or run the static pass only"
        )
    if isinstance(exc, KeyError) and text.strip("'\"") == "migrate":
        return (
            f"{env} reads current_app.extensions['migrate'], which the app does not have: "
            "give the app whose factory calls Migrate(app, db)"
        )
    return f"cannot run {env}: {type(exc).__name__}: {text}"
