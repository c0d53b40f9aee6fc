"""Shared helpers for the inbox tests: tiers and links, signed deliveries, stored rows."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from tierline import Tierline
from tierline.accounts.models import Account
from tierline.billing.models import Event, Subscription
from tierline.billing.providers import fake, sign_for
from tierline.catalog.models import Tier, TierProviderLink
from tierline.catalog.spec import Catalog, ReferralPolicy
from tierline.credits.models import CreditGrant
from tierline.referrals.models import Referral

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
SECRETS = {
    "fake": "fake-webhook-secret",
    "stripe": "whsec_test_inbox",
    "paddle": "pdl_ntfset_test",
    "polar": "polar_whs_test_inbox",
    "whop": "ws_test_inbox",
    "lemonsqueezy": "ls_test_inbox",
}
#: Settings giving every provider the secrets in :data:`SECRETS`.
SECRET_SETTINGS: dict[str, Any] = {
    "enable_fake_provider": True,
    "fake_webhook_secret": [SECRETS["fake"]],
    "stripe_webhook_secret": [SECRETS["stripe"]],
    "paddle_webhook_secret": [SECRETS["paddle"]],
    "polar_webhook_secret": [SECRETS["polar"]],
    "whop_webhook_secret": [SECRETS["whop"]],
    "lemonsqueezy_webhook_secret": [SECRETS["lemonsqueezy"]],
}


def add_tier(tl: Tierline, key: str, links: dict[str, tuple[str, ...]] | None = None) -> int:
    """Create a tier with provider links directly (catalog sync is another team's)."""
    with tl.ctx.sessions.begin() as session:
        tier = Tier(key=key, name=key.title())
        for provider, keys in (links or {}).items():
            for external_key in keys:
                tier.provider_links.append(
                    TierProviderLink(provider=provider, external_key=external_key)
                )
        session.add(tier)
        session.flush()
        return tier.id


def link_tier(tl: Tierline, tier_key: str, provider: str, external_key: str) -> None:
    """Add one provider link to an existing tier."""
    with tl.ctx.sessions.begin() as session:
        tier = session.scalars(select(Tier).where(Tier.key == tier_key)).one()
        session.add(TierProviderLink(tier_id=tier.id, provider=provider, external_key=external_key))


def signed(
    provider: str, payload: dict[str, Any] | bytes, now: datetime
) -> tuple[dict[str, str], bytes]:
    """Headers and body of a delivery signed with the provider's scheme at ``now``."""
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    return sign_for(provider, body, SECRETS[provider], int(now.timestamp())), body


def fake_event(
    event_type: str, account_ref: str, now: datetime, tier_key: str = "pro", **kwargs: Any
) -> dict[str, Any]:
    """A fake-provider payload created at ``now``."""
    return fake.build_event(
        event_type, account_ref=account_ref, tier_key=tier_key, now=now, **kwargs
    )


def deliver(tl: Tierline, provider: str, payload: dict[str, Any] | bytes) -> Any:
    """Sign ``payload`` at the Tierline's clock and ingest it."""
    headers, body = signed(provider, payload, tl.ctx.clock())
    return tl.ingest(provider, headers, body)


def fixture(provider: str, name: str) -> dict[str, Any]:
    """A provider payload fixture (shaped like the provider's documented webhooks)."""
    data: dict[str, Any] = json.loads((FIXTURES / provider / f"{name}.json").read_text())
    return data


def subscriptions(tl: Tierline) -> list[dict[str, Any]]:
    """Every subscription row with its account ref and tier key, by id."""
    with tl.ctx.sessions() as session:
        rows = session.execute(
            select(Subscription, Account.ref, Tier.key)
            .join(Account, Account.id == Subscription.account_id)
            .outerjoin(Tier, Tier.id == Subscription.tier_id)
            .order_by(Subscription.id)
        ).all()
        return [
            {
                "external_id": sub.external_id,
                "provider": sub.provider,
                "account": ref,
                "tier": tier_key,
                "status": sub.status,
                "customer_id": sub.customer_id,
                "quantity": sub.quantity,
                "cancel_at_period_end": sub.cancel_at_period_end,
                "provider_updated_at": sub.provider_updated_at,
            }
            for sub, ref, tier_key in rows
        ]


def events(tl: Tierline) -> list[Event]:
    """Every inbox row, by id."""
    with tl.ctx.sessions() as session:
        return list(session.scalars(select(Event).order_by(Event.id)))


def referral_catalog(days: int = 7, coupon: str | None = None) -> Catalog:
    """A catalog whose referral policy rewards both sides with ``days`` (and a coupon)."""
    return Catalog(referrals=ReferralPolicy(reward_days=days, stripe_coupon=coupon))


def refer(tl: Tierline, referrer: str, referred: str) -> None:
    """Make ``referred`` a referral of ``referrer`` (both accounts created)."""
    tl.ensure_account(referrer)
    tl.attribute_referral(referred, tl.referral_code(referrer))


def conversions(tl: Tierline) -> tuple[int, int]:
    """(converted referrals, credit grants): the effects that must happen exactly once."""
    with tl.ctx.sessions() as session:
        converted = session.scalar(
            select(func.count(Referral.id)).where(Referral.converted_at.is_not(None))
        )
        grants = session.scalar(select(func.count(CreditGrant.id)))
        return int(converted or 0), int(grants or 0)
