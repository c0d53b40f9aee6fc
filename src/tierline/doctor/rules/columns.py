"""``not-null-without-default``: ``add_column`` of a NOT NULL column with no server default.

The existing rows have no value for it: PostgreSQL and MySQL refuse the ALTER on a non-empty
table, SQLite refuses ``ADD COLUMN ... NOT NULL`` without a default even on an empty one, and a
batch-mode copy fails as soon as a row exists. A Python-side ``default=`` is not in the schema.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator

from tierline.doctor.findings import Finding, Severity
from tierline.doctor.ops import call_name
from tierline.doctor.rules.base import CheckContext, call_text, finding

RULE = "not-null-without-default"


def _column(call: ast.Call) -> ast.Call | None:
    for arg in [*call.args, *(kw.value for kw in call.keywords if kw.arg == "column")]:
        if isinstance(arg, ast.Call) and call_name(arg) == "Column":
            return arg
    return None


def _kw(call: ast.Call, name: str) -> ast.expr | None:
    return next((kw.value for kw in call.keywords if kw.arg == name), None)


def not_null_without_default(ctx: CheckContext) -> Iterator[Finding]:
    """``add_column(sa.Column(..., nullable=False))`` without ``server_default`` on a table the
    revision did not create."""
    for revision in ctx.chain.revisions:
        created: set[str] = set()
        for call in ctx.calls(revision):
            if call.name == "create_table" and call.table is not None:
                created.add(call.table)
                continue
            if call.name != "add_column" or call.table in created:
                continue
            column = _column(call.call)
            if column is None:
                continue
            nullable = _kw(column, "nullable")
            if not (isinstance(nullable, ast.Constant) and nullable.value is False):
                continue
            if _kw(column, "server_default") is not None:
                continue
            primary = _kw(column, "primary_key")
            if isinstance(primary, ast.Constant) and primary.value is True:
                continue
            name = column.args[0] if column.args else None
            shown = ast.unparse(name) if name is not None else "column"
            yield finding(
                RULE,
                revision.path,
                call.line,
                Severity.ERROR,
                f"{call_text(call)} adds NOT NULL column {shown} with no server_default: "
                "existing rows have no value for it",
                "add server_default=... (drop it afterwards with alter_column if unwanted), or "
                "add it nullable, backfill, then alter_column(nullable=False)",
            )
