"""The CLI run as its own process, with none of the caller's ``TIERLINE_`` settings."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping, Sequence


def run_process(
    args: Sequence[str],
    *,
    settings: Mapping[str, str] | None = None,
    entry: Sequence[str] = ("-m", "tierline"),
) -> subprocess.CompletedProcess[str]:
    """``python <entry> <args>``: the environment without any ``TIERLINE_`` variable, plus
    ``settings``; its output captured as text (two minutes at most)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TIERLINE_")}
    env.update(settings or {})
    return subprocess.run(
        [sys.executable, *entry, *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
