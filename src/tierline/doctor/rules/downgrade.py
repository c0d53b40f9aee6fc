"""``irreversible-downgrade``: a ``downgrade()`` that is missing, empty, ``pass`` or raises.

``alembic downgrade`` then records the revision as undone while its changes stay, and the next
upgrade applies them a second time (failing on tables or columns that already exist).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator

from tierline.doctor.findings import Finding, Severity
from tierline.doctor.rules.base import CheckContext, finding

RULE = "irreversible-downgrade"


def _statements(function: ast.FunctionDef) -> list[ast.stmt]:
    """The body without docstrings, ``pass`` and ``...``."""
    kept: list[ast.stmt] = []
    for stmt in function.body:
        if isinstance(stmt, ast.Pass):
            continue
        if isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant):
            continue  # a docstring or a bare ``...``
        kept.append(stmt)
    return kept


def irreversible_downgrade(ctx: CheckContext) -> Iterator[Finding]:
    """Revisions whose upgrade does something but whose downgrade undoes nothing."""
    for revision in ctx.chain.revisions:
        upgrade = revision.functions.get("upgrade")
        if upgrade is None or not _statements(upgrade):
            continue  # a merge revision or an empty one: nothing to undo
        downgrade = revision.functions.get("downgrade")
        if downgrade is None:
            yield finding(
                RULE,
                revision.path,
                upgrade.lineno,
                Severity.ERROR,
                "no downgrade() function: alembic downgrade fails at this revision",
                "write a downgrade() that undoes upgrade() in reverse order",
            )
            continue
        body = _statements(downgrade)
        if not body:
            yield finding(
                RULE,
                revision.path,
                downgrade.lineno,
                Severity.ERROR,
                "downgrade() does nothing: alembic downgrade records the revision as undone "
                "while its changes stay, so upgrading again applies them a second time",
                "undo upgrade() in reverse order (drop what it adds, restore what it drops)",
            )
        elif isinstance(body[0], ast.Raise):
            yield finding(
                RULE,
                revision.path,
                body[0].lineno,
                Severity.ERROR,
                "downgrade() raises: the chain cannot be downgraded to base and upgraded again",
                "undo upgrade() in reverse order; keep data-destroying steps reversible "
                "(copy data aside first)",
            )
