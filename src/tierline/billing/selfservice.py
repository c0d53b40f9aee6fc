"""Self-service billing for a paying account: portal, cancel at period end, resume, plan change.

Each use case finds the account's live subscription (active, trialing or past due) in
Tierline's tables, asks its provider's :mod:`~tierline.billing.actions` module to act through
the provider's API, and reflects the result at once in the subscription row.

Ordering: the row is changed without touching ``provider_updated_at``. The provider's own
webhook for the change carries a newer provider timestamp and so applies over it (confirming
it); a webhook the provider sent *before* the change but delivered after it may briefly undo
the flag until the confirming one arrives, which is the ordering rule working as documented —
the provider's state wins, Tierline's local write never blocks a provider snapshot.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session

from tierline.accounts.models import Account
from tierline.accounts.service import clean_ref
from tierline.billing import scheduled
from tierline.billing.actions import (
    LiveSubscription,
    PlanChange,
    ProrationPreview,
    ProviderActions,
    actions_for,
)
from tierline.billing.checkout import RETURN_PATH, resolve_target
from tierline.billing.models import Subscription, SubscriptionStatus
from tierline.catalog.models import Tier
from tierline.catalog.queries import find_tier
from tierline.context import Context
from tierline.db.errors import is_deadlock
from tierline.errors import NotFoundError, ValidationError

#: Statuses of a subscription the account still pays through (past due: the provider retries).
#: Tries of the transaction writing a hold that lost a race with a concurrent one.
_HOLD_ATTEMPTS = 5

LIVE_STATUSES = (
    SubscriptionStatus.ACTIVE.value,
    SubscriptionStatus.TRIALING.value,
    SubscriptionStatus.PAST_DUE.value,
)


def live_subscriptions(session: Session, account_ref: str) -> list[LiveSubscription]:
    """The account's live subscriptions, most recently updated first (empty: none)."""
    rows = session.execute(
        select(Subscription, Tier.key)
        .join(Account, Account.id == Subscription.account_id)
        .outerjoin(Tier, Tier.id == Subscription.tier_id)
        .where(Account.ref == account_ref, Subscription.status.in_(LIVE_STATUSES))
        .order_by(Subscription.updated_at.desc(), Subscription.id.desc())
    ).all()
    return [
        LiveSubscription(
            id=sub.id,
            account_ref=account_ref,
            provider=sub.provider,
            external_id=sub.external_id,
            customer_id=sub.customer_id,
            tier_key=tier_key,
            status=sub.status,
            cancel_at_period_end=bool(sub.cancel_at_period_end),
            current_period_end=sub.current_period_end,
        )
        for sub, tier_key in rows
    ]


def live_subscription(ctx: Context, account_ref: str) -> LiveSubscription | None:
    """The subscription the account pays through now (the latest live one), or ``None``."""
    with ctx.sessions() as session:
        found = live_subscriptions(session, clean_ref(account_ref))
    return found[0] if found else None


def _require(ctx: Context, account_ref: str) -> tuple[LiveSubscription, ProviderActions]:
    sub = live_subscription(ctx, account_ref)
    if sub is None:
        raise NotFoundError(
            f"account {account_ref!r} has no active subscription to manage; "
            "choose a plan to subscribe first"
        )
    return sub, actions_for(sub.provider)


def _idempotency_key(sub: LiveSubscription, action: str, target: str, ctx: Context) -> str:
    """One key per intent: a double-submitted form repeats it, a later change gets a new one
    (the row's ``updated_at`` moves with every change Tierline or a webhook makes)."""
    with ctx.sessions() as session:
        stamp = session.scalar(select(Subscription.updated_at).where(Subscription.id == sub.id))
    raw = f"{sub.provider}:{sub.external_id}:{action}:{target}:{stamp}"
    return "tierline-" + hashlib.sha256(raw.encode()).hexdigest()[:40]


def _reflect(ctx: Context, sub: LiveSubscription, **values: object) -> None:
    with ctx.changes.writing(sub.account_ref) as session:
        session.execute(
            update(Subscription)
            .where(Subscription.id == sub.id)
            .values(updated_at=ctx.clock(), **values)
        )


