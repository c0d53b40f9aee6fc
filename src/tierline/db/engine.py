"""Engines and sessions: URL parsing, per-dialect connection setup, clear connection errors."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import (
    ArgumentError,
    DisconnectionError,
    NoSuchModuleError,
    OperationalError,
    SQLAlchemyError,
)
from sqlalchemy.exc import DatabaseError as SADatabaseError
from sqlalchemy.orm import Session, sessionmaker

from tierline.errors import DatabaseUnreachableError, InvalidDatabaseURLError

DEFAULT_DATABASE_URL = "sqlite:///tierline.db"

# A bare ``postgresql://`` or ``mysql://`` URL would pick drivers Tierline does not install;
# map them to the ones its extras bring.
_DEFAULT_DRIVERS = {
    "postgresql": "postgresql+psycopg",
    "postgres": "postgresql+psycopg",
    "mysql": "mysql+pymysql",
    "mariadb": "mariadb+pymysql",
}

# How long a SQLite writer waits for the lock before giving up; webhook bursts are concurrent.
# A ``?timeout=<seconds>`` in the URL overrides it (as it does for plain pysqlite).
_SQLITE_BUSY_TIMEOUT_MS = 30_000


def parse_url(url: str | URL) -> URL:
    """Parse a database URL, choosing Tierline's drivers when the URL names none.

    Raises:
        InvalidDatabaseURLError: the URL cannot be parsed.
    """
    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError) as exc:  # ValueError: a port that is not a number
        raise InvalidDatabaseURLError(
            f"cannot parse database URL {_password_masked(str(url))!r}: expected e.g. "
            "sqlite:///tierline.db, postgresql://user@host/db or mariadb://user@host/db"
        ) from exc
    if parsed.drivername in _DEFAULT_DRIVERS:
        parsed = parsed.set(drivername=_DEFAULT_DRIVERS[parsed.drivername])
    return parsed


def _password_masked(text: str) -> str:
    """``text`` with whatever stands between ``user:`` and ``@`` replaced by ``***``."""
    return _PASSWORD.sub(r"\1***@", text)


_PASSWORD = re.compile(r"^([^@]*?//[^/@:]*:)[^@]*@")

#: Connections kept open per engine on PostgreSQL and MariaDB, unless configured (the
#: ``db_pool_size`` setting): the concurrency a web server's workers reach under a burst of
#: webhooks. As many again may be opened beyond it and are closed when returned.
DEFAULT_POOL_SIZE = 16

#: A pooled connection idle longer than this is pinged when checked out: a server restart or
#: a firewall's idle timeout drops connections that sat unused. A busy pool never waits that
#: long, so the hot path never pays the ping (a connection dropped anyway fails one statement;
#: the inbox and ``status()`` retry it on a fresh connection).
IDLE_PING_SECONDS = 30.0


def make_engine(url: str | URL, *, pool_size: int | None = None, **kwargs: Any) -> Engine:
    """Create an engine configured for Tierline.

    SQLite gets foreign keys on, WAL journaling (for a file) and a busy timeout, so concurrent
    writers queue instead of failing. PostgreSQL and MariaDB get a pool of ``pool_size``
    connections (default :data:`DEFAULT_POOL_SIZE`, with as many again as overflow) and no
    pre-ping: only a connection idle for :data:`IDLE_PING_SECONDS` is pinged at checkout.

    Raises:
        InvalidDatabaseURLError: the URL is malformed or names a driver that is not installed.
    """
    parsed = parse_url(url)
    options: dict[str, Any] = {}
    busy_timeout_ms = _SQLITE_BUSY_TIMEOUT_MS
    server = parsed.get_backend_name() != "sqlite"
    if not server:
        busy_timeout_ms = _busy_timeout_ms(parsed)
        options["connect_args"] = {"timeout": busy_timeout_ms / 1000}
    elif "poolclass" not in kwargs:
        size = DEFAULT_POOL_SIZE if pool_size is None else pool_size
        options["pool_size"] = size
        options["max_overflow"] = size
    options.update(kwargs)
    try:
        engine = create_engine(parsed, **options)
    except (NoSuchModuleError, ModuleNotFoundError) as exc:
        raise InvalidDatabaseURLError(
            f"database URL {parsed.render_as_string(hide_password=True)!r} names a driver "
            f"that is not available ({exc}); install tierline[postgres] or tierline[mysql]"
        ) from exc
    except ArgumentError as exc:
        raise InvalidDatabaseURLError(f"invalid database URL options: {exc}") from exc
    if not server:
        in_memory = sqlite_file(parsed) is None
        _configure_sqlite(engine, in_memory=in_memory, busy_timeout_ms=busy_timeout_ms)
    elif not options.get("pool_pre_ping"):
        ping_when_idle(engine, IDLE_PING_SECONDS)
    return engine


def ping_when_idle(engine: Engine, idle_seconds: float) -> None:
    """Ping a pooled connection at checkout only if it sat unused for ``idle_seconds``.

    A failed ping raises ``DisconnectionError``, on which the pool discards the connection and
    opens a fresh one (SQLAlchemy's documented "pessimistic" disconnect handling, done here for
    idle connections only).
    """

    @event.listens_for(engine, "checkin")
    def _on_checkin(_dbapi_connection: Any, record: Any) -> None:
        record.info["tierline_idle_since"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _on_checkout(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        since = record.info.get("tierline_idle_since")
        if since is None or time.monotonic() - since < idle_seconds:
            return
        try:
            cursor = dbapi_connection.cursor()
            try:
                cursor.execute("SELECT 1")
                cursor.fetchall()
            finally:
                cursor.close()
            dbapi_connection.rollback()
        except Exception as exc:
            raise DisconnectionError(f"idle connection dropped: {first_line(exc)}") from exc


def _busy_timeout_ms(parsed: URL) -> int:
    raw = parsed.query.get("timeout")
    if raw is None:
        return _SQLITE_BUSY_TIMEOUT_MS
    try:
        seconds = float(raw if isinstance(raw, str) else raw[0])
    except ValueError:
        seconds = -1.0
    if not 0 <= seconds <= 3600:
        raise InvalidDatabaseURLError(
            f"timeout={raw!r} in the SQLite URL is not a number of seconds from 0 to 3600"
        )
    return int(seconds * 1000)


def sqlite_file(url: str | URL) -> Path | None:
    """The file a SQLite URL names, or ``None`` (another dialect, or an in-memory database).

    Understands the URI form ``sqlite:///file:path?mode=ro&uri=true``.
    """
    parsed = parse_url(url)
    if parsed.get_backend_name() != "sqlite":
        return None
    database = parsed.database or ""
    if parsed.query.get("uri") in ("true", "1") and database.startswith("file:"):
        database = database.removeprefix("file:").partition("?")[0]
        if parsed.query.get("mode") == "memory":
            return None
    if database in ("", ":memory:"):
        return None
    return Path(database)


def _configure_sqlite(engine: Engine, *, in_memory: bool, busy_timeout_ms: int) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={busy_timeout_ms}")
        if not in_memory:
            cursor.execute("PRAGMA journal_mode=WAL")
            # WAL makes NORMAL durable against application crashes; only power loss can
            # drop the last transactions, which providers then redeliver.
            cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()


def ensure_reachable(engine: Engine) -> None:
    """Open one connection; driver errors become a one-line :class:`DatabaseUnreachableError`."""
    try:
        with engine.connect():
            pass
    except (OperationalError, SADatabaseError) as exc:
        raise DatabaseUnreachableError(
            f"cannot connect to {engine.url.render_as_string(hide_password=True)}: "
            f"{first_line(exc.orig if exc.orig is not None else exc)}"
        ) from exc


def first_line(exc: BaseException) -> str:
    """The first line of an exception's message (drivers append SQL and links below it)."""
    if isinstance(exc, SQLAlchemyError) and getattr(exc, "orig", None) is not None:
        exc = exc.orig  # type: ignore[attr-defined]
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0]


def session_factory(engine: Engine) -> sessionmaker[Session]:
    """A session factory whose objects stay readable after commit."""
    return sessionmaker(engine, expire_on_commit=False)


@contextmanager
def transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    """A session inside one transaction: committed on success, rolled back on any error."""
    with factory() as session, session.begin():
        yield session
