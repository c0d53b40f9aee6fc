"""Time Tierline's migration chain from empty on SQLite (budget: under 2 s).

    uv run python -m benchmarks.migrations [--runs 10]

Each run migrates a new SQLite file from empty to head in-process (the CLI adds the
interpreter's start-up on top) and prints the median and percentiles.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from benchmarks.machine import describe, percentile
from tierline import db

BUDGET_S = 2.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=10)
    args = parser.parse_args()
    print(f"machine: {describe()}")
    timings: list[float] = []
    with tempfile.TemporaryDirectory() as tmp:
        for run in range(args.runs):
            url = f"sqlite:///{Path(tmp) / f'run{run}.db'}"
            start = time.perf_counter()
            db.upgrade(url)
            timings.append(time.perf_counter() - start)
    timings.sort()
    median = statistics.median(timings)
    print(f"migration chain, empty -> head on SQLite, {args.runs} runs:")
    print(
        f"  median {median * 1000:.0f} ms | p90 {percentile(timings, 90) * 1000:.0f} ms | "
        f"max {timings[-1] * 1000:.0f} ms | budget {BUDGET_S * 1000:.0f} ms | "
        f"{'OK' if median < BUDGET_S else 'OVER BUDGET'}"
    )


if __name__ == "__main__":
    main()
