"""Credit use cases: grant, revoke and list time-boxed paid access.

A new grant starts where the account's current credit ends (or now), so granting again never
shortens or overlaps what was already given. Grants with an ``idempotency_key`` happen once:
the same key again returns the first grant.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from tierline import bounds
from tierline.accounts.models import Account
from tierline.accounts.service import get_account, lock_accounts, storable_ref
from tierline.context import Context
from tierline.credits.models import CreditGrant
from tierline.errors import ValidationError

#: Longest single grant, in days (a hundred years); beyond it dates overflow on some dialects.
MAX_DAYS = 36_500
#: No credit runs past this moment (2100-01-01 00:00 UTC). A grant that would end later is
#: refused; a referral reward is cut short at it (or, when the account's credit already reaches
#: it, adds nothing). Date arithmetic on stored expiries therefore never overflows.
MAX_CREDIT_END = datetime(2100, 1, 1, tzinfo=UTC)
_TEXT_LENGTH = 255


@dataclass(frozen=True)
class CreditInfo:
    """One credit grant as callers see it."""

    id: int
    account_ref: str
    starts_at: datetime
    expires_at: datetime
    reason: str | None
    granted_by: str | None
    revoked_at: datetime | None
    idempotency_key: str | None
    created_at: datetime

    @classmethod
    def of(cls, grant: CreditGrant, account_ref: str) -> CreditInfo:
        return cls(
            id=grant.id,
            account_ref=account_ref,
            starts_at=grant.starts_at,
            expires_at=grant.expires_at,
            reason=grant.reason,
            granted_by=grant.granted_by,
            revoked_at=grant.revoked_at,
            idempotency_key=grant.idempotency_key,
            created_at=grant.created_at,
        )

    def active_at(self, when: datetime) -> bool:
        """Whether this grant gives access at ``when``."""
        return self.revoked_at is None and self.starts_at <= when < self.expires_at


def _check_days(days: object) -> int:
    if isinstance(days, bool) or not isinstance(days, int) or not 0 < days <= MAX_DAYS:
        raise ValidationError(
            f"days {days!r} is not valid: give a whole number from 1 to {MAX_DAYS}"
        )
    return days


def _check_text(name: str, value: str | None) -> str | None:
    if value is None:
        return None
    if (
        not isinstance(value, str)
        or not value.strip()
        or len(value) > _TEXT_LENGTH
        or bounds.BAD_IDENTIFIER.search(value)
    ):
        # (NUL: PostgreSQL refuses it in text; a lone surrogate: no driver encodes one.)
        raise ValidationError(
            f"{name} {bounds.shown(value)} is not valid: give 1 to {_TEXT_LENGTH} characters "
            "without control characters, or nothing"
        )
    return value


def _check_key(key: str | None) -> str | None:
    return None if key is None else bounds.check_key(key)


def current_expiry(session: Session, account_id: int, now: datetime) -> datetime | None:
    """The latest expiry of the account's non-revoked grants still running or to come."""
    latest: datetime | None = session.scalar(
        select(func.max(CreditGrant.expires_at)).where(
            CreditGrant.account_id == account_id,
            CreditGrant.revoked_at.is_(None),
            CreditGrant.expires_at > now,
        )
    )
    return latest


def _lock_first(session: Session, ref: str) -> None:
    """Lock the account's row as the transaction's first statement (PostgreSQL, MariaDB).

    MariaDB's REPEATABLE READ answers every plain read from the snapshot its first one takes:
    taken before the lock, it would miss a grant committed meanwhile, and two concurrent
    grants would both start at the same expiry. Taken after, it holds every earlier grant.
    (SQLite: the write of :func:`~tierline.accounts.service.lock_accounts` begins the
    transaction.)
    """
    if session.get_bind().dialect.name != "sqlite" and storable_ref(ref):
        session.execute(select(Account.id).where(Account.ref == ref).with_for_update())


def _find_by_key(session: Session, key: str) -> CreditGrant | None:
    return session.scalars(
        select(CreditGrant).where(CreditGrant.idempotency_key == key)
    ).one_or_none()


