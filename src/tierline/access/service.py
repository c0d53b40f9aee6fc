"""Access use cases: ``status()`` and what is derived from it, and exempt assignment.

The precedence rules are in :mod:`tierline.access.rules`. ``status()`` is on every request
of the host app, so its path is short: the in-process cache (when ``cache_ttl_seconds`` > 0),
else one query (:mod:`tierline.access.query`) plus tier definitions held in memory
(:mod:`tierline.access.tiers`). It never writes: an unknown account is reported, not created.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from tierline.access.memo import ALWAYS, Memo, interval
from tierline.access.query import NO_COUNTERS as _NO_COUNTERS
from tierline.access.query import AccessQuery, AccountRows, UsageRange
from tierline.access.rules import (
    EXEMPT_PROVIDER,
    NO_ROWS,
    Decision,
    decide,
    turning_points,
)
from tierline.access.status import EMPTY, AccessSource, AccessStatus, LimitInfo, ReadOnlyDict
from tierline.access.tiers import TierCache, TierData, TierSnapshot
from tierline.accounts.service import get_account
from tierline.billing.models import Subscription, SubscriptionStatus
from tierline.catalog.models import Tier
from tierline.catalog.queries import find_tier
from tierline.catalog.spec import Catalog
from tierline.context import Context
from tierline.errors import ValidationError

_SUBSCRIBED = frozenset(
    (AccessSource.EXEMPT, AccessSource.SUBSCRIPTION, AccessSource.TRIAL, AccessSource.GRACE)
)
#: (An enum member read from its class costs four times a global on Python 3.11.)
_CREDIT = AccessSource.CREDIT
_NO_FEATURES: frozenset[str] = frozenset()
_EXTERNAL_ID_LENGTH = 255
_DAY = timedelta(days=1)


def exempt_external_id(ref: str) -> str:
    """The external id of the exempt subscription row of account ``ref``."""
    return f"{EXEMPT_PROVIDER}:{ref}"


class AccessService:
    """Decide what an account may do."""

    def __init__(self, ctx: Context, catalog: Catalog) -> None:
        self.ctx = ctx
        self.catalog = catalog
        self.tiers = TierCache(ctx.engine, catalog, ctx.cache)
        self._query = AccessQuery(ctx.engine)
        #: (ref, rows as read) -> (tier snapshot, valid from, valid until, status, usage
        #: counters): see tierline.access.memo.
        self._memo: Memo[
            tuple[str, tuple[Any, ...]],
            tuple[TierSnapshot, datetime, datetime, AccessStatus, Mapping[datetime, int]],
        ] = Memo()
        self._grace = timedelta(days=ctx.settings.past_due_grace_days)
        #: Applied to every computed status (the facade installs per-account overrides here).
        self.adjust: Callable[[AccessStatus, datetime], AccessStatus] | None = None
        #: The same, read on a transaction's connection (for :meth:`status_in`).
        self.adjust_in: Callable[[Connection, AccessStatus, datetime], AccessStatus] | None = None

    def close(self) -> None:
        """Release the connections ``status()`` keeps for its reads."""
        self._query.close()

    # -- reads --------------------------------------------------------------------------
    def status(self, ref: str) -> AccessStatus:
        """The account's access now; unknown accounts are inactive (``no_subscription``).

        Served from the in-process cache when ``cache_ttl_seconds`` > 0 (see
        :mod:`tierline.access.cache` for how stale it can be), and never cached past the moment
        the access itself expires.
        """
        cache = self.ctx.cache
        if cache.ttl > 0:
            hit = cache.get(ref)
            if hit is not None:
                return hit
            token = cache.token()  # before the fetch: see tierline.access.cache
            now = self.ctx.clock()
            return self._remember(ref, self._read(ref, now, None)[0], now, token)
        return self._read(ref, self.ctx.clock(), None)[0]

    def status_and_usage(
        self, ref: str, usage: UsageRange, now: datetime
    ) -> tuple[AccessStatus, Mapping[datetime, int] | None]:
        """:meth:`status` at ``now`` and the account's counters in ``usage`` (by period start),
        read by the same statement: one round trip. The counters are ``None`` when the status
        came from the in-process cache (the caller reads them on their own then)."""
        cache = self.ctx.cache
        token = None
        if cache.ttl > 0:
            hit = cache.get(ref)
            if hit is not None:
                return hit, None
            token = cache.token()  # before the fetch: see tierline.access.cache
        status, counters = self._read(ref, now, usage)
        if token is not None:
            self._remember(ref, status, now, token)
        return status, counters

    def _remember(self, ref: str, status: AccessStatus, now: datetime, token: int) -> AccessStatus:
        """Cache ``status``, read after :meth:`TTLCache.token` gave ``token`` (unless an
        invalidation came since), and return it."""
        lifetime = None
        if status.expires_at is not None and status.expires_at > now:
            # (An expiry already past, as on a renewal reported late, changes nothing.)
            lifetime = (status.expires_at - now).total_seconds()
        self.ctx.cache.put(ref, status, lifetime, token)
        return status

    def has_feature(self, ref: str, key: str) -> bool:
        """Whether the account's current access includes feature ``key``."""
        return key in self.status(ref).features

    def limit(self, ref: str, key: str) -> LimitInfo | None:
        """The numeric limit of feature ``key`` for the account, or ``None`` if it has none."""
        return self.status(ref).limits.get(key)

    def is_admin_token(self, token: str | None) -> bool:
        """Whether ``token`` equals the ``admin_token`` setting (constant time; False if unset)."""
        expected = self.ctx.settings.admin_token
        if not expected or not token:
            return False
        return hmac.compare_digest(token.encode(), expected.encode())

    def status_in(self, conn: Connection | None, ref: str, now: datetime) -> AccessStatus:
        """The account's access, uncached, as the transaction of ``conn`` sees it (its own
        uncommitted writes included); ``None``: as last committed (on another connection)."""
        if conn is None:
            return self._read(ref, now, None)[0]
        status = self._build(ref, self._query.fetch_in(conn, ref), now)[0]
        return self.adjust_in(conn, status, now) if self.adjust_in is not None else status

    def _read(
        self, ref: str, now: datetime, usage: UsageRange | None
    ) -> tuple[AccessStatus, Mapping[datetime, int]]:
        """The account's status at ``now`` read from the database (per-account overrides
        applied), and its counters in ``usage``: one statement; what is derived from the rows
        comes from :mod:`tierline.access.memo` when the rows are the same as last time."""
        rows = self._query.read(ref, usage)
        key = (ref, rows)
        snapshot = self.tiers.get()
        known = self._memo.get(key)
        if known is not None and known[0] is snapshot and known[1] <= now < known[2]:
            status, counters = known[3], known[4]
        else:
            if usage is None:
                # No counters were asked for: the rows are all the account's own.
                status, snapshot, (start, end) = self._build(
                    ref, self._query.convert(rows), now, snapshot
                )
                counters = _NO_COUNTERS
            else:
                status, counters, snapshot, (start, end) = self._derive(ref, rows, now, snapshot)
            self._memo.put(key, (snapshot, start, end, status, counters))
        return (self.adjust(status, now) if self.adjust is not None else status), counters

    def _derive(
        self, ref: str, rows: tuple[Any, ...], now: datetime, snapshot: TierSnapshot
    ) -> tuple[AccessStatus, Mapping[datetime, int], TierSnapshot, tuple[datetime, datetime]]:
        """What :meth:`_read` remembers of ``rows`` (as :meth:`AccessQuery.read` gives them):
        the status, the usage counters, the tier snapshot used and the interval the status
        holds over. Rows that hold usage counters are remembered apart from the account's own
        rows, whose status is looked up first: a counter that moved leaves it as it was."""
        account, counters = self._query.split(rows)
        if account is not rows:
            known = self._memo.get((ref, account))
            if known is not None and known[0] is snapshot and known[1] <= now < known[2]:
                return known[3], counters, snapshot, (known[1], known[2])
        status, snapshot, valid = self._build(ref, self._query.convert(account), now, snapshot)
        if account is not rows:
            self._memo.put((ref, account), (snapshot, *valid, status, _NO_COUNTERS))
        return status, counters, snapshot, valid

    def _build(
        self, ref: str, rows: AccountRows, now: datetime, snapshot: TierSnapshot | None = None
    ) -> tuple[AccessStatus, TierSnapshot, tuple[datetime, datetime]]:
        """The status of ``rows`` at ``now``, the tier snapshot it used, and the interval of
        ``now`` over which it holds (see :mod:`tierline.access.memo`)."""
        snapshot = snapshot or self.tiers.get()
        if not rows.subscriptions and not rows.grants:
            # An unknown account, or one with neither a subscription nor a grant: nothing to
            # decide, and nothing that changes with time.
            return build_status(ref, NO_ROWS, snapshot, now), snapshot, ALWAYS
        for sub in rows.subscriptions:
            if sub.tier_id is not None and sub.tier_id not in snapshot.by_id:
                # A tier created since the snapshot (by another process).
                snapshot = self.tiers.reload()
                break
        decision = decide(rows.subscriptions, rows.grants, snapshot.facts, now, self._grace)
        status = build_status(ref, decision, snapshot, now)
        return status, snapshot, status_interval(rows, self._grace, status, now)

    # -- writes -------------------------------------------------------------------------
    def assign_exempt(self, ref: str, tier_key: str) -> AccessStatus:
        """Put an existing account on an exempt tier (staff, partners): active, no payment.

        Raises:
            NotFoundError: no account ``ref``.
            ValidationError: the tier does not exist, is not exempt, or is retired.
        """
        if len(exempt_external_id(ref)) > _EXTERNAL_ID_LENGTH:
            raise ValidationError(
                f"account ref {ref[:20]!r}... is too long for an exempt assignment "
                f"(at most {_EXTERNAL_ID_LENGTH - len(exempt_external_id(''))} characters)"
            )
        try:
            self._assign_exempt(ref, tier_key)
        except IntegrityError:
            # A concurrent assignment inserted the row first; update it instead.
            self._assign_exempt(ref, tier_key)
        return self.status(ref)

    def _assign_exempt(self, ref: str, tier_key: str) -> None:
        now = self.ctx.clock()
        with self.ctx.changes.writing(ref) as session:
            account = get_account(session, ref)
            tier = _exempt_tier(session, tier_key)
            row = session.scalars(
                select(Subscription).where(
                    Subscription.provider == EXEMPT_PROVIDER,
                    Subscription.external_id == exempt_external_id(ref),
                )
            ).one_or_none()
            if row is None:
                row = Subscription(
                    account_id=account.id,
                    provider=EXEMPT_PROVIDER,
                    external_id=exempt_external_id(ref),
                    created_at=now,
                )
                session.add(row)
            row.tier_id = tier.id
            row.status = SubscriptionStatus.ACTIVE.value
            row.cancel_at_period_end = False
            row.current_period_end = None
            row.trial_end = None
            row.provider_updated_at = now
            row.updated_at = now


