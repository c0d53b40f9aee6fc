"""Find a host app's Alembic chain on disk and read its revision files (without running them).

A chain is given as its ``versions/`` folder, a folder holding one (Alembic's ``alembic/`` or
Flask-Migrate's ``migrations/``), or an ``alembic.ini`` whose ``script_location`` names the
folder (Alembic documents ``%(here)s`` as the ini file's own folder).
"""

from __future__ import annotations

import ast
import configparser
from dataclasses import dataclass, field
from pathlib import Path

from tierline.doctor.findings import DoctorError


@dataclass(frozen=True, slots=True)
class ChainLocation:
    """Where a chain lives: its ``versions/`` folder, its script folder, and the project around it.

    ``project_root`` is the folder holding the script folder: the app and tests scanned by the
    ``chain-not-run-from-empty`` rule. ``alembic_ini`` is None when the chain has none
    (Flask-Migrate keeps its own ``alembic.ini`` inside ``migrations/``).
    """

    versions: Path
    script_location: Path
    project_root: Path
    alembic_ini: Path | None


def locate_chain(path: Path) -> ChainLocation:
    """The chain at ``path``; raises DoctorError naming the path when there is none."""
    if not path.exists():
        raise DoctorError(
            f"{path} does not exist; give a versions/ folder, a folder holding one, "
            "or an alembic.ini"
        )
    path = path.resolve()
    if path.is_file():
        if path.suffix != ".ini":
            raise DoctorError(
                f"{path} is a file but not an alembic.ini; give a versions/ folder, "
                "a folder holding one, or an alembic.ini"
            )
        return _from_ini(path)
    if (path / "versions").is_dir():
        return _location(path / "versions", ini=_ini_in(path))
    if (path / "alembic.ini").is_file():
        return _from_ini(path / "alembic.ini")
    if path.name == "versions" or (path.parent / "env.py").is_file():
        return _location(path, ini=_ini_in(path.parent))
    if _holds_revisions(path):
        # A version_locations folder: the chain is this folder alone, the project around it.
        return ChainLocation(
            versions=path, script_location=path, project_root=path.parent, alembic_ini=None
        )
    raise DoctorError(
        f"{path} holds no versions/ folder and no alembic.ini; give a versions/ "
        "folder, a folder holding one, or an alembic.ini"
    )


def _holds_revisions(folder: Path) -> bool:
    """A folder of revision files under another name (a ``version_locations`` entry)."""
    for file in folder.glob("*.py"):
        try:
            head = file.read_text(encoding="utf-8", errors="replace")[:4000]
        except OSError:
            continue
        if "down_revision" in head:
            return True
    return False


def _ini_in(folder: Path) -> Path | None:
    """Flask-Migrate's ``migrations/alembic.ini``, or one beside the script folder naming it."""
    own = folder / "alembic.ini"
    if own.is_file():
        return own
    beside = folder.parent / "alembic.ini"
    if beside.is_file():
        try:
            if _script_location(beside).resolve() == folder.resolve():
                return beside
        except DoctorError:
            return None
    return None


def _location(versions: Path, ini: Path | None) -> ChainLocation:
    script = versions.parent
    return ChainLocation(
        versions=versions, script_location=script, project_root=script.parent, alembic_ini=ini
    )


def _script_location(ini: Path) -> Path:
    parser = configparser.ConfigParser(interpolation=None)
    try:
        parser.read(ini, encoding="utf-8")
    except configparser.Error as exc:
        raise DoctorError(f"{ini} is not a readable ini file: {exc}".splitlines()[0]) from exc
    if not parser.has_option("alembic", "script_location"):
        raise DoctorError(f"{ini} has no script_location in its [alembic] section")
    # Alembic reads a relative location from the working directory; apps run it beside the ini.
    raw = parser.get("alembic", "script_location").replace("%(here)s", str(ini.parent.resolve()))
    if ":" in raw and not Path(raw).is_absolute() and not Path(raw).exists():
        raise DoctorError(f"{ini} names a package resource ({raw}); give its versions/ folder")
    location = Path(raw)
    return location if location.is_absolute() else ini.parent / location


