"""The static pass on hostile chains: a FIFO where a Python file is expected never blocks it,
and a revision cycle (which Alembic refuses to load) is reported, not called healthy."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from tierline.doctor import Finding, check_chain

#: A guard against a hang, not a measurement: the pass takes milliseconds.
HANG_GUARD_SECONDS = 60


def _revision(versions: Path, rev: str, down: str | None) -> None:
    (versions / f"{rev}_step.py").write_text(
        f"revision = {rev!r}\ndown_revision = {down!r}\n\n\n"
        "def upgrade():\n    pass\n\n\ndef downgrade():\n    pass\n"
    )


def _check_without_hanging(chain: Path, fifo: Path) -> list[Finding]:
    found: list[list[Finding]] = []
    thread = threading.Thread(target=lambda: found.append(check_chain(chain)), daemon=True)
    thread.start()
    thread.join(HANG_GUARD_SECONDS)
    if thread.is_alive():
        # Unblock the reader stuck in open(), so the thread ends with the test.
        os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
        pytest.fail(f"check_chain blocked on the FIFO {fifo.name}")
    return found[0]


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs on this platform")
@pytest.mark.parametrize("where", ["project", "versions"])
def test_a_fifo_named_like_python_does_not_block_the_pass(tmp_path: Path, where: str) -> None:
    versions = tmp_path / "migrations" / "versions"
    versions.mkdir(parents=True)
    _revision(versions, "0001", None)
    folder = versions if where == "versions" else tmp_path / "tools"
    folder.mkdir(exist_ok=True)
    fifo = folder / "0002_pipe.py"
    os.mkfifo(fifo)
    assert _check_without_hanging(tmp_path / "migrations", fifo) == []


@pytest.mark.parametrize(
    "links",
    [
        [("0001", "0002"), ("0002", "0001")],
        [("0001", "0001")],
        [("0001", None), ("0002", "0004"), ("0003", "0002"), ("0004", "0003")],
    ],
    ids=["two", "self", "three-beside-a-base"],
)
def test_a_revision_cycle_is_a_broken_link(tmp_path: Path, links: list[tuple[str, str]]) -> None:
    versions = tmp_path / "migrations" / "versions"
    versions.mkdir(parents=True)
    for rev, down in links:
        _revision(versions, rev, down)
    found = check_chain(tmp_path / "migrations")
    on_cycle = {rev for rev, down in links if down is not None}
    flagged = {f.file.name.split("_")[0] for f in found if f.rule == "broken-revision-link"}
    assert flagged == on_cycle
    assert all("cycle" in f.message for f in found if f.rule == "broken-revision-link")
