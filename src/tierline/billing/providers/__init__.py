"""Billing providers behind one interface, and the registry that builds them from settings.

``get_provider(name, settings)`` returns a :class:`~tierline.billing.providers.base.Provider`
whose ``verify(headers, body)`` checks the provider's real signature scheme and whose
``parse(payload)`` normalizes the event. ``sign_for(name, body, secret)`` makes the headers a
provider would send, for tests, ``tierline simulate`` and the fake checkout.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from tierline.billing.providers import fake, lemonsqueezy, paddle, polar, stripe, whop
from tierline.billing.providers.base import (
    Provider,
    ProviderEvent,
    SubscriptionSnapshot,
    WebhookRejected,
)
from tierline.billing.providers.signing import Clock
from tierline.settings import TierlineSettings

__all__ = [
    "PROVIDER_NAMES",
    "Clock",
    "Provider",
    "ProviderEvent",
    "SubscriptionSnapshot",
    "WebhookRejected",
    "enabled_providers",
    "get_provider",
    "is_enabled",
    "sign_for",
]

_Factory = Callable[[TierlineSettings, Clock], Provider]
_FACTORIES: dict[str, _Factory] = {
    stripe.NAME: lambda s, clock: stripe.StripeProvider(
        s.stripe_webhook_secret, tolerance_seconds=s.stripe_tolerance_seconds, clock=clock
    ),
    paddle.NAME: lambda s, clock: paddle.PaddleProvider(
        s.paddle_webhook_secret, tolerance_seconds=s.paddle_tolerance_seconds, clock=clock
    ),
    polar.NAME: lambda s, clock: polar.PolarProvider(
        s.polar_webhook_secret, tolerance_seconds=s.polar_tolerance_seconds, clock=clock
    ),
    whop.NAME: lambda s, clock: whop.WhopProvider(
        s.whop_webhook_secret, tolerance_seconds=s.whop_tolerance_seconds, clock=clock
    ),
    lemonsqueezy.NAME: lambda s, clock: lemonsqueezy.LemonSqueezyProvider(
        s.lemonsqueezy_webhook_secret,
        tolerance_seconds=s.lemonsqueezy_max_event_age_seconds,
        clock=clock,
    ),
    fake.NAME: lambda s, clock: fake.FakeProvider(s.fake_webhook_secret, clock=clock),
}
_SIGNERS: dict[str, Callable[[bytes, str, int | None], dict[str, str]]] = {
    stripe.NAME: stripe.sign,
    paddle.NAME: paddle.sign,
    polar.NAME: polar.SCHEME.sign,
    whop.NAME: whop.sign,
    lemonsqueezy.NAME: lemonsqueezy.SCHEME.sign,
    fake.NAME: fake.sign,
}

#: Every provider name :func:`get_provider` knows.
PROVIDER_NAMES: tuple[str, ...] = tuple(_FACTORIES)


def _unknown(name: str, valid: tuple[str, ...]) -> WebhookRejected:
    """The ``unknown_provider`` refusal of ``name``, naming the ``valid`` providers."""
    return WebhookRejected(
        "unknown_provider",
        f"unknown billing provider {name[:40]!r}; valid providers: {', '.join(valid)}",
    )


#: Why the fake provider is refused when it is off.
FAKE_DISABLED = (
    "the fake provider is disabled: it grants paid access to whoever holds its secret, so it "
    "is for demos and tests only; set TIERLINE_ENABLE_FAKE_PROVIDER=1 and "
    "TIERLINE_FAKE_WEBHOOK_SECRET to turn it on"
)


def is_enabled(name: str, settings: TierlineSettings) -> bool:
    """Whether webhooks of provider ``name`` are accepted with ``settings``.

    Every known provider is, except ``fake``, which needs ``enable_fake_provider``.
    """
    if name == fake.NAME:
        return settings.enable_fake_provider
    return name in _FACTORIES


def enabled_providers(settings: TierlineSettings) -> tuple[str, ...]:
    """The names of the providers :func:`get_provider` builds with ``settings``."""
    return tuple(name for name in PROVIDER_NAMES if is_enabled(name, settings))


def get_provider(name: str, settings: TierlineSettings, *, clock: Clock = time.time) -> Provider:
    """The provider called ``name``, configured from ``settings``.

    ``clock`` gives "now" for the signed-timestamp check, as unix seconds or an aware datetime
    (a Tierline context's clock fits). An unknown name raises :class:`WebhookRejected` with
    reason ``unknown_provider``; so does ``fake`` unless ``settings.enable_fake_provider``. A
    provider whose secret setting is empty is still returned; it rejects every webhook with
    ``no_secret_configured``.
    """
    factory = _FACTORIES.get(name)
    if factory is None:
        raise _unknown(name, enabled_providers(settings))
    if not is_enabled(name, settings):
        raise WebhookRejected("unknown_provider", FAKE_DISABLED)
    return factory(settings, clock)


def sign_for(name: str, body: bytes, secret: str, timestamp: int | None = None) -> dict[str, str]:
    """The signature headers provider ``name`` would send with ``body`` (timestamp: now)."""
    signer = _SIGNERS.get(name)
    if signer is None:
        raise _unknown(name, PROVIDER_NAMES)
    return signer(body, secret, timestamp)
