"""Name rules: ``identifier-too-long`` and ``dialect-dependent-name``.

PostgreSQL truncates identifiers to 63 bytes (NAMEDATALEN - 1, "Identifiers and Key Words"),
MySQL/MariaDB refuse names over 64 characters ("Identifier Length Limits"), and SQLAlchemy
refuses to render an explicit constraint or index name over the dialect's limit. A constraint
created without a name is named by the database, differently on each dialect (PostgreSQL
``<table>_<column>_key``, MySQL the column name, SQLite none), so dropping it later works on
one dialect only.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator

from tierline.doctor.findings import Finding, Severity
from tierline.doctor.ops import OpCall, call_name
from tierline.doctor.rules.base import CheckContext, call_text, finding, unwrap_f

IDENTIFIER_TOO_LONG = "identifier-too-long"
DIALECT_DEPENDENT_NAME = "dialect-dependent-name"

#: Longest identifier each dialect keeps as written.
IDENTIFIER_LIMITS: dict[str, int] = {"postgresql": 63, "mysql": 64}

_NAMED_FIRST = frozenset(
    {
        "create_table",
        "create_index",
        "create_unique_constraint",
        "create_foreign_key",
        "create_check_constraint",
        "create_primary_key",
        "create_exclude_constraint",
    }
)
_INLINE_CONSTRAINTS = frozenset({"UniqueConstraint", "ForeignKeyConstraint", "CheckConstraint"})


def _string(node: ast.expr | None) -> str | None:
    node = unwrap_f(node)
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    return None


def _names(call: OpCall) -> Iterator[tuple[str, int]]:
    """Every identifier the call writes, with its line."""
    if call.name in _NAMED_FIRST:
        first = _string(call.positional(0))
        if first is not None:
            yield first, call.line
    for key in ("new_column_name", "new_table_name"):
        value = _string(call.keyword(key))
        if value is not None:
            yield value, call.line
    if call.name == "rename_table":
        value = _string(call.positional(1))
        if value is not None:
            yield value, call.line
    for sub in call.nested:
        for kw in sub.keywords:
            if kw.arg == "name":
                value = _string(kw.value)
                if value is not None:
                    yield value, sub.lineno
        if call_name(sub) == "Column" and sub.args:
            value = _string(sub.args[0])
            if value is not None:
                yield value, sub.lineno


def identifier_too_long(ctx: CheckContext) -> Iterator[Finding]:
    """Names longer than a target dialect keeps."""
    limits = {d: n for d, n in IDENTIFIER_LIMITS.items() if d in ctx.dialects}
    if not limits:
        return
    shortest = min(limits.values())
    for revision in ctx.chain.revisions:
        if ctx.scan(revision).longest_string <= shortest:
            continue  # every name is a string literal of these functions: none is too long
        for call in ctx.calls(revision):
            for name, line in _names(call):
                if len(name) <= shortest:
                    continue
                over = [f"{d} ({n})" for d, n in sorted(limits.items()) if len(name) > n]
                yield finding(
                    IDENTIFIER_TOO_LONG,
                    revision.path,
                    line,
                    Severity.ERROR,
                    f"{call_text(call)}: name {name!r} is {len(name)} characters, over the "
                    f"limit of {', '.join(over)}",
                    f"shorten it to at most {shortest} characters (abbreviate table or column "
                    "parts; keep the uq_/fk_/ix_ prefix)",
                )


def _has_name(call: ast.Call) -> bool:
    for kw in call.keywords:
        if kw.arg == "name":
            return not (isinstance(kw.value, ast.Constant) and kw.value.value is None)
    return False


def dialect_dependent_name(ctx: CheckContext) -> Iterator[Finding]:
    """Unnamed inline constraints in ``create_table``/``add_column``: the database names them."""
    for revision in ctx.chain.revisions:
        for call in ctx.calls(revision):
            if call.name not in {"create_table", "add_column"}:
                continue
            for sub in call.nested:
                kind = call_name(sub)
                what: str | None = None
                if kind in _INLINE_CONSTRAINTS and not _has_name(sub):
                    what = f"sa.{kind}({ast.unparse(sub.args[0]) if sub.args else ''}...)"
                elif kind == "ForeignKey" and not _has_name(sub):
                    what = f"sa.ForeignKey({ast.unparse(sub.args[0]) if sub.args else ''})"
                elif kind == "Column":
                    unique = next((k.value for k in sub.keywords if k.arg == "unique"), None)
                    if isinstance(unique, ast.Constant) and unique.value is True:
                        col = ast.unparse(sub.args[0]) if sub.args else "column"
                        what = f"sa.Column({col}, ..., unique=True)"
                if what is None:
                    continue
                yield finding(
                    DIALECT_DEPENDENT_NAME,
                    revision.path,
                    sub.lineno,
                    Severity.WARNING,
                    f"{what} in {call_text(call)} has no name: each dialect names it "
                    "differently, so a later revision cannot drop it on all of them",
                    "give it name='uq_<table>_<column>' / 'fk_<table>_<column>_<referred>' / "
                    "'ck_<table>_<what>' (or set a naming convention on the metadata)",
                )
