"""The access decision as a pure function: subscriptions and credits in, one verdict out.

Precedence (the first rule that matches wins; with several subscriptions the best source wins,
a tie going to the tier with the highest ``sort_order``, then to the latest expiry -- no expiry
counts as latest --, then the larger quantity, then the higher tier id, so the verdict never
depends on the order the rows come in):

1. **exempt** -- an ``active`` subscription row of provider ``exempt`` on a tier marked exempt
   (made by ``assign_exempt``): active, no expiry.
2. **subscription** -- a subscription whose status is ``active``: active until
   ``current_period_end`` (the renewal date, or the end when ``cancel_at_period_end`` is set; a
   cancelling subscription whose period has ended no longer counts).
3. **trial** -- status ``trialing`` and no ``trial_end`` or ``trial_end`` in the future: active
   until ``trial_end``.
4. **grace** -- status ``past_due`` while ``now`` is before the grace end: ``past_due_since``
   (when the subscription went past due; else the provider's last update, else the row's) plus
   ``past_due_grace_days``. Never from the period end: Stripe and Paddle move the period forward
   at renewal *before* charging, so a period end after a failed renewal is an unpaid period
   (Stripe, "How subscriptions work": the subscription becomes ``past_due`` when the renewal
   invoice's payment fails,
   https://docs.stripe.com/billing/subscriptions/overview#subscription-lifecycle).
5. **credit** -- a non-revoked credit grant with ``starts_at <= now < expires_at``: active until
   the furthest expiry reached by grants that follow each other without a gap. The features are
   the credit tier's; the tier shown stays the free tier.
6. **free** -- inactive, on the free tier, with the most telling reason: ``past_due`` (grace
   over; also ``unpaid``), ``canceled`` (also ``expired``, a cancelling subscription past its
   period, or one past its ``cancel_at``), ``paused``, ``trial_ended``, ``incomplete``,
   ``credit_expired`` (a grant ran out), else ``no_subscription``.

A scheduled end (``cancel_at``: Stripe's ``cancel_at``, Paddle's scheduled ``cancel``) caps
rules 2-4: the access ends at the earlier of it and the rule's own end, and not at all once it
is reached. Every end is exclusive: at the instant itself access is over.

Retired tiers still grant their features to the subscriptions already on them. A subscription
whose tier is unknown (``tier_id`` NULL) still gives access, with no tier features.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime, timedelta
from typing import NamedTuple

from tierline.access.status import AccessSource, DenialReason

EXEMPT_PROVIDER = "exempt"

# Lower rank = better source; used to pick between several subscriptions.
_RANK = {
    AccessSource.EXEMPT: 0,
    AccessSource.SUBSCRIPTION: 1,
    AccessSource.TRIAL: 2,
    AccessSource.GRACE: 3,
}

# The most telling reason first.
_REASON_ORDER = (
    DenialReason.PAST_DUE,
    DenialReason.CANCELED,
    DenialReason.PAUSED,
    DenialReason.TRIAL_ENDED,
    DenialReason.INCOMPLETE,
)
_STATUS_REASON = {
    "past_due": DenialReason.PAST_DUE,
    "unpaid": DenialReason.PAST_DUE,
    "canceled": DenialReason.CANCELED,
    "expired": DenialReason.CANCELED,
    "paused": DenialReason.PAUSED,
    "trialing": DenialReason.TRIAL_ENDED,
    "incomplete": DenialReason.INCOMPLETE,
}


class SubscriptionFacts(NamedTuple):
    """What the decision needs of one subscription row (the facts of this module are named
    tuples: immutable, and built many times per second on the ``status()`` path)."""

    provider: str
    status: str
    tier_id: int | None
    current_period_end: datetime | None
    cancel_at_period_end: bool
    trial_end: datetime | None
    #: ``provider_updated_at``, else the row's ``updated_at``: the grace fallback base.
    changed_at: datetime | None
    quantity: int = 1
    #: A scheduled end date: access ends then at the latest.
    cancel_at: datetime | None = None
    #: When the subscription went past due: the grace counts from here.
    past_due_since: datetime | None = None


class GrantFacts(NamedTuple):
    """A non-revoked credit grant's window."""

    starts_at: datetime
    expires_at: datetime


class TierFacts(NamedTuple):
    """What the decision needs of a tier."""

    exempt: bool
    sort_order: int


class Decision(NamedTuple):
    """The verdict: ``tier_id`` is the subscription's tier (None for credit and free)."""

    active: bool
    source: AccessSource
    tier_id: int | None = None
    expires_at: datetime | None = None
    reason: DenialReason | None = None
    quantity: int = 1


#: The verdicts without access, by reason (shared: a named tuple is immutable).
_DENIED = {
    reason: Decision(False, AccessSource.FREE, reason=reason)
    for reason in (*_REASON_ORDER, DenialReason.CREDIT_EXPIRED, DenialReason.NO_SUBSCRIPTION)
}
#: The verdict on rows with no subscription and no grant: the same at every instant.
NO_ROWS = _DENIED[DenialReason.NO_SUBSCRIPTION]


