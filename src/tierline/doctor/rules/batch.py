"""Batch-mode rules: ``alter-outside-batch`` and ``try-in-batch``.

SQLite's ALTER TABLE cannot alter a column or add/drop a constraint; Alembic's batch mode
(``with op.batch_alter_table(...) as batch_op``) copies the table instead (Alembic docs,
"Running 'Batch' Migrations for SQLite and Other Databases"). Batch operations are collected
and run when the ``with`` block exits, so a ``try`` inside the block catches nothing.
SQLite 3.35+ has ``ALTER TABLE DROP COLUMN``, except for indexed or constrained columns.
"""

from __future__ import annotations

from collections.abc import Iterator

from tierline.doctor.findings import Finding, Severity
from tierline.doctor.rules.base import CheckContext, call_text, finding

ALTER_OUTSIDE_BATCH = "alter-outside-batch"
TRY_IN_BATCH = "try-in-batch"

#: Operations SQLite's ALTER TABLE cannot do; batch mode is the way.
SQLITE_NEEDS_BATCH = frozenset(
    {
        "alter_column",
        "create_unique_constraint",
        "create_foreign_key",
        "create_check_constraint",
        "create_primary_key",
        "drop_constraint",
    }
)


def alter_outside_batch(ctx: CheckContext) -> Iterator[Finding]:
    """ALTERs SQLite cannot run, called on ``op`` where SQLite is a target and can reach them."""
    if "sqlite" not in ctx.dialects:
        return
    for revision in ctx.chain.revisions:
        for call in ctx.calls(revision):
            if call.batch is not None or "sqlite" not in call.dialects:
                continue
            table = call.table or "<table>"
            fix = (
                f"move it into 'with op.batch_alter_table(\"{table}\") as batch_op:' and call "
                f"batch_op.{call.name}(...)"
            )
            if call.name in SQLITE_NEEDS_BATCH:
                yield finding(
                    ALTER_OUTSIDE_BATCH,
                    revision.path,
                    call.line,
                    Severity.ERROR,
                    f"{call_text(call)} outside batch mode: SQLite cannot ALTER this, so a fresh "
                    "SQLite database fails here",
                    fix,
                )
            elif call.name == "drop_column":
                yield finding(
                    ALTER_OUTSIDE_BATCH,
                    revision.path,
                    call.line,
                    Severity.WARNING,
                    f"{call_text(call)} outside batch mode: SQLite drops a column only from "
                    "3.35 on, and never one with an index or constraint",
                    fix,
                )


def try_in_batch(ctx: CheckContext) -> Iterator[Finding]:
    """A ``try`` inside a batch block around batch operations: it can never catch their errors."""
    for revision in ctx.chain.revisions:
        seen: set[int] = set()
        for call in ctx.calls(revision):
            block = call.try_in_batch
            if block is None or id(block) in seen or call.name == "f":
                continue
            seen.add(id(block))
            yield finding(
                TRY_IN_BATCH,
                revision.path,
                block.lineno,
                Severity.ERROR,
                f"try/except around {call_text(call)} inside batch_alter_table: batch "
                "operations run when the block exits, so this except never catches them",
                "remove the try/except; if the step is conditional, inspect the table first "
                "(sa.inspect(op.get_bind())) and decide before the batch block",
            )
