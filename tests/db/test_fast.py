"""Fast statements write exactly what Connection.execute would, and fail the same way."""

from __future__ import annotations

import os
import sqlite3
from datetime import UTC, datetime

import pytest
from sqlalchemy import Connection, Engine, bindparam, event, insert, select
from sqlalchemy.engine import URL
from sqlalchemy.exc import IntegrityError, OperationalError

from tierline import db
from tierline.accounts.models import Account
from tierline.db import fast
from tierline.db.fast import EngineWatch, FastStatement, RawConnections

ACCOUNTS = Account.__table__
INSERT = insert(ACCOUNTS).values(
    ref=bindparam("p_ref"),
    email=bindparam("p_email"),
    created_at=bindparam("p_at", type_=ACCOUNTS.c.created_at.type),
)
FAST_INSERT = FastStatement(INSERT)
FAST_SELECT = FastStatement(
    select(ACCOUNTS.c.ref).where(
        ACCOUNTS.c.created_at <= bindparam("p_at", type_=ACCOUNTS.c.created_at.type)
    ),
    fetch=True,
)


def test_rows_written_fast_read_back_like_rows_written_by_execute(db_url: URL) -> None:
    engine = db.make_engine(db_url)
    at = datetime(2026, 3, 4, 5, 6, 7, tzinfo=UTC)  # no microseconds: the text forms must agree
    try:
        with engine.begin() as conn:
            FAST_INSERT.execute(conn, {"p_ref": "fast", "p_email": None, "p_at": at})
            conn.execute(INSERT, {"p_ref": "slow", "p_email": "s@example.com", "p_at": at})
        with engine.connect() as conn:
            rows = conn.execute(
                select(ACCOUNTS.c.ref, ACCOUNTS.c.created_at).order_by(ACCOUNTS.c.ref)
            ).all()
            # A comparison in SQL sees both values as the same instant.
            found = FAST_SELECT.execute(conn, {"p_at": at}).rows
        assert [(ref, created) for ref, created in rows] == [("fast", at), ("slow", at)]
        assert sorted(ref for (ref,) in found) == ["fast", "slow"]
    finally:
        engine.dispose()


def test_a_driver_error_is_raised_as_sqlalchemys_own_class(db_url: URL) -> None:
    engine = db.make_engine(db_url)
    at = datetime(2026, 3, 4, tzinfo=UTC)
    try:
        with engine.begin() as conn:
            FAST_INSERT.execute(conn, {"p_ref": "twice", "p_email": None, "p_at": at})
        with pytest.raises(IntegrityError), engine.begin() as conn:
            FAST_INSERT.execute(conn, {"p_ref": "twice", "p_email": None, "p_at": at})
        with engine.connect() as conn:
            assert conn.execute(select(ACCOUNTS.c.ref)).scalars().all() == ["twice"]
    finally:
        engine.dispose()


