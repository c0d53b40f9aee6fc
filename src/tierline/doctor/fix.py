"""``--fix``: the mechanical repairs, as edits to the revision files' text.

* ``unnamed-constraint``: a constraint created with name ``None`` gets the name the app's
  naming convention gives (a ``{"uq": ..., "fk": ...}`` dict literal found in the project),
  else SQLAlchemy's documented recommended convention (``uq_%(table_name)s_%(column_0_name)s``,
  ``fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s``, ``pk_%(table_name)s``); the
  matching ``drop_constraint(None, ...)`` of the downgrade, paired in reverse order as
  autogenerate writes them, gets the same name;
* ``alter-outside-batch``: consecutive ``op.<alter>("table", ...)`` statements on one table are
  moved into one ``with op.batch_alter_table("table") as batch_op:`` block.

Anything else (a guarded call, a computed table name, a check constraint whose name pattern
needs ``constraint_name``) is left for a person. Rewritten statements are rendered by
``ast.unparse``: their comments and line breaks are not kept.
"""

from __future__ import annotations

import ast
import copy
import difflib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from tierline.doctor.chain import RevisionFile, read_chain
from tierline.doctor.findings import DIALECTS
from tierline.doctor.naming import (
    CONSTRAINT_KIND,
    DEFAULT_CONVENTION,
    creation_name,
    literal_string,
    project_naming_convention,
)
from tierline.doctor.ops import OpCall, operation_calls
from tierline.doctor.rules.batch import SQLITE_NEEDS_BATCH

_DROP_TYPE = {"uq": "unique", "fk": "foreignkey", "pk": "primary"}

# Where the table argument sits in op.<name>(...); batch_op.<name>(...) has no table argument.
_TABLE_POSITION = {
    "alter_column": 0,
    "drop_column": 0,
    "create_unique_constraint": 1,
    "create_foreign_key": 1,
    "create_check_constraint": 1,
    "create_primary_key": 1,
    "drop_constraint": 1,
}
_TABLE_KEYWORD = {"create_foreign_key": "source_table"}


@dataclass(frozen=True, slots=True)
class FileFix:
    """One file's text before and after the mechanical fixes."""

    path: Path
    before: str
    after: str

    def diff(self, shown_as: str) -> str:
        """A unified diff, the file named ``shown_as``."""
        return "".join(
            difflib.unified_diff(
                self.before.splitlines(keepends=True),
                self.after.splitlines(keepends=True),
                fromfile=f"a/{shown_as}",
                tofile=f"b/{shown_as}",
            )
        )


def _is_none(node: ast.expr | None) -> bool:
    return isinstance(node, ast.Constant) and node.value is None


def _names(calls: list[OpCall], convention: dict[str, str]) -> dict[int, tuple[ast.expr, str]]:
    """id(call node) → (the ``None`` to replace, the new name)."""
    named: dict[int, tuple[ast.expr, str]] = {}
    created: dict[str, list[str]] = {}
    for call in calls:
        first = call.positional(0)
        if call.name in CONSTRAINT_KIND and first is not None and _is_none(first):
            name = creation_name(call, convention)
            if name is not None:
                named[id(call.call)] = (first, name)
                created.setdefault(_DROP_TYPE[CONSTRAINT_KIND[call.name]], []).append(name)
    drops: dict[str, list[OpCall]] = {}
    for call in calls:
        first = call.positional(0)
        type_ = literal_string(call.keyword("type_"))
        if call.name == "drop_constraint" and first is not None and _is_none(first) and type_:
            drops.setdefault(type_, []).append(call)
    for type_, dropped in drops.items():
        names = created.get(type_, [])
        if len(names) == len(dropped):
            for call, name in zip(dropped, reversed(names), strict=True):
                first = call.positional(0)
                assert first is not None
                named[id(call.call)] = (first, name)
    return named


def _statements(tree: ast.Module) -> Iterator[tuple[list[ast.stmt], int, ast.stmt]]:
    """Every statement with the body list holding it and its index there."""
    for node in ast.walk(tree):
        for field in ("body", "orelse", "finalbody"):
            body = getattr(node, field, None)
            if isinstance(body, list):
                for index, stmt in enumerate(body):
                    if isinstance(stmt, ast.stmt):
                        yield body, index, stmt


