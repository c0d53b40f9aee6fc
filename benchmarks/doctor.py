"""Time ``tierline doctor`` on a generated chain (DESIGN.md budget: static pass >= 500 files/s).

    uv run python -m benchmarks.doctor [--revisions 300] [--repeats 15]
        [--dynamic-revisions 40] [--dynamic-repeats 3]

The static pass reads and checks a generated chain of ``--revisions`` revision files (tables,
batch-mode ALTERs, named constraints, indexes: the mix of a real app) ``--repeats`` times and
prints files per second as a median and 95th percentile (wall clock and this process's CPU
time), next to its floor: reading and ``ast.parse``-ing the same files alone.
The dynamic pass (upgrade one revision
at a time, downgrade to base, upgrade again, compare with the models) runs on a shorter chain
next to pytest-alembic's four built-in tests (single head, upgrade, model definitions match
DDL, up/down consistency) on the same chain and env.py, each on a new SQLite file, and prints
the ratio.
"""

from __future__ import annotations

import argparse
import ast
import os
import statistics
import tempfile
import textwrap
import time
from collections.abc import Callable
from pathlib import Path

from benchmarks.machine import describe, percentile
from tierline.doctor import check_chain
from tierline.doctor.dynamic import run_chain
from tierline.doctor.static import collector_paused

BUDGET_FILES_PER_S = 500.0

_ENV = '''
"""env.py of the generated chain: shares a passed-in connection (pytest-alembic) or makes one."""
from alembic import context
from sqlalchemy import Column, ForeignKey, Integer, MetaData, String, Table, create_engine

config = context.config
target_metadata = MetaData()
for n in range({count}):
    Table(
        f"t{{n:04d}}",
        target_metadata,
        Column("id", Integer, primary_key=True),
        Column("name", String(80), nullable=False, server_default=""),
        Column("note", String(200)),
        Column("parent_id", Integer, ForeignKey(f"t{{n:04d}}.id", name=f"fk_t{{n:04d}}_parent_id")),
    )


def run(connection):
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()


connectable = config.attributes.get("connection")  # pytest-alembic passes its engine here
if connectable is not None:
    with connectable.connect() as connection:
        run(connection)
else:
    engine = create_engine(config.get_main_option("sqlalchemy.url"))
    with engine.begin() as connection:
        run(connection)
    engine.dispose()
'''

_REVISION = '''
"""Table t{n:04d} and its columns.

Revision ID: {rev}
Revises: {down}
"""
from alembic import op
import sqlalchemy as sa

revision = "{rev}"
down_revision = {down_repr}
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "t{n:04d}",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=40), nullable=False, server_default=""),
        sa.PrimaryKeyConstraint("id", name="pk_t{n:04d}"),
    )
    with op.batch_alter_table("t{n:04d}") as batch_op:
        batch_op.add_column(sa.Column("note", sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column("parent_id", sa.Integer(), nullable=True))
        batch_op.alter_column("name", existing_type=sa.String(length=40), type_=sa.String(80))
        batch_op.create_foreign_key("fk_t{n:04d}_parent_id", "t{n:04d}", ["parent_id"], ["id"])


def downgrade():
    with op.batch_alter_table("t{n:04d}") as batch_op:
        batch_op.drop_constraint("fk_t{n:04d}_parent_id", type_="foreignkey")
        batch_op.alter_column("name", existing_type=sa.String(length=80), type_=sa.String(40))
        batch_op.drop_column("parent_id")
        batch_op.drop_column("note")
    op.drop_table("t{n:04d}")
'''


def generate_chain(folder: Path, count: int) -> Path:
    """A healthy chain of ``count`` revisions under ``folder``; returns its alembic.ini."""
    versions = folder / "migrations" / "versions"
    versions.mkdir(parents=True)
    (folder / "migrations" / "env.py").write_text(textwrap.dedent(_ENV).format(count=count))
    ini = folder / "alembic.ini"
    ini.write_text("[alembic]\nscript_location = %(here)s/migrations\nsqlalchemy.url = sqlite://\n")
    down: str | None = None
    for n in range(count):
        rev = f"{n:04d}a{n * 7919 % 10**7:07d}"
        text = _REVISION.format(n=n, rev=rev, down=down or "", down_repr=repr(down))
        (versions / f"{rev}_table_t{n:04d}.py").write_text(textwrap.dedent(text).lstrip())
        down = rev
    return ini