def portal_url(ctx: Context, account_ref: str, *, return_url: str | None = None) -> str:
    """The provider's customer portal for the account's live subscription (a URL to redirect to).

    Raises:
        NotFoundError: the account has no live subscription.
        UnsupportedActionError: its provider has no portal.
        ProviderAPIError / ConfigurationError: the provider refused or is not configured.
    """
    sub, actions = _require(ctx, account_ref)
    back = return_url or f"{ctx.settings.public_url.rstrip('/')}{RETURN_PATH}"
    return actions.portal_url(ctx.settings, sub, back)


def cancel_at_period_end(ctx: Context, account_ref: str) -> LiveSubscription:
    """Stop renewal: access lasts until the period ends. Returns the subscription as it was."""
    sub, actions = _require(ctx, account_ref)
    if sub.cancel_at_period_end:
        raise ValidationError(
            f"the {sub.provider} subscription of {account_ref!r} is already set to end at the "
            "end of its period; resume it instead"
        )
    actions.cancel_at_period_end(ctx.settings, sub, _idempotency_key(sub, "cancel", "", ctx))
    _reflect(ctx, sub, cancel_at_period_end=True)
    return sub


def resume(ctx: Context, account_ref: str) -> LiveSubscription:
    """Undo a scheduled cancellation: the subscription renews again."""
    sub, actions = _require(ctx, account_ref)
    if not sub.cancel_at_period_end:
        raise ValidationError(
            f"the {sub.provider} subscription of {account_ref!r} is not canceled; nothing to resume"
        )
    actions.resume(ctx.settings, sub, _idempotency_key(sub, "resume", "", ctx))
    _reflect(ctx, sub, cancel_at_period_end=False)
    return sub


@dataclass(frozen=True)
class PlanChangePlan:
    """A plan change ready to preview or apply: ``downgrade`` when the new tier ranks lower;
    ``at_period_end`` when the account keeps its current tier until ``effective_at`` (a
    downgrade with ``downgrade_at_period_end``, see :mod:`tierline.billing.scheduled`)."""

    change: PlanChange
    downgrade: bool
    tier_id: int
    at_period_end: bool = False
    effective_at: datetime | None = None


def scheduled_downgrade(ctx: Context, sub: LiveSubscription) -> scheduled.ScheduledDowngrade | None:
    """The downgrade waiting for the end of ``sub``'s period, or ``None`` (also when the
    subscription has moved off the tier it was scheduled from, e.g. an upgrade in the
    provider's portal: the hold no longer holds anything)."""
    with ctx.sessions() as session:
        found = scheduled.pending(session, sub.provider, sub.external_id, ctx.clock())
    return found if found is not None and found.from_tier == sub.tier_key else None


def plan_change(
    ctx: Context, account_ref: str, tier_key: str, *, offered: bool = False
) -> PlanChangePlan:
    """What moving the account's live subscription to ``tier_key`` means, without doing it.

    The account's tier is the one it pays for now; moving back to it while a downgrade waits
    for the period end undoes that downgrade (the provider is moved back without a charge).
    With ``offered`` (the self-service pages), another tier must be customer-facing (see
    :func:`~tierline.billing.checkout.resolve_target`); the account's own tier always is to
    it, so a downgrade from a hidden tier can be undone.

    Raises:
        NotFoundError: no live subscription, or no such tier.
        ValidationError: the account already has that tier (and no downgrade is scheduled),
            or the tier has no link on the subscription's provider.
    """
    sub, _actions = _require(ctx, account_ref)
    with ctx.sessions() as session:
        target = resolve_target(
            session, tier_key, sub.provider, offered=offered and tier_key != sub.tier_key
        )
        new = find_tier(session, target.tier_key)
        old = find_tier(session, sub.tier_key) if sub.tier_key else None
        assert new is not None  # resolve_target found it
        new_rank, new_id = new.sort_order, new.id
        old_rank = old.sort_order if old is not None else None
    waiting = scheduled_downgrade(ctx, sub)
    undo = target.tier_key == sub.tier_key and waiting is not None
    if target.tier_key == sub.tier_key and not undo:
        with ctx.sessions() as session:
            done = scheduled.taken_effect(session, sub.provider, sub.external_id, ctx.clock())
        if done is not None and done.from_tier == sub.tier_key:
            raise ValidationError(
                f"the change of {account_ref!r} to tier {done.to_tier!r} took effect at the end "
                f"of the period ({done.effective_at:%Y-%m-%d %H:%M} UTC) and {sub.provider} "
                f"bills {done.to_tier!r} from now on; choose {tier_key!r} again once the "
                "renewal is recorded"
            )
        raise ValidationError(
            f"account {account_ref!r} already pays for tier {tier_key!r}; choose another plan"
        )
    downgrade = old_rank is not None and new_rank < old_rank
    later = downgrade and ctx.settings.downgrade_at_period_end
    effective_at = sub.current_period_end
    at_period_end = later and effective_at is not None and effective_at > ctx.clock()
    key = _idempotency_key(sub, "change", target.tier_key, ctx)
    change = PlanChange(
        subscription=sub,
        tier_key=target.tier_key,
        external_key=target.external_keys[0],
        # Undoing a scheduled downgrade: the period is paid at this tier already.
        prorate=not (later or undo),
        idempotency_key=key,
    )
    return PlanChangePlan(
        change=change,
        downgrade=downgrade,
        tier_id=new_id,
        at_period_end=at_period_end,
        effective_at=effective_at if at_period_end else None,
    )


