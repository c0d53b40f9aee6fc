"""``unnamed-constraint``: a constraint created or dropped with the name ``None``.

Alembic's batch mode copies the table and needs every constraint's name ("Constraint must have
a name", raised by ``batch_op.create_unique_constraint(None, ...)``); outside batch mode each
dialect makes up its own name, so the revision that later drops it works on one dialect only.
Alembic's docs ("The Importance of Naming Constraints") recommend explicit names or a naming
convention on the metadata. A creation the app's naming convention provably names (env.py
passes a ``target_metadata`` and the project declares a convention whose pattern this call
fills) is not reported; a drop with ``None`` always is.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator

from tierline.doctor.findings import Finding, Severity
from tierline.doctor.naming import creation_name
from tierline.doctor.rules.base import CheckContext, call_text, finding, name_argument, unwrap_f

RULE = "unnamed-constraint"

CONSTRAINT_OPS = frozenset(
    {
        "create_unique_constraint",
        "create_foreign_key",
        "create_check_constraint",
        "create_primary_key",
        "create_exclude_constraint",
        "drop_constraint",
    }
)

_PREFIX = {
    "create_unique_constraint": "uq",
    "create_foreign_key": "fk",
    "create_check_constraint": "ck",
    "create_primary_key": "pk",
    "create_exclude_constraint": "ex",
    "drop_constraint": "uq/fk/ck",
}


def unnamed_constraint(ctx: CheckContext) -> Iterator[Finding]:
    """Constraint operations whose name is the literal ``None`` (or is missing)."""
    for revision in ctx.chain.revisions:
        for call in ctx.calls(revision):
            if call.name not in CONSTRAINT_OPS:
                continue
            name = unwrap_f(name_argument(call))
            if name is not None and not (isinstance(name, ast.Constant) and name.value is None):
                continue
            convention = ctx.naming_convention()
            if convention and creation_name(call, convention) is not None:
                continue  # the target metadata's naming convention names it
            table = call.table or "table"
            prefix = _PREFIX[call.name]
            yield finding(
                RULE,
                revision.path,
                call.line,
                Severity.ERROR,
                f"{call_text(call)} has no constraint name: batch mode fails with "
                "'Constraint must have a name', and each dialect names it differently",
                f"pass an explicit name such as '{prefix}_{table}_<columns>' (the one your "
                "naming convention would give)",
            )
