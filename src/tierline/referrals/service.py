"""Referral use cases: codes, attribution, stats and conversion."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from tierline.accounts.models import Account
from tierline.accounts.service import ensure_account_in, get_account, lock_accounts
from tierline.catalog.spec import ReferralPolicy
from tierline.context import Context
from tierline.credits.models import CreditGrant
from tierline.credits.service import CreditService
from tierline.errors import NotFoundError, TierlineError, ValidationError
from tierline.referrals import codes
from tierline.referrals.codes import normalize_code
from tierline.referrals.conversion import Conversion, convert_on_first_payment
from tierline.referrals.models import Referral

__all__ = [
    "Conversion",
    "ReferralInfo",
    "ReferralService",
    "ReferralStats",
    "normalize_code",
]

#: Fresh codes tried before giving up (a collision needs ~1M codes in use to be likely once).
MAX_CODE_ATTEMPTS = 10


@dataclass(frozen=True)
class ReferralInfo:
    """One referral as callers see it."""

    id: int
    referrer_ref: str
    referred_ref: str
    code: str
    created_at: datetime
    converted_at: datetime | None
    credited_at: datetime | None


@dataclass(frozen=True)
class ReferralStats:
    """An account's referral figures, for the settings page and the CLI."""

    code: str | None
    pending: int
    converted: int
    credited: int
    #: The account's own credit grants active now (from referrals or admins).
    active_credits: int

    def to_dict(self) -> dict[str, object]:
        """A JSON-ready dict (``referrals stats --json``)."""
        return {
            "code": self.code,
            "pending": self.pending,
            "converted": self.converted,
            "credited": self.credited,
            "active_credits": self.active_credits,
        }


#: Whether an account (by id) has already paid, read in the caller's session.
PaidCheck = Callable[[Session, int], bool]


