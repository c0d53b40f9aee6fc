"""The server-rendered pages both adapters serve: billing settings, fake checkout, errors.

Each page is built in two steps, both framework-free: a context (plain data, easy to test and
to reuse in a host's own template) and its rendering with Tierline's Jinja2 templates.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlencode

from jinja2 import (
    BaseLoader,
    ChoiceLoader,
    Environment,
    FileSystemLoader,
    PackageLoader,
    select_autoescape,
)

from tierline.access.describe import describe_status
from tierline.access.status import AccessStatus
from tierline.accounts.service import AccountRef, clean_ref
from tierline.billing.checkout import FAKE_CHECKOUT_PATH, resolve_target
from tierline.billing.providers import fake, sign_for
from tierline.billing.result import IngestResult
from tierline.errors import ConfigurationError, NotFoundError, ProviderAPIError, TierlineError
from tierline.facade import Tierline
from tierline.referrals.service import ReferralStats
from tierline.settings import TierlineSettings
from tierline.web.common import CHECKOUT_PATH, SETTINGS_PATH, STATIC_PATH, csrf_token

if TYPE_CHECKING:
    from tierline.web.selfservice import ManageBilling

#: What ``?checkout=`` on the settings page says, after a provider sends the user back.
CHECKOUT_NOTICES = {
    "success": "Thank you! Your plan changes as soon as the payment is confirmed.",
    "canceled": "Checkout canceled; nothing was charged.",
}


@dataclass(frozen=True)
class UpgradeOption:
    """One upgrade button: a customer-facing tier that is paid for."""

    key: str
    name: str
    description: str | None
    price: str | None
    current: bool


@dataclass(frozen=True)
class SettingsPage:
    """Everything the billing settings page shows, for the template or a host's own page."""

    account_ref: str
    email: str | None
    tier_key: str | None
    tier_name: str
    active: bool
    status_line: str
    referral_code: str
    invite_link: str
    stats: ReferralStats
    upgrades: tuple[UpgradeOption, ...]
    csrf_token: str
    notice: str | None = None
    #: The "Manage billing" card of a live subscription, if any.
    manage: ManageBilling | None = None
    #: The host app's page to go back to (``app_url`` setting or the adapter's argument).
    app_url: str | None = None
    #: The current period's use of every limited feature (usage bars).
    usage: tuple[UsageBar, ...] = ()
    #: Seats: (assigned, limit).
    seats: tuple[int, int] = (0, 1)


@dataclass(frozen=True)
class UsageBar:
    """One limited feature's use in the current period, for a usage bar."""

    feature: str
    used: int
    limit: int
    resets_at: datetime | None

    @property
    def percent(self) -> int:
        """How full the bar is, 0 to 100."""
        if self.limit <= 0:
            return 100
        return min(100, round(100 * self.used / self.limit))


def usage_bars(tl: Tierline, account_ref: str) -> tuple[UsageBar, ...]:
    """The account's usage bars (see :meth:`tierline.usage.service.UsageService.summary`)."""
    return tuple(
        UsageBar(d.feature, d.used, d.limit, d.resets_at)
        for d in tl.usage.summary(account_ref)
        if d.limit is not None
    )


def invite_link(base_url: str, code: str) -> str:
    """``base_url`` with ``ref=<code>`` added to its query string."""
    joiner = "&" if "?" in base_url else "?"
    return f"{base_url}{joiner}{urlencode({'ref': code})}"


