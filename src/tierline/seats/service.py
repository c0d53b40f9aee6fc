"""Seat use cases: assign, unassign and list the members holding an account's seats.

The seat limit is the tier's ``seats`` times the subscription's ``quantity``, which is what
``status().seats`` reports. An assignment is one conditional ``INSERT ... SELECT ... WHERE
(SELECT count(*) ...) < :limit``, made while holding a lock on the account's row
(``SELECT ... FOR UPDATE`` on PostgreSQL and MariaDB; SQLite runs one writer at a time, and
the insert is the transaction's first statement, so its count is current), so concurrent
assignments never pass the limit. When the quantity drops below the members assigned, no one
is removed: the account is reported ``over`` its seats and new assignments are refused until
enough members are unassigned.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TypeVar, cast

from sqlalchemy import Connection, Table, delete, exists, func, literal, select
from sqlalchemy.exc import IntegrityError, OperationalError

from tierline.access.service import AccessService
from tierline.accounts.models import Account
from tierline.accounts.service import AccountRef, canonical_ref, clean_ref, storable_ref
from tierline.context import Context
from tierline.db.errors import is_deadlock
from tierline.db.types import UTCDateTime
from tierline.errors import NotFoundError, SeatsExhaustedError, ValidationError
from tierline.seats.models import Seat

_seat = cast(Table, Seat.__table__)
_DEADLOCK_ATTEMPTS = 5

T = TypeVar("T")


@dataclass(frozen=True)
class SeatInfo:
    """One assigned member."""

    member_ref: str
    assigned_at: datetime


@dataclass(frozen=True)
class SeatSummary:
    """The account's seats: its limit, who holds them, and whether it is over."""

    account_ref: str
    limit: int
    members: tuple[SeatInfo, ...]

    @property
    def assigned(self) -> int:
        return len(self.members)

    @property
    def over(self) -> bool:
        """More members than seats (the quantity dropped): new assignments are refused."""
        return self.assigned > self.limit

    @property
    def available(self) -> int:
        return max(0, self.limit - self.assigned)

    def to_dict(self) -> dict[str, object]:
        return {
            "account_ref": self.account_ref,
            "limit": self.limit,
            "assigned": self.assigned,
            "available": self.available,
            "over": self.over,
            "members": [
                {"member_ref": m.member_ref, "assigned_at": m.assigned_at.isoformat()}
                for m in self.members
            ],
        }


class SeatService:
    """Assign an account's seats to its members, never past its limit."""

    def __init__(self, ctx: Context, access: AccessService) -> None:
        self.ctx = ctx
        self.access = access

    def _account_id(self, ref: str) -> int:
        found = None
        if storable_ref(ref):
            with self.ctx.engine.connect() as conn:
                found = conn.scalar(select(Account.id).where(Account.ref == ref))
        if found is None:
            raise NotFoundError(
                f"no account with ref {ref!r}; create it first: `tierline accounts add {ref}`, or "
                "`ensure_account` in code"
            )
        return int(found)

    def assign(self, ref: AccountRef, member_ref: str) -> SeatSummary:
        """Give ``member_ref`` (the host's id of a user) a seat of the account; assigning a
        member who already holds one changes nothing.

        Raises:
            NotFoundError: no account ``ref``.
            ValidationError: a bad member ref (same rules as an account ref).
            SeatsExhaustedError: every seat is taken (``limit`` and ``assigned`` on it).
        """
        ref = canonical_ref(ref)
        member_ref = _clean_member(member_ref)
        account_id = self._account_id(ref)
        now = self.ctx.clock()
        seated, limit = self._retrying(lambda: self._insert(ref, account_id, member_ref, now))
        summary = self.list(ref)
        if not seated:
            raise SeatsExhaustedError(
                f"account {ref!r} has no free seat: {summary.assigned} of {limit} assigned; "
                "add seats (subscription quantity) or unassign a member",
                limit=limit,
                assigned=summary.assigned,
            )
        return summary

    def _insert(
        self, ref: str, account_id: int, member_ref: str, now: datetime
    ) -> tuple[bool, int]:
        """Whether the member holds a seat after the conditional insert, and the seat limit
        it was held to."""
        limit = 0
        try:
            with self.ctx.engine.begin() as conn:
                _lock_account(conn, account_id)
                # The seats as this transaction reads them, never a cached status: a quantity
                # lowered by another process is obeyed at once, not after the cache's TTL.
                limit = self.access.status_in(conn, ref, now).seats
                held = (
                    select(func.count())
                    .select_from(_seat)
                    .where(_seat.c.account_id == account_id)
                    .scalar_subquery()
                )
                taken = exists().where(
                    _seat.c.account_id == account_id, _seat.c.member_ref == member_ref
                )
                source = select(Account.id, literal(member_ref), literal(now, UTCDateTime())).where(
                    Account.id == account_id, held < limit, ~taken
                )
                conn.execute(
                    _seat.insert().from_select(["account_id", "member_ref", "created_at"], source)
                )
                # Whether the member holds a seat now (inserted by us or before us).
                seated = bool(conn.scalar(select(taken)))
                staged = self.ctx.changes.stage(conn, (ref,))
            self.ctx.changes.committed(staged)
            return seated, limit
        except IntegrityError:
            return True, limit  # assigned concurrently: the unique constraint held

    def _retrying(self, attempt: Callable[[], T]) -> T:
        for remaining in range(_DEADLOCK_ATTEMPTS - 1, -1, -1):
            try:
                return attempt()
            except OperationalError as exc:
                if remaining == 0 or not is_deadlock(exc):
                    raise
        raise AssertionError("unreachable")  # pragma: no cover

    def unassign(self, ref: AccountRef, member_ref: str) -> bool:
        """Take the member's seat back; whether it held one.

        Raises:
            NotFoundError: no account ``ref``.
            ValidationError: a bad member ref (same rules as :meth:`assign`).
        """
        ref = canonical_ref(ref)
        member_ref = _clean_member(member_ref)
        account_id = self._account_id(ref)
        with self.ctx.engine.begin() as conn:
            result = conn.execute(
                delete(_seat).where(
                    _seat.c.account_id == account_id, _seat.c.member_ref == member_ref
                )
            )
            staged = self.ctx.changes.stage(conn, (ref,))
        self.ctx.changes.committed(staged)
        return bool(result.rowcount)

    def list(self, ref: AccountRef) -> SeatSummary:
        """The account's seat limit and members, oldest assignment first.

        Raises:
            NotFoundError: no account ``ref``.
        """
        ref = canonical_ref(ref)
        account_id = self._account_id(ref)
        limit = self.access.status(ref).seats
        with self.ctx.engine.connect() as conn:
            rows = conn.execute(
                select(_seat.c.member_ref, _seat.c.created_at)
                .where(_seat.c.account_id == account_id)
                .order_by(_seat.c.id)
            ).all()
        members = tuple(SeatInfo(member, at) for member, at in rows)
        return SeatSummary(ref, limit, members)


def _lock_account(conn: Connection, account_id: int) -> None:
    """Serialise seat changes of one account (SQLite serialises every writer already, and a
    read first would make its write transaction fail instead of wait)."""
    if conn.dialect.name != "sqlite":
        conn.execute(select(Account.id).where(Account.id == account_id).with_for_update())


def _clean_member(member_ref: object) -> str:
    """A member ref follows the account ref rules (the host's id of a user)."""
    try:
        return clean_ref(member_ref)
    except ValidationError as exc:
        raise ValidationError(str(exc).replace("account ref", "member ref", 1)) from exc
