"""Account look-ups by ref or id through Core: ids only, for hot paths.

:func:`tierline.accounts.service.find_account` loads the ORM entity, which costs several times
the query itself; the webhook inbox needs only the id, the ref and whether the account was
referred.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import cast

from sqlalchemy import Connection, Table, bindparam, exists, insert, select
from sqlalchemy.dialects import postgresql

from tierline.accounts.models import Account
from tierline.db.fast import FastStatement, Flight, Pending

_ACCOUNT = cast(Table, Account.__table__)
_COLUMNS = (_ACCOUNT.c.id, _ACCOUNT.c.ref, _ACCOUNT.c.referred_by_id)
_BY_REF = select(*_COLUMNS).where(_ACCOUNT.c.ref == bindparam("p_ref"))
_BY_REF_FAST = FastStatement(_BY_REF, fetch=True)
_BY_ID = select(*_COLUMNS).where(_ACCOUNT.c.id == bindparam("p_id"))
_NOW = bindparam("p_now", type_=_ACCOUNT.c.created_at.type)
_INSERT = insert(_ACCOUNT).values(ref=bindparam("p_ref"), created_at=_NOW)
# PostgreSQL: create the account unless it exists, in a statement that needs no answer. The
# NOT EXISTS keeps the common case (the account exists) from drawing a sequence value; ON
# CONFLICT covers a concurrent creator (this statement waits for it, then does nothing).
_ENSURE = FastStatement(
    postgresql.insert(_ACCOUNT)
    .from_select(
        ["ref", "created_at"],
        select(bindparam("p_ref", type_=_ACCOUNT.c.ref.type), _NOW).where(
            ~exists().where(_ACCOUNT.c.ref == bindparam("p_ref"))
        ),
    )
    .on_conflict_do_nothing(index_elements=[_ACCOUNT.c.ref])
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


def send_ensure_account(sent: Flight, ref: str, now: datetime) -> Pending:
    """Create the account ``ref`` (already validated) unless it exists, in a flight
    (PostgreSQL only); a later statement of the flight finds it by its ref (the subscription
    upsert returns it: :func:`tierline.billing.subscriptions.upserted_account`)."""
    return sent.send(_ENSURE, {"p_ref": ref, "p_now": now})
