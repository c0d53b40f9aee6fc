"""The static pass: read a chain's files and run every rule, executing nothing."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tierline.doctor.chain import read_chain
from tierline.doctor.findings import DIALECTS, Finding
from tierline.doctor.ignores import INVALID_IGNORE, apply_ignores
from tierline.doctor.rules import RULES, CheckContext


@contextmanager
def collector_paused() -> Iterator[None]:
    """Pause Python's cyclic garbage collector for the block (as it was before, after).

    Parsing a chain allocates hundreds of thousands of AST nodes; each allocation burst runs
    the collector, which walks every node still alive (about a quarter of the pass's CPU time
    on a 300-revision chain, benchmarks/doctor.py). AST nodes hold no cycles, so nothing is
    left for it to free; reference counting frees the trees as before.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def check_chain(path: Path | str, dialects: frozenset[str] = DIALECTS) -> list[Finding]:
    """Findings of every static rule on the chain at ``path``, sorted by file and line.

    ``path``: a ``versions/`` folder, a folder holding one, or an ``alembic.ini``.
    ``dialects``: the target dialects (subset of ``sqlite``, ``postgresql``, ``mysql``).
    Raises DoctorError when the path holds no chain or a revision file is not valid Python.
    """
    with collector_paused():
        chain = read_chain(Path(path))
        ctx = CheckContext(chain=chain, dialects=dialects)
        found: list[Finding] = []
        for rule in RULES.values():
            found.extend(rule(ctx))
    known = frozenset(RULES) | {INVALID_IGNORE, "revision-fails", "model-drift"}
    kept = apply_ignores(found, known)
    return sorted(kept, key=lambda f: (str(f.file), f.line, f.rule))
