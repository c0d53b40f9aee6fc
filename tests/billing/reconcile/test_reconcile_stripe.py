"""Reconciling Stripe: page through the fake Stripe API, diff, apply through the inbox."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tierline import Tierline
from tierline.access.status import AccessSource
from tierline.billing.reconcile.service import Change, Reconciler
from tierline.billing.reconcile.stripe_source import StripeSource
from tierline.billing.result import IngestOutcome
from tierline.errors import ConfigurationError, NotFoundError, ValidationError

from ...clock import FrozenClock
from ...fakes.stripe_server import FakeStripe, fake_stripe  # noqa: F401 - the fixture
from ..inbox_helpers import SECRET_SETTINGS, add_tier, deliver, events, fixture, subscriptions

MakeTierline = Callable[..., Tierline]
PERIOD_END = int(datetime(2026, 7, 1, 11, tzinfo=UTC).timestamp())


def _tierline(make_tierline: MakeTierline, stripe: FakeStripe) -> Tierline:
    tl = make_tierline(**SECRET_SETTINGS, **stripe.settings())
    add_tier(tl, "pro", {"stripe": ("pro_monthly",)})
    add_tier(tl, "team", {"stripe": ("team_monthly",)})
    return tl


def _webhook(
    stripe: FakeStripe, sub_id: str, status: str, created: datetime, name: str = "updated"
) -> dict[str, Any]:
    """A ``customer.subscription.<name>`` event carrying the fake's subscription as ``status``."""
    payload = fixture("stripe", f"customer.subscription.{name}")
    payload["id"] = f"evt_{secrets.token_hex(12)}"
    payload["data"]["object"] = {**stripe.subscriptions[sub_id], "status": status}
    payload["created"] = int(created.timestamp())
    return payload


def _reconciler(tl: Tierline, *, page_size: int = 2) -> Reconciler:
    return Reconciler(tl, source=StripeSource(tl.settings, tl.ctx.clock, page_size=page_size))


def test_the_diff_names_missing_differing_and_unknown_subscriptions_across_pages(
    make_tierline: MakeTierline,
    fake_stripe: FakeStripe,  # noqa: F811 - the fixture
) -> None:
    tl = _tierline(make_tierline, fake_stripe)
    same = fake_stripe.seed_priced_subscription(
        "pro_monthly", customer="cus_A", account_ref="org_a", period_end=PERIOD_END
    )
    changed = fake_stripe.seed_priced_subscription(
        "team_monthly", customer="cus_B", account_ref="org_b", status="canceled", quantity=4
    )
    missing = fake_stripe.seed_priced_subscription(
        "pro_monthly", customer="cus_C", account_ref="org_c"
    )
    earlier = tl.ctx.clock() - timedelta(minutes=1)
    for sub_id in (same, changed):
        payload = _webhook(fake_stripe, sub_id, "active", earlier)
        assert deliver(tl, "stripe", payload).outcome is IngestOutcome.PROCESSED
    before = len(events(tl))

    report = _reconciler(tl).run("stripe")

    by_id = {diff.subscription_id: diff for diff in report.diffs}
    assert by_id[same].change is Change.SAME and by_id[same].fields == []
    assert by_id[changed].change is Change.DIFFERS
    assert by_id[changed].fields == ["status"]
    assert by_id[changed].provider_state["status"] == "canceled"
    assert by_id[changed].tierline_state["status"] == "active"
    assert by_id[changed].provider_state["tier"] == "team"
    assert by_id[changed].provider_state["quantity"] == 4
    assert by_id[missing].change is Change.MISSING and by_id[missing].account_ref == "org_c"
    assert not report.in_sync and len(events(tl)) == before  # a diff changes nothing
    lists = [r for r in fake_stripe.requests if r.path == "/v1/subscriptions"]
    assert len(lists) == 2  # 3 subscriptions, pages of 2
    assert lists[0].form["status"] == "all" and lists[0].form["limit"] == "2"
    assert lists[0].form["expand"] == ["data.items.data.price"]
    assert lists[1].form["starting_after"] == changed


def test_apply_writes_the_providers_state_through_the_webhook_path_once(
    make_tierline: MakeTierline,
    fake_stripe: FakeStripe,  # noqa: F811 - the fixture
    clock: FrozenClock,
) -> None:
    tl = _tierline(make_tierline, fake_stripe)
    canceled = fake_stripe.seed_priced_subscription(
        "pro_monthly", customer="cus_B", account_ref="org_b", status="canceled"
    )
    # The cancellation webhook was lost: Tierline still has it active.
    deliver(tl, "stripe", _webhook(fake_stripe, canceled, "active", clock.now - timedelta(hours=1)))
    assert tl.status("org_b").active
    created = fake_stripe.seed_priced_subscription(
        "pro_monthly", customer="cus_C", account_ref="org_c", quantity=3, period_end=PERIOD_END
    )

    hooked: list[tuple[str, bool, bool]] = []
    tl.on_access_change(lambda ref, old, new: hooked.append((ref, old.active, new.active)))
    report = _reconciler(tl).run("stripe", apply=True)

    # The access hooks ran once per changed account, after each synthetic event's commit.
    assert sorted(hooked) == [("org_b", True, False), ("org_c", False, True)]
    assert report.in_sync
    assert {d.subscription_id: d.applied for d in report.diffs} == {
        canceled: "processed",
        created: "processed",
    }
    assert not tl.status("org_b").active
    status = tl.status("org_c")
    assert (status.active, status.source, status.tier) == (True, AccessSource.SUBSCRIPTION, "pro")
    rows = {row["external_id"]: row for row in subscriptions(tl)}
    assert rows[created]["quantity"] == 3 and rows[canceled]["status"] == "canceled"
    synthetic = [e for e in events(tl) if e.external_id.startswith("reconcile:")]
    assert sorted(e.external_id.split(":")[1] for e in synthetic) == sorted([canceled, created])
    assert {e.type for e in synthetic} == {
        "customer.subscription.deleted",
        "customer.subscription.updated",
    }

    again = _reconciler(tl).run("stripe", apply=True)
    assert [d.change for d in again.diffs] == [Change.SAME, Change.SAME]
    assert len(events(tl)) == len(synthetic) + 1  # nothing more written
    assert len(hooked) == 2