def _exempt_tier(session: Session, key: str) -> Tier:
    tier = find_tier(session, key)
    if tier is not None and tier.exempt and not tier.retired:
        return tier
    exempt = session.scalars(
        select(Tier.key).where(Tier.exempt.is_(True), Tier.retired.is_(False)).order_by(Tier.key)
    ).all()
    valid = ", ".join(exempt) or "none (mark a tier `exempt = true` in the catalog)"
    if tier is None:
        problem = "does not exist"
    elif not tier.exempt:
        problem = "is not an exempt tier"
    else:
        problem = "is retired"
    raise ValidationError(f"tier {key!r} {problem}; exempt tiers: {valid}")


def status_interval(
    rows: AccountRows, grace: timedelta, status: AccessStatus, now: datetime
) -> tuple[datetime, datetime]:
    """``(start, end)``: for every ``start <= t < end``, the status of ``rows`` at ``t``
    (:func:`~tierline.access.rules.decide`, then :func:`build_status`) equals ``status``,
    the one at ``now``: no turning point of the rules and no change of ``days_remaining``
    falls inside."""
    start, end = interval(now, turning_points(rows.subscriptions, rows.grants, grace))
    expires_at, days = status.expires_at, status.days_remaining
    if expires_at is not None and days:
        # days_remaining is n while expires_at - n days <= now < expires_at - (n - 1) days
        # (build_status computed it at now).
        start = max(start, expires_at - days * _DAY)
        end = min(end, expires_at - (days - 1) * _DAY)
    return start, end


