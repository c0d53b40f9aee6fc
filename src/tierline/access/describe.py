"""One human line for an :class:`AccessStatus`, shared by the CLI and the settings page."""

from __future__ import annotations

from tierline.access.status import AccessSource, AccessStatus, DenialReason

#: What a person reads for each reason paid access is refused.
REASON_TEXT: dict[DenialReason, str] = {
    DenialReason.NO_SUBSCRIPTION: "no subscription",
    DenialReason.PAST_DUE: "payment past due",
    DenialReason.CANCELED: "subscription canceled",
    DenialReason.PAUSED: "subscription paused",
    DenialReason.TRIAL_ENDED: "trial ended",
    DenialReason.CREDIT_EXPIRED: "credit expired",
    DenialReason.INCOMPLETE: "payment incomplete",
    DenialReason.FEATURE_NOT_IN_TIER: "feature not in tier",
    DenialReason.UNKNOWN_ACCOUNT: "unknown account",
}


def describe_status(status: AccessStatus) -> str:
    """E.g. ``free · credit · 12 day(s) remaining (expires 2026-12-04)``.

    Parts: the tier shown (``no tier`` without one), the source and how long it lasts; when
    inactive, the tier and why there is no paid access (``free · no paid access: trial ended``).
    """
    tier = status.tier or "no tier"
    if not status.active:
        reason = REASON_TEXT[status.reason] if status.reason else "no subscription"
        return f"{tier} · no paid access: {reason}"
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
