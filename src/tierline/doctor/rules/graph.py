"""Revision-graph rules: ``multiple-heads`` and ``broken-revision-link``.

Alembic links revisions through ``down_revision``; a revision no other one revises is a head,
and ``alembic upgrade head`` refuses to run with more than one ("Multiple head revisions are
present"): two branches need a merge revision (``alembic merge``). Alembic's default file name
template is ``%(rev)s_%(slug)s``, so a file name starting with an id names its revision.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from tierline.doctor.chain import RevisionFile
from tierline.doctor.findings import Finding, Severity
from tierline.doctor.rules.base import CheckContext, finding

MULTIPLE_HEADS = "multiple-heads"
BROKEN_REVISION_LINK = "broken-revision-link"

_VALID_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")
_PLACEHOLDER_WORDS = re.compile(
    r"x{3,}|todo|placeholder|revision_id|your_|fixme|changeme", re.IGNORECASE
)
_HEX_ID = re.compile(r"^[0-9a-f]{12}$")
_DATE_PREFIX = re.compile(r"^\d{4}_\d{2}_\d{2}")


def is_placeholder(value: str) -> bool:
    """``'<NEW_REVISION_ID_HERE>'``, ``'xxxx'``, ``'put the current head here'``..."""
    return not _VALID_ID.match(value) or bool(_PLACEHOLDER_WORDS.search(value))


def file_name_id(revision: RevisionFile) -> str | None:
    """The revision id a file name carries (``3f2a9c1d0b7e_add_x.py``, ``0005_widen.py``)."""
    stem = revision.path.stem
    if _DATE_PREFIX.match(stem):
        return None
    first = stem.split("_", 1)[0]
    if _HEX_ID.match(first) or (first.isascii() and first.isdigit() and len(first) <= 6):
        return first
    return None


def _carries(stem: str, revision: str) -> bool:
    tokens = stem.split("_")
    wanted = revision.split("_")
    return any(tokens[i : i + len(wanted)] == wanted for i in range(len(tokens)))


def broken_revision_link(ctx: CheckContext) -> Iterator[Finding]:
    """Missing or placeholder ids, dangling ``down_revision``, ids differing from the file name,
    duplicate ids."""
    revisions = ctx.chain.revisions
    known = {r.revision for r in revisions if r.revision is not None}
    first_file: dict[str, RevisionFile] = {}
    for rev in revisions:
        if not rev.has_revision:
            yield finding(
                BROKEN_REVISION_LINK,
                rev.path,
                1,
                Severity.ERROR,
                "no 'revision = ...' in this file: Alembic cannot load it",
                "declare revision = '<id>' and down_revision = '<previous id>'",
            )
            continue
        if rev.revision is None:
            continue
        if is_placeholder(rev.revision):
            yield finding(
                BROKEN_REVISION_LINK,
                rev.path,
                rev.revision_line,
                Severity.ERROR,
                f"revision = {rev.revision!r} is a placeholder, not a revision id",
                f"set revision = {carried!r} (the id in the file name)"
                if (carried := file_name_id(rev))
                else "generate a real id (alembic revision) and use it here and in the file name",
            )
        else:
            carried = file_name_id(rev)
            if carried is not None and not _carries(rev.path.stem, rev.revision):
                yield finding(
                    BROKEN_REVISION_LINK,
                    rev.path,
                    rev.revision_line,
                    Severity.ERROR,
                    f"revision = {rev.revision!r} differs from the id {carried!r} in the file "
                    "name: a copied file, or an edited id",
                    f"set revision = {carried!r} or rename the file, and fix the revisions "
                    "that point at it",
                )
        earlier = first_file.get(rev.revision)
        if earlier is not None:
            yield finding(
                BROKEN_REVISION_LINK,
                rev.path,
                rev.revision_line,
                Severity.ERROR,
                f"revision id {rev.revision!r} is also used by {earlier.path.name}",
                "give this revision a new id (alembic revision generates one)",
            )
        else:
            first_file[rev.revision] = rev
        for down in rev.down_revisions:
            if is_placeholder(down):
                yield finding(
                    BROKEN_REVISION_LINK,
                    rev.path,
                    rev.down_revision_line,
                    Severity.ERROR,
                    f"down_revision = {down!r} is a placeholder, not a revision id",
                    "set it to the current head's id (alembic heads)",
                )
            elif down not in known:
                yield finding(
                    BROKEN_REVISION_LINK,
                    rev.path,
                    rev.down_revision_line,
                    Severity.ERROR,
                    f"down_revision = {down!r} names no revision of this chain",
                    "set it to an existing revision id (alembic heads lists the current head)",
                )
    yield from _cycles(first_file)


def _cycles(by_id: dict[str, RevisionFile]) -> Iterator[Finding]:
    """Revisions on a ``down_revision`` cycle: Alembic refuses to load such a chain ("Cycle is
    detected in revisions", "Self-loop is detected")."""
    # Peel off, repeatedly, every revision whose down revisions are all peeled (or unknown:
    # that is a dangling link, reported above); what stays is on a cycle or after one.
    downs = {rev: [d for d in r.down_revisions if d in by_id] for rev, r in by_id.items()}
    waiting = {rev: len(wanted) for rev, wanted in downs.items()}
    children: dict[str, list[str]] = {}
    for rev, wanted in downs.items():
        for down in wanted:
            children.setdefault(down, []).append(rev)
    ready = [rev for rev, count in waiting.items() if count == 0]
    peeled: set[str] = set()
    while ready:
        rev = ready.pop()
        peeled.add(rev)
        for child in children.get(rev, ()):
            waiting[child] -= 1
            if waiting[child] == 0:
                ready.append(child)
    for rev in sorted(set(downs) - peeled):
        path = _path_back(rev, downs, peeled)
        if path is None:
            continue  # after a cycle, not on one
        r = by_id[rev]
        yield finding(
            BROKEN_REVISION_LINK,
            r.path,
            r.down_revision_line,
            Severity.ERROR,
            f"down_revision makes a cycle: {' -> '.join([rev, *path])}; Alembic cannot "
            "load a chain whose revisions revise each other",
            "point down_revision at the revision this one really follows (the base has None)",
        )


def _path_back(start: str, downs: dict[str, list[str]], peeled: set[str]) -> list[str] | None:
    """The down revisions leading from ``start`` back to itself, or ``None``."""
    stack: list[tuple[str, list[str]]] = [(start, [])]
    seen: set[str] = set()
    while stack:
        rev, path = stack.pop()
        for down in downs[rev]:
            if down == start:
                return [*path, down]
            if down not in peeled and down not in seen:
                seen.add(down)
                stack.append((down, [*path, down]))
    return None


def multiple_heads(ctx: CheckContext) -> Iterator[Finding]:
    """More than one head: branches that no merge revision joins."""
    # Revisions with a broken link are broken-revision-link's; one file per id.
    unique = {r.revision: r for r in reversed(ctx.chain.revisions) if r.revision is not None}
    known = set(unique)
    revisions = [
        r
        for r in unique.values()
        if all(d in known and not is_placeholder(d) for d in r.down_revisions)
        and not is_placeholder(r.revision or "")
    ]
    revised = {down for r in revisions for down in r.down_revisions}
    heads = [r for r in revisions if r.revision not in revised]
    if len(heads) < 2:
        return
    by_id = {r.revision: r for r in revisions}
    children: dict[str, list[str]] = {}
    for r in revisions:
        for down in r.down_revisions:
            children.setdefault(down, []).append(r.revision or "")
    if all(_labelled_branch(head, by_id) for head in heads):
        return  # independent branches, each with a branch label: Alembic's multi-base design
    ids = sorted(h.revision or "" for h in heads)
    names = ", ".join(ids)
    forks = sorted(k for k, v in children.items() if len(v) > 1)
    where = f" (they fork at {', '.join(forks)})" if forks else ""
    for head in heads:
        yield finding(
            MULTIPLE_HEADS,
            head.path,
            head.revision_line,
            Severity.ERROR,
            f"{len(heads)} heads: {names}{where}; 'alembic upgrade head' refuses to run",
            f"add a merge revision: alembic merge -m 'merge heads' {' '.join(ids)}",
        )


def _labelled_branch(head: RevisionFile, by_id: dict[str | None, RevisionFile]) -> bool:
    current: RevisionFile | None = head
    seen: set[str] = set()
    while current is not None and current.revision not in seen:
        if current.branch_labels:
            return True
        seen.add(current.revision or "")
        if len(current.down_revisions) != 1:
            return False
        current = by_id.get(current.down_revisions[0])
    return False
