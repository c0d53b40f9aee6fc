"""Constraint names from a naming convention, as SQLAlchemy fills them.

SQLAlchemy documents the tokens (``%(table_name)s``, ``%(column_0_name)s``,
``%(column_0N_name)s``, ``%(column_0_N_name)s``, ``%(column_0_label)s``,
``%(referred_table_name)s``, ``%(constraint_name)s``) in "Configuring Constraint Naming
Conventions"; Alembic's operations build their constraints in a MetaData carrying the
``target_metadata``'s naming convention (``alembic.operations.schemaobj``), so a
``create_unique_constraint(None, ...)`` is named by it when the env passes that metadata.
"""

from __future__ import annotations

import ast
from pathlib import Path

from tierline.doctor.ops import OpCall
from tierline.doctor.rules.project import project_files

#: SQLAlchemy's recommended naming convention ("Configuring Constraint Naming Conventions").
DEFAULT_CONVENTION: dict[str, str] = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

CONSTRAINT_KIND = {
    "create_unique_constraint": "uq",
    "create_foreign_key": "fk",
    "create_primary_key": "pk",
}


def project_naming_convention(root: Path, exclude: Path) -> dict[str, str] | None:
    """The first ``{"uq": "...", "fk": "..."}`` dict literal in the project, if any."""
    for path in project_files(root, exclude):
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            continue
        if "naming_convention" not in text and "NAMING_CONVENTION" not in text:
            continue
        try:
            tree = ast.parse(text)
        except SyntaxError:
            continue
        for node in ast.walk(tree):
            if not isinstance(node, ast.Dict):
                continue
            pairs = {
                k.value: v.value
                for k, v in zip(node.keys, node.values, strict=True)
                if isinstance(k, ast.Constant)
                and isinstance(k.value, str)
                and isinstance(v, ast.Constant)
                and isinstance(v.value, str)
            }
            if pairs and set(pairs) <= set(DEFAULT_CONVENTION) and ("uq" in pairs or "fk" in pairs):
                return pairs
    return None


def _strings(node: ast.expr | None) -> list[str] | None:
    if isinstance(node, ast.List | ast.Tuple):
        values = [e.value for e in node.elts if isinstance(e, ast.Constant)]
        if len(values) == len(node.elts) and all(isinstance(v, str) for v in values):
            return [str(v) for v in values]
    return None


def literal_string(node: ast.expr | None) -> str | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    return None


def convention_name(
    pattern: str, table: str, columns: list[str], referred: str | None = None
) -> str | None:
    """Fill a naming-convention pattern; None when it needs a token this call does not give."""
    tokens: dict[str, str] = {"table_name": table}
    if columns:
        tokens |= {
            "column_0_name": columns[0],
            "column_0_label": f"{table}_{columns[0]}",
            "column_0N_name": "".join(columns),
            "column_0_N_name": "_".join(columns),
        }
    if referred is not None:
        tokens["referred_table_name"] = referred
    try:
        return pattern % tokens
    except (KeyError, ValueError, TypeError):
        return None


def creation_name(call: OpCall, convention: dict[str, str]) -> str | None:
    kind = CONSTRAINT_KIND.get(call.name)
    table = call.table
    if kind is None or table is None:
        return None
    batch = call.batch is not None
    shift = 0 if batch else 1  # op.<create>(name, table, ...) has the table before the columns
    referred: str | None = None
    if kind == "fk":
        referred = literal_string(call.positional(1 + shift) or call.keyword("referent_table"))
        columns = _strings(call.positional(2 + shift) or call.keyword("local_cols"))
    else:
        columns = _strings(call.positional(1 + shift) or call.keyword("columns"))
    if columns is None or (kind == "fk" and referred is None):
        return None
    pattern = convention.get(kind)
    if pattern is None:
        return None
    return convention_name(pattern, table, columns, referred)


def env_passes_target_metadata(script_location: Path) -> bool:
    """Whether the chain's env.py passes a ``target_metadata`` that is not ``None``."""
    try:
        tree = ast.parse((script_location / "env.py").read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, SyntaxError):
        return False
    assigned: dict[str, bool] = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            target = node.targets[0]
            if isinstance(target, ast.Name):
                value = node.value
                assigned[target.id] = not (isinstance(value, ast.Constant) and value.value is None)
    for sub in ast.walk(tree):
        if not (isinstance(sub, ast.Call) and isinstance(sub.func, ast.Attribute)):
            continue
        if sub.func.attr != "configure":
            continue
        for kw in sub.keywords:
            if kw.arg != "target_metadata":
                continue
            if isinstance(kw.value, ast.Name):
                return assigned.get(kw.value.id, True)
            return not (isinstance(kw.value, ast.Constant) and kw.value.value is None)
    return False
