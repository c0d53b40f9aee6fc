"""What a provider's self-service actions take and return, and the protocol they implement.

Each provider module declares only the actions its API offers by overriding them on
:class:`ProviderActions`; the others raise :class:`UnsupportedActionError` naming what the
provider does support. :attr:`ProviderActions.supported` lists them for the pages and the README.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar, Protocol

from tierline.errors import ValidationError
from tierline.settings import TierlineSettings

#: The metadata / custom data key every provider's webhook parser reads the account ref from.
ACCOUNT_KEY = "tierline_account"

#: Every action, in the order the README's provider table lists them.
ACTIONS = (
    "checkout_url",
    "portal_url",
    "cancel_at_period_end",
    "resume",
    "change_plan",
    "preview_change",
)


class UnsupportedActionError(ValidationError):
    """The provider's API offers no such action (e.g. a plan change through Whop)."""


@dataclass(frozen=True)
class CheckoutRequest:
    """A checkout to open: ``external_key`` is the tier's link for the provider (Stripe lookup
    key, Paddle price id, Polar product id, Whop plan id, Lemon Squeezy variant id)."""

    account_ref: str
    external_key: str
    success_url: str
    cancel_url: str
    email: str | None = None

    @property
    def account_data(self) -> dict[str, str]:
        """The metadata / custom data that links the first event to the account:
        ``{ACCOUNT_KEY: account_ref}``, read back by every provider's webhook parser."""
        return {ACCOUNT_KEY: self.account_ref}


@dataclass(frozen=True)
class LiveSubscription:
    """The subscription an account pays through, as Tierline stores it."""

    id: int
    account_ref: str
    provider: str
    external_id: str
    customer_id: str | None
    tier_key: str | None
    status: str
    cancel_at_period_end: bool
    current_period_end: datetime | None


@dataclass(frozen=True)
class PlanChange:
    """Move ``subscription`` to the tier linked to ``external_key`` on the same provider.

    ``prorate`` False bills the new price from the next period (a downgrade, by default: see
    ``TierlineSettings.downgrade_at_period_end``); ``idempotency_key`` is sent where the
    provider honours one.
    """

    subscription: LiveSubscription
    tier_key: str
    external_key: str
    prorate: bool
    idempotency_key: str


@dataclass(frozen=True)
class PreviewLine:
    """One line of a proration preview: amounts in the currency's minor unit (cents)."""

    description: str
    amount: int


@dataclass(frozen=True)
class ProrationPreview:
    """What a plan change would charge now (negative: a credit), in minor units."""

    currency: str
    amount_due: int
    lines: tuple[PreviewLine, ...] = ()


class BillingActions(Protocol):
    """What a provider can do for an account outside webhooks (one module per provider)."""

    name: ClassVar[str]

    def checkout_url(self, settings: TierlineSettings, request: CheckoutRequest) -> str: ...

    def portal_url(
        self, settings: TierlineSettings, subscription: LiveSubscription, return_url: str
    ) -> str: ...

    def cancel_at_period_end(
        self, settings: TierlineSettings, subscription: LiveSubscription, idempotency_key: str
    ) -> None: ...

    def resume(
        self, settings: TierlineSettings, subscription: LiveSubscription, idempotency_key: str
    ) -> None: ...

    def change_plan(self, settings: TierlineSettings, change: PlanChange) -> None: ...

    def preview_change(
        self, settings: TierlineSettings, change: PlanChange
    ) -> ProrationPreview: ...


class ProviderActions:
    """The base every provider module subclasses: an action it does not override is refused."""

    name: ClassVar[str] = ""

    @classmethod
    def supported(cls) -> tuple[str, ...]:
        """The actions this provider overrides, in :data:`ACTIONS` order."""
        return tuple(
            action
            for action in ACTIONS
            if getattr(cls, action) is not getattr(ProviderActions, action)
        )

    def supports(self, action: str) -> bool:
        """Whether ``action`` (one of :data:`ACTIONS`) is offered by this provider."""
        return action in self.supported()

    def _refuse(self, action: str) -> UnsupportedActionError:
        offered = ", ".join(self.supported()) or "none"
        return UnsupportedActionError(
            f"{self.name} does not support {action.replace('_', ' ')} through its API; "
            f"Tierline offers for {self.name}: {offered}"
        )

    def checkout_url(self, settings: TierlineSettings, request: CheckoutRequest) -> str:
        raise self._refuse("checkout_url")

    def portal_url(
        self, settings: TierlineSettings, subscription: LiveSubscription, return_url: str
    ) -> str:
        raise self._refuse("portal_url")

    def cancel_at_period_end(
        self, settings: TierlineSettings, subscription: LiveSubscription, idempotency_key: str
    ) -> None:
        raise self._refuse("cancel_at_period_end")

    def resume(
        self, settings: TierlineSettings, subscription: LiveSubscription, idempotency_key: str
    ) -> None:
        raise self._refuse("resume")

    def change_plan(self, settings: TierlineSettings, change: PlanChange) -> None:
        raise self._refuse("change_plan")

    def preview_change(self, settings: TierlineSettings, change: PlanChange) -> ProrationPreview:
        raise self._refuse("preview_change")


class SubscriptionUpdateActions(ProviderActions, ABC):
    """A provider whose resume and plan change are one update of the subscription (Polar,
    Lemon Squeezy): it declares the update that resumes, how a plan change is spelled, and
    :meth:`update`, which sends one."""

    #: The changes that undo a cancellation scheduled for the period's end.
    resume_changes: ClassVar[dict[str, Any]]

    @abstractmethod
    def update(
        self, settings: TierlineSettings, sub_id: str, changes: dict[str, Any], what: str
    ) -> None:
        """Send ``changes`` to subscription ``sub_id``; ``what`` names the action in errors."""

    @abstractmethod
    def plan_changes(self, change: PlanChange) -> dict[str, Any]:
        """The changes that move the subscription to ``change.external_key``."""

    def resume(
        self, settings: TierlineSettings, subscription: LiveSubscription, idempotency_key: str
    ) -> None:
        self.update(settings, subscription.external_id, self.resume_changes, "resuming")

    def change_plan(self, settings: TierlineSettings, change: PlanChange) -> None:
        what = f"moving to {change.tier_key!r}"
        self.update(settings, change.subscription.external_id, self.plan_changes(change), what)


def required(value: str | None, setting: str, provider: str, purpose: str) -> str:
    """A setting's value, or a :class:`ConfigurationError` naming the variable to set."""
    from tierline.errors import ConfigurationError

    if value is None or not value.strip():
        raise ConfigurationError(
            f"no {provider} {purpose} is configured; set TIERLINE_{setting.upper()}"
        )
    return value.strip()
