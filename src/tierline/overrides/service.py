"""Override use cases: set, clear and list an account's per-feature overrides."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, select

from tierline import bounds
from tierline.accounts.models import Account
from tierline.accounts.service import AccountRef, canonical_ref, get_account
from tierline.catalog.models import LimitPeriod
from tierline.context import Context
from tierline.errors import ValidationError
from tierline.overrides.models import Override
from tierline.overrides.snapshot import OverrideSnapshot
from tierline.usage.features import FeatureKeys

MAX_LIMIT = 2**31 - 1
MAX_TEXT = 255
#: The ``feature`` column's size.
MAX_FEATURE = 64
_PERIODS = ", ".join(p.value for p in LimitPeriod)


@dataclass(frozen=True)
class OverrideInfo:
    """One override as callers see it."""

    account_ref: str
    feature: str
    enabled: bool
    limit: int | None
    period: str | None
    expires_at: datetime | None
    reason: str
    created_by: str | None
    created_at: datetime

    def to_dict(self) -> dict[str, object]:
        return {
            "account_ref": self.account_ref,
            "feature": self.feature,
            "enabled": self.enabled,
            "limit": self.limit,
            "period": self.period,
            "expires_at": self.expires_at.isoformat() if self.expires_at else None,
            "reason": self.reason,
            "created_by": self.created_by,
            "created_at": self.created_at.isoformat(),
        }


class OverrideService:
    """An admin's per-account grants of a feature or a different limit.

    Every change invalidates the account's cached status and reloads the in-process override
    snapshot, so ``status()`` in this process sees it at once (other processes within
    :data:`tierline.overrides.snapshot.REFRESH_SECONDS`).
    """

    def __init__(self, ctx: Context, snapshot: OverrideSnapshot, features: FeatureKeys) -> None:
        self.ctx = ctx
        self.snapshot = snapshot
        self.features = features

    def set(
        self,
        ref: AccountRef,
        feature: str,
        *,
        enabled: bool = True,
        limit: int | None = None,
        period: str | None = None,
        expires_at: datetime | None = None,
        reason: str,
        created_by: str | None = None,
    ) -> OverrideInfo:
        """Grant (``enabled=True``) or withhold feature ``feature`` for one account, with an
        optional ``limit`` per ``period`` (``day``, ``month`` or ``none``; default: the tier's
        period) until ``expires_at`` (aware datetime; ``None``: no expiry). Replaces the
        account's earlier override of that feature.

        Raises:
            NotFoundError: no account ``ref``.
            ValidationError: unknown feature, a limit below 0, an unknown period, a naive or
                past expiry, an empty reason, a limit on a withheld feature.
        """
        ref = canonical_ref(ref)
        self.features.require(feature)
        now = self.ctx.clock()
        if not isinstance(enabled, bool):
            raise ValidationError(f"enabled {bounds.shown(enabled)} is not True or False")
        if limit is not None and (
            isinstance(limit, bool) or not isinstance(limit, int) or not 0 <= limit <= MAX_LIMIT
        ):
            # (A float or Decimal would be stored as given on SQLite and rounded on the
            # servers: a different limit per dialect.)
            raise ValidationError(
                f"limit {bounds.shown(limit)} is out of range: give a whole number from 0 "
                f"to {MAX_LIMIT}"
            )
        if limit is not None and not enabled:
            raise ValidationError("a limit needs enabled=True: a withheld feature has no limit")
        if period is not None and period not in tuple(LimitPeriod):
            raise ValidationError(f"period {period!r} is not one of {_PERIODS}")
        if period is not None and limit is None:
            raise ValidationError(f"period {period!r} needs a limit")
        if expires_at is not None:
            if not isinstance(expires_at, datetime):
                raise ValidationError(
                    f"expires_at {bounds.shown(expires_at)} is not a datetime; give an aware one"
                )
            if expires_at.tzinfo is None:
                raise ValidationError(f"expires_at {expires_at!r} has no time zone; give UTC")
            expires_at = bounds.check_datetime(expires_at, field="expires_at")  # in UTC
            if expires_at <= now:
                raise ValidationError(
                    f"expires_at {expires_at.isoformat()} is not in the future "
                    f"(now {now.isoformat()})"
                )
        if reason is not None and not isinstance(reason, str):
            raise ValidationError(f"reason {bounds.shown(reason)} is not text; say why")
        reason = (reason or "").strip()
        if not reason or len(reason) > MAX_TEXT:
            raise ValidationError(f"reason must be 1 to {MAX_TEXT} characters; say why")
        bounds.check_text(reason, field="reason", max_length=MAX_TEXT)
        if created_by is not None:
            bounds.check_text(created_by, field="created_by", max_length=MAX_TEXT)
        with self.ctx.changes.writing(ref, everything=True) as session:
            account = get_account(session, ref)
            row = session.scalars(
                select(Override).where(
                    Override.account_id == account.id, Override.feature == feature
                )
            ).one_or_none()
            if row is None:
                row = Override(account_id=account.id, feature=feature)
                session.add(row)
            row.enabled = enabled
            row.limit_value = limit
            row.period = period
            row.expires_at = expires_at
            row.reason = reason
            row.created_by = created_by
            row.created_at = now
            session.flush()
            info = _info(ref, row)
        self._changed(ref)
        return info

    def clear(self, ref: AccountRef, feature: str | None = None) -> int:
        """Remove the account's override of ``feature`` (every override when ``None``);
        returns how many were removed.

        Raises:
            NotFoundError: no account ``ref``.
        """
        ref = canonical_ref(ref)
        if feature is not None:  # a key no longer in the catalog may still be cleared
            bounds.check_text(feature, field="feature", max_length=MAX_FEATURE, allow_empty=False)
        with self.ctx.changes.writing(ref, everything=True) as session:
            account = get_account(session, ref)
            statement = delete(Override).where(Override.account_id == account.id)
            if feature is not None:
                statement = statement.where(Override.feature == feature)
            removed = getattr(session.execute(statement), "rowcount", 0)
        self._changed(ref)
        return int(removed or 0)

    def list(self, ref: AccountRef | None = None) -> list[OverrideInfo]:
        """The overrides of one account (every account's when ``ref`` is ``None``), expired
        ones included (``expires_at`` says so).

        Raises:
            NotFoundError: no account ``ref``.
        """
        ref = canonical_ref(ref) if ref is not None else None
        with self.ctx.sessions() as session:
            statement = (
                select(Account.ref, Override)
                .join(Account, Account.id == Override.account_id)
                .order_by(Account.ref, Override.feature)
            )
            if ref is not None:
                account = get_account(session, ref)
                statement = statement.where(Override.account_id == account.id)
            return [_info(row_ref, row) for row_ref, row in session.execute(statement)]

    def _changed(self, ref: str) -> None:
        # After the commit; the hooks ran and every cache was told (``changes.writing``, which
        # clears them all: other processes must reload their override snapshots too).
        self.snapshot.reload()


def _info(ref: str, row: Override) -> OverrideInfo:
    return OverrideInfo(
        account_ref=ref,
        feature=row.feature,
        enabled=row.enabled,
        limit=row.limit_value,
        period=row.period,
        expires_at=row.expires_at,
        reason=row.reason,
        created_by=row.created_by,
        created_at=row.created_at,
    )