def test_a_webhook_newer_than_the_fetch_still_wins(
    make_tierline: MakeTierline,
    fake_stripe: FakeStripe,  # noqa: F811 - the fixture
    clock: FrozenClock,
) -> None:
    tl = _tierline(make_tierline, fake_stripe)
    sub_id = fake_stripe.seed_priced_subscription(
        "pro_monthly", customer="cus_A", account_ref="org_a"
    )
    _reconciler(tl).run("stripe", apply=True)
    later = clock.advance(seconds=5)
    deliver(tl, "stripe", _webhook(fake_stripe, sub_id, "canceled", later, "deleted"))
    assert not tl.status("org_a").active


def test_one_account_reconciles_only_its_own_customers(
    make_tierline: MakeTierline,
    fake_stripe: FakeStripe,  # noqa: F811 - the fixture
) -> None:
    tl = _tierline(make_tierline, fake_stripe)
    fake_stripe.seed_priced_subscription("pro_monthly", customer="cus_A", account_ref="org_a")
    fake_stripe.seed_priced_subscription("pro_monthly", customer="cus_B", account_ref="org_b")
    assert tl.accounts.link_customer("org_a", "stripe", "cus_A")

    report = _reconciler(tl).run("stripe", account_ref="org_a")

    assert [d.customer_id for d in report.diffs] == ["cus_A"]
    [listing] = [r for r in fake_stripe.requests if r.path == "/v1/subscriptions"]
    assert listing.form["customer"] == "cus_A"


def test_a_linked_customer_without_metadata_resolves_to_its_account(
    make_tierline: MakeTierline,
    fake_stripe: FakeStripe,  # noqa: F811 - the fixture
) -> None:
    tl = _tierline(make_tierline, fake_stripe)
    sub_id = fake_stripe.seed_priced_subscription("pro_monthly", customer="cus_OUT")
    assert tl.accounts.link_customer("org_out", "stripe", "cus_OUT")
    assert not tl.accounts.link_customer("org_out", "stripe", "cus_OUT")  # already linked

    report = _reconciler(tl).run("stripe", account_ref="org_out", apply=True)

    assert [d.applied for d in report.diffs] == ["processed"]
    assert tl.status("org_out").active
    # A later webhook of a new subscription of that customer resolves to the same account.
    later = fake_stripe.seed_priced_subscription("team_monthly", customer="cus_OUT")
    payload = _webhook(fake_stripe, later, "active", tl.ctx.clock(), "created")
    assert deliver(tl, "stripe", payload).outcome is IngestOutcome.PROCESSED
    assert {row["external_id"] for row in subscriptions(tl)} == {sub_id, later}


def test_links_are_scoped_by_provider_and_one_customer_has_one_account(
    make_tierline: MakeTierline,
    fake_stripe: FakeStripe,  # noqa: F811 - the fixture
) -> None:
    tl = _tierline(make_tierline, fake_stripe)
    assert tl.accounts.link_customer("org_a", "stripe", "cus_X")
    assert tl.accounts.link_customer("org_b", "fake", "cus_X")
    with pytest.raises(
        ValidationError, match="stripe customer 'cus_X' is already linked to account 'org_a'"
    ):
        tl.accounts.link_customer("org_c", "stripe", "cus_X")
    with pytest.raises(ValidationError, match="unknown billing provider 'strype'; valid: stripe"):
        tl.accounts.link_customer("org_c", "strype", "cus_Y")
    with pytest.raises(ValidationError, match="customer id ' cus_Y' must be 1 to 255"):
        tl.accounts.link_customer("org_c", "stripe", " cus_Y")
    # A webhook's customer id never holds a control character: such a link could never match.
    with pytest.raises(ValidationError, match="or control characters"):
        tl.accounts.link_customer("org_c", "stripe", "cus_\x1b[2JY")
    with pytest.raises(NotFoundError):
        tl.accounts.get("org_c")  # a refused link created nothing


def test_errors_name_the_problem(
    make_tierline: MakeTierline,
    fake_stripe: FakeStripe,  # noqa: F811 - the fixture
) -> None:
    tl = _tierline(make_tierline, fake_stripe)
    keyless = make_tierline(**SECRET_SETTINGS)
    with pytest.raises(ConfigurationError, match="no Stripe API key is configured"):
        Reconciler(keyless).run("stripe")
    with pytest.raises(
        ValidationError, match="cannot reconcile provider 'fake'; valid: stripe, paddle"
    ):
        Reconciler(tl).run("fake")
    with pytest.raises(NotFoundError, match="no account with ref 'org_nobody'"):
        Reconciler(tl).run("stripe", account_ref="org_nobody")
    tl.ensure_account("org_new")
    with pytest.raises(ValidationError, match="account 'org_new' has no stripe customer yet"):
        Reconciler(tl).run("stripe", account_ref="org_new")
    revoked = make_tierline(**{**fake_stripe.settings(), "stripe_api_key": "sk_test_revoked"})
    with pytest.raises(Exception, match=r"Stripe listing subscriptions failed \(HTTP 401\)"):
        Reconciler(revoked).run("stripe")
