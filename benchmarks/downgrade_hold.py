"""What the downgrade hold costs the webhook's snapshot UPDATE (tierline.billing.scheduled).

    uv run python -m benchmarks.downgrade_hold [--rounds 4000]
        [--postgres-url postgresql://postgres@127.0.0.1:5432/postgres]

The snapshot UPDATE checks, in the same statement, whether a downgrade holds the stored tier
(an ``EXISTS`` on the outbox's unique key, the snapshot's period end against the hold's, the
hold's ``from_tier`` read from its JSON payload, and the two tiers' ``sort_order`` by
subquery). The comparator is the same UPDATE built without that check (it keeps the stored
tier), run in the same process on the same row, the two interleaved round by round so load on
the machine hits both alike. Measured twice: no hold anywhere (the snapshot names the stored
tier), and a hold on the row with a snapshot naming the lower tier (the statement then keeps
the tier: every part of the check runs). Prints the median and p90 of each, and the ratio.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Integer, bindparam, create_engine, func, select, update
from sqlalchemy.engine import URL, make_url

from benchmarks.machine import describe, percentile
from tierline import Tierline, TierlineSettings, db
from tierline.billing import subscriptions as subs
from tierline.billing.scheduled import hold_key, schedule
from tierline.catalog.models import Tier
from tierline.catalog.spec import Catalog
from tierline.db.fast import FastStatement

NOW = datetime(2026, 6, 1, 12, tzinfo=UTC)
_PRO, _TEAM = 1, 2


def _without_hold() -> FastStatement:
    """The UPDATE as it was before the hold: the tier is the snapshot's (or the stored one)."""
    values = [
        (column, func.coalesce(bindparam("p_kept_tier_id", type_=Integer()), column))
        if column is subs._C.tier_id
        else (column, value)
        for column, value in subs._STATE
    ]
    return FastStatement(update(subs._SUB).where(subs._KEY, subs._OPEN).ordered_values(*values))


def _params(step: int, tier_id: int) -> dict[str, Any]:
    return {
        "p_provider": "stripe",
        "p_external_id": "sub_bench",
        "p_customer_id": "cus_bench",
        "p_account_id": 1,
        "p_tier_id": tier_id,
        "p_kept_tier_id": None,
        "p_status": "active",
        "p_period_end": NOW + timedelta(days=30),
        "p_cancel": False,
        "p_cancel_at": None,
        "p_trial_end": None,
        "p_quantity": 1,
        "p_provider_updated_at": NOW + timedelta(microseconds=step),
        "p_rank": 1,
        "p_past_due": 0,
        "p_past_due_since": None,
        "p_livemode": None,
        "p_now": NOW,
        "p_hold_key": hold_key("stripe", "sub_bench"),
    }


def _seed(url: str) -> None:
    """Account 1, tiers 1 (pro) and 2 (team, ranked lower; a fresh database numbers them so),
    and a subscription row on pro."""
    settings = TierlineSettings(database_url=url)
    with Tierline(settings=settings, catalog=Catalog()) as tl:
        assert tl.ensure_account("acct").id == 1
        with tl.ctx.sessions.begin() as session:
            session.add(Tier(key="pro", name="Pro", sort_order=2))
            session.flush()
            session.add(Tier(key="team", name="Team", sort_order=1))
        with tl.ctx.engine.begin() as conn:
            conn.execute(subs._INSERT, {**_params(0, _PRO), "p_new_quantity": 1})


def _time(engine: Any, statement: FastStatement, step: int, tier_id: int) -> float:
    with engine.begin() as conn:
        started = time.perf_counter()
        result = statement.execute(conn, _params(step, tier_id))
        took = time.perf_counter() - started
    assert result.rowcount == 1
    return took


def bench(dialect: str, url: str, rounds: int) -> None:
    print(f"\n{dialect}: migrating a new database through the chain...")
    db.upgrade(url)
    _seed(url)
    engine = create_engine(url)
    with_hold = subs._APPLY[(True, False)]
    without = _without_hold()
    step = 0
    for label, tier_id in (("no hold", _PRO), ("a hold on the row", _TEAM)):
        if tier_id == _TEAM:
            with engine.begin() as conn:
                schedule(
                    conn,
                    provider="stripe",
                    external_id="sub_bench",
                    from_tier="pro",
                    to_tier="team",
                    effective_at=NOW + timedelta(days=30),
                    now=NOW,
                )
        timings: dict[str, list[float]] = {"with the hold check": [], "comparator": []}
        for _ in range(200):  # warm both statements and the pool
            step += 1
            _time(engine, with_hold, step, tier_id)
            step += 1
            _time(engine, without, step, tier_id)
        for _ in range(rounds):
            step += 1
            timings["with the hold check"].append(_time(engine, with_hold, step, tier_id))
            step += 1
            timings["comparator"].append(_time(engine, without, step, tier_id))
        medians = {}
        for name, values in timings.items():
            ordered = sorted(values)
            medians[name] = statistics.median(ordered)
            print(
                f"  {label:<18} {name:<20} median {medians[name] * 1e6:7.1f} us, "
                f"p90 {percentile(ordered, 90) * 1e6:7.1f} us"
            )
        with engine.connect() as conn:
            kept = conn.execute(select(subs._C.tier_id).where(subs._C.external_id == "sub_bench"))
            assert kept.scalar() == _PRO  # the hold kept pro against every team snapshot
        ratio = medians["with the hold check"] / medians["comparator"]
        print(f"  {label:<18} ratio (median, with / without)  {ratio:.2f}x")
    engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=4000)
    parser.add_argument("--postgres-url", default=os.environ.get("TIERLINE_BENCH_POSTGRES_URL"))
    args = parser.parse_args()
    print(describe())
    with tempfile.TemporaryDirectory() as folder:
        bench("sqlite", f"sqlite:///{Path(folder) / 'bench.db'}", args.rounds)
    if args.postgres_url:
        base: URL = make_url(args.postgres_url)
        name = f"tierline_bench_hold_{os.getpid()}"
        admin = create_engine(base, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
        try:
            bench("postgresql", base.set(database=name).render_as_string(False), args.rounds)
        finally:
            with admin.connect() as conn:
                conn.exec_driver_sql(f'DROP DATABASE "{name}" WITH (FORCE)')
            admin.dispose()


if __name__ == "__main__":
    main()