def settings_page_context(
    tl: Tierline,
    account_ref: AccountRef,
    *,
    signup_url: str | None = None,
    checkout: str | None = None,
    app_url: str | None = None,
) -> SettingsPage:
    """The settings page of ``account_ref`` (the account is created if Tierline lacks it).

    ``signup_url`` is where invite links point (default: ``public_url`` + ``/``); ``checkout``
    is the ``?checkout=`` value a provider returned with, shown as a notice. ``account_ref``
    is the host's id as it has it (str, int or UUID); the page shows its canonical form.
    """
    account_ref = clean_ref(account_ref)
    account = tl.ensure_account(account_ref)
    status = tl.status(account_ref)
    code = tl.referral_code(account_ref)
    tiers = tl.catalog.tiers()
    names = {tier.key: tier.name for tier in tiers}
    upgrades = tuple(
        UpgradeOption(
            key=tier.key,
            name=tier.name,
            description=tier.description,
            price=tier.fallback_price,
            current=status.active and tier.key == status.tier,
        )
        for tier in tiers
        if tier.customer_facing and not tier.exempt
    )
    base = signup_url or f"{tl.settings.public_url.rstrip('/')}/"
    # Imported here: the self-service module imports this one.
    from tierline.billing.selfservice import live_subscription
    from tierline.web.selfservice import NOTICES, manage_billing

    return SettingsPage(
        account_ref=account_ref,
        email=account.email,
        tier_key=status.tier,
        tier_name=_tier_name(status, names),
        active=status.active,
        status_line=describe_status(status),
        referral_code=code,
        invite_link=invite_link(base, code),
        stats=tl.referral_stats(account_ref),
        upgrades=upgrades,
        csrf_token=csrf_token(tl.settings, account_ref),
        notice=CHECKOUT_NOTICES.get(checkout or "") or NOTICES.get(checkout or ""),
        manage=manage_billing(live_subscription(tl.ctx, account_ref), tl=tl, names=names),
        app_url=app_url or tl.settings.app_url,
        usage=usage_bars(tl, account_ref),
        seats=(tl.seats.list(account_ref).assigned, status.seats),
    )


def _tier_name(status: AccessStatus, names: dict[str, str]) -> str:
    if status.tier is None:
        return "No plan"
    return names.get(status.tier, status.tier)


#: The layout Tierline's pages extend; a host overrides it with ``tierline/base.html`` in its
#: own templates directory (the ``templates_dir`` setting), searched before Tierline's.
HOST_LAYOUT = "tierline/base.html"
DEFAULT_LAYOUT = "base.html"