def build_status(
    ref: str, decision: Decision, snapshot: TierSnapshot, now: datetime
) -> AccessStatus:
    """Turn a :class:`Decision` into the :class:`AccessStatus` the app sees."""
    active, source, tier_id, expires_at, reason, quantity = decision
    shown: TierData | None
    granting: TierData | None
    seats_factor = 1
    role = "tier"  # where the features come from
    if source in _SUBSCRIBED:
        shown = granting = snapshot.by_id.get(tier_id) if tier_id is not None else None
        seats_factor = quantity
    elif source is _CREDIT:
        shown, granting = snapshot.free, snapshot.credit or snapshot.free
        role = "credit_tier"
    else:
        shown = granting = snapshot.free
    days_remaining = None
    if expires_at is not None:
        # Whole days left, rounded up (exact: integer division of timedeltas).
        days_remaining = max(0, -((now - expires_at) // _DAY))
    features: frozenset[str]
    limits: ReadOnlyDict[str, LimitInfo]
    if granting is not None:
        features, limits, seats = granting.features, granting.limits, granting.seats
        feature_sources, limit_sources = granting.sources[role]
    else:
        features, limits, seats = _NO_FEATURES, EMPTY, 1
        feature_sources = limit_sources = EMPTY
    # By position, in the order of the fields (by keyword the call costs half as much again).
    return AccessStatus(
        ref,  # account_ref
        active,
        source,
        shown.key if shown is not None else None,  # tier
        expires_at,
        days_remaining,
        reason,
        features,
        limits,
        seats * seats_factor,  # seats
        feature_sources,
        limit_sources,
    )
