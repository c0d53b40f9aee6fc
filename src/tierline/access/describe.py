"""One human line for an :class:`AccessStatus`, shared by the CLI and the settings page."""

from __future__ import annotations

from tierline.access.status import AccessSource, AccessStatus


def describe_status(status: AccessStatus) -> str:
    """E.g. ``free · credit · 12 day(s) remaining (expires 2026-12-04)``.

    Parts: the tier shown (``no tier`` without one), the source, then how long it lasts or,
    when inactive, why not.
    """
    tier = status.tier or "no tier"
    if not status.active:
        reason = status.reason.value if status.reason else "unknown"
        return f"{tier} · {status.source.value} · no paid access ({reason})"
    if status.expires_at is None:
        detail = "no expiry"
    else:
        # A subscription's period end is usually a renewal, not an expiry.
        verb = "period ends" if status.source is AccessSource.SUBSCRIPTION else "expires"
        detail = (
            f"{status.days_remaining} day(s) remaining "
            f"({verb} {status.expires_at.date().isoformat()})"
        )
    return f"{tier} · {status.source.value} · {detail}"