def test_kept_connections_are_reused_and_a_forked_worker_never_touches_its_parents(
    sqlite_url: URL, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = db.make_engine(sqlite_url)
    kept = RawConnections(engine, keep=2)
    try:
        first = kept.acquire()
        kept.release(first)
        assert kept.acquire() is first  # reused, not reopened
        kept.release(first)

        monkeypatch.setattr(fast.os, "getpid", lambda: -1)  # as in a forked child
        child = kept.acquire()

        assert child is not first
        assert first.execute("SELECT 1").fetchall() == [(1,)]  # left open for the parent
        kept.release(child)
        engine.dispose()
        fresh = kept.acquire()  # the first acquire after the engine's dispose()
        with pytest.raises(sqlite3.ProgrammingError):
            child.execute("SELECT 1")  # closed with the engine
        assert fresh is not child and fresh.execute("SELECT 1").fetchall() == [(1,)]
        kept.release(fresh)
        kept.close()
        with pytest.raises(sqlite3.ProgrammingError):
            fresh.execute("SELECT 1")
    finally:
        engine.dispose()


def test_a_fork_is_seen_once_in_the_child_and_never_in_the_parent(sqlite_url: URL) -> None:
    engine = db.make_engine(sqlite_url)
    watch = EngineWatch(engine)
    try:
        child = os.fork()
        if child == 0:  # pragma: no cover - the child reports through its exit code
            try:
                seen = (watch.changed(), watch.forked(), watch.changed(), watch.forked())
                os._exit(0 if seen == (True, True, False, False) else 1)
            except BaseException:
                os._exit(2)
        _, status = os.waitpid(child, 0)
        assert os.waitstatus_to_exitcode(status) == 0
        assert (watch.changed(), watch.forked()) == (False, False)
        engine.dispose()
        assert (watch.changed(), watch.disposed(), watch.changed()) == (True, True, False)
    finally:
        engine.dispose()


def _refs(engine: Engine) -> list[str]:
    with engine.connect() as conn:
        return sorted(conn.execute(select(ACCOUNTS.c.ref)).scalars())


def test_a_deferred_begin_transaction_is_one_transaction_and_leaves_no_autocommit(
    db_url: URL,
) -> None:
    # One pooled connection, so every transaction below runs on the connection the previous
    # one gave back.
    engine = db.make_engine(db_url, pool_size=1, max_overflow=0)
    at = datetime(2026, 3, 4, tzinfo=UTC)
    row = {"p_email": None, "p_at": at}
    try:
        with fast.deferred_begin(engine) as conn:
            with fast.flight(conn) as sent:
                sent.send(FAST_INSERT, {"p_ref": "a", **row})
                sent.send(FAST_INSERT, {"p_ref": "b", **row})
            conn.execute(INSERT, {"p_ref": "c", **row})  # after the flight: same transaction
        assert _refs(engine) == ["a", "b", "c"]

        # A failure in the flight undoes the statements before it and those after it.
        with (
            pytest.raises(IntegrityError),
            fast.deferred_begin(engine) as conn,
            fast.flight(conn) as sent,
        ):
            sent.send(FAST_INSERT, {"p_ref": "d", **row})
            sent.send(FAST_INSERT, {"p_ref": "a", **row})
        assert _refs(engine) == ["a", "b", "c"]

        # An error raised after the flight rolls the flight back too.
        with pytest.raises(RuntimeError), fast.deferred_begin(engine) as conn:
            with fast.flight(conn) as sent:
                sent.send(FAST_INSERT, {"p_ref": "e", **row})
            raise RuntimeError("the apply failed")
        assert _refs(engine) == ["a", "b", "c"]

        # The connection went back to the pool in its own mode: a plain transaction's
        # statements still commit or roll back together.
        with pytest.raises(IntegrityError), engine.begin() as conn:
            conn.execute(INSERT, {"p_ref": "f", **row})
            conn.execute(INSERT, {"p_ref": "a", **row})
        assert _refs(engine) == ["a", "b", "c"]
    finally:
        engine.dispose()


def test_a_deferred_begin_keeps_the_engines_transaction_settings_and_begin_hooks(
    db_url: URL,
) -> None:
    engine = db.make_engine(db_url, pool_size=1, max_overflow=0)
    serializable = db.make_engine(db_url, isolation_level="SERIALIZABLE")
    at = datetime(2026, 3, 4, tzinfo=UTC)
    row = {"p_email": None, "p_at": at}
    hooked: list[str] = []

    @event.listens_for(engine, "begin")
    def _audit(conn: Connection) -> None:  # a host's hook writing in each transaction
        hooked.append(f"audit{len(hooked)}")
        conn.execute(INSERT, {"p_ref": hooked[-1], **row})

    try:
        with (
            pytest.raises(RuntimeError),
            fast.deferred_begin(engine) as conn,
        ):
            with fast.flight(conn) as sent:
                sent.send(FAST_INSERT, {"p_ref": "a", **row})
            raise RuntimeError("the apply failed")
        event.remove(engine, "begin", _audit)
        assert hooked == ["audit0"]
        assert _refs(engine) == []  # the hook's write was rolled back with the transaction

        with fast.deferred_begin(serializable) as conn:
            with fast.flight(conn) as sent:
                sent.send(FAST_INSERT, {"p_ref": "s", **row})
            if db_url.get_backend_name() == "postgresql":
                level = conn.exec_driver_sql("SHOW transaction_isolation").scalar_one()
                assert level == "serializable"
        assert "s" in _refs(serializable)
    finally:
        engine.dispose()
        serializable.dispose()


@pytest.mark.parametrize("dialect", ["postgresql"], indirect=True)
def test_a_connection_dropped_in_a_deferred_begin_is_replaced_once(db_url: URL) -> None:
    engine = db.make_engine(db_url, pool_size=1, max_overflow=0, pool_timeout=2)
    opened: list[object] = []
    event.listen(engine, "connect", lambda dbapi_connection, _record: opened.append(1))
    at = datetime(2026, 3, 4, tzinfo=UTC)
    try:
        with pytest.raises(OperationalError), fast.deferred_begin(engine) as conn:
            with fast.flight(conn) as sent:
                sent.send(FAST_INSERT, {"p_ref": "x", "p_email": None, "p_at": at})
            conn.exec_driver_sql("SELECT pg_terminate_backend(pg_backend_pid())")
        assert _refs(engine) == []  # nothing was committed
        # The dropped one and its one replacement: the dead connection was not touched again
        # on the way out (which would check out, then throw away, a healthy one).
        assert len(opened) == 2
    finally:
        engine.dispose()
