"""The subscription table's ordered upsert, on every dialect: exact ties of (timestamp, rank),
final terminal states, cancel_at and past_due_since, for snapshots built directly (any provider
name: the rules are driven by the snapshot, not the provider)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from tierline import AccessSource, DenialReason, Tierline
from tierline.access.rules import EXEMPT_PROVIDER
from tierline.accounts.queries import account_by_ref
from tierline.billing.apply import ApplyTx, Effect, EffectApplier
from tierline.billing.models import Subscription, SubscriptionStatus
from tierline.billing.providers.base import ProviderEvent, SubscriptionItem, SubscriptionSnapshot
from tierline.billing.subscriptions import (
    Linked,
    PlanTerms,
    StoredSubscription,
    Written,
    account_id_for,
    apply_snapshot,
    has_paid_subscription,
    link_subscription,
    stored_subscription,
)
from tierline.catalog.models import Tier, TierProviderLink

from ..clock import FrozenClock
from .drivers import ACCOUNT, link_tiers

MakeTierline = Callable[..., Tierline]
T0 = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
US = timedelta(microseconds=1)
PROVIDERS = ("stripe", "paddle", "fake", "polar")  # "polar": a provider added later


@pytest.fixture
def tl(make_tierline: MakeTierline) -> Tierline:
    tl = make_tierline(past_due_grace_days=3)
    link_tiers(tl)
    tl.ensure_account(ACCOUNT)
    return tl


def snap(
    status: str = "active", at: datetime | None = T0, rank: int = 0, **kw: Any
) -> SubscriptionSnapshot:
    return SubscriptionSnapshot(
        external_id="sub_rows",
        status=SubscriptionStatus(status),
        account_ref=ACCOUNT,
        customer_id="cus_rows",
        items=(SubscriptionItem(("pro",), kw.pop("quantity", 1), T0 + timedelta(days=30)),),
        updated_at=at,
        rank=rank,
        **kw,
    )


def account_id(tl: Tierline) -> int:
    with tl.engine.connect() as conn:
        found = account_by_ref(conn, ACCOUNT)
    assert found is not None
    return found.id


def write(tl: Tierline, snapshot: SubscriptionSnapshot, provider: str = "stripe") -> Written:
    tier = tl.access.tiers.get().tier_for_link("stripe", ("pro",))
    assert tier is not None
    with tl.engine.begin() as conn:
        return apply_snapshot(
            conn,
            provider,
            snapshot,
            account_id=account_id(tl),
            terms=PlanTerms(tier.id, 1, T0 + timedelta(days=30)),
            now=T0,
        )


def row(tl: Tierline) -> Subscription:
    with tl.ctx.sessions() as session:
        return session.scalars(select(Subscription)).one()


@pytest.mark.parametrize(
    ("at", "rank", "written"),
    [
        (T0, 1, Written.NOTHING),  # equal timestamp and rank: a redelivery
        (T0, 0, Written.NOTHING),  # equal timestamp, lower rank
        (T0, 2, Written.UPDATED),  # equal timestamp, higher rank
        (T0 - US, 9, Written.NOTHING),  # a microsecond older, whatever its rank
        (T0 + US, 0, Written.UPDATED),  # a microsecond newer, whatever its rank
        (None, 0, Written.UPDATED),  # no timestamp: applies, keeps the stored one
    ],
)
def test_the_total_order_at_its_exact_ties(
    tl: Tierline, at: datetime | None, rank: int, written: Written
) -> None:
    assert write(tl, snap("active", T0, rank=1)) is Written.INSERTED
    assert write(tl, snap("past_due", at, rank=rank)) is written
    stored = row(tl)
    assert stored.status == ("past_due" if written is Written.UPDATED else "active")
    assert stored.provider_updated_at == (at or T0 if written is Written.UPDATED else T0)
    assert stored.provider_rank == (rank if written is Written.UPDATED else 1)


@pytest.mark.parametrize("terminal", ["canceled", "expired"])
@pytest.mark.parametrize("later", ["active", "trialing", "past_due", "incomplete", "paused"])
def test_no_later_snapshot_reopens_a_terminal_status(
    tl: Tierline, terminal: str, later: str
) -> None:
    write(tl, snap(terminal, T0))
    assert write(tl, snap(later, T0 + timedelta(days=1), rank=99)) is Written.NOTHING
    assert write(tl, snap(later, None)) is Written.NOTHING  # nor one without a timestamp
    assert row(tl).status == terminal


def test_a_checkout_link_row_takes_any_snapshot(tl: Tierline) -> None:
    owner = account_id(tl)
    with tl.engine.begin() as conn:
        linked = link_subscription(
            conn, "stripe", "sub_rows", account_id=owner, customer_id="cus_rows", now=T0
        )
    assert linked == Linked(SubscriptionStatus.INCOMPLETE, Written.INSERTED)
    assert write(tl, snap("incomplete", T0 - timedelta(days=400), rank=0)) is Written.UPDATED
    assert row(tl).provider_updated_at == T0 - timedelta(days=400)


def test_an_unseen_link_row_is_incomplete_without_tier_and_without_a_rank(tl: Tierline) -> None:
    with tl.engine.begin() as conn:
        link_subscription(
            conn, "stripe", "sub_rows", account_id=account_id(tl), customer_id="cus_rows", now=T0
        )
    stored = row(tl)
    assert (stored.status, stored.tier_id, stored.customer_id) == ("incomplete", None, "cus_rows")
    assert (stored.cancel_at_period_end, stored.quantity, stored.provider_rank) == (False, 1, 0)
    assert (stored.provider_updated_at, stored.current_period_end, stored.cancel_at) == (
        None,
        None,
        None,
    )


def test_linking_a_stored_subscription_keeps_and_returns_its_status(tl: Tierline) -> None:
    write(tl, snap("past_due"))
    owner = account_id(tl)
    with tl.engine.begin() as conn:
        linked = link_subscription(
            conn, "stripe", "sub_rows", account_id=owner, customer_id="cus_new", now=T0
        )
        assert linked == Linked(SubscriptionStatus.PAST_DUE, Written.UPDATED)
        stored = stored_subscription(conn, "stripe", "sub_rows")
        assert stored == StoredSubscription(owner, row(tl).tier_id, SubscriptionStatus.PAST_DUE)
        assert stored_subscription(conn, "fake", "sub_rows") is None
        assert stored_subscription(conn, "stripe", "sub_other") is None
    assert row(tl).customer_id == "cus_new"


def test_a_stored_subscription_finds_its_account_by_its_id(tl: Tierline) -> None:
    write(tl, snap("active"), provider="fake")
    with tl.engine.begin() as conn:
        assert account_id_for(conn, "fake", "sub_rows", None) == account_id(tl)
        assert account_id_for(conn, "fake", "sub_other", None) is None
        assert account_id_for(conn, "fake", None, None) is None


@pytest.mark.parametrize(
    ("status", "provider", "paid"),
    [
        ("active", "stripe", True),
        ("past_due", "stripe", True),
        ("trialing", "stripe", False),
        ("canceled", "stripe", False),
        ("active", EXEMPT_PROVIDER, False),
    ],
)
def test_a_paid_subscription_is_active_or_past_due_at_a_provider(
    tl: Tierline, status: str, provider: str, paid: bool
) -> None:
    write(tl, snap(status), provider=provider)
    owner = account_id(tl)
    with tl.ctx.sessions() as session:
        assert has_paid_subscription(session, owner) is paid
        assert has_paid_subscription(session, owner + 1) is False


def test_customer_look_ups_are_scoped_by_provider(tl: Tierline) -> None:
    write(tl, snap("active"), provider="fake")
    with tl.engine.begin() as conn:
        assert account_id_for(conn, "fake", None, "cus_rows") is not None
        assert account_id_for(conn, "stripe", None, "cus_rows") is None
        assert account_id_for(conn, "stripe", "sub_rows", None) is None


def test_past_due_since_from_the_snapshot_else_now(tl: Tierline) -> None:
    write(tl, snap("past_due", None))
    assert row(tl).past_due_since == T0  # no provider time: the apply time
    write(tl, snap("active", T0 + timedelta(hours=1)))
    assert row(tl).past_due_since is None
    write(tl, snap("past_due", T0 + timedelta(hours=2)))
    assert row(tl).past_due_since == T0 + timedelta(hours=2)


def test_past_due_since_is_kept_while_the_subscription_stays_past_due(tl: Tierline) -> None:
    write(tl, snap("past_due", T0))
    write(tl, snap("past_due", T0 + timedelta(hours=1)))
    assert row(tl).past_due_since == T0


@pytest.mark.parametrize(("quantity", "stored"), [(None, 1), (3, 3)])
def test_a_new_row_takes_the_plan_quantity_else_one(
    tl: Tierline, quantity: int | None, stored: int
) -> None:
    tier = tl.access.tiers.get().tier_for_link("stripe", ("pro",))
    assert tier is not None
    with tl.engine.begin() as conn:
        written = apply_snapshot(
            conn,
            "stripe",
            snap("active"),
            account_id=account_id(tl),
            terms=PlanTerms(tier.id, quantity, None),
            now=T0,
        )
    assert written is Written.INSERTED
    assert row(tl).quantity == stored


def test_a_customer_linked_by_an_admin_finds_its_account_before_any_subscription(
    tl: Tierline,
) -> None:
    assert tl.accounts.link_customer(ACCOUNT, "stripe", "cus_linked")
    with tl.engine.begin() as conn:
        assert account_id_for(conn, "stripe", None, "cus_linked") == account_id(tl)
        assert account_id_for(conn, "fake", None, "cus_linked") is None
        assert account_id_for(conn, "stripe", "sub_unknown", "cus_linked") == account_id(tl)


# -- cancel_at through the applier, for any provider ------------------------------------
def apply_event(tl: Tierline, event: ProviderEvent) -> Effect:
    """Apply a normalized event as the inbox does (one transaction), without a webhook."""
    applier = EffectApplier(tl.ctx, tl.referrals, tl.access.tiers)
    with tl.engine.begin() as conn:
        tx = ApplyTx(conn)
        try:
            effect = applier.apply(tx, event, tl.ctx.clock())
            tx.flush()
        finally:
            tx.close()
    for ref in effect.accounts:
        tl.ctx.cache.invalidate(ref)
    return effect


@pytest.mark.parametrize("provider", PROVIDERS)
def test_cancel_at_is_a_date_that_ends_access(
    tl: Tierline, clock: FrozenClock, provider: str
) -> None:
    with tl.ctx.sessions.begin() as session:
        pro = session.scalars(select(Tier).where(Tier.key == "pro")).one()
        if provider == "polar":
            session.add(TierProviderLink(tier_id=pro.id, provider="polar", external_key="pro"))
    tl.ctx.cache.clear()
    now = clock()
    cancel_at = now + timedelta(days=5)
    event = ProviderEvent(
        provider,
        "evt_cancel_at",
        "subscription.updated",
        now,
        snap("active", now, cancel_at=cancel_at),
    )

    assert apply_event(tl, event).status.value == "processed"

    assert row(tl).cancel_at == cancel_at and not row(tl).cancel_at_period_end
    status = tl.status(ACCOUNT)
    assert (status.source, status.expires_at, status.days_remaining) == (
        AccessSource.SUBSCRIPTION,
        cancel_at,
        5,
    )
    clock.set(cancel_at - US)
    assert tl.status(ACCOUNT).active
    clock.set(cancel_at)
    status = tl.status(ACCOUNT)
    assert (status.active, status.reason) == (False, DenialReason.CANCELED)
