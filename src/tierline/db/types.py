"""Column types that behave the same on SQLite, PostgreSQL and MariaDB."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import DateTime, String, Text
from sqlalchemy.dialects import mysql
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator, TypeEngine


def utcnow() -> datetime:
    """The current time as an aware UTC datetime."""
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """An aware UTC datetime stored as a naive UTC timestamp.

    SQLite and MariaDB have no time zone in their timestamp types, so all three dialects store
    naive UTC and Tierline converts at the boundary. MariaDB gets microsecond precision
    (``DATETIME(6)``); its default would truncate to whole seconds and break event ordering.
    """

    impl = DateTime
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name in ("mysql", "mariadb"):
            return dialect.type_descriptor(mysql.DATETIME(fsp=6))
        return dialect.type_descriptor(DateTime(timezone=False))

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r} given; Tierline stores aware UTC only")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC)


#: Raw webhook bodies can reach the 1 MiB ingest limit; MariaDB's TEXT stops at 64 KiB.
LongText: TypeEngine[str] = Text().with_variant(mysql.LONGTEXT(), "mysql", "mariadb")

#: The collation MariaDB and MySQL compare identifiers in: byte for byte, as SQLite and
#: PostgreSQL do. Their default collations (``utf8mb4_general_ci``, ``utf8mb4_0900_ai_ci``)
#: equate case and accent variants, so ``"ALICE"`` would find account ``"alice"``.
EXACT_COLLATION = "utf8mb4_bin"


def exact_string(length: int) -> TypeEngine[str]:
    """``String(length)`` compared exactly on every dialect: an id, a ref, a key.

    Only MariaDB and MySQL need a word (the :data:`EXACT_COLLATION` on the column); SQLite and
    PostgreSQL compare text exactly already. Migration 0007 gives the existing columns the same.
    """
    return String(length).with_variant(
        mysql.VARCHAR(length, collation=EXACT_COLLATION), "mysql", "mariadb"
    )
