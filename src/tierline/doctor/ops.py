"""Walk a revision file's functions and list every Alembic operation call with its context.

The context a rule needs: is the call made on a batch operations object (``with
op.batch_alter_table(...) as batch_op``), inside which ``try`` within that batch block, and
under which dialects it can run, from guards such as ``if dialect == "sqlite": ... return`` or
``if op.get_context().dialect.name != "sqlite":``.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import cast

from tierline.doctor.findings import DIALECT_ALIASES, DIALECTS

ALL_DIALECTS = DIALECTS


@dataclass(frozen=True, slots=True)
class OpCall:
    """``op.<name>(...)`` or ``batch_op.<name>(...)`` in function ``function``.

    ``batch`` is the ``batch_alter_table`` call whose block holds it (None outside batch mode);
    ``try_in_batch`` the ``try`` statement between that block and the call; ``dialects`` the
    dialects under which the call can run.
    """

    name: str
    call: ast.Call
    function: str
    batch: ast.Call | None
    try_in_batch: ast.Try | None
    dialects: frozenset[str]
    #: The calls written inside this one's arguments (``sa.Column(...)``, ``op.f(...)``).
    nested: list[ast.Call] = field(default_factory=list)

    @property
    def line(self) -> int:
        return self.call.lineno

    def positional(self, index: int) -> ast.expr | None:
        args = self.call.args
        return args[index] if index < len(args) else None

    def keyword(self, name: str) -> ast.expr | None:
        for kw in self.call.keywords:
            if kw.arg == name:
                return kw.value
        return None

    @property
    def table(self) -> str | None:
        """The table name written in the call (the batch's table in batch mode)."""
        source = self.batch if self.batch is not None else self.call
        value = None
        if self.batch is not None:
            value = source.args[0] if source.args else _kw(source, "table_name")
        elif self.name in {"add_column", "alter_column", "drop_column", "create_table"}:
            value = self.positional(0) or self.keyword("table_name")
        else:
            value = self.positional(1) or self.keyword("table_name") or self.keyword("source_table")
        return (
            value.value
            if isinstance(value, ast.Constant) and isinstance(value.value, str)
            else None
        )


def _kw(call: ast.Call, name: str) -> ast.expr | None:
    for kw in call.keywords:
        if kw.arg == name:
            return kw.value
    return None


def _normalise(name: str) -> str | None:
    name = DIALECT_ALIASES.get(name.lower(), name.lower())
    return name if name in ALL_DIALECTS or name in {"mssql", "oracle"} else None


def _dialect_strings(node: ast.expr) -> frozenset[str] | None:
    values: list[ast.expr]
    if isinstance(node, ast.Constant):
        values = [node]
    elif isinstance(node, ast.Tuple | ast.List | ast.Set):
        values = list(node.elts)
    else:
        return None
    names: set[str] = set()
    for value in values:
        if not (isinstance(value, ast.Constant) and isinstance(value.value, str)):
            return None
        normal = _normalise(value.value)
        if normal is None:
            return None
        names.add(normal)
    return frozenset(names & ALL_DIALECTS)


def dialects_where_true(test: ast.expr, known: dict[str, frozenset[str]]) -> frozenset[str] | None:
    """The dialects under which ``test`` is true, or None when it is not a dialect test."""
    if isinstance(test, ast.Name):
        return known.get(test.id)
    if isinstance(test, ast.UnaryOp) and isinstance(test.op, ast.Not):
        inner = dialects_where_true(test.operand, known)
        return None if inner is None else ALL_DIALECTS - inner
    if isinstance(test, ast.BoolOp):
        parts = [dialects_where_true(v, known) for v in test.values]
        if any(p is None for p in parts):
            return None
        sets = [p for p in parts if p is not None]
        if isinstance(test.op, ast.And):
            return frozenset.intersection(*sets)
        return frozenset.union(*sets)
    if isinstance(test, ast.Compare) and len(test.ops) == 1:
        names = _dialect_strings(test.comparators[0])
        if names is None:
            names = _dialect_strings(test.left)
        if names is None:
            return None
        op = test.ops[0]
        if isinstance(op, ast.Eq | ast.In | ast.Is):
            return names
        if isinstance(op, ast.NotEq | ast.NotIn | ast.IsNot):
            return ALL_DIALECTS - names
        return None
    if (
        isinstance(test, ast.Call)
        and isinstance(test.func, ast.Attribute)
        and test.func.attr == "startswith"
        and test.args
    ):
        return _dialect_strings(test.args[0])
    return None


def _terminates(body: list[ast.stmt]) -> bool:
    return bool(body) and isinstance(body[-1], ast.Return | ast.Raise)


def _batch_call(item: ast.withitem, op_names: set[str]) -> ast.Call | None:
    expr = item.context_expr
    if (
        isinstance(expr, ast.Call)
        and isinstance(expr.func, ast.Attribute)
        and expr.func.attr == "batch_alter_table"
        and _is_op(expr.func.value, op_names)
    ):
        return expr
    return None


def _is_op(node: ast.expr, op_names: set[str]) -> bool:
    if isinstance(node, ast.Name):
        return node.id in op_names
    # alembic.op.add_column(...)
    return isinstance(node, ast.Attribute) and node.attr == "op"


@dataclass(slots=True)
class _Scope:
    function: str
    batch_names: dict[str, ast.Call]
    current_batch: ast.Call | None
    try_in_batch: ast.Try | None
    dialects: frozenset[str]
    known: dict[str, frozenset[str]]


class _Walker:
    def __init__(self, op_names: set[str]) -> None:
        self.op_names = op_names
        self.calls: list[OpCall] = []
        self.longest_string = 0

    def block(self, body: list[ast.stmt], scope: _Scope) -> None:
        dialects = scope.dialects
        for stmt in body:
            here = _Scope(
                scope.function,
                scope.batch_names,
                scope.current_batch,
                scope.try_in_batch,
                dialects,
                scope.known,
            )
            self.statement(stmt, here)
            if isinstance(stmt, ast.If):
                truth = dialects_where_true(stmt.test, scope.known)
                if truth is not None:
                    if _terminates(stmt.body):
                        dialects = dialects - truth
                    if _terminates(stmt.orelse):
                        dialects = dialects & truth

    def statement(self, stmt: ast.stmt, scope: _Scope) -> None:
        if isinstance(stmt, ast.If):
            self.expressions(stmt.test, scope)
            truth = dialects_where_true(stmt.test, scope.known)
            if truth is None:
                self.block(stmt.body, scope)
                self.block(stmt.orelse, scope)
            else:
                self.block(stmt.body, _replace(scope, dialects=scope.dialects & truth))
                self.block(stmt.orelse, _replace(scope, dialects=scope.dialects - truth))
            return
        if isinstance(stmt, ast.With):
            names = dict(scope.batch_names)
            batch = scope.current_batch
            for item in stmt.items:
                self.expressions(item.context_expr, scope)
                found = _batch_call(item, self.op_names)
                if found is not None:
                    batch = found
                    if isinstance(item.optional_vars, ast.Name):
                        names[item.optional_vars.id] = found
            inner = _replace(scope, batch_names=names, current_batch=batch)
            if batch is not scope.current_batch:
                inner.try_in_batch = None
            self.block(stmt.body, inner)
            return
        if isinstance(stmt, ast.Try):
            inner = scope
            if scope.current_batch is not None and scope.try_in_batch is None:
                inner = _replace(scope, try_in_batch=stmt)
            self.block(stmt.body, inner)
            for handler in stmt.handlers:
                self.block(handler.body, scope)
            self.block(stmt.orelse, scope)
            self.block(stmt.finalbody, scope)
            return
        if isinstance(stmt, ast.FunctionDef):
            self.block(stmt.body, _replace(scope, function=stmt.name))
            return
        if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1:
            target = stmt.targets[0]
            if isinstance(target, ast.Name):
                truth = dialects_where_true(stmt.value, scope.known)
                if truth is not None:
                    scope.known[target.id] = truth
        for child in ast.iter_child_nodes(stmt):
            if isinstance(child, ast.stmt):
                self.statement(child, scope)
            elif isinstance(child, ast.expr):
                self.expressions(child, scope)

    def expressions(self, node: ast.AST, scope: _Scope, owner: OpCall | None = None) -> None:
        """Record the operation calls below ``node`` in one walk, each with its nested calls.

        Also keeps the length of the longest string literal seen (``longest_string``). A loop
        over a stack (children pushed in reverse: source order is kept), with the common node
        types taken apart by hand: a recursive walk of every field of every node was most of
        the static pass's own time.
        """
        stack: list[tuple[ast.AST, OpCall | None]] = [(node, owner)]
        push, pop = stack.append, stack.pop
        while stack:
            node, owner = pop()
            kind = type(node)
            if kind is ast.Constant:
                value = node.value  # type: ignore[attr-defined]
                if type(value) is str and len(value) > self.longest_string:
                    self.longest_string = len(value)
            elif kind is ast.Name:
                continue
            elif kind is ast.Attribute:
                push((node.value, owner))  # type: ignore[attr-defined]
            elif kind is ast.List or kind is ast.Tuple:
                for item in reversed(node.elts):  # type: ignore[attr-defined]
                    push((item, owner))
            elif kind is ast.Call:
                node = cast(ast.Call, node)
                if owner is None:
                    found = self._operation(node, scope)
                    if found is not None:
                        self.calls.append(found)
                        owner = found
                else:
                    owner.nested.append(node)
                for kw in reversed(node.keywords):
                    push((kw.value, owner))
                for arg in reversed(node.args):
                    push((arg, owner))
                push((node.func, owner))
            else:
                children: list[ast.AST] = []
                for name in node._fields:
                    value = getattr(node, name, None)
                    if isinstance(value, ast.AST):
                        if not isinstance(value, ast.expr_context):
                            children.append(value)
                    elif isinstance(value, list):
                        children.extend(item for item in value if isinstance(item, ast.AST))
                for child in reversed(children):
                    push((child, owner))

    def _operation(self, call: ast.Call, scope: _Scope) -> OpCall | None:
        if not isinstance(call.func, ast.Attribute):
            return None
        owner = call.func.value
        if isinstance(owner, ast.Name) and owner.id in scope.batch_names:
            return OpCall(
                call.func.attr,
                call,
                scope.function,
                scope.batch_names[owner.id],
                scope.try_in_batch,
                scope.dialects,
            )
        if _is_op(owner, self.op_names) and call.func.attr != "batch_alter_table":
            return OpCall(call.func.attr, call, scope.function, None, None, scope.dialects)
        return None


def _replace(scope: _Scope, **changes: object) -> _Scope:
    fresh = _Scope(
        scope.function,
        scope.batch_names,
        scope.current_batch,
        scope.try_in_batch,
        scope.dialects,
        dict(scope.known),
    )
    for key, value in changes.items():
        setattr(fresh, key, value)
    return fresh


def op_names(tree: ast.Module) -> set[str]:
    """The names ``op`` is bound to in this module (``from alembic import op as o``)."""
    names = {"op"}
    for node in tree.body:
        if isinstance(node, ast.ImportFrom) and node.module == "alembic":
            for alias in node.names:
                if alias.name == "op":
                    names.add(alias.asname or "op")
    return names


@dataclass(frozen=True, slots=True)
class OperationScan:
    """What one walk of a module's functions finds: the operation calls, in source order, and
    the length of the longest string literal in those functions (0 when there is none)."""

    calls: list[OpCall]
    longest_string: int


def scan_operations(tree: ast.Module) -> OperationScan:
    """Walk the module's functions once: see :class:`OperationScan`."""
    walker = _Walker(op_names(tree))
    for node in tree.body:
        if isinstance(node, ast.FunctionDef):
            walker.block(node.body, _Scope(node.name, {}, None, None, ALL_DIALECTS, {}))
    return OperationScan(walker.calls, walker.longest_string)


def operation_calls(tree: ast.Module) -> list[OpCall]:
    """Every Alembic operation called in the module's functions, in source order."""
    return scan_operations(tree).calls


def iter_calls(node: ast.AST) -> Iterator[ast.Call]:
    """Every call expression below ``node``."""
    for sub in ast.walk(node):
        if isinstance(sub, ast.Call):
            yield sub


def call_name(call: ast.Call) -> str | None:
    """``sa.UniqueConstraint(...)`` → ``UniqueConstraint``; ``Column(...)`` → ``Column``."""
    if isinstance(call.func, ast.Attribute):
        return call.func.attr
    if isinstance(call.func, ast.Name):
        return call.func.id
    return None