def _batch_call(call: OpCall, new_name: str | None) -> ast.Call | None:
    """``op.<name>("t", a, b, kw=...)`` → ``batch_op.<name>(a, b, kw=...)``."""
    node = copy.deepcopy(call.call)
    position = _TABLE_POSITION[call.name]
    keyword = _TABLE_KEYWORD.get(call.name, "table_name")
    if len(node.args) > position:
        del node.args[position]
    elif any(kw.arg == keyword for kw in node.keywords):
        node.keywords = [kw for kw in node.keywords if kw.arg != keyword]
    else:
        return None
    if new_name is not None and node.args and _is_none(node.args[0]):
        node.args[0] = ast.Constant(new_name)
    node.func = ast.Attribute(value=ast.Name("batch_op"), attr=call.name, ctx=ast.Load())
    return node


def _line_offsets(source: str) -> list[int]:
    offsets = [0]
    for line in source.splitlines(keepends=True):
        offsets.append(offsets[-1] + len(line))
    return offsets


def fix_revision(
    revision: RevisionFile, dialects: frozenset[str], convention: dict[str, str]
) -> str:
    """The revision's text with the mechanical fixes applied (unchanged when there are none)."""
    source = revision.source
    lines = source.splitlines(keepends=True)
    offsets = _line_offsets(source)
    calls = operation_calls(revision.tree)
    names = _names(calls, convention)
    by_node = {id(c.call): c for c in calls}
    edits: list[tuple[int, int, str]] = []  # (start offset, end offset, text)
    wrapped: set[int] = set()

    if "sqlite" in dialects:
        statements = list(_statements(revision.tree))
        index = 0
        while index < len(statements):
            body, position, _ = statements[index]
            group = _wrappable_run(body, position, by_node)
            if not group:
                index += 1
                continue
            first, last = group[0], group[-1]
            assert last.end_lineno is not None
            indent = lines[first.lineno - 1][: first.col_offset]
            table = by_node[id(first.value)].table  # type: ignore[attr-defined]
            block = [f'{indent}with op.batch_alter_table("{table}") as batch_op:\n']
            for stmt_ in group:
                call = by_node[id(stmt_.value)]  # type: ignore[attr-defined]
                new_name = names.get(id(call.call), (None, None))[1]
                rendered = _batch_call(call, new_name)
                assert rendered is not None
                block.append(f"{indent}    {ast.unparse(rendered)}\n")
                wrapped.add(id(call.call))
            edits.append((offsets[first.lineno - 1], offsets[last.end_lineno], "".join(block)))
            index += len(group)

    for node_id, (none_node, name) in names.items():
        if node_id in wrapped:
            continue
        assert none_node.end_lineno is not None and none_node.end_col_offset is not None
        start = offsets[none_node.lineno - 1] + _byte_to_char(lines, none_node, False)
        end = offsets[none_node.end_lineno - 1] + _byte_to_char(lines, none_node, True)
        edits.append((start, end, repr(name)))

    for start, end, text in sorted(edits, reverse=True):
        source = source[:start] + text + source[end:]
    return source


def _byte_to_char(lines: list[str], node: ast.expr, end: bool) -> int:
    """ast gives UTF-8 byte columns; turn one into a character column."""
    line = lines[(node.end_lineno if end else node.lineno) - 1]  # type: ignore[operator]
    column = node.end_col_offset if end else node.col_offset
    assert column is not None
    return len(line.encode("utf-8")[:column].decode("utf-8", errors="ignore"))


def _wrappable(stmt: ast.stmt, by_node: dict[int, OpCall]) -> OpCall | None:
    if not (isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Call)):
        return None
    call = by_node.get(id(stmt.value))
    if call is None or call.batch is not None or "sqlite" not in call.dialects:
        return None
    if call.name not in SQLITE_NEEDS_BATCH and call.name != "drop_column":
        return None
    if call.table is None or _batch_call(call, None) is None:
        return None
    return call


def _wrappable_run(
    body: list[ast.stmt], position: int, by_node: dict[int, OpCall]
) -> list[ast.stmt]:
    first = _wrappable(body[position], by_node)
    if first is None:
        return []
    run = [body[position]]
    for stmt in body[position + 1 :]:
        call = _wrappable(stmt, by_node)
        if call is None or call.table != first.table:
            break
        run.append(stmt)
    return run


def plan_fixes(path: Path | str, dialects: frozenset[str] = DIALECTS) -> list[FileFix]:
    """The files the mechanical fixes would change, with their new text (nothing is written)."""
    chain = read_chain(Path(path))
    location = chain.location
    found = project_naming_convention(location.project_root, location.script_location)
    convention = DEFAULT_CONVENTION | (found or {})
    fixes = []
    for revision in chain.revisions:
        after = fix_revision(revision, dialects, convention)
        if after != revision.source:
            fixes.append(FileFix(revision.path, revision.source, after))
    return fixes