def preview_change(ctx: Context, account_ref: str, tier_key: str) -> ProrationPreview | None:
    """What the change would charge now, or ``None`` when the provider offers no preview."""
    plan = plan_change(ctx, account_ref, tier_key)
    actions = actions_for(plan.change.subscription.provider)
    if not actions.supports("preview_change"):
        return None
    return actions.preview_change(ctx.settings, plan.change)


def change_plan(
    ctx: Context, account_ref: str, tier_key: str, *, offered: bool = False
) -> PlanChangePlan:
    """Move the account's subscription to ``tier_key`` through its provider (``offered``: see
    :func:`plan_change`).

    An upgrade (or a downgrade with ``downgrade_at_period_end`` off) changes the row's tier at
    once (the provider's webhook confirms it). A downgrade with it on keeps the current tier
    until the period ends: the hold is written *before* the provider is called, so the
    provider's webhook for the change, however fast, cannot lower the tier early; a refused
    call removes it again.
    """
    plan = plan_change(ctx, account_ref, tier_key, offered=offered)
    sub = plan.change.subscription
    actions = actions_for(sub.provider)
    if plan.at_period_end:
        assert plan.effective_at is not None
        _hold(ctx, plan, plan.effective_at)
        try:
            actions.change_plan(ctx.settings, plan.change)
        except BaseException:
            _drop_hold(ctx, sub)
            raise
        _reflect(ctx, sub)
        return plan
    actions.change_plan(ctx.settings, plan.change)
    _drop_hold(ctx, sub)
    _reflect(ctx, sub, tier_id=plan.tier_id)
    return plan


def _hold(ctx: Context, plan: PlanChangePlan, effective_at: datetime) -> None:
    """Write the plan's hold. A concurrent change of the same subscription (a double-submitted
    form) may write it at the same time: the loser's transaction fails on the hold's unique key
    (PostgreSQL), or as a deadlock victim (MariaDB), and runs again, replacing the winner's hold
    with the same one."""
    sub = plan.change.subscription
    for remaining in range(_HOLD_ATTEMPTS - 1, -1, -1):
        try:
            with ctx.sessions.begin() as session:
                scheduled.schedule(
                    session.connection(),
                    provider=sub.provider,
                    external_id=sub.external_id,
                    from_tier=sub.tier_key,
                    to_tier=plan.change.tier_key,
                    effective_at=effective_at,
                    now=ctx.clock(),
                )
            return
        except IntegrityError:
            if remaining == 0:
                raise
        except OperationalError as exc:
            if remaining == 0 or not is_deadlock(exc):
                raise


def _drop_hold(ctx: Context, sub: LiveSubscription) -> None:
    with ctx.sessions.begin() as session:
        scheduled.cancel(session.connection(), sub.provider, sub.external_id)
