"""Credits end by 2100-01-01 at the latest, and a stored far date never overflows."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from tierline import Tierline
from tierline.access.rules import SubscriptionFacts, decide
from tierline.accounts.service import get_account
from tierline.catalog.spec import Catalog, ReferralPolicy, RewardRecipient
from tierline.credits.models import CreditGrant
from tierline.credits.service import MAX_CREDIT_END
from tierline.errors import ValidationError

from ..clock import FrozenClock

MakeTierline = Callable[..., Tierline]
FAR = datetime(9999, 12, 31, tzinfo=UTC)
POLICY = ReferralPolicy(reward_days=30, reward_to=RewardRecipient.BOTH)


def grants_of(tl: Tierline, ref: str) -> list[tuple[datetime, datetime]]:
    with tl.ctx.sessions() as session:
        account = get_account(session, ref)
        rows = session.execute(
            select(CreditGrant.starts_at, CreditGrant.expires_at)
            .where(CreditGrant.account_id == account.id)
            .order_by(CreditGrant.id)
        ).all()
    return [(row.starts_at, row.expires_at) for row in rows]


def store_grant(tl: Tierline, ref: str, starts_at: datetime, expires_at: datetime) -> None:
    """A grant written directly, as an older Tierline (or a hand edit) could have left it."""
    with tl.ctx.sessions.begin() as session:
        account = get_account(session, ref)
        session.add(CreditGrant(account_id=account.id, starts_at=starts_at, expires_at=expires_at))


def test_days_or_until_past_the_maximum_are_refused(make_tierline: MakeTierline) -> None:
    tl = make_tierline()
    tl.ensure_account("a")
    with pytest.raises(ValidationError, match="would run past 2100-01-01, the latest end"):
        tl.grant_credit("a", days=30_000)
    with pytest.raises(ValidationError, match="is past 2100-01-01, the latest end a credit"):
        tl.grant_credit("a", until=FAR)
    with pytest.raises(ValidationError, match="from 1 to 36500"):
        tl.grant_credit("a", days=2**70)
    assert grants_of(tl, "a") == []
    assert tl.grant_credit("a", until=MAX_CREDIT_END).expires_at == MAX_CREDIT_END


def test_a_stored_far_expiry_is_extended_cleanly_and_rewards_still_apply(
    make_tierline: MakeTierline, clock: FrozenClock
) -> None:
    tl = make_tierline(catalog=Catalog(referrals=POLICY))
    tl.ensure_account("far")
    store_grant(tl, "far", clock(), FAR)
    assert tl.status("far").expires_at == FAR

    with pytest.raises(ValidationError, match="from 9999-12-31 would run past 2100-01-01"):
        tl.grant_credit("far", days=3)
    with pytest.raises(ValidationError, match="is past 2100-01-01"):
        tl.grant_credit("far", until=FAR + timedelta(hours=1))

    # "far" refers a friend who pays: the friend gets the reward, "far" (already beyond the
    # maximum) gets nothing more, and nothing fails.
    tl.attribute_referral("friend", tl.referral_code("far"))
    with tl.ctx.sessions.begin() as session:
        conversion = tl.referrals.on_first_payment(session, get_account(session, "friend"))
    assert conversion is not None
    assert grants_of(tl, "far") == [(clock(), FAR)]
    assert grants_of(tl, "friend") == [(clock(), clock() + timedelta(days=30))]
    assert tl.referral_stats("far").credited == 1
    assert tl.status("far").active


def test_a_reward_near_the_maximum_is_cut_short(
    make_tierline: MakeTierline, clock: FrozenClock
) -> None:
    tl = make_tierline(catalog=Catalog(referrals=POLICY))
    tl.ensure_account("near")
    almost = MAX_CREDIT_END - timedelta(days=5)
    store_grant(tl, "near", clock(), almost)
    tl.attribute_referral("friend", tl.referral_code("near"))
    with tl.ctx.sessions.begin() as session:
        tl.referrals.on_first_payment(session, get_account(session, "friend"))
    assert grants_of(tl, "near") == [(clock(), almost), (almost, MAX_CREDIT_END)]
    with tl.ctx.sessions() as session:
        assert session.scalar(select(func.count(CreditGrant.id))) == 3


def test_grace_after_a_far_period_end_does_not_overflow(clock: FrozenClock) -> None:
    sub = SubscriptionFacts(
        provider="stripe",
        status="past_due",
        tier_id=None,
        current_period_end=FAR,
        cancel_at_period_end=False,
        trial_end=None,
        changed_at=None,
        # Grace counts from when payment failed: a far date there must not overflow either.
        past_due_since=FAR,
    )
    decision = decide([sub], [], {}, clock(), timedelta(days=3))
    assert decision.active
    assert decision.expires_at == datetime.max.replace(tzinfo=UTC)
