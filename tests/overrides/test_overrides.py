"""Per-account overrides: a feature or a limit for one account, with expiry and a reason."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest

from tierline import Tierline
from tierline.errors import NotFoundError, ValidationError

from ..clock import FrozenClock
from ..usage.seed import CATALOG, add_tiers

MakeTierline = Callable[..., Tierline]


@pytest.fixture
def tl(make_tierline: MakeTierline) -> Tierline:
    tl = make_tierline(CATALOG)
    add_tiers(tl)
    tl.ensure_account("acct")
    return tl


def test_an_override_grants_a_feature_and_says_so(tl: Tierline) -> None:
    assert not tl.has_feature("acct", "beta")
    tl.overrides.set("acct", "beta", reason="early access", created_by="ops@example.com")
    status = tl.status("acct")
    assert "beta" in status.features
    assert status.feature_sources == {"basic": "tier", "quotes": "tier", "beta": "override"}
    assert status.to_dict()["feature_sources"]["beta"] == "override"


def test_an_override_limit_replaces_the_tier_limit_and_counts(tl: Tierline) -> None:
    tl.overrides.set("acct", "quotes", limit=5, reason="support ticket 42")
    status = tl.status("acct")
    assert (status.limits["quotes"].limit, status.limits["quotes"].period) == (5, "day")
    assert status.limit_sources["quotes"] == "override"
    assert sum(tl.usage.track("acct", "quotes").allowed for _ in range(7)) == 5


def test_a_disabled_override_withholds_a_tier_feature(tl: Tierline) -> None:
    tl.overrides.set("acct", "quotes", enabled=False, reason="abuse")
    assert "quotes" not in tl.status("acct").features
    assert tl.usage.track("acct", "quotes").reason is not None


def test_an_override_expires(tl: Tierline, clock: FrozenClock) -> None:
    tl.overrides.set("acct", "beta", expires_at=clock.now + timedelta(days=1), reason="trial")
    assert tl.has_feature("acct", "beta")
    clock.advance(days=1, seconds=1)
    assert not tl.has_feature("acct", "beta")
    assert len(tl.overrides.list("acct")) == 1  # still listed, with its expiry


def test_set_replaces_and_clear_removes(tl: Tierline) -> None:
    tl.overrides.set("acct", "quotes", limit=5, reason="first")
    tl.overrides.set("acct", "quotes", limit=9, period="month", reason="second")
    (only,) = tl.overrides.list("acct")
    assert (only.limit, only.period, only.reason) == (9, "month", "second")
    assert tl.overrides.clear("acct", "quotes") == 1
    assert tl.overrides.clear("acct", "quotes") == 0
    assert tl.status("acct").limits["quotes"].limit == 3


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"feature": "nope", "reason": "x"}, "'nope' is not in the catalog"),
        ({"feature": "quotes", "limit": -1, "reason": "x"}, "limit -1"),
        ({"feature": "quotes", "limit": 5, "period": "week", "reason": "x"}, "'week'"),
        ({"feature": "quotes", "period": "day", "reason": "x"}, "needs a limit"),
        ({"feature": "quotes", "reason": " "}, "reason"),
        ({"feature": "quotes", "enabled": False, "limit": 3, "reason": "x"}, "enabled"),
        (
            {"feature": "quotes", "reason": "x", "expires_at": datetime(2020, 1, 1, tzinfo=UTC)},
            "not in the future",
        ),
        ({"feature": "quotes", "reason": "x", "expires_at": datetime(2030, 1, 1)}, "time zone"),
        # A float or Decimal limit was stored as given on SQLite (2.5) and rounded on the
        # servers (2): a limit per dialect. Other wrong types raised AttributeError or
        # StatementError.
        ({"feature": "quotes", "limit": 2.5, "reason": "x"}, "limit 2.5"),
        ({"feature": "quotes", "limit": Decimal("3"), "reason": "x"}, "limit Decimal"),
        ({"feature": "quotes", "limit": "3", "reason": "x"}, "limit '3'"),
        ({"feature": "quotes", "reason": "x", "expires_at": "2030-01-01"}, "expires_at"),
        ({"feature": "quotes", "reason": 7}, "reason 7"),
        ({"feature": "quotes", "reason": "x", "enabled": "no"}, "enabled 'no'"),
    ],
)
def test_bad_input_is_refused_and_changes_nothing(
    tl: Tierline, kwargs: dict[str, object], message: str
) -> None:
    given = dict(kwargs)
    feature = given.pop("feature")
    with pytest.raises(ValidationError, match=message):
        tl.overrides.set("acct", feature, **given)  # type: ignore[arg-type]
    assert tl.overrides.list("acct") == []


def test_an_unknown_account_is_not_found(tl: Tierline) -> None:
    with pytest.raises(NotFoundError, match="ghost"):
        tl.overrides.set("ghost", "beta", reason="x")


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("reason", "a\x00b"),
        ("reason", "\ud800"),
        ("created_by", "ops\x00"),
        ("created_by", "\udc80"),
    ],
)
def test_text_with_nul_or_a_lone_surrogate_is_refused_on_every_dialect(
    tl: Tierline, field: str, value: str
) -> None:
    given = {"reason": "ticket 7", field: value}
    with pytest.raises(ValidationError, match=field):
        tl.overrides.set("acct", "beta", **given)
    assert tl.overrides.list("acct") == []


def test_an_expiry_past_the_stored_window_is_refused(tl: Tierline) -> None:
    with pytest.raises(ValidationError, match="expires_at"):
        tl.overrides.set(
            "acct", "beta", reason="forever", expires_at=datetime(9999, 12, 31, tzinfo=UTC)
        )
    assert tl.overrides.list("acct") == []


@pytest.mark.parametrize("feature", ["a\x00b", "\ud800", "f" * 300])
def test_clearing_a_feature_key_no_column_holds_is_refused(tl: Tierline, feature: str) -> None:
    tl.overrides.set("acct", "beta", reason="kept")
    with pytest.raises(ValidationError, match="feature"):
        tl.overrides.clear("acct", feature)
    assert len(tl.overrides.list("acct")) == 1


def test_an_expiry_with_an_offset_is_kept_and_shown_in_utc(tl: Tierline) -> None:
    plus_two = timezone(timedelta(hours=2))
    info = tl.overrides.set(
        "acct", "beta", reason="trial", expires_at=datetime(2030, 1, 1, 2, tzinfo=plus_two)
    )
    assert info.expires_at == datetime(2030, 1, 1, tzinfo=UTC)
    assert info.expires_at is not None and info.expires_at.utcoffset() == timedelta(0)
    [listed] = tl.overrides.list("acct")
    assert listed.expires_at == datetime(2030, 1, 1, tzinfo=UTC)
