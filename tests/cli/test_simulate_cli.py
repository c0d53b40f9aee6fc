"""``tierline simulate``: payloads shaped like the providers' own, sent to a live app over HTTP."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from sqlalchemy.engine import URL
from typer.testing import CliRunner

from tierline import AccessSource, DenialReason, Tierline, TierlineSettings
from tierline.billing.models import SubscriptionStatus
from tierline.billing.providers import get_provider
from tierline.billing.simulate import (
    SIMULATED_EVENTS,
    SIMULATED_PROVIDERS,
    build_payload,
    provider_event_type,
    signed_request,
)
from tierline.cli.app import app as cli_app
from tierline.web.fastapi import TierlineFastAPI

from ..examples.servers import serve

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
SECRETS = {
    "stripe": "whsec_simulate_tests",
    "paddle": "pdl_ntfset_simulate_tests",
    "fake": "fake_simulate_tests",
    "polar": "polar_whs_simulate_tests",
    "whop": "ws_simulate_tests",
    "lemonsqueezy": "ls_simulate_tests",
}
#: Each provider's link of the ``pro`` tier in :data:`CATALOG_TOML`.
KEYS = {
    "stripe": "pro_monthly",
    "paddle": "pro",
    "fake": "pro_fake",
    "polar": "pro",
    "whop": "plan_9XcRt5YhJk3mNa",
    "lemonsqueezy": "482117",
}
CATALOG_TOML = """
[features]
analyze = "Analysis"

[tiers.free]
name = "Free"
exempt = true

[tiers.pro]
name = "Pro"
features = ["analyze"]
providers = { stripe = ["pro_monthly", "pro_yearly"], paddle = "pro", fake = "pro_fake", \
  polar = "pro", whop = "plan_9XcRt5YhJk3mNa", lemonsqueezy = "482117" }

