"""``tierline reconcile`` and ``tierline accounts link`` against the fake provider APIs."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.engine import URL
from typer.testing import CliRunner

from tierline import Tierline, TierlineSettings
from tierline.billing.providers import PROVIDER_NAMES
from tierline.catalog.spec import Catalog
from tierline.cli.app import app

from ..billing.inbox_helpers import add_tier
from ..fakes.paddle_server import FakePaddle, fake_paddle  # noqa: F401 - the fixture
from ..fakes.stripe_server import FakeStripe, fake_stripe  # noqa: F401 - the fixture

runner = CliRunner()
LINK = ["accounts", "link", "org_out", "--provider", "paddle", "--customer", "ctm_out"]


@pytest.fixture
def url(sqlite_url: URL, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("TIERLINE_DATABASE_URL", raising=False)
    rendered = sqlite_url.render_as_string(hide_password=False)
    with Tierline(settings=TierlineSettings(database_url=rendered), catalog=Catalog()) as tl:
        add_tier(tl, "pro", {"stripe": ("pro_monthly",), "paddle": ("pro",)})
    yield rendered


def _env(monkeypatch: pytest.MonkeyPatch, settings: dict[str, str]) -> None:
    for name, value in settings.items():
        monkeypatch.setenv(f"TIERLINE_{name.upper()}", value)


def test_reconcile_prints_the_diff_exits_1_then_apply_repairs_it(
    url: str,
    fake_stripe: FakeStripe,  # noqa: F811 - the fixture
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _env(monkeypatch, fake_stripe.settings())
    sub_id = fake_stripe.seed_priced_subscription(
        "pro_monthly", customer="cus_A", account_ref="org_a", quantity=2
    )

    diff = runner.invoke(app, ["reconcile", "stripe", "--database-url", url])

    assert diff.exit_code == 1, diff.output
    assert sub_id in diff.output and "missing" in diff.output
    assert diff.output.rstrip().endswith(
        "stripe: 1 subscriptions compared: 0 same, 1 missing, 0 differs, 0 not_at_provider"
    )

    applied = runner.invoke(
        app, ["reconcile", "stripe", "--apply", "--json", "--database-url", url]
    )

    assert applied.exit_code == 0, applied.output
    report = json.loads(applied.output)
    assert report["counts"]["missing"] == 1 and report["applied"] is True
    [row] = report["subscriptions"]
    assert (row["subscription_id"], row["applied"]) == (sub_id, "processed")
    assert row["provider"]["quantity"] == 2 and row["provider"]["tier"] == "pro"

    again = runner.invoke(app, ["reconcile", "stripe", "--database-url", url])
    assert again.exit_code == 0, again.output
    assert "1 same" in again.output


def test_accounts_link_then_reconciles_the_customer(
    url: str,
    fake_paddle: FakePaddle,  # noqa: F811 - the fixture
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _env(monkeypatch, fake_paddle.settings())
    fake_paddle.seed_subscription(customer_id="ctm_out", tier_key="pro")  # no account named

    linked = runner.invoke(
        app,
        [*LINK, "--database-url", url],
    )

    assert linked.exit_code == 0, linked.output
    assert linked.output.startswith("paddle customer ctm_out linked to account org_out\n")
    assert "paddle of account org_out: 1 subscriptions applied" in linked.output
    status = runner.invoke(app, ["show-status", "org_out", "--json", "--database-url", url])
    assert json.loads(status.output)["active"] is True

    twice = runner.invoke(
        app,
        [*LINK, "--json", "--database-url", url],
    )
    assert twice.exit_code == 0, twice.output
    answer = json.loads(twice.output)
    assert answer["linked"] is False and answer["reconcile"]["counts"]["same"] == 1


@pytest.mark.parametrize(
    "args, message",
    [
        (["reconcile", "fake"], "error: cannot reconcile provider 'fake'; valid: stripe, paddle"),
        (["reconcile", "stripe"], "error: no Stripe API key is configured"),
        (["reconcile", "stripe", "--account", "nobody"], "error: no account with ref 'nobody'"),
        (
            ["accounts", "link", "org_x", "--provider", "nope", "--customer", "c"],
            # The fake provider is off here, so it is not offered.
            "error: unknown billing provider 'nope'; valid: "
            + ", ".join(name for name in PROVIDER_NAMES if name != "fake"),
        ),
    ],
)
def test_bad_input_is_a_one_line_error(
    url: str, args: list[str], message: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("TIERLINE_STRIPE_API_KEY", raising=False)
    result = runner.invoke(app, [*args, "--database-url", url])
    assert result.exit_code == 1
    assert result.output.startswith(message), result.output
    assert "Traceback" not in result.output
