"""A referral's conversion: on the referred account's first payment, reward once.

Runs inside the webhook's transaction (the inbox calls it). "Exactly once" rests on a
conditional ``UPDATE ... WHERE converted_at IS NULL``: of two deliveries racing for the same
referral, the database lets one update the row; the other matches nothing and does nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from tierline.accounts.models import Account
from tierline.accounts.service import lock_accounts
from tierline.catalog.spec import ReferralPolicy, RewardRecipient
from tierline.context import Context
from tierline.credits.service import CreditService
from tierline.referrals.models import Referral

REWARD_REASON = "referral"
REWARD_BY = "tierline:referral"


@dataclass(frozen=True)
class Conversion:
    """A referral converted by this transaction.

    After committing, the caller invalidates the access cache for both :attr:`refs` (either may
    have been credited) and applies :attr:`stripe_coupon`, if any, to the referred account's
    subscription.
    """

    referral_id: int
    referrer_ref: str
    referred_ref: str
    stripe_coupon: str | None

    @property
    def refs(self) -> tuple[str, str]:
        return (self.referrer_ref, self.referred_ref)


def convert_on_first_payment(
    ctx: Context,
    credits: CreditService,
    policy: ReferralPolicy,
    session: Session,
    account: Account,
) -> Conversion | None:
    """Mark the account's referral converted and grant the policy's credits, once.

    Returns ``None`` when the account was not referred or its referral already converted.
    """
    row = session.execute(
        select(Referral.id, Referral.referrer_id, Referral.converted_at).where(
            Referral.referred_id == account.id
        )
    ).one_or_none()
    if row is None or row.converted_at is not None:
        return None
    now = ctx.clock()
    claimed = session.execute(
        update(Referral)
        .where(Referral.id == row.id, Referral.converted_at.is_(None))
        .values(converted_at=now)
        .execution_options(synchronize_session=False)
    )
    if getattr(claimed, "rowcount", 0) != 1:
        return None  # another transaction converted it first
    referrer = session.get_one(Account, row.referrer_id)
    if policy.reward_days > 0:
        # Both accounts locked at once, in id order, as an attribution locks them: the grants
        # below then wait for no other lock, and no two transactions take these two locks in
        # opposite orders.
        lock_accounts(session, referrer.id, account.id)
        recipients: list[tuple[str, Account]] = []
        if policy.reward_to in (RewardRecipient.REFERRER, RewardRecipient.BOTH):
            recipients.append(("referrer", referrer))
        if policy.reward_to in (RewardRecipient.REFERRED, RewardRecipient.BOTH):
            recipients.append(("referred", account))
        for role, recipient in recipients:
            credits.grant_in(
                session,
                recipient,
                days=policy.reward_days,
                reason=REWARD_REASON,
                by=REWARD_BY,
                idempotency_key=f"referral:{row.id}:{role}",
            )
        session.execute(
            update(Referral)
            .where(Referral.id == row.id)
            .values(credited_at=now)
            .execution_options(synchronize_session=False)
        )
    return Conversion(
        referral_id=row.id,
        referrer_ref=referrer.ref,
        referred_ref=account.ref,
        stripe_coupon=policy.stripe_coupon,
    )
