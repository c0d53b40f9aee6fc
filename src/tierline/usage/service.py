"""Usage use cases: ``check()``, ``track()``, ``release()`` and ``summary()``.

The limit is the account's effective one: its tier's (or the credit tier's) with the
account's overrides applied, exactly what ``status()`` reports. Counting is
:mod:`tierline.usage.counter`'s conditional update; the period is
:mod:`tierline.usage.periods`'s. An unlimited feature (granted without a number) still counts,
per calendar (or anniversary) month, so a limit set later sees the month's use.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import TypeVar
from zoneinfo import ZoneInfo

from sqlalchemy import Connection
from sqlalchemy.exc import IntegrityError, OperationalError

from tierline import bounds
from tierline.access.memo import Memo
from tierline.access.query import UsageRange
from tierline.access.service import AccessService
from tierline.access.status import AccessSource, AccessStatus, LimitInfo
from tierline.access.tiers import TierSnapshot
from tierline.accounts.service import AccountRef, AccountService, canonical_ref
from tierline.catalog.models import LimitPeriod
from tierline.context import Context
from tierline.db.errors import is_deadlock
from tierline.errors import NotFoundError, ValidationError
from tierline.usage import counter
from tierline.usage.decision import UsageDecision, UsageReason
from tierline.usage.fast import FastCounter
from tierline.usage.features import FeatureKeys
from tierline.usage.periods import LIFETIME_START, Period, period_at

#: Largest amount one call may count or give back.
MAX_AMOUNT = 1_000_000
#: The period an unlimited feature counts in.
UNLIMITED_PERIOD = LimitPeriod.MONTH.value
#: Longer than any current day or month period has run (31 days, and a time zone's offset).
_LONGEST_PERIOD = timedelta(days=32)
_DAY = timedelta(days=1)
_LATEST = datetime.max.replace(tzinfo=UTC)
#: Attempts of a transaction MariaDB chose as a deadlock victim (errno 1213).
_DEADLOCK_ATTEMPTS = 5

T = TypeVar("T")


def clean_amount(amount: object, name: str = "amount") -> int:
    """A positive whole number of uses, at most :data:`MAX_AMOUNT`.

    Raises:
        ValidationError: naming the bad value.
    """
    if isinstance(amount, bool) or not isinstance(amount, int) or not 1 <= amount <= MAX_AMOUNT:
        raise ValidationError(f"{name} {amount!r} is not a whole number from 1 to {MAX_AMOUNT}")
    return amount


class UsageService:
    """Count uses of limited features, atomically, per period."""

    def __init__(
        self,
        ctx: Context,
        access: AccessService,
        accounts: AccountService,
        features: FeatureKeys,
    ) -> None:
        self.ctx = ctx
        self.access = access
        self.accounts = accounts
        self.features = features
        self._zone = ZoneInfo(ctx.settings.usage_timezone)
        self._anniversary = ctx.settings.usage_alignment == "anniversary"
        self._grace = timedelta(days=ctx.settings.past_due_grace_days)
        #: The last period computed per (kind, anchor): most calls fall in the same one.
        self._periods: Memo[tuple[str, datetime | None], Period] = Memo()
        #: feature -> (tier snapshot, valid from, valid until, range): see _usage_range().
        self._ranges: Memo[str, tuple[TierSnapshot, datetime, datetime, UsageRange]] = Memo()
        #: (ref, feature, amount) -> (status, period start, period end, used, decision, the
        #: usage range read): see check().
        self._checks: Memo[
            tuple[str, str, int],
            tuple[AccessStatus, datetime, datetime, int, UsageDecision, UsageRange],
        ] = Memo()
        self._fast = FastCounter(
            ctx.engine, synchronous_commit=ctx.settings.usage_synchronous_commit
        )

    def close(self) -> None:
        """Release the connections the counters keep."""
        self._fast.close()

    # -- what applies ---------------------------------------------------------------------
    def _anchor(self, status: AccessStatus) -> datetime | None:
        """The subscription period end that anniversary periods align to, if any."""
        if not self._anniversary or status.expires_at is None:
            return None
        if status.source in (AccessSource.SUBSCRIPTION, AccessSource.TRIAL):
            return status.expires_at
        if status.source is AccessSource.GRACE:
            return status.expires_at - self._grace  # the period end the grace runs from
        return None

    def period_of(self, status: AccessStatus, limit: LimitInfo | None, now: datetime) -> Period:
        """The period the account's use of a feature with ``limit`` counts in now."""
        kind = limit.period if limit is not None else UNLIMITED_PERIOD
        anchor = self._anchor(status)
        key = (kind, anchor)
        known = self._periods.get(key)
        if known is not None and known.start <= now and (known.end is None or now < known.end):
            return known  # the hot path: the same period as the last call
        period = period_at(kind, now, self._zone, anchor)
        self._periods.put(key, period)
        return period

    def _decision(
        self,
        feature: str,
        status: AccessStatus,
        period: Period,
        used: int,
        allowed: bool,
        *,
        duplicate: bool = False,
    ) -> UsageDecision:
        limit = status.limits.get(feature)
        granted = feature in status.features
        reason = None
        if not allowed:
            reason = UsageReason.QUOTA_EXCEEDED if granted else UsageReason.FEATURE_NOT_IN_TIER
        return UsageDecision(
            allowed=allowed,
            feature=feature,
            used=used,
            limit=limit.limit if limit is not None else None,
            remaining=max(0, limit.limit - used) if limit is not None else None,
            resets_at=period.end,
            reason=reason,
            period=limit.period if limit is not None else UNLIMITED_PERIOD,
            period_start=period.start,
            duplicate=duplicate,
        )

    # -- reads ----------------------------------------------------------------------------
    def check(self, ref: AccountRef, feature: str, amount: int = 1) -> UsageDecision:
        """Whether ``amount`` more uses of ``feature`` fit now; counts nothing.

        Returns the counter of the current period (0 for an account not yet known).

        Raises:
            ValidationError: unknown feature, or an amount that is not 1 to ``MAX_AMOUNT``.
        """
        ref = canonical_ref(ref)
        if type(amount) is not int or not 0 < amount <= MAX_AMOUNT:
            amount = clean_amount(amount)  # (a call less for the common case: an int in range)
        self.features.require(feature)
        now = self.ctx.clock()
        # The account's rows and its recent counters of the feature in one statement.
        ranged = self._ranges.get(feature)
        if (
            ranged is not None
            and ranged[0] is self.access.tiers.last
            and ranged[1] <= now < ranged[2]
        ):
            usage = ranged[3]
        else:
            usage = self._usage_range(feature, now)
        status, counters = self.access.status_and_usage(ref, usage, now)
        # The decision is a value of its inputs: the status (the very object the status memo
        # hands out again), the period and the counter. The same ones give the same decision.
        key = (ref, feature, amount)
        known = self._checks.get(key)
        if (
            known is not None
            and known[0] is status
            and known[1] <= now < known[2]
            and known[5] is usage
            and counters is not None
            and counters.get(known[1], 0) == known[3]
        ):
            return known[4]
        limit = status.limits.get(feature)
        period = self.period_of(status, limit, now)
        if counters is None or (period.start < usage.since and usage.also is None):
            # The status came from the cache, or the range left out a lifetime counter (the
            # limit is an override's, or the catalog changed since the range was made).
            used = self._fast.used(ref, feature, period.start) or 0
        else:
            used = counters.get(period.start, 0)
        allowed = feature in status.features and (limit is None or used + amount <= limit.limit)
        decision = self._decision(feature, status, period, used, allowed)
        if (counters is not None and period.start in counters) or period.start >= usage.since:
            # (A counter read apart is not remembered: the next call reads it apart again.)
            end = period.end or _LATEST
            self._checks.put(key, (status, period.start, end, used, decision, usage))
        return decision

    def _usage_range(self, feature: str, now: datetime) -> UsageRange:
        """The counters :meth:`check` reads with the account's rows: any current day or month
        period starts within it, and so does the lifetime one when a tier limits ``feature``
        for a lifetime. The same all day (UTC) for one tier snapshot (:attr:`_ranges`)."""
        snapshot = self.access.tiers.get()
        day = now.replace(hour=0, minute=0, second=0, microsecond=0)
        lifetime = LIFETIME_START if feature in snapshot.lifetime_features else None
        made = UsageRange(feature, day - _LONGEST_PERIOD, lifetime)
        self._ranges.put(feature, (snapshot, day, day + _DAY, made))
        return made

    def summary(self, ref: AccountRef) -> list[UsageDecision]:
        """The current period's counter of every limited feature of the account (by feature
        key); ``allowed`` says whether one more use fits."""
        ref = canonical_ref(ref)
        status = self.access.status(ref)
        now = self.ctx.clock()
        periods = {
            key: self.period_of(status, info, now) for key, info in sorted(status.limits.items())
        }
        if not periods:
            return []
        since = min(period.start for period in periods.values())
        with self.ctx.engine.connect() as conn:
            counts = counter.used_since(conn, ref, since)
        decisions = []
        for key, period in periods.items():
            used = counts.get((key, period.start), 0)
            allowed = key in status.features and used + 1 <= status.limits[key].limit
            decisions.append(self._decision(key, status, period, used, allowed))
        return decisions

    # -- writes ---------------------------------------------------------------------------
    def track(
        self, ref: AccountRef, feature: str, amount: int = 1, idempotency_key: str | None = None
    ) -> UsageDecision:
        """Count ``amount`` uses of ``feature`` if they fit in the current period's limit.

        One conditional ``UPDATE`` checks and counts (see :mod:`tierline.usage.counter`), so
        concurrent calls never count past the limit. A refused call counts nothing and answers
        ``allowed=False`` with ``reason`` ``quota_exceeded`` (or ``feature_not_in_tier``).
        With ``idempotency_key``, a retry of a counted call counts nothing more and answers
        ``duplicate=True``; the key is stored in the counter's transaction. An unknown account
        is created (its use is counted against the free tier).

        Raises:
            ValidationError: unknown feature, bad amount or key.
        """
        ref = canonical_ref(ref)
        amount = clean_amount(amount)
        if idempotency_key is not None:
            idempotency_key = bounds.check_key(idempotency_key)
        self.features.require(feature)
        status = self.access.status(ref)
        now = self.ctx.clock()
        limit = status.limits.get(feature)
        period = self.period_of(status, limit, now)
        if feature not in status.features:
            return self._refused_or_duplicate(ref, feature, status, period, idempotency_key)
        ceiling = limit.limit if limit is not None else None
        if idempotency_key is None:
            # The hot path: one statement, one round trip (see tierline.usage.fast).
            fast = self._fast.add(ref, feature, period.start, amount, ceiling, now)
            if fast is None and self._fast.used(ref, feature, period.start) is None:
                # The period's first use: open its row, then count.
                self._retrying(lambda: self._fast.open_period(ref, feature, period.start, now))
                fast = self._fast.add(ref, feature, period.start, amount, ceiling, now)
            if fast is not None:
                return self._decision(feature, status, period, fast, True)
            # Refused, or no such account: the transactional path tells which.

        def count() -> int | object:
            return self._retrying(
                lambda: self._count(ref, feature, period, amount, ceiling, idempotency_key, now)
            )

        counted = count()
        if counted is _NO_ROW:
            # The period's first use: its row is opened in a transaction of its own (opened
            # inside the counting one, MariaDB's gap locks deadlock concurrent first uses).
            self._retrying(lambda: self._fast.open_period(ref, feature, period.start, now))
            counted = count()
        if counted is _NO_ROW:  # no such account (open_period opens nothing then)
            self.accounts.ensure(ref)
            self._retrying(lambda: self._fast.open_period(ref, feature, period.start, now))
            counted = count()
        if counted is _NO_ROW:  # pragma: no cover - the account and its row exist now
            raise AssertionError(f"no usage row for {ref!r} after opening it")
        if counted is _DUPLICATE:
            return self._duplicate(ref, feature, status, period)
        if isinstance(counted, int):
            return self._decision(feature, status, period, counted, True)
        return self._refused_or_duplicate(ref, feature, status, period, idempotency_key)

    def _count(
        self,
        ref: str,
        feature: str,
        period: Period,
        amount: int,
        limit: int | None,
        key: str | None,
        now: datetime,
    ) -> int | object:
        """The new count, or :data:`_REFUSED`, :data:`_DUPLICATE` or :data:`_NO_ROW` (the
        period has no counter row yet, or there is no such account)."""
        try:
            with self.ctx.engine.begin() as conn:
                counted = counter.add(conn, ref, feature, period.start, amount, limit, now)
                if not counted:
                    found = counter.used(conn, ref, feature, period.start)
                    return _NO_ROW if found is None else _REFUSED
                if key is not None:
                    counter.record_key(conn, ref, feature, key, amount, period.start, now)
                return counter.used(conn, ref, feature, period.start) or 0
        except IntegrityError:
            if key is None:
                raise
            return _DUPLICATE  # the key was stored before: this transaction rolled back

    def _retrying(self, attempt: Callable[[], T]) -> T:
        for remaining in range(_DEADLOCK_ATTEMPTS - 1, -1, -1):
            try:
                return attempt()
            except OperationalError as exc:
                if remaining == 0 or not is_deadlock(exc):
                    raise
        raise AssertionError("unreachable")  # pragma: no cover

    def _refused_or_duplicate(
        self,
        ref: str,
        feature: str,
        status: AccessStatus,
        period: Period,
        key: str | None,
    ) -> UsageDecision:
        with self.ctx.engine.connect() as conn:
            if key is not None and counter.find_key(conn, ref, feature, key) is not None:
                return self._duplicate(ref, feature, status, period, conn)
            used = counter.used(conn, ref, feature, period.start) or 0
        return self._decision(feature, status, period, used, False)

    def _duplicate(
        self,
        ref: str,
        feature: str,
        status: AccessStatus,
        period: Period,
        conn: Connection | None = None,
    ) -> UsageDecision:
        if conn is None:
            with self.ctx.engine.connect() as own:
                used = counter.used(own, ref, feature, period.start) or 0
        else:
            used = counter.used(conn, ref, feature, period.start) or 0
        return self._decision(feature, status, period, used, True, duplicate=True)

    def release(
        self,
        ref: AccountRef,
        feature: str,
        amount: int | None = None,
        idempotency_key: str | None = None,
    ) -> UsageDecision:
        """Give back uses that were counted but not used (a reservation).

        With ``idempotency_key`` (the key the ``track()`` was given), gives back what that
        track counted, in the period it counted in, once; ``amount`` may then be omitted (if
        given it must match). Without a key, gives ``amount`` (default 1) back from the
        current period. A counter never goes below 0. Answers the current period's counter.

        Raises:
            ValidationError: unknown feature, bad amount or key, an amount that differs
                from the key's.
            NotFoundError: no track was counted with ``idempotency_key``.
        """
        ref = canonical_ref(ref)
        self.features.require(feature)
        if amount is not None:
            amount = clean_amount(amount)
        now = self.ctx.clock()
        if idempotency_key is None:
            amount = amount or 1
            status = self.access.status(ref)
            period = self.period_of(status, status.limits.get(feature), now)
            with self.ctx.engine.begin() as conn:
                counter.subtract(conn, ref, feature, period.start, amount, now)
            return self.check(ref, feature)
        key = bounds.check_key(idempotency_key)
        with self.ctx.engine.begin() as conn:
            stored = counter.find_key(conn, ref, feature, key)
            if stored is None:
                raise NotFoundError(
                    f"no track of {feature!r} for account {ref!r} has idempotency key {key!r}"
                )
            tracked, start, _released = stored
            if amount is not None and amount != tracked:
                raise ValidationError(
                    f"amount {amount} differs from the {tracked} tracked with key {key!r}"
                )
            if counter.mark_released(conn, ref, feature, key, now):
                counter.subtract(conn, ref, feature, start, tracked, now)
        return self.check(ref, feature)


_REFUSED = object()
_DUPLICATE = object()
_NO_ROW = object()
