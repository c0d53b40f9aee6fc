"""Look-ups on the webhook hot path: ids only, each one prebuilt statement.

:func:`tierline.catalog.queries.find_tier_by_link` and
:func:`tierline.accounts.service.find_account` load ORM entities, which costs several times
the query itself; the inbox applies hundreds of events a second and needs only ids, so it asks
the same questions through Core. New accounts are still created by ``ensure_account_in``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import cast

from sqlalchemy import Connection, Table, bindparam, select

from tierline.accounts.models import Account
from tierline.catalog.models import Tier, TierProviderLink

_LINK = cast(Table, TierProviderLink.__table__)
_TIER = cast(Table, Tier.__table__)
_ACCOUNT = cast(Table, Account.__table__)

_TIERS_BY_LINK = (
    select(_LINK.c.external_key, _TIER.c.id, _TIER.c.key)
    .join_from(_LINK, _TIER, _TIER.c.id == _LINK.c.tier_id)
    .where(
        _LINK.c.provider == bindparam("p_provider"),
        _LINK.c.external_key.in_(bindparam("p_keys", expanding=True)),
    )
)
_ACCOUNT_BY_REF = select(_ACCOUNT.c.id, _ACCOUNT.c.ref, _ACCOUNT.c.referred_by_id).where(
    _ACCOUNT.c.ref == bindparam("p_ref")
)
_ACCOUNT_BY_ID = select(_ACCOUNT.c.id, _ACCOUNT.c.ref, _ACCOUNT.c.referred_by_id).where(
    _ACCOUNT.c.id == bindparam("p_id")
)


@dataclass(frozen=True)
class TierRef:
    """A tier's id and key."""

    id: int
    key: str


@dataclass(frozen=True)
class AccountRef:
    """An account's id, ref, and whether it was referred (it has a referral to convert)."""

    id: int
    ref: str
    referred: bool


def tier_by_link(conn: Connection, provider: str, keys: Sequence[str]) -> TierRef | None:
    """The tier linked to the first of ``keys`` a link knows (as ``find_tier_by_link``)."""
    if not keys:
        return None
    rows = conn.execute(_TIERS_BY_LINK, {"p_provider": provider, "p_keys": list(keys)}).all()
    by_key = {row.external_key: TierRef(row.id, row.key) for row in rows}
    for key in keys:
        if key in by_key:
            return by_key[key]
    return None


def account_by_ref(conn: Connection, ref: str) -> AccountRef | None:
    """The account with this ref, or ``None``."""
    row = conn.execute(_ACCOUNT_BY_REF, {"p_ref": ref}).first()
    return None if row is None else AccountRef(row.id, row.ref, row.referred_by_id is not None)


def account_by_id(conn: Connection, account_id: int) -> AccountRef | None:
    """The account with this id, or ``None``."""
    row = conn.execute(_ACCOUNT_BY_ID, {"p_id": account_id}).first()
    return None if row is None else AccountRef(row.id, row.ref, row.referred_by_id is not None)