class ReferralService:
    """Referral codes, attribution, stats and conversion.

    ``has_paid`` tells whether an account already paid (billing knows: an active or past-due
    subscription); an account attributed after it paid converts at once, so a conversion never
    depends on which of the two came first.
    """

    def __init__(
        self,
        ctx: Context,
        credits: CreditService,
        policy: ReferralPolicy,
        has_paid: PaidCheck | None = None,
    ) -> None:
        self.ctx = ctx
        self.credits = credits
        self.policy = policy
        self.has_paid = has_paid

    def code(self, ref: str) -> str:
        """The account's referral code, drawn and saved on first request.

        Raises:
            NotFoundError: no account ``ref``.
        """
        for _ in range(MAX_CODE_ATTEMPTS):
            with self.ctx.sessions() as session:
                existing = get_account(session, ref).referral_code
            if existing is not None:
                return existing
            candidate = codes.new_code()
            try:
                with self.ctx.sessions.begin() as session:
                    result = session.execute(
                        update(Account)
                        .where(Account.ref == ref, Account.referral_code.is_(None))
                        .values(referral_code=candidate)
                        .execution_options(synchronize_session=False)
                    )
                    if getattr(result, "rowcount", 0) == 1:
                        return candidate
                # Zero rows: a concurrent request gave the account its code; read it.
            except IntegrityError:
                continue  # the code belongs to another account: draw again
        raise TierlineError(
            f"could not assign a referral code to {ref!r} after {MAX_CODE_ATTEMPTS} attempts"
        )

    def attribute(self, referred_ref: str, code: str) -> ReferralInfo:
        """Record that ``referred_ref`` (created if new) signed up with ``code``.

        An account that already paid (see ``has_paid``) converts in the same transaction: the
        returned info then carries ``converted_at``. All or nothing: on any error no account or
        referral is written.

        Raises:
            ValidationError: a malformed code, a self- or mutual referral, or an account that
                was already referred.
            NotFoundError: no account has this code.
        """
        normalized = normalize_code(code)
        conversion: Conversion | None = None
        try:
            with self.ctx.changes.writing() as session:
                info = self._attribute(session, referred_ref, normalized, code)
                referred = get_account(session, info.referred_ref)
                if self.has_paid is not None and self.has_paid(session, referred.id):
                    # Paid before it was attributed: convert now, exactly once as always.
                    conversion = self.on_first_payment(session, referred)
                    if conversion is not None:
                        self.ctx.changes.touch(session, *conversion.refs)
        except IntegrityError as exc:
            # The unique referred_id: a concurrent attribution of the same account won.
            raise ValidationError(f"account {referred_ref!r} was already referred") from exc
        if conversion is not None:
            return self._info(info.id)
        return info

    def _info(self, referral_id: int) -> ReferralInfo:
        with self.ctx.sessions() as session:
            row = session.get_one(Referral, referral_id)
            referrer = session.get_one(Account, row.referrer_id)
            referred = session.get_one(Account, row.referred_id)
            return ReferralInfo(
                id=row.id,
                referrer_ref=referrer.ref,
                referred_ref=referred.ref,
                code=row.code,
                created_at=row.created_at,
                converted_at=row.converted_at,
                credited_at=row.credited_at,
            )

    def _attribute(
        self, session: Session, referred_ref: str, normalized: str, typed: str
    ) -> ReferralInfo:
        referred = ensure_account_in(session, referred_ref)
        referrer = session.scalars(
            select(Account).where(Account.referral_code == normalized)
        ).one_or_none()
        if referrer is None:
            raise NotFoundError(f"no account has referral code {typed!r} ({normalized})")
        if referrer.id == referred.id:
            raise ValidationError(f"account {referred_ref!r} cannot use its own referral code")
        # Both accounts locked, and who referred each read as committed now: two accounts
        # attributed with each other's code at the same moment must not both pass the
        # mutual-referral check below.
        lock_accounts(session, referrer.id, referred.id)
        rows = session.execute(
            select(Account.id, Account.referred_by_id)
            .where(Account.id.in_((referrer.id, referred.id)))
            .with_for_update()
        )
        referred_by: dict[int, int | None] = {int(row.id): row.referred_by_id for row in rows}
        if referred_by[referred.id] is not None or session.scalar(
            select(Referral.id).where(Referral.referred_id == referred.id)
        ):
            raise ValidationError(
                f"account {referred_ref!r} was already referred; a referral is recorded once"
            )
        if referred_by[referrer.id] == referred.id:
            raise ValidationError(
                f"account {referred_ref!r} referred {referrer.ref!r}, so it cannot be "
                "referred back by it"
            )
        referral = Referral(
            referrer_id=referrer.id,
            referred_id=referred.id,
            code=normalized,
            created_at=self.ctx.clock(),
        )
        session.add(referral)
        referred.referred_by_id = referrer.id
        session.flush()
        return ReferralInfo(
            id=referral.id,
            referrer_ref=referrer.ref,
            referred_ref=referred.ref,
            code=normalized,
            created_at=referral.created_at,
            converted_at=None,
            credited_at=None,
        )

    def stats(self, ref: str) -> ReferralStats:
        """The account's code (None until first asked for) and referral figures.

        Raises:
            NotFoundError: no account ``ref``.
        """
        now = self.ctx.clock()
        with self.ctx.sessions() as session:
            account = get_account(session, ref)
            total, converted, credited = session.execute(
                select(
                    func.count(Referral.id),
                    func.count(Referral.converted_at),
                    func.count(Referral.credited_at),
                ).where(Referral.referrer_id == account.id)
            ).one()
            active = session.scalar(
                select(func.count(CreditGrant.id)).where(
                    CreditGrant.account_id == account.id,
                    CreditGrant.revoked_at.is_(None),
                    CreditGrant.starts_at <= now,
                    CreditGrant.expires_at > now,
                )
            )
        return ReferralStats(
            code=account.referral_code,
            pending=int(total) - int(converted),
            converted=int(converted),
            credited=int(credited),
            active_credits=int(active or 0),
        )

    def on_first_payment(self, session: Session, account: Account) -> Conversion | None:
        """Convert the account's referral inside the caller's transaction, exactly once.

        Marks it converted, grants the policy's credits (idempotency keys
        ``referral:<id>:referrer`` / ``referral:<id>:referred``) and sets ``credited_at``.
        Returns ``None`` when there is nothing to convert. After committing, the caller
        invalidates the access cache for both refs of the :class:`Conversion`.
        """
        return convert_on_first_payment(self.ctx, self.credits, self.policy, session, account)
