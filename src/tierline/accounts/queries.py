"""Account look-ups by ref or id through Core: ids only, for hot paths.

:func:`tierline.accounts.service.find_account` loads the ORM entity, which costs several times
the query itself; the webhook inbox needs only the id, the ref and whether the account was
referred.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import cast

from sqlalchemy import Connection, Table, bindparam, select

from tierline.accounts.models import Account

_ACCOUNT = cast(Table, Account.__table__)
_COLUMNS = (_ACCOUNT.c.id, _ACCOUNT.c.ref, _ACCOUNT.c.referred_by_id)
_BY_REF = select(*_COLUMNS).where(_ACCOUNT.c.ref == bindparam("p_ref"))
_BY_ID = select(*_COLUMNS).where(_ACCOUNT.c.id == bindparam("p_id"))


@dataclass(frozen=True)
class AccountRef:
    """An account's id, ref, and whether it was referred (it has a referral to convert)."""

    id: int
    ref: str
    referred: bool


def account_by_ref(conn: Connection, ref: str) -> AccountRef | None:
    """The account with this ref, or ``None``."""
    row = conn.execute(_BY_REF, {"p_ref": ref}).first()
    return None if row is None else AccountRef(row.id, row.ref, row.referred_by_id is not None)


def account_by_id(conn: Connection, account_id: int) -> AccountRef | None:
    """The account with this id, or ``None``."""
    row = conn.execute(_BY_ID, {"p_id": account_id}).first()
    return None if row is None else AccountRef(row.id, row.ref, row.referred_by_id is not None)
