"""Time whole-process start-up: ``import tierline`` and ``tierline --help`` against comparators.

    uv run python -m benchmarks.startup [--repeats 21]

Runs, interleaved so that machine load hits every command alike, ``--repeats`` times each:

- ``python -c "import tierline"`` (goal: under 150 ms),
- ``python -c "pass"`` (the interpreter alone, for reference),
- ``tierline --help`` (goal: within 1.5x of the minimal Typer app),
- a minimal Typer app's ``--help`` (one command, same interpreter and Typer),
- ``alembic --help`` (for reference).

Every run is a new process, so this measures what a user waits for, bytecode caches included
(install with ``uv sync --compile-bytecode``, or the first run of each pays for compiling).
Prints the median and 95th percentile of each, and the ratios to the goals' comparators.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.machine import describe, percentile

IMPORT_GOAL_MS = 150.0
HELP_GOAL_RATIO = 1.5

_MINIMAL_TYPER_APP = '''
import typer

app = typer.Typer()


@app.command()
def hello(name: str) -> None:
    """Say hello."""
    typer.echo(f"hello {name}")


@app.command()
def bye(name: str) -> None:
    """Say goodbye."""
    typer.echo(f"bye {name}")


app()
'''


def commands(workdir: Path) -> dict[str, list[str]]:
    """Each timed command line, by the name the report prints."""
    minimal = workdir / "minimal_typer_app.py"
    minimal.write_text(_MINIMAL_TYPER_APP, encoding="utf-8")
    bindir = Path(sys.executable).parent
    return {
        "python -c pass": [sys.executable, "-c", "pass"],
        "import tierline": [sys.executable, "-c", "import tierline"],
        "tierline --help": [str(bindir / "tierline"), "--help"],
        "minimal Typer --help": [sys.executable, str(minimal), "--help"],
        "alembic --help": [str(bindir / "alembic"), "--help"],
    }


def time_once(argv: list[str], cwd: Path) -> float:
    """Wall-clock seconds for one run of ``argv`` to exit (it must exit 0)."""
    start = time.perf_counter()
    # Our own fixed command lines (the interpreter, the installed scripts), no user input.
    subprocess.run(  # noqa: S603
        argv, cwd=cwd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=21)
    args = parser.parse_args()
    print(describe())
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        lines = commands(workdir)
        for argv in lines.values():  # warm-up: bytecode caches and the page cache
            time_once(argv, workdir)
        samples: dict[str, list[float]] = {name: [] for name in lines}
        for _ in range(args.repeats):
            for name, argv in lines.items():
                samples[name].append(time_once(argv, workdir))
    medians: dict[str, float] = {}
    print(f"\n{'command':<24}{'median ms':>11}{'p95 ms':>9}   ({args.repeats} runs each)")
    for name, values in samples.items():
        values.sort()
        medians[name] = statistics.median(values)
        print(f"{name:<24}{medians[name] * 1000:>11.0f}{percentile(values, 95) * 1000:>9.0f}")
    import_ms = medians["import tierline"] * 1000
    help_ratio = medians["tierline --help"] / medians["minimal Typer --help"]
    alembic_ratio = medians["tierline --help"] / medians["alembic --help"]
    print(
        f"\nimport tierline: {import_ms:.0f} ms (goal < {IMPORT_GOAL_MS:.0f} ms: "
        f"{'met' if import_ms < IMPORT_GOAL_MS else 'MISSED'})"
    )
    print(
        f"tierline --help / minimal Typer --help: {help_ratio:.2f}x (goal <= {HELP_GOAL_RATIO}x: "
        f"{'met' if help_ratio <= HELP_GOAL_RATIO else 'MISSED'})"
    )
    print(f"tierline --help / alembic --help: {alembic_ratio:.2f}x")


if __name__ == "__main__":
    main()
