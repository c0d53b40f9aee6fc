"""Account look-ups by ref or id through Core: ids only, for hot paths.

:func:`tierline.accounts.service.find_account` loads the ORM entity, which costs several times
the query itself; the webhook inbox needs only the id, the ref and whether the account was
referred.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import cast

from sqlalchemy import Connection, Table, bindparam, insert, select

from tierline.accounts.models import Account
from tierline.db.fast import FastStatement

_ACCOUNT = cast(Table, Account.__table__)
_COLUMNS = (_ACCOUNT.c.id, _ACCOUNT.c.ref, _ACCOUNT.c.referred_by_id)
_BY_REF = select(*_COLUMNS).where(_ACCOUNT.c.ref == bindparam("p_ref"))
_BY_REF_FAST = FastStatement(_BY_REF, fetch=True)
_BY_ID = select(*_COLUMNS).where(_ACCOUNT.c.id == bindparam("p_id"))
_INSERT = insert(_ACCOUNT).values(
    ref=bindparam("p_ref"), created_at=bindparam("p_now", type_=_ACCOUNT.c.created_at.type)
)


@dataclass(frozen=True)
class AccountRef:
    """An account's id, ref, and whether it was referred (it has a referral to convert)."""

    id: int
    ref: str
    referred: bool


def account_by_ref(conn: Connection, ref: str) -> AccountRef | None:
    """The account with this ref, or ``None``."""
    row = _BY_REF_FAST.execute(conn, {"p_ref": ref}).first()
    if row is None:
        return None
    account_id, account_ref, referred_by_id = row
    return AccountRef(int(account_id), account_ref, referred_by_id is not None)


def insert_account(conn: Connection, ref: str, now: datetime) -> AccountRef:
    """Create the account ``ref`` (already validated) in the caller's transaction.

    A racing creator makes this raise ``IntegrityError``; the caller retries and finds it.
    """
    result = conn.execute(_INSERT, {"p_ref": ref, "p_now": now})
    pk = result.inserted_primary_key
    assert pk is not None  # every dialect reports the new id of a single-row insert
    return AccountRef(int(pk[0]), ref, referred=False)


def account_by_id(conn: Connection, account_id: int) -> AccountRef | None:
    """The account with this id, or ``None``."""
    row = conn.execute(_BY_ID, {"p_id": account_id}).first()
    return None if row is None else AccountRef(row.id, row.ref, row.referred_by_id is not None)