def decide(
    subscriptions: Sequence[SubscriptionFacts],
    grants: Sequence[GrantFacts],
    tiers: dict[int, TierFacts],
    now: datetime,
    grace: timedelta,
) -> Decision:
    """Apply the precedence rules of this module to one account's rows."""
    best: Decision | None = None
    # best's sort key, computed once a second granting verdict needs comparing.
    best_key: tuple[int, int, float, int, int] | None = None
    reasons: set[DenialReason] = set()
    for sub in subscriptions:
        verdict = _judge(sub, tiers, now, grace)
        if isinstance(verdict, DenialReason):
            reasons.add(verdict)
            continue
        if verdict is None:
            continue
        if best is None:
            best = verdict
            continue
        if best_key is None:
            best_key = _preference(best, tiers)
        key = _preference(verdict, tiers)
        if key < best_key:
            best, best_key = verdict, key
    if best is not None:
        return best

    credit_end, had_credit = credit_window(grants, now)
    if credit_end is not None:
        return Decision(True, AccessSource.CREDIT, expires_at=credit_end)
    for reason in _REASON_ORDER:
        if reason in reasons:
            return _DENIED[reason]
    return _DENIED[DenialReason.CREDIT_EXPIRED if had_credit else DenialReason.NO_SUBSCRIPTION]


def turning_points(
    subscriptions: Sequence[SubscriptionFacts],
    grants: Sequence[GrantFacts],
    grace: timedelta,
) -> Iterator[datetime]:
    """Every instant at which :func:`decide` on these rows may change its verdict.

    :func:`decide` compares ``now`` only with these instants (a scheduled end, a period end, a
    trial end, a grace end, a grant's start and expiry), so between two consecutive ones its
    result is the same for every ``now``. Keep this in step with :func:`_judge` and
    :func:`credit_window`.
    """
    for sub in subscriptions:
        # (One test each, not a loop over a tuple of them: this runs on every new read.)
        if sub.cancel_at is not None:
            yield sub.cancel_at
        if sub.current_period_end is not None:
            yield sub.current_period_end
        if sub.trial_end is not None:
            yield sub.trial_end
        if sub.status == "past_due":
            base = sub.past_due_since or sub.changed_at
            if base is not None and grace > timedelta(0):
                yield _plus(base, grace)
    for grant in grants:
        yield grant.starts_at
        yield grant.expires_at


def _preference(verdict: Decision, tiers: dict[int, TierFacts]) -> tuple[int, int, float, int, int]:
    """Sort key of a granting verdict, smallest best: a total order, so row order never counts.

    Better source, then the higher tier, then the later expiry (none is latest), then the
    larger quantity, then the higher tier id.
    """
    tier = tiers.get(verdict.tier_id) if verdict.tier_id is not None else None
    expiry = verdict.expires_at.timestamp() if verdict.expires_at is not None else float("inf")
    return (
        _RANK[verdict.source],
        -(tier.sort_order if tier else -(2**31)),
        -expiry,
        -verdict.quantity,
        -(verdict.tier_id or 0),
    )


def _capped(end: datetime | None, cancel_at: datetime | None) -> datetime | None:
    """The earlier of a rule's own end and the scheduled end (None: no end)."""
    if cancel_at is None:
        return end
    return cancel_at if end is None or cancel_at < end else end


def _judge(
    sub: SubscriptionFacts, tiers: dict[int, TierFacts], now: datetime, grace: timedelta
) -> Decision | DenialReason | None:
    """A granting decision for one subscription, else why it does not grant (None: no reason)."""
    status = sub.status
    quantity = sub.quantity if sub.quantity > 1 else 1  # (max() is a call, on every row)
    # The decisions are made by position (reason None): by keyword, the call costs half again.
    if sub.provider == EXEMPT_PROVIDER:
        tier = tiers.get(sub.tier_id) if sub.tier_id is not None else None
        if status == "active" and tier is not None and tier.exempt:
            return Decision(True, AccessSource.EXEMPT, sub.tier_id, None, None, quantity)
        # An exempt row that no longer qualifies is never mistaken for a paid subscription.
        return _STATUS_REASON.get(status)
    end = sub.current_period_end
    cancel_at = sub.cancel_at
    if status in ("active", "trialing", "past_due") and cancel_at is not None and cancel_at <= now:
        return DenialReason.CANCELED
    if status == "active":
        if sub.cancel_at_period_end and end is not None and end <= now:
            return DenialReason.CANCELED
        return Decision(
            True, AccessSource.SUBSCRIPTION, sub.tier_id, _capped(end, cancel_at), None, quantity
        )
    if status == "trialing":
        if sub.trial_end is None or sub.trial_end > now:
            return Decision(
                True,
                AccessSource.TRIAL,
                sub.tier_id,
                _capped(sub.trial_end, cancel_at),
                None,
                quantity,
            )
        return DenialReason.TRIAL_ENDED
    if status == "past_due":
        base = sub.past_due_since or sub.changed_at
        if base is not None and grace > timedelta(0):
            grace_end = _plus(base, grace)
            if now < grace_end:
                return Decision(
                    True,
                    AccessSource.GRACE,
                    sub.tier_id,
                    _capped(grace_end, cancel_at),
                    None,
                    quantity,
                )
        return DenialReason.PAST_DUE
    return _STATUS_REASON.get(status)


def _plus(moment: datetime, delta: timedelta) -> datetime:
    """``moment + delta``, held at the last representable moment instead of overflowing (a
    stored period end can be as far as year 9999)."""
    try:
        return moment + delta
    except OverflowError:
        return datetime.max.replace(tzinfo=moment.tzinfo)


def credit_window(grants: Sequence[GrantFacts], now: datetime) -> tuple[datetime | None, bool]:
    """The furthest contiguous expiry of the grant covering ``now`` (None if none does), and
    whether any grant has already run out."""
    if not grants:
        return None, False
    had_expired = any(g.expires_at <= now for g in grants)
    current = [g for g in grants if g.starts_at <= now < g.expires_at]
    if not current:
        return None, had_expired
    end = max(g.expires_at for g in current)
    # Grants that start before (or exactly when) the running window ends extend it.
    for grant in sorted((g for g in grants if g.starts_at > now), key=lambda g: g.starts_at):
        if grant.starts_at > end:
            break
        end = max(end, grant.expires_at)
    return end, had_expired
