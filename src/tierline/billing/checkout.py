"""Checkout: the URL that sends an account off to pay for a tier.

The provider is the one asked for, else the tier's first provider link in the order of
:data:`~tierline.catalog.spec.KNOWN_PROVIDERS` (Stripe first, the fake provider last). Stripe
gets a Checkout Session created through its API; the fake provider gets the local fake checkout
page served by the web adapters, which completes by sending itself a correctly signed webhook,
so the whole loop runs offline.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlencode

from sqlalchemy import select
from sqlalchemy.orm import Session

from tierline import bounds
from tierline.accounts.service import clean_ref, find_account
from tierline.catalog.models import Tier, TierProviderLink
from tierline.catalog.queries import find_tier
from tierline.catalog.spec import KNOWN_PROVIDERS
from tierline.context import Context
from tierline.errors import ConfigurationError, NotFoundError, ValidationError

#: The fake provider's checkout page, served by both web adapters.
FAKE_CHECKOUT_PATH = "/billing/fake-checkout"
#: Where a finished (or abandoned) checkout returns to by default, under ``public_url``.
RETURN_PATH = "/billing/settings"

#: Tier keys are at most this long (see ``tierline.catalog.config.KEY_PATTERN``).
MAX_TIER_KEY = 64
#: Providers whose checkout Tierline can start from the server (each through its
#: :mod:`tierline.billing.actions` module; the fake provider through its local page).
SERVER_CHECKOUT = ("stripe", "paddle", "polar", "whop", "lemonsqueezy", "fake")


class ProviderSwitchError(ValidationError):
    """The account pays through another provider: a second checkout would bill it twice until
    the old subscription ends. Confirm with ``allow_provider_switch=True``."""


@dataclass(frozen=True)
class CheckoutTarget:
    """A tier chosen for checkout: the provider to use and that provider's external keys."""

    tier_key: str
    provider: str
    external_keys: tuple[str, ...]


def _purchasable(session: Session, *, offered: bool) -> list[str]:
    """Keys of tiers that can be bought: not exempt, not retired, linked to a provider (and,
    with ``offered``, customer-facing)."""
    statement = (
        select(Tier.key)
        .join(TierProviderLink, TierProviderLink.tier_id == Tier.id)
        .where(Tier.exempt.is_(False), Tier.retired.is_(False))
        .distinct()
        .order_by(Tier.key)
    )
    if offered:
        statement = statement.where(Tier.customer_facing.is_(True))
    return list(session.scalars(statement).all())


def resolve_target(
    session: Session, tier_key: str, provider: str | None, *, offered: bool = False
) -> CheckoutTarget:
    """The tier and provider a checkout would use; raises a clear error when there is none.

    With ``offered`` (the self-service pages: what a signed-in customer may pick), a tier that
    is not customer-facing (``customer_facing = false``: a grandfathered or sales-only price)
    is refused as not offered, and the error lists only customer-facing tiers; the host app
    can still sell it through :meth:`Tierline.checkout_url`.

    Raises:
        NotFoundError: no such tier, a retired one, or (with ``offered``) a hidden one.
        ValidationError: an exempt tier, a tier without a link on ``provider``, or a provider
            without server-side checkout.
    """
    # From a URL or a form: refused before it reaches a query (PostgreSQL rejects a NUL).
    bounds.check_text(tier_key, field="tier key", max_length=MAX_TIER_KEY, allow_empty=False)
    if provider is not None and provider not in KNOWN_PROVIDERS:
        raise ValidationError(
            f"unknown provider {provider!r}; known providers: {', '.join(KNOWN_PROVIDERS)}"
        )
    tier = find_tier(session, tier_key)
    hidden = tier is not None and offered and not tier.customer_facing
    if tier is None or tier.retired or hidden:
        choices = (
            ", ".join(_purchasable(session, offered=offered))
            or "none (run `tierline catalog sync`)"
        )
        state = "does not exist"
        if tier is not None:
            state = "is retired" if tier.retired else "is not offered"
        raise NotFoundError(f"tier {tier_key!r} {state}; tiers you can check out: {choices}")
    if tier.exempt:
        choices = ", ".join(_purchasable(session, offered=offered)) or "none"
        raise ValidationError(
            f"tier {tier_key!r} is exempt (assigned, never paid for); "
            f"tiers you can check out: {choices}"
        )
    links: dict[str, list[str]] = {}
    for link in sorted(tier.provider_links, key=lambda row: row.id):
        links.setdefault(link.provider, []).append(link.external_key)
    if not links:
        raise ValidationError(
            f"tier {tier_key!r} has no provider links; add e.g. providers = "
            '{ stripe = ["<lookup key>"] } to it in the catalog'
        )
    if provider is None:
        provider = next(name for name in KNOWN_PROVIDERS if name in links)
    elif provider not in links:
        raise ValidationError(
            f"tier {tier_key!r} has no {provider} link; it links to: {', '.join(sorted(links))}"
        )
    if provider not in SERVER_CHECKOUT:
        raise ValidationError(
            f"checkout through {provider} is not supported; server-side checkout supports: "
            + ", ".join(SERVER_CHECKOUT)
        )
    keys = tuple(links[provider])
    return CheckoutTarget(tier_key=tier.key, provider=provider, external_keys=keys)


