"""The answer to "may this account use paid features?": :class:`AccessStatus`."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, NoReturn, TypeVar

K = TypeVar("K")
V = TypeVar("V")


class AccessSource(StrEnum):
    """Why an account has the access it has."""

    EXEMPT = "exempt"
    SUBSCRIPTION = "subscription"
    TRIAL = "trial"
    GRACE = "grace"
    CREDIT = "credit"
    FREE = "free"


class DenialReason(StrEnum):
    """Machine-readable reason paid access is refused (the ``reason`` of a 402)."""

    NO_SUBSCRIPTION = "no_subscription"
    PAST_DUE = "past_due"
    CANCELED = "canceled"
    PAUSED = "paused"
    TRIAL_ENDED = "trial_ended"
    CREDIT_EXPIRED = "credit_expired"
    INCOMPLETE = "incomplete"
    FEATURE_NOT_IN_TIER = "feature_not_in_tier"
    UNKNOWN_ACCOUNT = "unknown_account"


class ReadOnlyDict(dict[K, V]):
    """A ``dict`` that refuses every change (``TypeError``): the mappings of an
    :class:`AccessStatus`, which ``status()`` hands to every caller alike (it remembers what it
    built), so one caller's edit must never reach another's answer. It pickles, copies and
    serialises (``json.dumps``) as a ``dict`` does."""

    def _refuse(self, *args: object, **kwargs: object) -> NoReturn:
        raise TypeError("an AccessStatus is read-only: copy it with dict(...) to change it")

    __setitem__ = __delitem__ = __ior__ = _refuse
    clear = pop = popitem = setdefault = update = _refuse

    def __reduce__(self) -> tuple[type[ReadOnlyDict[K, V]], tuple[dict[K, V]]]:
        return (type(self), (dict(self),))


def read_only(mapping: Mapping[K, V]) -> ReadOnlyDict[K, V]:
    """``mapping`` as a :class:`ReadOnlyDict` (itself when it is one already)."""
    return mapping if type(mapping) is ReadOnlyDict else ReadOnlyDict(mapping)


@dataclass(frozen=True)
class LimitInfo:
    """A numeric limit of the account's tier."""

    key: str
    limit: int
    period: str  # "day" | "month" | "none"


#: An empty read-only mapping, shared (by the statuses without limits or sources, say).
EMPTY: ReadOnlyDict[Any, Any] = ReadOnlyDict()


@dataclass(frozen=True, init=False)
class AccessStatus:
    """An account's access, as the app should act on it.

    ``active`` is True when the account has paid access (or is exempt); ``source`` says why
    (or ``free`` when it has only the free tier); ``reason`` says why not when inactive. Its
    mappings are read-only (:class:`ReadOnlyDict`: changing one raises ``TypeError``).
    """

    account_ref: str
    active: bool
    source: AccessSource
    tier: str | None
    expires_at: datetime | None = None
    days_remaining: int | None = None
    reason: DenialReason | None = None
    features: frozenset[str] = field(default_factory=frozenset)
    limits: dict[str, LimitInfo] = field(default_factory=dict)
    seats: int = 1
    #: Where each feature comes from: ``tier``, ``credit_tier`` or ``override``.
    feature_sources: dict[str, str] = field(default_factory=dict)
    #: Where each limit comes from: ``tier``, ``credit_tier`` or ``override``.
    limit_sources: dict[str, str] = field(default_factory=dict)

    def __init__(
        self,
        account_ref: str,
        active: bool,
        source: AccessSource,
        tier: str | None,
        expires_at: datetime | None = None,
        days_remaining: int | None = None,
        reason: DenialReason | None = None,
        features: frozenset[str] = frozenset(),
        limits: Mapping[str, LimitInfo] = EMPTY,
        seats: int = 1,
        feature_sources: Mapping[str, str] = EMPTY,
        limit_sources: Mapping[str, str] = EMPTY,
    ) -> None:
        # The dataclass's own __init__ of a frozen class sets each field through
        # object.__setattr__: about three times the cost of storing each into the instance's
        # dict (an update() by keyword, which builds a dict of them first, costs half as much
        # again), on status()'s path. The mappings are made read-only (the same status reaches
        # every caller of status()).
        values = vars(self)
        values["account_ref"] = account_ref
        values["active"] = active
        values["source"] = source
        values["tier"] = tier
        values["expires_at"] = expires_at
        values["days_remaining"] = days_remaining
        values["reason"] = reason
        values["features"] = features
        values["limits"] = read_only(limits)
        values["seats"] = seats
        values["feature_sources"] = read_only(feature_sources)
        values["limit_sources"] = read_only(limit_sources)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (used by ``show-status --json`` and 402 bodies)."""
        return {
            "account_ref": self.account_ref,
            "active": self.active,
            "source": self.source.value,
            "tier": self.tier,
            "expires_at": self.expires_at.isoformat() if self.expires_at else None,
            "days_remaining": self.days_remaining,
            "reason": self.reason.value if self.reason else None,
            "features": sorted(self.features),
            "limits": {
                key: {"limit": info.limit, "period": info.period}
                for key, info in sorted(self.limits.items())
            },
            "seats": self.seats,
            "feature_sources": dict(sorted(self.feature_sources.items())),
            "limit_sources": dict(sorted(self.limit_sources.items())),
        }
