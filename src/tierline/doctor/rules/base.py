"""What every rule gets: the parsed chain, the target dialects and each file's operation calls."""

from __future__ import annotations

import ast
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from tierline.doctor.chain import Chain, RevisionFile
from tierline.doctor.findings import Finding, Severity
from tierline.doctor.ops import OpCall, OperationScan, scan_operations


@dataclass(slots=True)
class CheckContext:
    """The chain under check and its target dialects (``sqlite``, ``postgresql``, ``mysql``)."""

    chain: Chain
    dialects: frozenset[str]
    _scans: dict[Path, OperationScan] = field(default_factory=dict)
    _convention: dict[str, str] | None = None
    _convention_read: bool = False

    def scan(self, revision: RevisionFile) -> OperationScan:
        """The revision's operation calls (and longest string), walked once for every rule."""
        found = self._scans.get(revision.path)
        if found is None:
            found = scan_operations(revision.tree)
            self._scans[revision.path] = found
        return found

    def calls(self, revision: RevisionFile) -> list[OpCall]:
        """The revision's operation calls, in source order."""
        return self.scan(revision).calls

    def naming_convention(self) -> dict[str, str] | None:
        """The app's naming convention when its env.py hands Alembic a ``target_metadata``
        (then Alembic names ``None``-named constraints by it), else None."""
        if not self._convention_read:
            from tierline.doctor.naming import env_passes_target_metadata, project_naming_convention

            location = self.chain.location
            if env_passes_target_metadata(location.script_location):
                self._convention = project_naming_convention(
                    location.project_root, location.script_location
                )
            self._convention_read = True
        return self._convention


#: A rule: reads the context, yields findings. Its stable name is the ``rule`` of its findings.
Rule = Callable[[CheckContext], Iterable[Finding]]


def finding(
    rule: str, path: Path, line: int, severity: Severity, message: str, fix: str
) -> Finding:
    """A :class:`Finding` (keeps the rule modules short)."""
    return Finding(rule=rule, file=path, line=line, severity=severity, message=message, fix=fix)


def literal(node: ast.expr | None) -> object:
    """The value of a literal expression (``None``, a string...), else the node itself."""
    if isinstance(node, ast.Constant):
        return node.value
    return node


def name_argument(call: OpCall) -> ast.expr | None:
    """The constraint/index name a call passes (first argument or ``constraint_name=``)."""
    for key in ("constraint_name", "index_name", "name"):
        value = call.keyword(key)
        if value is not None:
            return value
    return call.positional(0)


def unwrap_f(node: ast.expr | None) -> ast.expr | None:
    """``op.f("x")`` / ``batch_op.f("x")`` → ``"x"`` (``f`` marks a final name)."""
    if (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "f"
        and node.args
    ):
        return node.args[0]
    return node


def call_text(call: OpCall) -> str:
    """How the call reads in the report: ``batch_op.alter_column('name')``."""
    owner = "batch_op" if call.batch is not None else "op"
    first = call.positional(0)
    if isinstance(first, ast.Call):
        inner = ast.unparse(first.args[0]) if first.args else ""
        shown = f"{ast.unparse(first.func)}({inner}, ...)"
    else:
        shown = ast.unparse(first) if first is not None else ""
    if len(shown) > 60:
        shown = shown[:57] + "..."
    return f"{owner}.{call.name}({shown}{', ...' if len(call.call.args) > 1 else ''})"
