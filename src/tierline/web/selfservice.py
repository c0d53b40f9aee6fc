"""The self-service pages both adapters serve: portal, cancel/resume, plan change, and the
confirmation a checkout on a second provider needs. Framework-free: each handler returns an
:class:`Answer` (a page or a redirect) that the adapter turns into its response.

Every POST has already passed the adapter's CSRF check; the destructive ones (cancel, plan
change, a checkout on a second provider) also need the form's ``confirm`` box ticked.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import quote

from tierline.billing import selfservice
from tierline.billing.actions import LiveSubscription, ProrationPreview, actions_for
from tierline.billing.checkout import ProviderSwitchError, checkout_url
from tierline.errors import TierlineError
from tierline.facade import Tierline
from tierline.web import pages
from tierline.web.common import BILLING_PREFIX, SETTINGS_PATH, csrf_token

PORTAL_PATH = f"{BILLING_PREFIX}/portal"
CANCEL_PATH = f"{BILLING_PREFIX}/cancel"
RESUME_PATH = f"{BILLING_PREFIX}/resume"
CHANGE_PATH = f"{BILLING_PREFIX}/change"

#: Notices on the settings page after an action (``?checkout=<key>``, like a checkout's).
NOTICES = {
    "renewal_canceled": "Your subscription will end at the end of the current period.",
    "resumed": "Your subscription renews again.",
    "plan_changed": "Your plan was changed.",
    "plan_scheduled": "Your plan changes at the end of the current period.",
}
CONFIRM_MESSAGE = "Tick the confirmation box to go ahead; nothing was changed."

#: Display names of providers on the pages.
PROVIDER_NAMES = {
    "stripe": "Stripe",
    "paddle": "Paddle",
    "polar": "Polar",
    "whop": "Whop",
    "lemonsqueezy": "Lemon Squeezy",
    "fake": "the fake provider",
}


@dataclass(frozen=True)
class Answer:
    """What to answer: a redirect (303) when ``redirect`` is set, else ``html``."""

    status_code: int = 200
    html: str = ""
    redirect: str | None = None


@dataclass(frozen=True)
class ManageBilling:
    """The "Manage billing" card of the settings page: the live subscription and its actions."""

    provider: str
    provider_name: str
    tier_key: str | None
    cancel_at_period_end: bool
    period_end: str | None
    can_portal: bool
    can_cancel: bool
    can_resume: bool
    can_change: bool
    #: A downgrade waiting for the period end: the new tier's name and its first day.
    changes_to: str | None = None
    changes_on: str | None = None


def _day(value: datetime | None) -> str | None:
    return value.date().isoformat() if value is not None else None


def manage_billing(
    sub: LiveSubscription | None,
    *,
    tl: Tierline | None = None,
    names: Mapping[str, str] | None = None,
) -> ManageBilling | None:
    """The card for ``sub`` (``None`` without a live subscription or for the fake provider);
    with ``tl``, a downgrade scheduled for the period end is shown by its tier's name."""
    if sub is None or sub.provider == "fake":
        return None
    actions = actions_for(sub.provider)
    waiting = selfservice.scheduled_downgrade(tl.ctx, sub) if tl is not None else None
    return ManageBilling(
        changes_to=(names or {}).get(waiting.to_tier, waiting.to_tier) if waiting else None,
        changes_on=_day(waiting.effective_at) if waiting else None,
        provider=sub.provider,
        provider_name=PROVIDER_NAMES.get(sub.provider, sub.provider),
        tier_key=sub.tier_key,
        cancel_at_period_end=sub.cancel_at_period_end,
        period_end=_day(sub.current_period_end),
        can_portal=actions.supports("portal_url"),
        can_cancel=actions.supports("cancel_at_period_end") and not sub.cancel_at_period_end,
        can_resume=actions.supports("resume") and sub.cancel_at_period_end,
        can_change=actions.supports("change_plan"),
    )


def _error(exc: TierlineError, settings_tl: Tierline) -> Answer:
    page = pages.error_page(exc)
    return Answer(page.status_code, pages.render_error(page, settings_tl.settings))


def _confirmed(form: Mapping[str, object]) -> bool:
    return form.get("confirm") in ("yes", "on", "1", "true")


def _unconfirmed(tl: Tierline) -> Answer:
    page = pages.ErrorPage(400, "Please confirm", CONFIRM_MESSAGE)
    return Answer(400, pages.render_error(page, tl.settings))