def timed(
    action: Callable[[], object], repeats: int, clock: Callable[[], float] = time.perf_counter
) -> list[float]:
    """Sorted durations of ``repeats`` runs on ``clock`` (wall time; ``time.process_time``:
    this process's CPU time)."""
    timings = []
    for _ in range(repeats):
        start = clock()
        action()
        timings.append(clock() - start)
    return sorted(timings)


def _parse_only(files: list[Path]) -> None:
    """The comparator: read and ast.parse every revision file, nothing else."""
    with collector_paused():
        for file in files:
            ast.parse(file.read_text(encoding="utf-8"))


def static_pass(revisions: int, repeats: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        ini = generate_chain(Path(tmp), revisions)
        found = check_chain(ini)
        assert found == [], found  # the generated chain is healthy: every rule ran to the end
        files = sorted((Path(tmp) / "migrations" / "versions").glob("*.py"))
        timings = timed(lambda: check_chain(ini), repeats)
        cpu = timed(lambda: check_chain(ini), repeats, time.process_time)
        parse_cpu = timed(lambda: _parse_only(files), repeats, time.process_time)
    rates = sorted(revisions / t for t in timings)
    median = statistics.median(rates)
    # The slowest 5% of runs: the 5th percentile of the rates.
    p95 = percentile(rates, 5)
    print(f"static pass, {revisions} revision files, {repeats} runs:")
    print(
        f"  wall: median {median:,.0f} files/s ({statistics.median(timings) * 1000:.0f} ms) | "
        f"p95 {p95:,.0f} files/s ({percentile(timings, 95) * 1000:.0f} ms) | "
        f"budget >= {BUDGET_FILES_PER_S:,.0f} files/s | "
        f"{'OK' if p95 >= BUDGET_FILES_PER_S else 'UNDER BUDGET'}"
    )
    # CPU time of this process: what the pass costs when other jobs share the two cores.
    print(
        f"  cpu:  median {revisions / statistics.median(cpu):,.0f} files/s "
        f"({statistics.median(cpu) * 1000:.0f} ms of CPU) | p95 "
        f"{revisions / percentile(cpu, 95):,.0f} files/s | load average "
        f"{os.getloadavg()[0]:.1f}"
    )
    # The floor: Python's parser alone on the same files (read + ast.parse, no rule).
    print(
        f"  comparator, read + ast.parse alone: median "
        f"{revisions / statistics.median(parse_cpu):,.0f} files/s of CPU | pass / parse CPU "
        f"ratio {statistics.median(cpu) / statistics.median(parse_cpu):.2f}"
    )


def _pytest_alembic_suite(ini: Path, scratch: Path) -> None:
    import pytest_alembic
    from pytest_alembic.tests import default
    from sqlalchemy import create_engine

    tests = [
        default.test_single_head_revision,
        default.test_upgrade,
        default.test_model_definitions_match_ddl,
        default.test_up_down_consistency,
    ]
    for number, test in enumerate(tests):
        engine = create_engine(f"sqlite:///{scratch / f'pa{time.perf_counter_ns()}_{number}.db'}")
        config = pytest_alembic.Config(config_options={"file": str(ini)})
        with pytest_alembic.runner(config=config, engine=engine) as alembic_runner:
            test(alembic_runner)
        engine.dispose()


def dynamic_pass(revisions: int, repeats: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        ini = generate_chain(Path(tmp) / "chain", revisions)
        assert run_chain(ini) == []
        doctor = timed(lambda: run_chain(ini), repeats)
        suite = timed(lambda: _pytest_alembic_suite(ini, Path(tmp)), repeats)
    ours, theirs = statistics.median(doctor), statistics.median(suite)
    print(f"dynamic pass on SQLite, {revisions} revisions, {repeats} runs each:")
    print(
        f"  tierline doctor --run sqlite: median {ours:.2f} s (upgrade, model check, downgrade "
        "to base, upgrade again)"
    )
    print(
        f"  pytest-alembic built-in tests: median {theirs:.2f} s (single head, upgrade, "
        "model match, up/down consistency)"
    )
    print(f"  ratio doctor / pytest-alembic: {ours / theirs:.2f} (goal: < 1)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--revisions", type=int, default=300)
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--dynamic-revisions", type=int, default=40)
    parser.add_argument("--dynamic-repeats", type=int, default=3)
    args = parser.parse_args()
    print(f"machine: {describe()}")
    static_pass(args.revisions, args.repeats)
    dynamic_pass(args.dynamic_revisions, args.dynamic_repeats)


if __name__ == "__main__":
    main()