class CreditService:
    """Grant, revoke and list time-boxed credits."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    def grant(
        self,
        ref: str,
        *,
        days: int | None = None,
        until: datetime | None = None,
        reason: str | None = None,
        by: str | None = None,
        idempotency_key: str | None = None,
    ) -> CreditInfo:
        """Grant paid access for ``days``, or up to ``until``, after the current credit.

        Raises:
            NotFoundError: no account ``ref``.
            ValidationError: both or neither of ``days``/``until``; days not a positive whole
                number; ``until`` naive, past, or not after the current credit's expiry;
                ``idempotency_key`` already used for another account.
        """
        if (days is None) == (until is None):
            raise ValidationError("give exactly one of days or until")
        if days is not None:
            _check_days(days)
        if until is not None:
            if not isinstance(until, datetime) or until.tzinfo is None:
                raise ValidationError(
                    f"until {until!r} is not an aware datetime; give one with a time zone"
                )
            if until > MAX_CREDIT_END:
                raise ValidationError(
                    f"until {until.isoformat()} is past {MAX_CREDIT_END:%Y-%m-%d}, the latest "
                    "end a credit may have; give an earlier date"
                )
            if until <= self.ctx.clock():
                raise ValidationError(
                    f"until {until.isoformat()} is not in the future "
                    f"(now is {self.ctx.clock().isoformat()})"
                )
        reason = _check_text("reason", reason)
        by = _check_text("by", by)
        idempotency_key = _check_key(idempotency_key)
        try:
            with self.ctx.changes.writing(ref) as session:
                _lock_first(session, ref)
                account = get_account(session, ref)
                grant = self._grant(session, account, days, until, reason, by, idempotency_key)
                assert grant is not None  # only a cut-short reward grants nothing
                info = CreditInfo.of(grant, account.ref)
            return info
        except IntegrityError:
            if idempotency_key is None:
                raise
            # A concurrent grant with the same key committed first: it is the grant.
            with self.ctx.sessions() as session:
                account = get_account(session, ref)
                winner = _find_by_key(session, idempotency_key)
                if winner is None:
                    raise
                info = self._existing(winner, account)
        self.ctx.cache.invalidate(ref)
        return info

    def grant_in(
        self,
        session: Session,
        account: Account,
        *,
        days: int,
        reason: str | None,
        by: str | None,
        idempotency_key: str | None,
    ) -> CreditGrant | None:
        """Grant ``days`` inside the caller's transaction (e.g. a referral reward).

        The caller invalidates the access cache for ``account.ref`` after committing. With an
        ``idempotency_key`` already used, the existing grant is returned unchanged. A reward is
        never refused for running long: it ends at :data:`MAX_CREDIT_END` at the latest, and
        when the account's credit already reaches it nothing is granted (``None``).
        """
        _check_days(days)
        return self._grant(
            session,
            account,
            days,
            None,
            _check_text("reason", reason),
            _check_text("by", by),
            _check_key(idempotency_key),
            cut_short=True,
        )

    def _grant(
        self,
        session: Session,
        account: Account,
        days: int | None,
        until: datetime | None,
        reason: str | None,
        by: str | None,
        key: str | None,
        *,
        cut_short: bool = False,
    ) -> CreditGrant | None:
        if key is not None:
            existing = _find_by_key(session, key)
            if existing is not None:
                self._existing(existing, account)
                return existing
        lock_accounts(session, account.id)
        now = self.ctx.clock()
        latest = current_expiry(session, account.id, now)
        starts_at = max(now, latest) if latest is not None else now
        if days is not None:
            # Subtracting never overflows (a stored far date is at most year 9999); adding to
            # it could, so the sum is only formed once it is known to stay before the cap.
            room = MAX_CREDIT_END - starts_at
            if timedelta(days=days) <= room:
                expires_at = starts_at + timedelta(days=days)
            elif not cut_short:
                raise ValidationError(
                    f"a credit of {days} days from {starts_at:%Y-%m-%d} would run past "
                    f"{MAX_CREDIT_END:%Y-%m-%d}, the latest end a credit may have; give fewer days"
                )
            elif room > timedelta(0):
                expires_at = MAX_CREDIT_END
            else:
                return None
        elif until is None:
            raise ValidationError("give exactly one of days or until")
        else:
            if until <= starts_at:
                raise ValidationError(
                    f"until {until.isoformat()} is not after the account's current credit, "
                    f"which runs until {starts_at.isoformat()}; give a later date or use days"
                )
            expires_at = until
        grant = CreditGrant(
            account_id=account.id,
            starts_at=starts_at,
            expires_at=expires_at,
            reason=reason,
            granted_by=by,
            idempotency_key=key,
            created_at=now,
        )
        session.add(grant)
        session.flush()
        return grant

    @staticmethod
    def _existing(grant: CreditGrant, account: Account) -> CreditInfo:
        if grant.account_id != account.id:
            raise ValidationError(
                f"idempotency key {grant.idempotency_key!r} was already used for another "
                f"account's grant (id {grant.id}); use a new key"
            )
        return CreditInfo.of(grant, account.ref)

    def revoke(self, ref: str) -> int:
        """Revoke the account's running and future grants; returns how many.

        Raises:
            NotFoundError: no account ``ref``.
        """
        with self.ctx.changes.writing(ref) as session:
            account = get_account(session, ref)
            now = self.ctx.clock()
            result = session.execute(
                update(CreditGrant)
                .where(
                    CreditGrant.account_id == account.id,
                    CreditGrant.revoked_at.is_(None),
                    CreditGrant.expires_at > now,
                )
                .values(revoked_at=now)
                .execution_options(synchronize_session=False)
            )
            count = int(getattr(result, "rowcount", 0) or 0)
        return count

    def history(self, ref: str) -> list[CreditInfo]:
        """Every grant of the account, newest first.

        Raises:
            NotFoundError: no account ``ref``.
        """
        with self.ctx.sessions() as session:
            account = get_account(session, ref)
            grants = session.scalars(
                select(CreditGrant)
                .where(CreditGrant.account_id == account.id)
                .order_by(CreditGrant.created_at.desc(), CreditGrant.id.desc())
            ).all()
            return [CreditInfo.of(grant, account.ref) for grant in grants]
