"""What a database error means, across dialects."""

from __future__ import annotations

from sqlalchemy.exc import OperationalError


def is_deadlock(exc: OperationalError) -> bool:
    """Whether MariaDB rolled the transaction back as a deadlock victim (retry it whole).

    MariaDB error numbers: 1213 deadlock, 1205 lock wait timeout, 1467 an AUTO-INC lock
    deadlock (https://mariadb.com/kb/en/mariadb-error-code-reference/).
    """
    args: tuple[object, ...] = getattr(exc.orig, "args", ())
    return bool(args) and args[0] in (1213, 1205, 1467)
