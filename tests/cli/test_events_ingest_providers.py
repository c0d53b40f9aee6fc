"""``tierline events ingest <provider>`` for Polar, Whop and Lemon Squeezy, on every dialect.

Captured deliveries (signed now, as the provider would) take an account from free to paid to
cancelled through the CLI, the same path as the web endpoint.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.engine import URL
from typer.testing import CliRunner

from tierline import Tierline, TierlineSettings
from tierline.billing.providers import sign_for
from tierline.catalog.spec import Catalog
from tierline.cli.app import app

from ..billing.inbox_helpers import SECRETS, add_tier, fixture

runner = CliRunner()
ACCOUNT = "org_42"
#: provider -> (the pro tier's link, the paid steps, the cancelling step)
JOURNEYS = {
    "polar": ("pro", ["checkout.updated", "subscription.active"], "subscription.revoked"),
    "whop": ("plan_9XcRt5YhJk3mNa", ["membership.updated"], "membership.deactivated"),
    "lemonsqueezy": ("482117", ["subscription_created"], "subscription_expired"),
}


@pytest.fixture
def url(db_url: URL, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    monkeypatch.chdir(tmp_path)  # no stray tierline.toml
    monkeypatch.delenv("TIERLINE_DATABASE_URL", raising=False)
    for provider in JOURNEYS:
        monkeypatch.setenv(f"TIERLINE_{provider.upper()}_WEBHOOK_SECRET", SECRETS[provider])
    # The fixtures are dated; the CLI reads the real clock. The age bound is a setting.
    monkeypatch.setenv("TIERLINE_LEMONSQUEEZY_MAX_EVENT_AGE_SECONDS", str(10 * 365 * 86400))
    rendered = db_url.render_as_string(hide_password=False)
    with Tierline(settings=TierlineSettings(database_url=rendered), catalog=Catalog()) as tl:
        add_tier(tl, "pro", {provider: (link,) for provider, (link, _, _) in JOURNEYS.items()})
    yield rendered


def ingest(url: str, tmp_path: Path, provider: str, name: str) -> str:
    body = json.dumps(fixture(provider, name)).encode()
    path = tmp_path / f"{provider}-{name}.json"
    path.write_bytes(body)
    options = ["--body", str(path)]
    for header, value in sign_for(provider, body, SECRETS[provider], int(time.time())).items():
        options += ["-H", f"{header}: {value}"]
    result = runner.invoke(app, ["events", "ingest", provider, *options, "--database-url", url])
    assert result.exit_code == 0, result.output
    return result.output


def active(url: str) -> bool:
    with Tierline(settings=TierlineSettings(database_url=url), catalog=Catalog()) as tl:
        return tl.status(ACCOUNT).active


@pytest.mark.parametrize("provider", sorted(JOURNEYS))
def test_free_to_paid_to_cancelled_through_events_ingest(
    url: str, tmp_path: Path, provider: str
) -> None:
    _, paid_steps, cancel = JOURNEYS[provider]
    assert active(url) is False
    for name in paid_steps:
        assert ingest(url, tmp_path, provider, name).startswith("processed [200]")
    assert active(url) is True
    assert ingest(url, tmp_path, provider, cancel).startswith("processed [200]")
    assert active(url) is False


def test_a_forged_delivery_is_rejected_with_exit_1(url: str, tmp_path: Path) -> None:
    body = json.dumps(fixture("lemonsqueezy", "subscription_created")).encode()
    path = tmp_path / "forged.json"
    path.write_bytes(body)
    result = runner.invoke(
        app,
        [
            *("events", "ingest", "lemonsqueezy", "--body", str(path)),
            *("-H", "X-Signature: 00", "--database-url", url),
        ],
    )
    assert result.exit_code == 1
    assert result.output.startswith("rejected [400]") and "X-Signature" in result.output
    assert active(url) is False