[tiers.team]
name = "Team"
providers = { stripe = "team_monthly" }
"""
#: Each simulated event, per provider, and the fixture holding the real payload it imitates.
REFERENCE = {
    "stripe": {
        "checkout.completed": "checkout.session.completed",
        "subscription.created": "customer.subscription.created",
        "subscription.updated": "customer.subscription.updated",
        "subscription.past_due": "customer.subscription.updated",
        "subscription.canceled": "customer.subscription.deleted",
    },
    "paddle": {
        "checkout.completed": "subscription.created",
        "subscription.created": "subscription.created",
        "subscription.updated": "subscription.updated",
        "subscription.past_due": "subscription.past_due",
        "subscription.canceled": "subscription.canceled",
    },
    "fake": {
        "checkout.completed": "checkout.completed",
        "subscription.created": "subscription.created",
        "subscription.updated": "subscription.updated",
        "subscription.past_due": "subscription.updated",
        "subscription.canceled": "subscription.canceled",
    },
    "polar": {
        "checkout.completed": "subscription.created",
        "subscription.created": "subscription.created",
        "subscription.updated": "subscription.updated",
        "subscription.past_due": "subscription.past_due",
        "subscription.canceled": "subscription.revoked",
    },
    "whop": {
        "checkout.completed": "membership.activated",
        "subscription.created": "membership.activated",
        "subscription.updated": "membership.updated",
        "subscription.past_due": "membership.updated",
        "subscription.canceled": "membership.deactivated",
    },
    "lemonsqueezy": {
        "checkout.completed": "subscription_created",
        "subscription.created": "subscription_created",
        "subscription.updated": "subscription_updated",
        "subscription.past_due": "subscription_updated",
        "subscription.canceled": "subscription_expired",
    },
}
#: The status access ends in, where it is not ``canceled``.
ENDED = {"lemonsqueezy": SubscriptionStatus.EXPIRED}
#: Fields whose keys differ between events by nature (Stripe lists what changed).
VARIABLE_PATHS = {"data.previous_attributes"}


def shape_differences(built: Any, reference: Any, path: str = "") -> list[str]:
    """Where ``built`` does not have the keys and value types of ``reference``.

    ``null`` on either side matches anything: the providers send null for absent optional
    objects (a trial, a scheduled change).
    """
    if built is None or reference is None or path in VARIABLE_PATHS:
        return []
    if isinstance(reference, dict):
        if not isinstance(built, dict):
            return [f"{path}: an object in the fixture, {type(built).__name__} here"]
        problems = []
        if set(built) != set(reference):
            problems.append(
                f"{path or '<root>'}: missing {sorted(set(reference) - set(built))}, "
                f"extra {sorted(set(built) - set(reference))}"
            )
        for key in set(built) & set(reference):
            problems += shape_differences(built[key], reference[key], f"{path}.{key}".strip("."))
        return problems
    if isinstance(reference, list):
        if not isinstance(built, list):
            return [f"{path}: a list in the fixture, {type(built).__name__} here"]
        if reference and built:
            return shape_differences(built[0], reference[0], f"{path}[0]")
        return []
    if type(built) is not type(reference):
        return [f"{path}: {type(reference).__name__} in the fixture, {type(built).__name__} here"]
    return []


@pytest.mark.parametrize("provider", SIMULATED_PROVIDERS)
@pytest.mark.parametrize("event", SIMULATED_EVENTS)
def test_payload_is_shaped_like_the_providers_fixture_and_parses(provider: str, event: str) -> None:
    key = KEYS[provider]
    payload = build_payload(provider, event, account_ref="org_7", external_key=key)
    name = REFERENCE[provider][event]
    reference = json.loads((FIXTURES / provider / f"{name}.json").read_text())
    assert shape_differences(payload, reference) == []

    body, headers = signed_request(provider, payload, SECRETS[provider])
    settings = TierlineSettings(
        enable_fake_provider=provider == "fake",
        **{f"{provider}_webhook_secret": [SECRETS[provider]]},
    )
    checker = get_provider(provider, settings)
    parsed = checker.parse(checker.verify(headers, body))
    assert parsed.type == provider_event_type(provider, event) == name
    if parsed.subscription is None:  # Stripe's checkout session: the account and its customer
        assert parsed.data["account_ref"] == "org_7"
        assert parsed.data["subscription_id"]
        return
    expected_status = {
        "subscription.canceled": ENDED.get(provider, SubscriptionStatus.CANCELED),
        "subscription.past_due": SubscriptionStatus.PAST_DUE,
    }.get(event, SubscriptionStatus.ACTIVE)
    assert parsed.subscription.status is expected_status
    assert parsed.subscription.account_ref == "org_7"
    assert key in parsed.subscription.tier_keys


def test_successive_events_for_one_account_name_one_subscription() -> None:
    for provider in SIMULATED_PROVIDERS:
        key = KEYS[provider]
        first = build_payload(provider, "subscription.created", account_ref="a", external_key=key)
        later = build_payload(provider, "subscription.canceled", account_ref="a", external_key=key)
        other = build_payload(provider, "subscription.created", account_ref="b", external_key=key)
        ids = [_subscription_id(provider, p) for p in (first, later, other)]
        assert ids[0] == ids[1] != ids[2], provider


def _subscription_id(provider: str, payload: dict[str, Any]) -> str:
    if provider == "stripe":
        return str(payload["data"]["object"]["id"])
    if provider in ("paddle", "polar", "whop", "lemonsqueezy"):
        return str(payload["data"]["id"])
    return str(payload["data"]["subscription"]["id"])


# -- against a live app ----------------------------------------------------------------------
@pytest.fixture
def catalog_file(tmp_path: Path) -> Path:
    path = tmp_path / "tierline.toml"
    path.write_text(CATALOG_TOML)
    return path


@pytest.fixture
def live_app(sqlite_url: URL, catalog_file: Path) -> Iterator[tuple[Tierline, str]]:
    settings = TierlineSettings(
        database_url=sqlite_url.render_as_string(hide_password=False),
        stripe_webhook_secret=[SECRETS["stripe"]],
        paddle_webhook_secret=[SECRETS["paddle"]],
        enable_fake_provider=True,
        fake_webhook_secret=[SECRETS["fake"]],
        secret_key="simulate-tests",
        polar_webhook_secret=[SECRETS["polar"]],
        whop_webhook_secret=[SECRETS["whop"]],
        lemonsqueezy_webhook_secret=[SECRETS["lemonsqueezy"]],
    )
    tl = Tierline(settings=settings, catalog=catalog_file)
    tl.sync_catalog()
    app = FastAPI()
    TierlineFastAPI(tl, current_account=lambda request: None).install(app)
    with serve(app) as base_url:
        yield tl, base_url
    tl.close()


def simulate(base_url: str, catalog: Path, *args: str, **env: str) -> Any:
    environment = {f"TIERLINE_{name.upper()}_WEBHOOK_SECRET": s for name, s in SECRETS.items()}
    environment["TIERLINE_PUBLIC_URL"] = base_url
    environment.update(env)
    return CliRunner().invoke(
        cli_app, ["simulate", *args, "--catalog", str(catalog)], env=environment
    )


@pytest.mark.parametrize("provider", SIMULATED_PROVIDERS)
def test_simulated_lifecycle_changes_the_accounts_status(
    live_app: tuple[Tierline, str], catalog_file: Path, provider: str
) -> None:
    tl, base_url = live_app
    account = f"acct-{provider}"
    common = ("--account", account, "--tier", "pro", "--provider", provider)

    created = simulate(base_url, catalog_file, "subscription.created", *common)
    assert created.exit_code == 0, created.output
    assert "HTTP 200" in created.output
    assert f"{base_url}/webhooks/{provider}" in created.output
    answer = json.loads(created.output[created.output.index("{") :])
    assert answer["outcome"] == "processed"
    status = tl.status(account)
    assert (status.active, status.tier, status.source) == (True, "pro", AccessSource.SUBSCRIPTION)

    past_due = simulate(base_url, catalog_file, "subscription.past_due", *common)
    assert past_due.exit_code == 0, past_due.output
    # Past due keeps access for the grace days while the provider retries the payment.
    assert tl.status(account).source is AccessSource.GRACE

    canceled = simulate(base_url, catalog_file, "subscription.canceled", *common)
    assert canceled.exit_code == 0, canceled.output
    status = tl.status(account)
    assert (status.active, status.reason) == (False, DenialReason.CANCELED)


def test_stripe_checkout_links_the_account_before_its_subscription(
    live_app: tuple[Tierline, str], catalog_file: Path
) -> None:
    tl, base_url = live_app
    common = ("--account", "acct-co", "--tier", "pro", "--provider", "stripe")
    checkout = simulate(base_url, catalog_file, "checkout.completed", *common)
    assert checkout.exit_code == 0, checkout.output
    assert "checkout.session.completed" in checkout.output
    assert tl.accounts.get("acct-co").ref == "acct-co"
    assert not tl.status("acct-co").active
    created = simulate(base_url, catalog_file, "subscription.created", *common)
    assert created.exit_code == 0, created.output
    assert tl.status("acct-co").active


def test_a_secret_the_app_does_not_know_is_answered_400_and_exits_1(
    live_app: tuple[Tierline, str], catalog_file: Path
) -> None:
    tl, base_url = live_app
    result = simulate(
        base_url,
        catalog_file,
        "subscription.created",
        *("--account", "acct-x", "--tier", "pro"),
        TIERLINE_FAKE_WEBHOOK_SECRET="not-the-apps-secret",
    )
    assert result.exit_code == 1
    assert "HTTP 400" in result.output
    assert "bad_signature" in result.output
    assert tl.accounts.list() == []


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("subscription.renewed", "--account", "a", "--tier", "pro"), "valid events: checkout"),
        (
            ("subscription.created", "--account", "a", "--tier", "pro", "--provider", "paypal"),
            "valid providers: stripe, paddle, polar, whop, lemonsqueezy, fake",
        ),
        (("subscription.created", "--account", "a", "--tier", "gold"), "tiers: free, pro, team"),
        (
            ("subscription.created", "--account", "a", "--tier", "team", "--provider", "paddle"),
            "tier 'team' has no paddle link in the catalog; it links to: stripe",
        ),
        (
            ("subscription.created", "--account", "a", "--tier", "pro", "--url", "file:///x"),
            "is not an http:// or https:// URL",
        ),
    ],
)
def test_bad_input_is_one_clear_line_and_sends_nothing(
    catalog_file: Path, args: tuple[str, ...], message: str
) -> None:
    # No server listens on this port's URL: a request would fail differently.
    result = simulate("http://127.0.0.1:9", catalog_file, *args)
    assert result.exit_code == 1
    assert message in result.output
    assert "POST" not in result.output


def test_missing_secret_and_unreachable_app_are_reported(catalog_file: Path) -> None:
    common = ("subscription.created", "--account", "a", "--tier", "pro", "--provider", "stripe")
    no_secret = simulate(
        "http://127.0.0.1:9", catalog_file, *common, TIERLINE_STRIPE_WEBHOOK_SECRET=""
    )
    assert no_secret.exit_code == 1
    assert "set TIERLINE_STRIPE_WEBHOOK_SECRET" in no_secret.output

    unreachable = simulate("http://127.0.0.1:9", catalog_file, *common)
    assert unreachable.exit_code == 1
    assert "cannot reach http://127.0.0.1:9/webhooks/stripe" in unreachable.output


def test_the_help_lists_every_simulated_event_and_provider() -> None:
    from tierline.billing import simulate as payloads
    from tierline.cli import simulate as command

    assert command.SIMULATED_EVENTS == payloads.SIMULATED_EVENTS
    assert command.SIMULATED_PROVIDERS == payloads.SIMULATED_PROVIDERS
