"""Live and test mode do not mix: which events an app accepts, by the provider's mode flag.

Stripe marks every event with ``livemode`` (https://docs.stripe.com/api/events/object). A
live app that also receives test events (one URL registered in both modes, its two signing
secrets listed in ``TIERLINE_STRIPE_WEBHOOK_SECRET``) must not let a test payment grant access,
nor the reverse. The apply step asks :func:`mode_mismatch` first; an event of the other mode
is stored as ``ignored`` and answered 200 (it is genuine, so the provider must not retry it).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from tierline.billing.providers import stripe
from tierline.billing.providers.base import ProviderEvent
from tierline.settings import TierlineSettings

#: Per provider with a mode flag: the ``livemode`` the settings accept (None: both).
_EXPECTED: Mapping[str, Callable[[TierlineSettings], bool | None]] = {
    stripe.NAME: lambda s: stripe.expected_livemode(s.stripe_mode, s.stripe_api_key),
}


def _name(live: bool) -> str:
    return "live" if live else "test"


def mode_mismatch(event: ProviderEvent, settings: TierlineSettings) -> str | None:
    """Why ``event`` belongs to the other mode than the app's, or None when it may apply.

    An event that does not say its mode, or a provider or app without a mode, always applies.
    """
    expected_for = _EXPECTED.get(event.provider)
    if expected_for is None or event.livemode is None:
        return None
    expected = expected_for(settings)
    if expected is None or expected == event.livemode:
        return None
    return (
        f"{_name(event.livemode)}-mode {event.provider} event ignored: this app accepts "
        f"{_name(expected)}-mode events only (TIERLINE_{event.provider.upper()}_MODE, "
        "else the API key's prefix)"
    )
