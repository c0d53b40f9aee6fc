"""A self-service downgrade takes effect at the end of the paid period, on every dialect.

Per provider with a plan change (Stripe, Paddle, Polar, Lemon Squeezy), against its local fake
API and through the webhooks it sends: the account keeps the higher tier while the period
lasts, whatever snapshot the provider sends meanwhile, and gets the lower one from the first
snapshot after the period end (the renewal). The clock is frozen and moved across the period
end. With ``downgrade_at_period_end`` off, the downgrade applies at once.
"""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import pytest

from tierline import Tierline
from tierline.billing import scheduled, selfservice
from tierline.billing.result import IngestOutcome
from tierline.catalog.spec import Catalog, TierSpec
from tierline.errors import ValidationError
from tierline.outbox.models import OutboxStatus

from ..clock import FrozenClock
from ..fakes.every_provider import *  # noqa: F403 - the fake APIs' fixtures
from ..fakes.every_provider import Fakes
from .inbox_helpers import SECRET_SETTINGS, deliver, fixture

ACCOUNT = "org_42"
Path = tuple[str | int, ...]


def _iso(when: datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%S.000000Z")


def _unix(when: datetime) -> int:
    return int(when.timestamp())


@dataclass(frozen=True)
class Shape:
    """Where a provider's subscription snapshot keeps what the test changes."""

    fixture: str
    #: (path, value) pairs cleared so only the price link decides the tier (no cancellation).
    fixed: tuple[tuple[Path, Any], ...]
    subscription_id: Path
    #: Paths of the tier's link key (the same value at each).
    key: tuple[Path, ...]
    #: Paths of the snapshot's own time (its ordering) and the period end.
    updated: tuple[Path, ...]
    period_end: tuple[Path, ...]
    #: The dedup id of the delivery, made unique per snapshot (None: derived by Tierline).
    event_id: Path | None
    time: Callable[[datetime], Any]
    #: The tier keys: pro, team and biz (above pro), as the fake API and the catalog know them.
    pro: str
    team: str
    biz: str
    #: What the provider's own snapshot right after the change names: the new price when the
    #: change is applied at once (billed from the renewal), the old one when it schedules it.
    after_change: str
    #: The request body field and value that say "billed from the next period".
    proration: tuple[str, Any]


SHAPES: dict[str, Shape] = {
    "stripe": Shape(
        fixture="customer.subscription.updated",
        fixed=(
            (("data", "object", "cancel_at_period_end"), False),
            (("data", "previous_attributes"), {}),
        ),
        subscription_id=("data", "object", "id"),
        key=(("data", "object", "items", "data", 0, "price", "lookup_key"),),
        updated=(("created",),),
        period_end=(("data", "object", "items", "data", 0, "current_period_end"),),
        event_id=("id",),
        time=_unix,
        pro="pro_monthly",
        team="team_monthly",
        biz="biz_monthly",
        after_change="team",
        proration=("proration_behavior", "none"),
    ),
    "paddle": Shape(
        fixture="subscription.updated",
        fixed=(
            (("data", "scheduled_change"), None),
            (("data", "items", 0, "product", "custom_data"), None),
        ),
        subscription_id=("data", "id"),
        key=(("data", "items", 0, "price", "id"),),
        updated=(("occurred_at",), ("data", "updated_at")),
        period_end=(
            ("data", "current_billing_period", "ends_at"),
            ("data", "next_billed_at"),
        ),
        event_id=("event_id",),
        time=_iso,
        pro="pri_pro",
        team="pri_team",
        biz="pri_biz",
        after_change="team",
        proration=("proration_billing_mode", "full_next_billing_period"),
    ),
    "polar": Shape(
        fixture="subscription.active",
        fixed=((("data", "product", "metadata"), {}),),
        subscription_id=("data", "id"),
        key=(
            ("data", "product_id"),
            ("data", "product", "id"),
            ("data", "prices", 0, "product_id"),
        ),
        updated=(("data", "modified_at"),),
        period_end=(("data", "current_period_end"),),
        event_id=None,  # webhook-id: a new one per signature
        time=_iso,
        pro="prod_pro",
        team="prod_team",
        biz="prod_biz",
        after_change="pro",  # next_period: Polar keeps the product until the renewal
        proration=("proration_behavior", "next_period"),
    ),
    "lemonsqueezy": Shape(
        fixture="subscription_updated",
        fixed=((("data", "attributes", "cancelled"), False),),
        subscription_id=("data", "id"),
        key=(("data", "attributes", "variant_id"),),
        updated=(("data", "attributes", "updated_at"),),
        period_end=(("data", "attributes", "renews_at"),),
        event_id=None,  # derived from the event name, the object id and updated_at
        time=_iso,
        pro="482117",
        team="482118",
        biz="482119",
        after_change="team",
        proration=("disable_prorations", True),
    ),
}


def _set(payload: Any, path: Path, value: Any) -> None:
    node = payload
    for step in path[:-1]:
        node = node[step]
    node[path[-1]] = value


def snapshot(provider: str, sub_id: str, tier: str, updated: datetime, period_end: datetime) -> Any:
    """The provider's subscription webhook for ``sub_id`` on ``tier`` ("pro"/"team"/"biz")."""
    shape = SHAPES[provider]
    payload = fixture(provider, shape.fixture)
    for path, value in shape.fixed:
        _set(payload, path, value)
    _set(payload, shape.subscription_id, sub_id)
    key: Any = getattr(shape, tier)
    if provider == "lemonsqueezy":
        key = int(key)
    for path in shape.key:
        _set(payload, path, key)
    for path in shape.updated:
        _set(payload, path, shape.time(updated))
    for path in shape.period_end:
        _set(payload, path, shape.time(period_end))
    if shape.event_id is not None:
        _set(payload, shape.event_id, f"evt_{tier}_{_unix(updated)}")
    return payload


def seed(fakes: Fakes, provider: str) -> str:
    """A pro subscription at the provider's fake API; its id."""
    shape = SHAPES[provider]
    if provider == "stripe":
        fakes.stripe.seed_price(shape.pro, unit_amount=3000)
        fakes.stripe.seed_price(shape.team, unit_amount=1200)
        return fakes.stripe.seed_subscription("cus_SGhT4xVb2KqM8n", lookup_key=shape.pro)
    if provider == "paddle":
        fakes.paddle.prices.update({shape.pro: 3000, shape.team: 1200})
        return fakes.paddle.seed_subscription(shape.pro)
    if provider == "polar":
        fakes.polar.catalog.update({shape.pro, shape.team})
        return fakes.polar.seed_subscription(shape.pro)
    fakes.lemonsqueezy.catalog.update({shape.pro, shape.team})
    return fakes.lemonsqueezy.seed_subscription(shape.pro)


def last_change(fakes: Fakes, provider: str) -> dict[str, Any]:
    """The body of the provider call that changed the plan."""
    if provider == "stripe":
        return dict(fakes.stripe.requests[-1].form)
    if provider == "paddle":
        return dict(fakes.paddle.last("PATCH", r"/subscriptions/[^/]+").body)
    if provider == "polar":
        return dict(fakes.polar.last("PATCH", r"/v1/subscriptions/[^/]+").body)
    body = fakes.lemonsqueezy.last("PATCH", r"/v1/subscriptions/[^/]+").body
    return dict(body["data"]["attributes"])


def catalog() -> Catalog:
    def links(tier: str) -> dict[str, tuple[str, ...]]:
        return {p: (getattr(s, tier),) for p, s in SHAPES.items()}

    return Catalog(
        tiers={
            "team": TierSpec(key="team", name="Team", sort_order=1, providers=links("team")),
            "pro": TierSpec(key="pro", name="Pro", sort_order=2, providers=links("pro")),
            "biz": TierSpec(key="biz", name="Biz", sort_order=3, providers=links("biz")),
        }
    )


def build(make_tierline: Callable[..., Tierline], fakes: Fakes, **settings: Any) -> Tierline:
    tl = make_tierline(
        catalog=catalog(),
        **{**SECRET_SETTINGS, **fakes.settings(), **settings},
        lemonsqueezy_max_event_age_seconds=10 * 365 * 86400,
    )
    tl.sync_catalog()
    return tl


def tier_of(tl: Tierline) -> str | None:
    tl.ctx.cache.invalidate(ACCOUNT)
    return tl.status(ACCOUNT).tier


def paying(tl: Tierline, provider: str, sub_id: str, clock: FrozenClock) -> datetime:
    """``org_42`` pays for pro through ``provider`` since an hour ago; the period's end."""
    period_end = clock() + timedelta(days=20)
    started = snapshot(provider, sub_id, "pro", clock() - timedelta(hours=1), period_end)
    assert deliver(tl, provider, started).outcome is IngestOutcome.PROCESSED
    assert tier_of(tl) == "pro"
    return period_end


def downgraded(
    make_tierline: Callable[..., Tierline], fakes: Fakes, clock: FrozenClock, provider: str
) -> tuple[Tierline, str, datetime]:
    """``org_42`` pays for pro through ``provider`` and has scheduled a downgrade to team:
    (Tierline, subscription id, period end)."""
    tl = build(make_tierline, fakes)
    sub_id = seed(fakes, provider)
    period_end = paying(tl, provider, sub_id, clock)
    selfservice.change_plan(tl.ctx, ACCOUNT, "team")
    return tl, sub_id, period_end


@pytest.mark.parametrize("provider", sorted(SHAPES))
def test_a_downgrade_keeps_the_paid_tier_until_the_period_ends(
    make_tierline: Callable[..., Tierline], fakes: Fakes, clock: FrozenClock, provider: str
) -> None:
    tl = build(make_tierline, fakes)
    sub_id = seed(fakes, provider)
    period_end = paying(tl, provider, sub_id, clock)
    shape = SHAPES[provider]

    plan = selfservice.change_plan(tl.ctx, ACCOUNT, "team")
    assert (plan.downgrade, plan.at_period_end, plan.effective_at) == (True, True, period_end)
    field, value = shape.proration
    assert last_change(fakes, provider)[field] == value
    assert tier_of(tl) == "pro"
    sub = selfservice.live_subscription(tl.ctx, ACCOUNT)
    assert sub is not None
    waiting = selfservice.scheduled_downgrade(tl.ctx, sub)
    assert waiting is not None
    assert (waiting.from_tier, waiting.to_tier, waiting.effective_at) == (
        "pro",
        "team",
        period_end,
    )

    # The provider's webhook for the change, then any other snapshot of the period: still pro.
    clock.advance(minutes=1)
    after = snapshot(provider, sub_id, shape.after_change, clock(), period_end)
    assert deliver(tl, provider, after).outcome is IngestOutcome.PROCESSED
    assert tier_of(tl) == "pro"
    clock.set(period_end - timedelta(minutes=1))
    late = snapshot(provider, sub_id, "team", clock(), period_end)
    assert deliver(tl, provider, late).outcome is IngestOutcome.PROCESSED
    assert tier_of(tl) == "pro"
    assert tl.outbox.deliver_due() == []  # the hold is not due yet

    # The period ends; the renewal names team and the next period.
    clock.set(period_end + timedelta(minutes=1))
    assert selfservice.scheduled_downgrade(tl.ctx, sub) is None
    [ended] = tl.outbox.deliver_due()
    assert (ended.kind, ended.status) == (scheduled.KIND, OutboxStatus.DELIVERED)
    renewal = snapshot(provider, sub_id, "team", clock(), period_end + timedelta(days=30))
    assert deliver(tl, provider, renewal).outcome is IngestOutcome.PROCESSED
    assert tier_of(tl) == "team"


@pytest.mark.parametrize("provider", ["paddle", "stripe"])
def test_a_change_delivered_late_after_the_period_end_applies(
    make_tierline: Callable[..., Tierline], fakes: Fakes, clock: FrozenClock, provider: str
) -> None:
    tl = build(make_tierline, fakes)
    sub_id = seed(fakes, provider)
    period_end = paying(tl, provider, sub_id, clock)
    changed_at = clock()
    selfservice.change_plan(tl.ctx, ACCOUNT, "team")
    # The provider's webhook for the change arrives only after the period end.
    clock.set(period_end + timedelta(seconds=1))
    after = snapshot(provider, sub_id, "team", changed_at + timedelta(seconds=5), period_end)
    assert deliver(tl, provider, after).outcome is IngestOutcome.PROCESSED
    assert tier_of(tl) == "team"


def test_moving_back_before_the_period_end_undoes_the_downgrade_without_a_charge(
    make_tierline: Callable[..., Tierline], fakes: Fakes, clock: FrozenClock
) -> None:
    tl, sub_id, period_end = downgraded(make_tierline, fakes, clock, "paddle")
    back = selfservice.change_plan(tl.ctx, ACCOUNT, "pro")
    assert (back.downgrade, back.at_period_end) == (False, False)
    assert last_change(fakes, "paddle")["proration_billing_mode"] == "full_next_billing_period"
    sub = selfservice.live_subscription(tl.ctx, ACCOUNT)
    assert sub is not None and selfservice.scheduled_downgrade(tl.ctx, sub) is None
    # Nothing holds the tier any more: the provider's team snapshot (sent before the undo,
    # delivered now) applies, and the snapshot of the undo brings pro back.
    clock.advance(minutes=1)
    stale = snapshot("paddle", sub_id, "team", clock(), period_end)
    deliver(tl, "paddle", stale)
    assert tier_of(tl) == "team"
    clock.advance(minutes=1)
    deliver(tl, "paddle", snapshot("paddle", sub_id, "pro", clock(), period_end))
    assert tier_of(tl) == "pro"


def test_a_refused_provider_call_leaves_no_hold(
    make_tierline: Callable[..., Tierline], fakes: Fakes, clock: FrozenClock
) -> None:
    tl = build(make_tierline, fakes)
    sub_id = seed(fakes, "paddle")
    paying(tl, "paddle", sub_id, clock)
    fakes.paddle.fail_next(400, {"error": {"detail": "subscription is locked"}})
    with pytest.raises(Exception, match="subscription is locked"):
        selfservice.change_plan(tl.ctx, ACCOUNT, "team")
    sub = selfservice.live_subscription(tl.ctx, ACCOUNT)
    assert sub is not None and selfservice.scheduled_downgrade(tl.ctx, sub) is None
    assert tl.outbox.list() == []


def test_with_downgrade_at_period_end_off_the_tier_changes_at_once(
    make_tierline: Callable[..., Tierline], fakes: Fakes, clock: FrozenClock
) -> None:
    tl = build(make_tierline, fakes, downgrade_at_period_end=False)
    sub_id = seed(fakes, "paddle")
    paying(tl, "paddle", sub_id, clock)
    plan = selfservice.change_plan(tl.ctx, ACCOUNT, "team")
    assert (plan.downgrade, plan.at_period_end) == (True, False)
    assert last_change(fakes, "paddle")["proration_billing_mode"] == "prorated_immediately"
    assert tier_of(tl) == "team"
    assert tl.outbox.list() == []


def test_the_hold_is_stored_as_one_outbox_item_with_the_tiers(
    make_tierline: Callable[..., Tierline], fakes: Fakes, clock: FrozenClock
) -> None:
    tl = build(make_tierline, fakes)
    sub_id = seed(fakes, "stripe")
    period_end = paying(tl, "stripe", sub_id, clock)
    selfservice.change_plan(tl.ctx, ACCOUNT, "team")
    [item] = tl.outbox.list()
    assert (item.kind, item.status) == (scheduled.KIND, OutboxStatus.PENDING)
    assert item.next_attempt_at == period_end
    assert json.loads(item.payload) == {
        "provider": "stripe",
        "external_id": sub_id,
        "from_tier": "pro",
        "to_tier": "team",
        "effective_at": period_end.isoformat(),
    }


@pytest.mark.parametrize("provider", sorted(SHAPES))
def test_an_upgrade_in_the_providers_portal_applies_and_voids_the_hold(
    make_tierline: Callable[..., Tierline], fakes: Fakes, clock: FrozenClock, provider: str
) -> None:
    # pro -> team scheduled; the customer then upgrades to biz in the provider's portal, and
    # later in the same period moves down to pro there (applied at once by the provider).
    tl, sub_id, period_end = downgraded(make_tierline, fakes, clock, provider)
    clock.advance(minutes=5)
    upgraded = snapshot(provider, sub_id, "biz", clock(), period_end)
    assert deliver(tl, provider, upgraded).outcome is IngestOutcome.PROCESSED
    assert tier_of(tl) == "biz"
    sub = selfservice.live_subscription(tl.ctx, ACCOUNT)
    assert sub is not None and selfservice.scheduled_downgrade(tl.ctx, sub) is None
    # The hold was for pro: it no longer keeps anything.
    clock.advance(minutes=5)
    deliver(tl, provider, snapshot(provider, sub_id, "pro", clock(), period_end))
    assert tier_of(tl) == "pro"


@pytest.mark.parametrize("provider", sorted(SHAPES))
def test_a_renewal_processed_before_our_clock_reaches_the_period_end_applies(
    make_tierline: Callable[..., Tierline], fakes: Fakes, clock: FrozenClock, provider: str
) -> None:
    tl, sub_id, period_end = downgraded(make_tierline, fakes, clock, provider)
    # The provider renews a little early, or our clock runs a little behind its clock.
    clock.set(period_end - timedelta(seconds=2))
    renewal = snapshot(provider, sub_id, "team", clock(), period_end + timedelta(days=30))
    assert deliver(tl, provider, renewal).outcome is IngestOutcome.PROCESSED
    assert tier_of(tl) == "team"
    clock.set(period_end + timedelta(days=10))
    assert tier_of(tl) == "team"


def test_a_snapshot_of_the_held_period_stays_held_until_our_clock_reaches_its_end(
    make_tierline: Callable[..., Tierline], fakes: Fakes, clock: FrozenClock
) -> None:
    # Only the renewal's later period end lets the lower tier through early; the change's own
    # snapshot (same period end) delivered two seconds before the end is still held.
    tl, sub_id, period_end = downgraded(make_tierline, fakes, clock, "stripe")
    clock.set(period_end - timedelta(seconds=2))
    deliver(tl, "stripe", snapshot("stripe", sub_id, "team", clock(), period_end))
    assert tier_of(tl) == "pro"


def test_a_double_submitted_downgrade_writes_one_hold(
    make_tierline: Callable[..., Tierline],
    fakes: Fakes,
    clock: FrozenClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    tl = build(make_tierline, fakes)
    sub_id = seed(fakes, "stripe")
    period_end = paying(tl, "stripe", sub_id, clock)
    # Both requests have looked for the hold and found none when either writes it.
    barrier = threading.Barrier(2, timeout=5)
    write = scheduled.enqueue

    def racing(*args: Any, **kwargs: Any) -> int:
        # SQLite: the other writer waits for this one's lock instead, and the wait times out.
        with contextlib.suppress(threading.BrokenBarrierError):
            barrier.wait()
        return write(*args, **kwargs)

    monkeypatch.setattr(scheduled, "enqueue", racing)
    with ThreadPoolExecutor(max_workers=2) as pool:
        submitted = [pool.submit(selfservice.change_plan, tl.ctx, ACCOUNT, "team") for _ in "ab"]
    assert [future.exception() for future in submitted] == [None, None]
    [item] = tl.outbox.list()
    assert (item.kind, item.status, item.next_attempt_at) == (
        scheduled.KIND,
        OutboxStatus.PENDING,
        period_end,
    )
    assert tier_of(tl) == "pro"
    sub = selfservice.live_subscription(tl.ctx, ACCOUNT)
    assert sub is not None
    waiting = selfservice.scheduled_downgrade(tl.ctx, sub)
    assert waiting is not None and waiting.to_tier == "team"


@pytest.mark.parametrize("delivered", [False, True])
def test_keeping_the_plan_after_the_period_end_says_the_downgrade_took_effect(
    make_tierline: Callable[..., Tierline], fakes: Fakes, clock: FrozenClock, delivered: bool
) -> None:
    tl, sub_id, period_end = downgraded(make_tierline, fakes, clock, "stripe")
    clock.set(period_end + timedelta(minutes=10))  # the renewal webhook is not in yet
    if delivered:
        assert [item.kind for item in tl.outbox.deliver_due()] == [scheduled.KIND]
    assert tier_of(tl) == "pro"
    with pytest.raises(ValidationError, match=r"to tier 'team' took effect at the end of the"):
        selfservice.change_plan(tl.ctx, ACCOUNT, "pro")
    # Once the renewal is in, pro is an upgrade again.
    clock.advance(minutes=1)
    renewal = snapshot("stripe", sub_id, "team", clock(), period_end + timedelta(days=30))
    deliver(tl, "stripe", renewal)
    assert tier_of(tl) == "team"
    assert selfservice.change_plan(tl.ctx, ACCOUNT, "pro").downgrade is False


def test_a_snapshot_without_a_period_end_is_held_until_the_period_end(
    make_tierline: Callable[..., Tierline], fakes: Fakes, clock: FrozenClock
) -> None:
    tl, sub_id, period_end = downgraded(make_tierline, fakes, clock, "stripe")

    def undated(when: datetime) -> Any:
        payload = snapshot("stripe", sub_id, "team", when, period_end)
        _set(payload, SHAPES["stripe"].period_end[0], None)
        return payload

    clock.set(period_end - timedelta(minutes=1))
    assert deliver(tl, "stripe", undated(clock())).outcome is IngestOutcome.PROCESSED
    assert tier_of(tl) == "pro"
    sub = selfservice.live_subscription(tl.ctx, ACCOUNT)
    assert sub is not None and sub.current_period_end is None
    clock.set(period_end + timedelta(minutes=1))
    assert deliver(tl, "stripe", undated(clock())).outcome is IngestOutcome.PROCESSED
    assert tier_of(tl) == "team"
