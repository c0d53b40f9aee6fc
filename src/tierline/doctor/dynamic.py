"""The dynamic pass: run a host app's chain on a scratch database, through its own env.py.

Upgrade from empty to the heads, downgrade to base, upgrade again (Alembic applies the
revisions one at a time, each in order); the first revision that raises becomes a
``revision-fails`` finding naming the revision, the line on its traceback and the database's
error. One command per phase, not per revision, keeps a long chain fast.

After the first upgrade, ``alembic check`` (Alembic 1.9+) compares the migrated schema with
the env's ``target_metadata`` (honouring its ``include_object``) and reports ``model-drift``;
an env without ``target_metadata`` skips that comparison.

Alembic is configured through the app's ``alembic.ini`` (Flask-Migrate keeps one in
``migrations/``), with ``sqlalchemy.url`` replaced by the scratch URL. An env.py that takes its
URL from elsewhere would migrate that database instead: give scratch databases only.
"""

from __future__ import annotations

import io
import sys
import tempfile
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from tierline.doctor.chain import ChainLocation, locate_chain
from tierline.doctor.findings import DoctorError, Finding, Severity

if TYPE_CHECKING:
    from alembic.config import Config

REVISION_FAILS = "revision-fails"
MODEL_DRIFT = "model-drift"
SCRATCH_SQLITE = "sqlite"


def run_chain(path: Path | str, url: str = SCRATCH_SQLITE) -> list[Finding]:
    """Run the chain at ``path`` on ``url`` (``"sqlite"``: a scratch SQLite file).

    Returns at most one ``revision-fails`` finding (the run stops at the first failing step)
    and any ``model-drift`` finding. Raises DoctorError when the chain has no alembic.ini or its
    env.py cannot run at all (e.g. a Flask-Migrate env.py outside an application context).
    """
    location = locate_chain(Path(path))
    if location.alembic_ini is None:
        raise DoctorError(
            f"{path}: no alembic.ini beside or inside the chain; the dynamic pass configures "
            "Alembic through the app's alembic.ini"
        )
    if url == SCRATCH_SQLITE:
        with tempfile.TemporaryDirectory(prefix="tierline-doctor-") as scratch:
            return _run(location, f"sqlite:///{Path(scratch) / 'doctor.db'}")
    return _run(location, url)


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

    assert location.alembic_ini is not None
    # Commands' own messages ("No new upgrade operations detected.") would mix with the report.
    config = Config(str(location.alembic_ini), stdout=io.StringIO())
    try:
        config.file_config  # noqa: B018 -- read the ini now, before its logging section is dropped
    except Exception as exc:  # configparser's errors, a missing %(name)s
        raise DoctorError(f"cannot read {location.alembic_ini}: {_first_line(exc)}") from exc
    # env.py calls fileConfig(config.config_file_name) when set: Alembic's INFO lines would
    # interleave with the report.
    config.config_file_name = None
    config.set_main_option("script_location", str(location.script_location))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def _run(location: ChainLocation, url: str) -> list[Finding]:
    from alembic import command
    from alembic.script import ScriptDirectory
    from alembic.util import CommandError
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        dialect = make_url(url).get_backend_name()
    except ArgumentError as exc:
        raise DoctorError(f"--run {url!r} is not a database URL: {exc}") from exc
    config = _config(location, url)
    with _importable(location.project_root):
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
    with _importable(location.project_root):
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
            "current_app): run the static pass only, or give an alembic.ini whose env.py "
            "configures the URL itself"
        )
    return f"cannot run {env}: {type(exc).__name__}: {text}"