def check_checkout(session: Session, account_ref: str, target: CheckoutTarget) -> None:
    """Refuse a checkout the account should not start: the tier it already pays for, or a new
    subscription on the provider it already pays through (a plan change does that).

    Raises:
        ValidationError: naming the live subscription and what to do instead.
        ProviderSwitchError: the account pays through another provider.
    """
    # Imported here: selfservice imports this module.
    from tierline.billing.selfservice import live_subscriptions

    for sub in live_subscriptions(session, account_ref):
        if sub.tier_key == target.tier_key:
            raise ValidationError(
                f"account {account_ref!r} already pays for tier {target.tier_key!r} through "
                f"{sub.provider}; manage it from the billing settings page instead"
            )
        if sub.provider == target.provider:
            if target.provider == "fake":
                continue  # the demo's provider: a new fake checkout replaces the plan
            raise ValidationError(
                f"account {account_ref!r} already subscribes through {sub.provider} (tier "
                f"{sub.tier_key!r}); change the plan of that subscription instead of starting "
                "a second one"
            )
        raise ProviderSwitchError(
            f"account {account_ref!r} already pays through {sub.provider} (tier "
            f"{sub.tier_key!r}); a {target.provider} checkout starts a second subscription. "
            f"Access continues until the {sub.provider} subscription ends: cancel it there "
            "to avoid paying twice"
        )


def checkout_url(
    ctx: Context,
    account_ref: str,
    tier_key: str,
    *,
    provider: str | None = None,
    success_url: str | None = None,
    cancel_url: str | None = None,
    allow_provider_switch: bool = False,
    offered: bool = False,
) -> str:
    """The URL to send ``account_ref`` to so it pays for ``tier_key`` (with ``offered``, only
    a customer-facing tier: see :func:`resolve_target`).

    Stripe: a new Checkout Session for the tier's first Stripe lookup key, with the account as
    ``client_reference_id``; Paddle: a transaction's checkout URL; Polar: a checkout session;
    Whop: a checkout configuration's purchase URL; Lemon Squeezy: a checkout; each carries the
    account ref (``tierline_account``) for the first webhook to link. The fake provider: the
    local fake checkout page (a path relative to the app; ``success_url``/``cancel_url`` are
    not used, it returns to the settings page).
    ``provider`` defaults to the ``checkout_provider`` setting, then to the tier's first link.

    Raises:
        ValidationError: the account already pays for this tier, or already subscribes through
            this provider (change the plan instead).
        ProviderSwitchError: it pays through another provider and ``allow_provider_switch``
            is False.
    """
    account_ref = clean_ref(account_ref)
    with ctx.sessions() as session:
        target = resolve_target(
            session, tier_key, provider or ctx.settings.checkout_provider, offered=offered
        )
        account = find_account(session, account_ref)
        email = account.email if account is not None else None
        try:
            check_checkout(session, account_ref, target)
        except ProviderSwitchError:
            if not allow_provider_switch:
                raise
    if target.provider == "fake":
        if not ctx.settings.enable_fake_provider:
            raise ConfigurationError(
                f"tier {target.tier_key!r} can only be bought through the fake provider, which "
                "is disabled; link it to a real provider in the catalog (the fake provider is "
                "for demos and tests: TIERLINE_ENABLE_FAKE_PROVIDER=1)"
            )
        return f"{FAKE_CHECKOUT_PATH}?{urlencode({'tier': target.tier_key})}"
    # Imported here: provider SDKs and HTTP clients load only for the checkout that needs them.
    from tierline.billing.actions import CheckoutRequest, actions_for

    base = ctx.settings.public_url.rstrip("/")
    request = CheckoutRequest(
        account_ref=account_ref,
        external_key=target.external_keys[0],
        success_url=success_url or f"{base}{RETURN_PATH}?checkout=success",
        cancel_url=cancel_url or f"{base}{RETURN_PATH}?checkout=canceled",
        email=email,
    )
    return actions_for(target.provider).checkout_url(ctx.settings, request)
