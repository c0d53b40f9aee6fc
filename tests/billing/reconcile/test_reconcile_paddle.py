"""Reconciling Paddle: page through the fake Paddle API (meta.pagination.next), diff, apply."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tierline import Tierline
from tierline.billing.reconcile.paddle_source import PaddleSource, api_base
from tierline.billing.reconcile.service import Change, Reconciler
from tierline.errors import ConfigurationError, ProviderAPIError
from tierline.settings import TierlineSettings

from ...fakes.paddle_server import FakePaddle, fake_paddle  # noqa: F401 - the fixture
from ..inbox_helpers import SECRET_SETTINGS, add_tier, events, subscriptions

MakeTierline = Callable[..., Tierline]


def _tierline(make_tierline: MakeTierline, paddle: FakePaddle) -> Tierline:
    tl = make_tierline(**SECRET_SETTINGS, **paddle.settings())
    add_tier(tl, "pro", {"paddle": ("pro",)})
    add_tier(tl, "team", {"paddle": ("team",)})
    return tl


def _reconciler(tl: Tierline, page_size: int = 2) -> Reconciler:
    return Reconciler(tl, source=PaddleSource(tl.settings, tl.ctx.clock, page_size=page_size))


def test_apply_pages_with_the_next_url_and_writes_every_subscription_once(
    make_tierline: MakeTierline,
    fake_paddle: FakePaddle,  # noqa: F811 - the fixture
) -> None:
    tl = _tierline(make_tierline, fake_paddle)
    active = fake_paddle.seed_subscription(
        tier_key="team", customer_id="ctm_a", account_ref="org_a", quantity=5
    )
    canceled = fake_paddle.seed_subscription(
        customer_id="ctm_b", account_ref="org_b", status="canceled"
    )
    unknown = fake_paddle.seed_subscription(customer_id="ctm_c")  # names no account
    seen: list[tuple[int, int | None]] = []

    report = _reconciler(tl).run("paddle", apply=True, progress=lambda n, t: seen.append((n, t)))

    assert seen == [(2, 3), (3, 3)]
    first, second = fake_paddle.requests
    assert first.query == {"per_page": "2"}
    assert second.query == {"per_page": "2", "after": canceled}
    assert first.headers["authorization"] == f"Bearer {fake_paddle.token}"
    outcomes = {d.subscription_id: (d.change, d.applied) for d in report.diffs}
    assert outcomes == {
        active: (Change.MISSING, "processed"),
        canceled: (Change.MISSING, "processed"),
        unknown: (Change.MISSING, "unmapped"),
    }
    assert not report.in_sync  # the unmapped one waits for an account link
    status = tl.status("org_a")
    assert (status.active, status.tier) == (True, "team")
    rows = {row["external_id"]: row for row in subscriptions(tl)}
    assert rows[active]["quantity"] == 5 and rows[canceled]["status"] == "canceled"
    ids = sorted(e.external_id for e in events(tl))
    assert ids == sorted(
        f"reconcile:{sub}:2026-06-01T12:00:00.000000Z" for sub in (active, canceled, unknown)
    )

    assert tl.accounts.link_customer("org_c", "paddle", "ctm_c")
    again = _reconciler(tl).run("paddle", account_ref="org_c", apply=True)
    assert [(d.change, d.applied) for d in again.diffs] == [(Change.MISSING, "processed")]
    assert tl.status("org_c").active
    assert fake_paddle.requests[-1].query == {"per_page": "2", "customer_id": "ctm_c"}


def test_a_changed_subscription_differs_until_applied(
    make_tierline: MakeTierline,
    fake_paddle: FakePaddle,  # noqa: F811 - the fixture
) -> None:
    tl = _tierline(make_tierline, fake_paddle)
    sub_id = fake_paddle.seed_subscription(customer_id="ctm_a", account_ref="org_a")
    _reconciler(tl).run("paddle", apply=True)
    entity = fake_paddle.subscriptions[sub_id]
    entity.update(status="past_due", updated_at="2026-06-01T12:30:00.000000Z")

    diff = _reconciler(tl).run("paddle")
    [row] = diff.diffs
    assert (row.change, row.fields) == (Change.DIFFERS, ["status"])

    _reconciler(tl).run("paddle", apply=True)
    assert [d.change for d in _reconciler(tl).run("paddle").diffs] == [Change.SAME]
    assert subscriptions(tl)[0]["status"] == "past_due"


def test_api_errors_and_settings(
    make_tierline: MakeTierline,
    fake_paddle: FakePaddle,  # noqa: F811 - the fixture
) -> None:
    with pytest.raises(ConfigurationError, match="no Paddle API key is configured"):
        Reconciler(make_tierline()).run("paddle")
    wrong = make_tierline(**{**fake_paddle.settings(), "paddle_api_key": "pdl_sdbx_apikey_wrong"})
    with pytest.raises(ProviderAPIError, match=r"\(HTTP 403, code forbidden\)"):
        Reconciler(wrong).run("paddle")
    assert api_base(TierlineSettings(paddle_api_key="pdl_sdbx_apikey_x")) == (
        "https://sandbox-api.paddle.com"
    )
    assert (
        api_base(TierlineSettings(paddle_api_key="pdl_live_apikey_x")) == "https://api.paddle.com"
    )