def _done(notice: str) -> Answer:
    return Answer(303, redirect=f"{SETTINGS_PATH}?checkout={notice}")


def portal(tl: Tierline, account: str) -> Answer:
    """``POST /billing/portal``: redirect to the provider's customer portal."""
    try:
        return Answer(303, redirect=tl.portal_url(account))
    except TierlineError as exc:
        return _error(exc, tl)


def cancel(tl: Tierline, account: str, form: Mapping[str, object]) -> Answer:
    """``POST /billing/cancel`` (confirmed): cancel at the end of the period."""
    if not _confirmed(form):
        return _unconfirmed(tl)
    try:
        tl.cancel_at_period_end(account)
    except TierlineError as exc:
        return _error(exc, tl)
    return _done("renewal_canceled")


def resume(tl: Tierline, account: str) -> Answer:
    """``POST /billing/resume``: undo a scheduled cancellation."""
    try:
        tl.resume(account)
    except TierlineError as exc:
        return _error(exc, tl)
    return _done("resumed")


@dataclass(frozen=True)
class ChangePage:
    """The confirmation page of a plan change, with the provider's proration preview."""

    tier_key: str
    tier_name: str
    current_tier: str | None
    provider_name: str
    downgrade: bool
    prorate: bool
    preview: ProrationPreview | None
    csrf_token: str
    #: The first day of the new tier when the change waits for the period end.
    effective_on: str | None = None


def money(amount: int, currency: str) -> str:
    """Minor units as ``12.34 USD`` (``-`` for a credit)."""
    sign = "-" if amount < 0 else ""
    return f"{sign}{abs(amount) / 100:.2f} {currency.upper()}"


def change_page(tl: Tierline, account: str, tier_key: str) -> Answer:
    """``GET /billing/change/<tier>``: what the change costs, and a confirmation form."""
    try:
        plan = selfservice.plan_change(tl.ctx, account, tier_key, offered=True)
        preview = tl.preview_change(account, tier_key)
    except TierlineError as exc:
        return _error(exc, tl)
    names = {tier.key: tier.name for tier in tl.catalog.tiers()}
    sub = plan.change.subscription
    page = ChangePage(
        tier_key=plan.change.tier_key,
        tier_name=names.get(plan.change.tier_key, plan.change.tier_key),
        current_tier=names.get(sub.tier_key or "", sub.tier_key),
        provider_name=PROVIDER_NAMES.get(sub.provider, sub.provider),
        downgrade=plan.downgrade,
        prorate=plan.change.prorate,
        preview=preview,
        csrf_token=csrf_token(tl.settings, account),
        effective_on=_day(plan.effective_at),
    )
    html = pages.render(
        "change_plan.html", tl.settings, page=page, money=money, change_path=CHANGE_PATH
    )
    return Answer(200, html)


def change(tl: Tierline, account: str, tier_key: str, form: Mapping[str, object]) -> Answer:
    """``POST /billing/change/<tier>`` (confirmed): change the plan through the provider."""
    if not _confirmed(form):
        return _unconfirmed(tl)
    try:
        plan = selfservice.change_plan(tl.ctx, account, tier_key, offered=True)
    except TierlineError as exc:
        return _error(exc, tl)
    return _done("plan_scheduled" if plan.at_period_end else "plan_changed")


@dataclass(frozen=True)
class SwitchPage:
    """The warning before a checkout on a second provider."""

    tier_key: str
    message: str
    csrf_token: str


def checkout(tl: Tierline, account: str, tier_key: str, form: Mapping[str, object]) -> Answer:
    """``POST /billing/checkout/<tier>``: redirect to the provider's checkout; an account that
    pays through another provider first gets a warning page to confirm."""
    try:
        # Only what the pages offer: a hidden tier is the host's to sell (tl.checkout_url).
        url = checkout_url(
            tl.ctx, account, tier_key, allow_provider_switch=_confirmed(form), offered=True
        )
    except ProviderSwitchError as exc:
        page = SwitchPage(tier_key, str(exc), csrf_token(tl.settings, account))
        checkout_path = f"{BILLING_PREFIX}/checkout/{quote(tier_key, safe='')}"
        html = pages.render(
            "switch_provider.html", tl.settings, page=page, action_path=checkout_path
        )
        return Answer(409, html)
    except TierlineError as exc:
        return _error(exc, tl)
    return Answer(303, redirect=url)


ROUTES = (PORTAL_PATH, CANCEL_PATH, RESUME_PATH, CHANGE_PATH)
