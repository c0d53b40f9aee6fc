"""Run a Flask-Migrate chain: its ``env.py`` reads the running app, so the dynamic pass makes one.

Flask-Migrate's ``env.py`` (its ``flask`` template) takes the engine and the metadata from
``current_app.extensions["migrate"].db`` and so runs only inside an application context. The
dynamic pass imports the app the way ``flask --app`` names it (``module``, ``module:name``,
``module:create_app()``; Flask documents the forms under "Application Discovery"), calls the
factory once per database, sets ``SQLALCHEMY_DATABASE_URI`` to the scratch URL, hands the env an
engine on that URL in place of the app's (the ``migrate`` extension's ``db`` answers ``engine``,
``get_engine()`` and ``engines`` with it, everything else from the app's own ``db``: its models'
metadata), and runs the chain inside ``app.app_context()``. Flask-SQLAlchemy 3 makes its engines
when ``init_app`` runs, so setting the URI alone would leave the env on the app's own database.

Without an explicit app, ``FLASK_APP`` names it when the chain's ``env.py`` reads
``current_app`` (Flask-Migrate's convention); other chains run without an app.
"""

from __future__ import annotations

import importlib
import os
import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager, redirect_stdout
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tierline.doctor.findings import DoctorError

if TYPE_CHECKING:
    from flask import Flask
    from sqlalchemy.engine import Engine

FLASK_APP_ENV = "FLASK_APP"

#: What ``flask`` looks for in a module named without an attribute ("Application Discovery").
_APP_NAMES = ("app", "application")
_FACTORY_NAMES = ("create_app", "make_app")

_SPEC = re.compile(r"^(?P<module>[^:()]+?)(?::(?P<attr>[A-Za-z_]\w*)(?P<call>\(\s*\))?)?$")


def env_reads_current_app(script_location: Path) -> bool:
    """Whether the chain's ``env.py`` reads Flask's ``current_app`` (Flask-Migrate's env does)."""
    try:
        text = (script_location / "env.py").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return False
    return "current_app" in text


def app_spec(given: str | None, script_location: Path) -> str | None:
    """The app to run the chain in: ``given``, else ``FLASK_APP`` for a Flask-Migrate env."""
    if given:
        return given
    if env_reads_current_app(script_location):
        return os.environ.get(FLASK_APP_ENV) or None
    return None


def load_app(spec: str, folders: list[Path]) -> Flask:
    """Import and make the Flask app ``spec`` names (``module[:name[()]]`` or ``file.py[:name]``).

    ``folders`` go first on the import path (the project folder, the working directory).
    Raises DoctorError with one line: a malformed spec, a module that cannot be imported, a
    missing attribute, a factory that raises or returns something other than a Flask app.
    """
    try:
        from flask import Flask
    except ImportError as exc:  # pragma: no cover - flask is a dev dependency
        raise DoctorError(f"--app {spec!r}: Flask is not installed") from exc
    match = _SPEC.match(spec.strip())
    if match is None:
        raise DoctorError(
            f"--app {spec!r}: give the app as module:name or module:create_app "
            "(a factory is called without arguments)"
        )
    module_name, attr = match.group("module"), match.group("attr")
    search = [str(f) for f in folders]
    if module_name.endswith(".py"):
        file = Path(module_name)
        search.insert(0, str(file.parent.resolve()))
        module_name = file.stem
    # The host's code may print: to stderr, so that stdout stays the report (--format json).
    with _on_path(search), redirect_stdout(sys.stderr):
        module = _import(spec, module_name)
        names = (attr,) if attr else _APP_NAMES + _FACTORY_NAMES
        found = next((n for n in names if hasattr(module, n)), None)
        if found is None:
            wanted = repr(attr) if attr else f"any of {', '.join(names)}"
            raise DoctorError(f"--app {spec!r}: module {module_name!r} has no attribute {wanted}")
        target = getattr(module, found)
        if isinstance(target, Flask):
            return target
        if not callable(target):
            raise DoctorError(
                f"--app {spec!r}: {module_name}.{found} is a {type(target).__name__}, "
                "neither a Flask app nor a factory"
            )
        try:
            made = target()
        except SystemExit as exc:  # sys.exit() in a factory is a failure, not the doctor's exit
            raise DoctorError(f"--app {spec!r}: {found}() called sys.exit({exc.code!r})") from exc
        except Exception as exc:  # the host's factory: any error is its message
            raise DoctorError(
                f"--app {spec!r}: {found}() raised {type(exc).__name__}: {_first_line(exc)}"
            ) from exc
    if not isinstance(made, Flask):
        raise DoctorError(
            f"--app {spec!r}: {found}() returned a {type(made).__name__}, not a Flask app"
        )
    return made


def _import(spec: str, module_name: str) -> Any:
    try:
        return importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name is not None and (module_name + ".").startswith(exc.name + "."):
            raise DoctorError(
                f"--app {spec!r}: no module named {module_name!r} (run from the project "
                "folder, or give the module's import path)"
            ) from exc
        raise DoctorError(
            f"--app {spec!r}: importing {module_name!r} failed: ModuleNotFoundError: "
            f"{_first_line(exc)}"
        ) from exc
    except SystemExit as exc:
        raise DoctorError(
            f"--app {spec!r}: importing {module_name!r} called sys.exit({exc.code!r})"
        ) from exc
    except Exception as exc:  # the host's module: any error is its message
        raise DoctorError(
            f"--app {spec!r}: importing {module_name!r} failed: {type(exc).__name__}: "
            f"{_first_line(exc)}"
        ) from exc


@contextmanager
def _on_path(folders: list[str]) -> Iterator[None]:
    added = [f for f in folders if f not in sys.path]
    sys.path[:0] = added
    try:
        yield
    finally:
        for folder in added:
            if folder in sys.path:
                sys.path.remove(folder)


class _ScratchDatabase:
    """The app's Flask-SQLAlchemy object with every engine the env asks for on the scratch URL."""

    def __init__(self, db: object, engine: Engine) -> None:
        self._db = db
        self.engine = engine
        self.engines = {None: engine}

    def get_engine(self, *args: object, **kwargs: object) -> Engine:
        return self.engine

    def __getattr__(self, name: str) -> Any:
        return getattr(self._db, name)


class _ScratchMigrate:
    """Flask-Migrate's extension state (``db``, ``directory``, ``configure_args``...) whose
    ``db`` is a :class:`_ScratchDatabase`."""

    def __init__(self, migrate: object, engine: Engine) -> None:
        self._migrate = migrate
        self.db = _ScratchDatabase(getattr(migrate, "db", None), engine)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._migrate, name)


@contextmanager
def app_context(spec: str, url: str, folders: list[Path]) -> Iterator[None]:
    """Make the app ``spec`` names, point it at ``url`` and run the block in its app context.

    Raises DoctorError when the app cannot be made (see :func:`load_app`).
    """
    from sqlalchemy import create_engine
    from sqlalchemy.pool import NullPool

    app = load_app(spec, folders)
    app.config["SQLALCHEMY_DATABASE_URI"] = url
    extensions: dict[str, Any] = app.extensions
    had = "migrate" in extensions
    original = extensions.get("migrate")
    # NullPool: no connection outlives the env's ``with engine.connect()``.
    engine = create_engine(url, poolclass=NullPool)
    if had:
        extensions["migrate"] = _ScratchMigrate(original, engine)
    try:
        with app.app_context():
            yield
    finally:
        if had:
            extensions["migrate"] = original
        engine.dispose()


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0]