def _from_ini(ini: Path) -> ChainLocation:
    script = _script_location(ini)
    versions = script / "versions"
    if not versions.is_dir():
        raise DoctorError(f"{ini} names script_location {script}, which has no versions/ folder")
    root = ini.parent if ini.parent != script else script.parent
    return ChainLocation(
        versions=versions, script_location=script, project_root=root, alembic_ini=ini
    )


@dataclass(slots=True)
class RevisionFile:
    """One parsed revision file: its ids as written (None when absent or not a literal)."""

    path: Path
    source: str
    tree: ast.Module
    revision: str | None
    revision_line: int
    down_revisions: tuple[str, ...]
    down_revision_line: int
    has_revision: bool
    branch_labels: tuple[str, ...] = ()
    functions: dict[str, ast.FunctionDef] = field(default_factory=dict)

    @property
    def lines(self) -> list[str]:
        return self.source.splitlines()


def revision_files(versions: Path) -> list[Path]:
    """The ``.py`` files Alembic would load (it skips ``__init__.py``), sorted by name."""
    found = [
        p
        for p in versions.rglob("*.py")
        # is_file(): a FIFO or device named *.py would block (or never end) the read.
        if p.name != "__init__.py" and "__pycache__" not in p.parts and p.is_file()
    ]
    return sorted(found)


def read_revision(path: Path) -> RevisionFile:
    """Parse one revision file; raises DoctorError when it is not valid Python."""
    try:
        source = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise DoctorError(f"cannot read {path}: {exc}") from exc
    try:
        tree = ast.parse(source, filename=str(path))
    except SyntaxError as exc:
        raise DoctorError(f"{path}:{exc.lineno}: not valid Python: {exc.msg}") from exc
    revision: str | None = None
    revision_line = 1
    has_revision = False
    downs: tuple[str, ...] = ()
    down_line = 1
    labels: tuple[str, ...] = ()
    functions: dict[str, ast.FunctionDef] = {}
    for node in tree.body:
        if isinstance(node, ast.FunctionDef):
            functions[node.name] = node
            continue
        target, value = _assignment(node)
        if target == "revision":
            has_revision = True
            revision_line = node.lineno
            if isinstance(value, ast.Constant) and isinstance(value.value, str):
                revision = value.value
        elif target == "down_revision":
            down_line = node.lineno
            downs = _strings(value)
        elif target == "branch_labels":
            labels = _strings(value)
    return RevisionFile(
        path=path,
        source=source,
        tree=tree,
        revision=revision,
        revision_line=revision_line,
        down_revisions=downs,
        down_revision_line=down_line,
        has_revision=has_revision,
        branch_labels=labels,
        functions=functions,
    )


def _assignment(node: ast.stmt) -> tuple[str | None, ast.expr | None]:
    if isinstance(node, ast.Assign) and len(node.targets) == 1:
        target = node.targets[0]
        if isinstance(target, ast.Name):
            return target.id, node.value
    if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
        return node.target.id, node.value
    return None, None


def _strings(value: ast.expr | None) -> tuple[str, ...]:
    if isinstance(value, ast.Constant) and isinstance(value.value, str):
        return (value.value,)
    if isinstance(value, ast.Tuple | ast.List):
        return tuple(
            e.value for e in value.elts if isinstance(e, ast.Constant) and isinstance(e.value, str)
        )
    return ()


@dataclass(frozen=True, slots=True)
class Chain:
    """A located chain and its parsed revision files."""

    location: ChainLocation
    revisions: tuple[RevisionFile, ...]


def read_chain(path: Path) -> Chain:
    """Locate and parse the chain at ``path`` (see :func:`locate_chain`)."""
    location = locate_chain(path)
    files = revision_files(location.versions)
    return Chain(location=location, revisions=tuple(read_revision(p) for p in files))