@cache
def _environment(templates_dir: str | None = None) -> Environment:
    loaders: list[BaseLoader] = []
    if templates_dir:
        loaders.append(FileSystemLoader(templates_dir))
    loaders.append(PackageLoader("tierline.web", "templates"))
    return Environment(
        loader=ChoiceLoader(loaders),
        autoescape=select_autoescape(["html"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )


@cache
def _layout(templates_dir: str | None) -> str:
    if templates_dir and (Path(templates_dir) / HOST_LAYOUT).is_file():
        return HOST_LAYOUT
    return DEFAULT_LAYOUT


def render(template: str, settings: TierlineSettings | None = None, **context: object) -> str:
    """Render one of Tierline's templates inside the layout: the host's ``tierline/base.html``
    when ``settings.templates_dir`` has one (it must define the ``title``, ``content`` and
    ``scripts`` blocks), else Tierline's own ``base.html``."""
    templates_dir = settings.templates_dir if settings is not None else None
    return (
        _environment(templates_dir)
        .get_template(template)
        .render(
            layout=_layout(templates_dir),
            static_path=STATIC_PATH,
            settings_path=SETTINGS_PATH,
            checkout_path=CHECKOUT_PATH,
            fake_checkout_path=FAKE_CHECKOUT_PATH,
            **context,
        )
    )


def render_settings_page(page: SettingsPage, settings: TierlineSettings | None = None) -> str:
    """The settings page as HTML (inside the host's layout when ``settings`` names one)."""
    from tierline.web import selfservice

    return render(
        "settings.html",
        settings,
        page=page,
        portal_path=selfservice.PORTAL_PATH,
        cancel_path=selfservice.CANCEL_PATH,
        resume_path=selfservice.RESUME_PATH,
        change_path=selfservice.CHANGE_PATH,
    )


@dataclass(frozen=True)
class FakeCheckoutPage:
    """The fake provider's checkout page for one tier."""

    tier_key: str
    tier_name: str
    price: str | None
    account_ref: str
    csrf_token: str


def fake_checkout_context(tl: Tierline, account_ref: AccountRef, tier_key: str) -> FakeCheckoutPage:
    """The fake checkout page; raises a TierlineError if the tier cannot be bought this way."""
    account_ref = clean_ref(account_ref)
    with tl.ctx.sessions() as session:
        target = resolve_target(session, tier_key, "fake", offered=True)
    info = next((tier for tier in tl.catalog.tiers() if tier.key == target.tier_key), None)
    return FakeCheckoutPage(
        tier_key=target.tier_key,
        tier_name=info.name if info is not None else target.tier_key,
        price=info.fallback_price if info is not None else None,
        account_ref=account_ref,
        csrf_token=csrf_token(tl.settings, account_ref),
    )


def render_fake_checkout(page: FakeCheckoutPage, settings: TierlineSettings | None = None) -> str:
    """The fake checkout page as HTML."""
    return render("fake_checkout.html", settings, page=page)


def complete_fake_checkout(tl: Tierline, account_ref: AccountRef, tier_key: str) -> IngestResult:
    """Pay with the fake provider: sign a ``checkout.completed`` event and ingest it.

    The event goes through :meth:`Tierline.ingest` with a real signature, exactly as a
    delivery to ``POST /webhooks/fake`` would, so the demo exercises the production path.
    """
    account_ref = clean_ref(account_ref)
    with tl.ctx.sessions() as session:
        target = resolve_target(session, tier_key, "fake", offered=True)
    secrets = tl.settings.fake_webhook_secret
    if not secrets:
        raise ConfigurationError(
            "the fake checkout needs a webhook secret; set TIERLINE_FAKE_WEBHOOK_SECRET"
        )
    now = tl.ctx.clock()
    payload = fake.build_event(
        fake.CHECKOUT_COMPLETED,
        account_ref=account_ref,
        tier_key=target.external_keys[0],
        now=now,
    )
    body = json.dumps(payload).encode("utf-8")
    headers = {"Content-Type": "application/json"}
    headers.update(sign_for("fake", body, secrets[0], int(now.timestamp())))
    return tl.ingest("fake", headers, body)


@dataclass(frozen=True)
class ErrorPage:
    """A TierlineError shown to a person, with the HTTP status it is answered with."""

    status_code: int
    title: str
    message: str


def error_page(exc: TierlineError) -> ErrorPage:
    """The page for an error raised while serving a billing page."""
    if isinstance(exc, NotFoundError):
        return ErrorPage(404, "Not found", str(exc))
    if isinstance(exc, ConfigurationError):
        return ErrorPage(500, "Billing is not configured", str(exc))
    if isinstance(exc, ProviderAPIError):
        return ErrorPage(502, "The payment provider did not answer", str(exc))
    return ErrorPage(400, "That did not work", str(exc))


def render_error(page: ErrorPage, settings: TierlineSettings | None = None) -> str:
    """An error page as HTML."""
    return render("error.html", settings, page=page)


#: Static files the adapters serve under ``/billing/static/``, with their content types.
STATIC_FILES = {"tierline.css": "text/css; charset=utf-8", "tierline.js": "text/javascript"}


def static_asset(name: str) -> tuple[bytes, str] | None:
    """A static file's bytes and content type, or ``None`` for any other name."""
    content_type = STATIC_FILES.get(name)
    if content_type is None:
        return None
    data = resources.files("tierline.web").joinpath("static", name).read_bytes()
    return data, content_type


SIGN_IN_MESSAGE = "Sign in to see and change your billing settings."


def ingest_failure(result: IngestResult) -> str:
    """What to tell the user when the fake checkout's own webhook was not applied."""
    return f"The payment webhook was answered {result.outcome.value}: {result.detail}"
